"""The `toolkit` command. Each command parses, validates, calls one library function and
says where the outputs went. Heavy libraries (torch, transformers) are imported inside the
commands, so `toolkit --help` stays fast."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Multimodal sequential recommendation: caption item media, train IISAN-Versa and "
    "baselines over scenario files, and compare text-only with multimodal inputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@data_app.command("stats")
def data_stats(
    path: Path = typer.Argument(..., help="Dataset folder or file (IISAN/Amazon TSV, MicroLens)."),
    drop_unknown: bool = typer.Option(
        False, help="Drop interactions with unknown items instead of failing."
    ),
) -> None:
    """Print users, items, interactions, sequence-length and popularity summaries."""
    from recsys.data import load_dataset
    from recsys.data.stats import dataset_stats, format_stats
    from recsys.errors import RecsysError

    try:
        dataset = load_dataset(path, on_unknown="drop" if drop_unknown else "error")
    except RecsysError as exc:
        _fail(str(exc))
    typer.echo(format_stats(dataset_stats(dataset)))


@app.command("run-scenario")
def run_scenario_cmd(
    file: Path = typer.Argument(..., help="Scenario TOML file (see scenarios/*.toml)."),
    overrides: list[str] = typer.Argument(
        None, help="Dotted overrides applied before validation, e.g. train.epochs=5 seed=7."
    ),
    data: Path | None = typer.Option(None, help="Dataset path; overrides the scenario's."),
    out: Path | None = typer.Option(
        None, help="Run folder (default: runs/<scenario>/<method>-s<seed>)."
    ),
) -> None:
    """Train and evaluate one scenario; writes results.json, metrics and a checkpoint."""
    from recsys.errors import RecsysError
    from scenarios.runner import run_scenario
    from scenarios.schema import ScenarioError, load_scenario

    try:
        scenario = load_scenario(file, overrides or [])
        result = run_scenario(scenario, data=data, out=out)
    except (ScenarioError, RecsysError) as exc:
        _fail(str(exc))
    typer.echo(f"results written to {result.out_dir}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
