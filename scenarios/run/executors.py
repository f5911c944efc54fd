"""Where independent tasks (grid cells, tuning workers) run: local processes, Ray or SLURM.

A thin layer over existing engines, no scheduler of its own:

* ``local``: N spawned processes on this machine (`scenarios.run.pool.run_in_workers`);
* ``ray``: one Ray task per input (`ray.remote` with num_cpus / num_gpus / memory and
  ``max_retries``: a task whose worker process dies runs again, and since every cell resumes
  from its last epoch checkpoint, the retry ends as an uninterrupted run would) on the
  cluster at ``ray_address``, or on a local Ray started for the call;
* ``slurm``: one job-array task per input through submitit (`AutoExecutor.map_array`), with
  its own log under the caller's log folder; ``cluster="local"`` is submitit's local
  stand-in (tests, a machine without SLURM).

Ray and submitit are optional (`pip install 'mmrec-toolkit[ray]'` / `[slurm]`) and imported
only inside the functions that use them: importing this module imports neither.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from scenarios.run.pool import WorkerDied, run_in_workers

T = TypeVar("T")
R = TypeVar("R")

KINDS = ("local", "ray", "slurm")

__all__ = ["KINDS", "Executor", "describe", "run_tasks", "with_scenario_gpus"]


@dataclass(frozen=True)
class Executor:
    """Where and with what resources each task runs (`--executor` and its flags)."""

    kind: Literal["local", "ray", "slurm"] = "local"  # local processes, Ray tasks, SLURM jobs
    workers: int = 1  # tasks at once (local processes; local Ray CPUs; array parallelism)
    cpus: int = 1  # CPUs per task
    gpus: float = 0  # GPUs per task (Ray: num_gpus, a fraction shares one; SLURM: whole)
    memory_gb: float | None = None  # memory per task; None: the engine's default
    ray_address: str | None = None  # a running Ray cluster ("auto", "ray://host:10001");
    # None starts a local Ray with `workers * cpus` CPUs for the call
    max_retries: int = 2  # Ray: reruns of a task whose worker process died (`--attempts` - 1)
    slurm_partition: str | None = None  # sbatch --partition
    slurm_time: int = 60  # minutes per task (sbatch --time)
    slurm_account: str | None = None  # sbatch --account
    cluster: str | None = None  # submitit cluster: None picks SLURM when sbatch is found,
    # "local" runs the jobs as local processes (tests), "slurm" insists on SLURM

    def check(self) -> None:
        """Raise ValueError (naming the flag) on an impossible setting."""
        if self.kind not in KINDS:
            raise ValueError(f"--executor must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name, least in (("workers", 1), ("cpus", 1), ("gpus", 0)):
            if getattr(self, name) < least:
                raise ValueError(f"--{name} must be >= {least}, got {getattr(self, name)}")
        if self.max_retries < 0:
            raise ValueError(f"--attempts must be >= 1, got {self.max_retries + 1}")
        if self.kind == "slurm" and self.gpus != int(self.gpus):
            raise ValueError(f"--gpus must be a whole number for slurm, got {self.gpus}")
        if self.slurm_time < 1:
            raise ValueError(f"--slurm-time must be >= 1 minute, got {self.slurm_time}")


def with_scenario_gpus(executor: Executor, devices: Sequence[str]) -> Executor:
    """Ray and SLURM tasks get one GPU each when `--gpus` was not given but a scenario sets
    `train.device` to CUDA ("auto" asks for none: it trains on what the task is given)."""
    if executor.kind == "local" or executor.gpus > 0:
        return executor
    if any(str(device).startswith("cuda") for device in devices):
        return dataclasses.replace(executor, gpus=1)
    return executor


def _require(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(
            f"--executor {extra} needs {module}: pip install 'mmrec-toolkit[{extra}]'"
        ) from None


def run_tasks(
    executor: Executor,
    tasks: Sequence[T],
    work: Callable[[T], R],
    *,
    on_done: Callable[[int, R | WorkerDied], None] = lambda i, r: None,
    log_dir: Path | None = None,
    names: Sequence[str] = (),
) -> list[R | WorkerDied]:
    """Run `work(task)` for every task on `executor`; a task that could not finish (its
    process died past its retries, its job failed) gives a `WorkerDied`, never raised.

    Args:
        executor: where and how.
        tasks: inputs, each picklable (cloudpickle for Ray and SLURM).
        work: a picklable function.
        on_done: called here as each task finishes, with its index and result.
        log_dir: SLURM: the folder of the job logs (one per task) and jobs.json.
        names: SLURM: one name per task for jobs.json (which log is whose).

    Returns:
        One result (or `WorkerDied`) per task, in `tasks` order.
    """
    executor.check()
    if not tasks:
        return []
    if executor.kind == "ray":
        return _run_ray(executor, tasks, work, on_done)
    if executor.kind == "slurm":
        folder = Path(log_dir) if log_dir is not None else Path("slurm-logs")
        return _run_slurm(executor, tasks, work, on_done, folder, names)
    return run_in_workers(tasks, work, workers=executor.workers, on_done=on_done)


def _threaded(work: Callable, threads: int, task: Any) -> Any:
    """`work(task)` with torch's CPU threads set to the task's CPUs (a SLURM job or Ray
    worker otherwise starts one thread per core of the node, and cells oversubscribe it)."""
    import torch

    torch.set_num_threads(threads)
    return work(task)


def _run_ray(
    executor: Executor, tasks: Sequence[Any], work: Callable, on_done: Callable
) -> list[Any]:
    """One Ray task per input on the cluster (or a local Ray started here and shut down)."""
    ray = _require("ray", "ray")
    started = not ray.is_initialized()
    if started:
        if executor.ray_address:
            ray.init(address=executor.ray_address, log_to_driver=False)
        else:
            cpus = executor.workers * executor.cpus
            ray.init(
                num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="WARNING"
            )
    options: dict[str, Any] = {
        "num_cpus": executor.cpus,
        "num_gpus": executor.gpus,
        "max_retries": executor.max_retries,
    }
    if executor.memory_gb:
        options["memory"] = int(executor.memory_gb * 1024**3)
    try:
        remote = ray.remote(_threaded).options(**options)
        refs = {remote.remote(work, executor.cpus, task): i for i, task in enumerate(tasks)}
        results: list[Any] = [None] * len(tasks)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            i = refs[ready[0]]
            try:
                results[i] = ray.get(ready[0])
            except ray.exceptions.RayError as exc:  # died past its retries, or raised
                results[i] = WorkerDied(f"Ray task failed: {exc}".splitlines()[0][:300])
            on_done(i, results[i])
        return results
    finally:
        if started:
            ray.shutdown()


def _run_slurm(
    executor: Executor,
    tasks: Sequence[Any],
    work: Callable,
    on_done: Callable,
    log_dir: Path,
    names: Sequence[str],
) -> list[Any]:
    """One job-array task per input through submitit; waits for all of them."""
    submitit = _require("submitit", "slurm")
    log_dir.mkdir(parents=True, exist_ok=True)
    auto = submitit.AutoExecutor(folder=log_dir, cluster=executor.cluster)
    params: dict[str, Any] = {
        "timeout_min": executor.slurm_time,
        "cpus_per_task": executor.cpus,
        "gpus_per_node": int(executor.gpus),
        "slurm_array_parallelism": executor.workers,
    }
    if executor.memory_gb:
        params["mem_gb"] = executor.memory_gb
    if executor.slurm_partition:
        params["slurm_partition"] = executor.slurm_partition
    if executor.slurm_account:
        params["slurm_account"] = executor.slurm_account
    auto.update_parameters(**params)
    jobs = auto.map_array(functools.partial(_threaded, work, executor.cpus), list(tasks))
    _write_jobs(log_dir, jobs, names)
    index = {job.job_id: i for i, job in enumerate(jobs)}
    results: list[Any] = [None] * len(tasks)
    for job in submitit.helpers.as_completed(jobs, poll_frequency=1):
        i = index[job.job_id]
        try:
            results[i] = job.result()
        except Exception as exc:  # the job failed, timed out or was cancelled
            reason = f"job {job.job_id} failed: {exc}".splitlines()[0][:300]
            results[i] = WorkerDied(f"{reason} (log: {job.paths.stderr})")
        on_done(i, results[i])
    return results


def _write_jobs(log_dir: Path, jobs: Sequence[Any], names: Sequence[str]) -> None:
    """jobs.json: for each task its name, job id and log files."""
    from plumbing.io import atomic_write_json

    rows = [
        {
            "name": names[i] if i < len(names) else str(i),
            "job_id": job.job_id,
            "stdout": str(job.paths.stdout),
            "stderr": str(job.paths.stderr),
        }
        for i, job in enumerate(jobs)
    ]
    atomic_write_json(log_dir / "jobs.json", rows)


def describe(executor: Executor) -> str:
    """One line saying where the tasks run."""
    if executor.kind == "ray":
        where = executor.ray_address or f"a local Ray ({executor.workers * executor.cpus} CPUs)"
        return f"Ray tasks on {where}, retried {executor.max_retries}x if a worker dies"
    if executor.kind == "slurm":
        return f"submitit jobs ({executor.cluster or 'auto'} cluster)"
    return f"{executor.workers} local processes"
