"""The `--executor` flags `toolkit grid` and `toolkit tune` share (scenarios.run.executors).

Only typer here: importing this module imports neither Ray nor submitit.
"""

from __future__ import annotations

from typing import Any

import typer

EXECUTOR = typer.Option(
    "local", "--executor", help="Where tasks run: local (processes), ray (tasks) or slurm (jobs)."
)
CPUS = typer.Option(1, "--cpus", min=1, help="CPUs per task (ray, slurm).")
GPUS = typer.Option(
    0.0, "--gpus", min=0.0, help="GPUs per task (ray: a fraction shares one; slurm: whole)."
)
MEMORY_GB = typer.Option(None, "--memory-gb", help="Memory per task in GB (ray, slurm).")
RAY_ADDRESS = typer.Option(
    None, "--ray-address", help="A running Ray cluster (e.g. auto); default: a local Ray."
)
ATTEMPTS = typer.Option(
    3, "--attempts", min=1, help="Ray: tries of a task whose worker dies (a retry resumes)."
)
SLURM_PARTITION = typer.Option(None, "--slurm-partition", help="sbatch --partition.")
SLURM_TIME = typer.Option(60, "--slurm-time", min=1, help="Minutes per SLURM job.")
SLURM_ACCOUNT = typer.Option(None, "--slurm-account", help="sbatch --account.")


def executor_of(kind: str, workers: int, **flags: Any) -> Any:
    """The `scenarios.run.executors.Executor` of the flags; ValueError names a bad one."""
    from scenarios.run.executors import Executor

    executor = Executor(kind, workers=workers, **flags)  # type: ignore[arg-type]
    executor.check()
    return executor
