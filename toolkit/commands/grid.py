"""`toolkit grid`: run scenarios x methods x encoders x seeds and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from toolkit import executor_options as ex
from toolkit.app import PROGRESS_OPTION, VERBOSE_OPTION, app, console, csv_list, fail

TUNE = typer.Option(None, min=1, help="First tune every (scenario, method) with this many trials.")
TUNE_WORKERS = typer.Option(
    1, min=1, help="Workers of each tuning study (one shared study, on --executor)."
)
COMMANDS = typer.Option(
    False, "--commands", help="Print one run-scenario line per cell (for a scheduler)."
)
NO_RUN = typer.Option(
    False,
    "--no-run",
    "--report-only",
    help="Only write the report from finished cells; train nothing (after a Ray or SLURM "
    "run, from any machine that sees the grid folder).",
)
REPORT_EVAL = typer.Option(
    [],
    "--report-eval",
    help="Report under this eval.* setting: each finished cell's checkpoint is scored "
    "under it without training (repeatable).",
)
RERUN_OTHER_CODE = typer.Option(
    False, "--rerun-other-code", help="Rerun finished cells that other library code made."
)
ALLOW_MIXED_CODE = typer.Option(
    False, "--allow-mixed-code", help="Give verdicts across cells of different code."
)
BASELINE = typer.Option(
    None, help="Compare with: a scenario, scenario/method or scenario/method/encoders."
)


def _grid_spec(
    files: list[Path],
    overrides: list[str],
    *,
    methods: str | None,
    seeds: str | None,
    report_eval: list[str],
    baseline: str | None,
    tune: int | None,
) -> Any:
    """The grid of a grid TOML (one file) or of scenario files, with the command line's
    axes, report settings and tuning applied. ValueError names a bad --seeds."""
    from scenarios.grid.plan import grid_from_files, is_grid_file, load_grid, with_axes, with_tune

    try:
        seed_list = [int(s) for s in csv_list(seeds)]
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    if len(files) == 1 and is_grid_file(files[0]):
        spec = load_grid(files[0], overrides)
    else:
        spec = grid_from_files(files, overrides=overrides)
    spec = with_axes(
        spec, methods=csv_list(methods), seeds=seed_list, report_eval=report_eval,
        baseline=baseline,
    )  # fmt: skip
    return with_tune(spec, tune)


def _print_commands(spec: Any, out: Path | None, data: Path | None) -> None:
    """One `toolkit run-scenario` line per cell of the grid (for a scheduler)."""
    from scenarios.grid.plan import grid_commands

    for line in grid_commands(spec, out_dir=out, data=data):
        typer.echo(line)


@app.command("grid")
def grid_cmd(
    files: list[Path] = typer.Argument(..., help="A grid TOML, or several scenario files."),
    methods: str | None = typer.Option(None, help="Comma-separated methods to sweep."),
    seeds: str | None = typer.Option(None, help="Comma-separated seeds, e.g. 0,1,2."),
    data: Path | None = typer.Option(None, help="Dataset for every scenario."),
    out: Path | None = typer.Option(None, help="Output folder (default runs/grid-<name>)."),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Override for every scenario: key=value."
    ),
    workers: int = typer.Option(1, min=1, help="Cells at once (local processes, Ray, SLURM)."),
    executor: str = ex.EXECUTOR,
    cpus: int = ex.CPUS,
    gpus: float = ex.GPUS,
    memory_gb: float | None = ex.MEMORY_GB,
    ray_address: str | None = ex.RAY_ADDRESS,
    attempts: int = ex.ATTEMPTS,
    slurm_partition: str | None = ex.SLURM_PARTITION,
    slurm_time: int = ex.SLURM_TIME,
    slurm_account: str | None = ex.SLURM_ACCOUNT,
    tune: int | None = TUNE,
    tune_workers: int = TUNE_WORKERS,
    commands: bool = COMMANDS,
    no_run: bool = NO_RUN,
    report_eval: list[str] = REPORT_EVAL,
    rerun_other_code: bool = RERUN_OTHER_CODE,
    allow_mixed_code: bool = ALLOW_MIXED_CODE,
    baseline: str | None = BASELINE,
    progress: bool | None = PROGRESS_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Run scenarios x methods x encoders x seeds; write runs.csv, report.md and a plot.

    A cell whose folder holds a finished run of another configuration (a changed override,
    seed or dataset) is stale: it is moved aside and run again (with --no-run, listed)."""
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.grid.run import run_grid
    from scenarios.schema.errors import ScenarioError

    try:
        spec = _grid_spec(files, set_, methods=methods, seeds=seeds, tune=tune,
                          report_eval=report_eval, baseline=baseline)  # fmt: skip
        if commands:
            return _print_commands(spec, out, data)
        console(progress, verbose)
        where = ex.executor_of(
            executor, workers, cpus=cpus, gpus=gpus, memory_gb=memory_gb,
            ray_address=ray_address, max_retries=attempts - 1, slurm_partition=slurm_partition,
            slurm_time=slurm_time, slurm_account=slurm_account,
        )  # fmt: skip
        result = run_grid(
            spec, out_dir=out, data=data, echo=typer.echo, workers=workers, run=not no_run,
            progress=bool(progress), verbose=verbose, rerun_other_code=rerun_other_code,
            allow_mixed_code=allow_mixed_code, executor=where, tune_workers=tune_workers,
        )  # fmt: skip
    except (ScenarioError, RecsysError, OutputError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"report written to {result.report} ({len(result.failed)} failed runs)")
    if result.failed:
        raise typer.Exit(code=1)
