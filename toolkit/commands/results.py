"""`toolkit compare`, `toolkit results` and `toolkit recommend`: read finished runs."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.app import app, csv_list, fail


@app.command("compare")
def compare_cmd(
    paths: list[Path] = typer.Argument(..., help="Finished run folders or grid output folders."),
    baseline: str = typer.Option(..., help="A run folder, or a label: scenario[/method[/enc]]."),
    metric: str = typer.Option("ndcg@10", help="Per-user test metric compared."),
    correction: str = typer.Option("holm", help="Family adjustment: holm, bh or none."),
    out: Path | None = typer.Option(None, help="Also write compare.md and compare.json here."),
    allow_mixed_code: bool = typer.Option(
        False, help="Compare runs that other library code made (listed in the output)."
    ),
) -> None:
    """Compare runs with a baseline run or configuration, across methods and encoders
    (paired over test users, seeds counted); other protocols, datasets or code are refused."""
    from scenarios.report.compare import compare_runs
    from scenarios.report.multiplicity import CORRECTIONS

    try:
        if correction not in CORRECTIONS:
            raise ValueError(f"--correction must be one of {', '.join(CORRECTIONS)}")
        result = compare_runs(
            paths, baseline, metric=metric, correction=correction,
            allow_mixed_code=allow_mixed_code,
        )  # fmt: skip
    except (ValueError, KeyError, FileNotFoundError) as exc:
        fail(str(exc).strip("'\""))
    typer.echo(result.markdown())
    if out is not None:
        typer.echo(f"written to {result.write(out)} and compare.json")


@app.command("results")
def results_cmd(
    paths: list[Path] = typer.Argument(..., help="Folders searched for runs and grids."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a markdown table."),
    as_json: bool = typer.Option(False, "--json", help="JSON (a list of rows)."),
    markdown: bool = typer.Option(False, "--markdown", help="A markdown table (the default)."),
    out: Path | None = typer.Option(None, help="Write the table to this file, not stdout."),
    plot: Path | None = typer.Option(None, help="Also write the figures (PNG, PDF, SVG) here."),
    bucket_scale: str = typer.Option("linear", help="Bucket figure's y axis: linear or log."),
) -> None:
    """One table of every finished run under the folders (one row per run: configuration,
    data, protocol, seed, test metrics, cost, code); unfinished runs are listed on stderr."""
    from scenarios.report.results_table import plot_results, results_table

    if as_csv + as_json + markdown > 1:
        fail("choose one of --csv, --json, --markdown")
    fmt = "csv" if as_csv else "json" if as_json else "markdown"
    try:
        table = results_table(paths)
        figures = plot_results(table, plot, yscale=bucket_scale) if plot else []
    except ValueError as exc:
        fail(str(exc))
    for line in table.skipped:
        typer.echo(line, err=True)
    if out is None:
        typer.echo(table.render(fmt), nl=False)
    else:
        typer.echo(f"{len(table.rows)} runs written to {table.write(out, fmt)}", err=True)
    for path in figures:  # stderr: stdout holds only the table (`--json | jq`, redirects)
        typer.echo(f"figure: {path}", err=True)


@app.command("recommend")
def recommend_cmd(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    user: str | None = typer.Option(None, help="User id of the run's dataset."),
    items: str | None = typer.Option(None, help="Comma-separated item ids (oldest first)."),
    k: int = typer.Option(10, min=1, help="How many items to list."),
    include_seen: bool = typer.Option(False, help="Also rank items already in the history."),
) -> None:
    """Print the top-K items, with titles, that a trained run recommends."""
    from recsys.errors import RecsysError
    from scenarios.run.recommend import recommend
    from scenarios.schema.errors import ScenarioError

    try:
        recs = recommend(
            run_dir, user=user, items=csv_list(items) if items else None, k=k,
            include_seen=include_seen,
        )  # fmt: skip
    except (ScenarioError, RecsysError) as exc:
        fail(str(exc))
    typer.echo(recs.history_heading())
    for item_id, title in recs.history:
        typer.echo(f"      {item_id}  {title}")
    typer.echo(f"top {k}:")
    for rec in recs.items:
        typer.echo(f"  {rec.rank:>3}. {rec.item_id}  {rec.title}  ({rec.score:.3f})")
