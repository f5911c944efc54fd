"""`toolkit demo`: caption the embedded sample and compare title-only with media inputs."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.app import app, csv_list, fail


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo_out"), help="Output folder."),
    seeds: str | None = typer.Option(
        None,
        help="Comma-separated seeds per scenario (default 0,1,2,3,4: a verdict needs several).",
    ),
) -> None:
    """Caption the sample, then compare title-only with image, video and captions."""
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.grid.demo import DEMO_SEEDS, run_demo
    from scenarios.schema.errors import ScenarioError

    try:
        chosen = tuple(int(s) for s in csv_list(seeds)) if seeds else DEMO_SEEDS
        result = run_demo(out, seeds=chosen, echo=typer.echo)
    except (ScenarioError, RecsysError, OutputError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"demo outputs in {result.out_dir} (report: {result.report})")
