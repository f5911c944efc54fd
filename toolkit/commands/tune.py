"""`toolkit tune`: search a method's hyper-parameters (Optuna), locally or on an executor."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit import executor_options as ex
from toolkit.app import app, console, fail


@app.command("tune")
def tune_cmd(
    file: Path = typer.Argument(..., help="Scenario TOML file (see scenarios/shipped/*.toml)."),
    overrides: list[str] = typer.Argument(
        None, help="Dotted overrides applied before the searched values, e.g. train.epochs=20."
    ),
    trials: int = typer.Option(..., min=1, help="Trials (the budget); a rerun resumes."),
    data: Path | None = typer.Option(None, help="Dataset path; overrides the scenario's."),
    out: Path | None = typer.Option(None, help="Study folder (default: runs/tune-<scenario>)."),
    workers: int = typer.Option(1, min=1, help="Workers on one shared study (--executor)."),
    storage: str | None = typer.Option(
        None, help="The shared study: an RDB URL or a journal file (default: <out>/study.db)."
    ),
    executor: str = ex.EXECUTOR,
    cpus: int = ex.CPUS,
    gpus: float = ex.GPUS,
    memory_gb: float | None = ex.MEMORY_GB,
    ray_address: str | None = ex.RAY_ADDRESS,
    attempts: int = ex.ATTEMPTS,
    slurm_partition: str | None = ex.SLURM_PARTITION,
    slurm_time: int = ex.SLURM_TIME,
    slurm_account: str | None = ex.SLURM_ACCOUNT,
) -> None:
    """Search the method's hyper-parameters on validation NDCG@10 (Optuna), write the best
    configuration as best.toml, then compute its test metrics once."""
    from plumbing.console import show_bars
    from recsys.errors import RecsysError
    from scenarios.schema.errors import ScenarioError
    from scenarios.tune.end import tune_end_lines
    from scenarios.tune.run import default_study_dir, tune_scenario
    from scenarios.tune.spec import TuneSpec

    console(None, False)  # bars only on a terminal; no library INFO lines in a log
    try:
        out_dir = out or default_study_dir(file, overrides or [])
        where = ex.executor_of(
            executor, workers, cpus=cpus, gpus=gpus, memory_gb=memory_gb,
            ray_address=ray_address, max_retries=attempts - 1, slurm_partition=slurm_partition,
            slurm_time=slurm_time, slurm_account=slurm_account,
        )  # fmt: skip
        if workers > 1 or storage or executor != "local":
            from scenarios.tune.workers import tune_in_workers

            result = tune_in_workers(
                file, overrides or [], spec=TuneSpec(trials=trials), out_dir=out_dir, data=data,
                storage=storage, executor=where, echo=typer.echo,
            )  # fmt: skip
        else:
            result = tune_scenario(
                file, overrides or [], spec=TuneSpec(trials=trials), out_dir=out_dir, data=data,
                echo=typer.echo, progress=show_bars(),
            )  # fmt: skip
    except (ScenarioError, RecsysError, ValueError) as exc:
        fail(str(exc))
    for line in tune_end_lines(result):
        typer.echo(line)
