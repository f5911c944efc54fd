"""A pool of N local worker processes for independent tasks (`toolkit grid --workers N`).

A pure executor: it knows nothing about grids. Tasks run in a `ProcessPoolExecutor` with the
*spawn* start method (no forked torch / CUDA state); each worker first sets its CPU thread
count (threads split between workers) and, on a machine with GPUs, pins itself to GPU
``w % num_gpus``. The work function must be a picklable top-level function; state it keeps
per worker process (such as a loaded dataset) is its own business.

Across machines use an existing engine, not this pool: one job per grid cell from a cluster
scheduler (`toolkit grid --commands` prints them) or Ray.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class WorkerDied(Exception):
    """A worker process died (killed, out of memory) while running a task."""


def _init_worker(slots: Any, threads: int, gpus: int) -> None:
    """Runs once in each worker before any task: threads and GPU."""
    slot = slots.get()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):  # a worker is a single-process run
        os.environ.pop(key, None)
    if gpus > 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    import torch

    torch.set_num_threads(threads)


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def run_in_workers(
    tasks: Sequence[T],
    work: Callable[[T], R],
    *,
    workers: int,
    on_done: Callable[[int, R | WorkerDied], None] = lambda i, r: None,
) -> list[R | WorkerDied]:
    """Run `work(task)` for every task in `workers` spawned processes.

    A worker that dies (or a task whose result cannot come back) fails with a `WorkerDied`
    in the returned list, not raised, and the others go on.

    Args:
        tasks: the inputs, each picklable.
        work: a picklable top-level function.
        workers: processes to start (>= 1).
        on_done: called in this process as each task finishes, with its index and result.

    Returns:
        One result (or `WorkerDied`) per task, in `tasks` order.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    results: list[Any] = [None] * len(tasks)
    if not tasks:
        return results
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for w in range(workers):
        slots.put(w)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(slots, threads, _gpu_count()),
    ) as pool:
        futures = {pool.submit(work, task): i for i, task in enumerate(tasks)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                results[i] = future.result()
            except Exception as exc:  # BrokenProcessPool and kin: the process itself died
                results[i] = WorkerDied(f"worker process failed: {exc}"[:300])
            on_done(i, results[i])
    return results
