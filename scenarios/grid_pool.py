"""Grid cells in N local worker processes (`toolkit grid --workers N`).

Cells are independent and idempotent (own run folder, skip when complete, resume when cut
off), so a pool of processes can take them in any order: a `ProcessPoolExecutor` with the
*spawn* start method (no forked torch / CUDA state), one `Workspace` per worker (each loads
the dataset once), CPU threads split between workers and, on a machine with GPUs, worker w
pinned to GPU ``w % num_gpus``. Hidden-state caches that several cells share are built under
a file lock (recsys.cache.build), so two workers never write the same cache at once.

Across machines use an existing engine, not this pool: one job per cell from a cluster
scheduler (e.g. a SLURM job array whose task i runs ``toolkit run-scenario`` for cell i,
under ``torchrun`` for several GPUs) or Ray; every cell writes only its own run folder, and
``toolkit grid`` on the shared output folder afterwards skips the finished cells and writes
the report.
"""

from __future__ import annotations

import multiprocessing
import os
import shlex
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

_STATE: dict[str, Any] = {}  # per worker process: its Workspace


def _init_worker(slots: Any, threads: int, gpus: int) -> None:
    """Runs once in each worker before any cell: threads, GPU and an empty workspace."""
    slot = slots.get()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):  # a worker is a single-process run
        os.environ.pop(key, None)
    if gpus > 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    import torch

    torch.set_num_threads(threads)
    _STATE["slot"] = slot


def _run_in_worker(cell: Any, data: Path | None, progress: bool) -> Any:
    from scenarios.grid import execute_cell
    from scenarios.runner import Workspace

    workspace = _STATE.setdefault("workspace", Workspace())
    return execute_cell(cell, data=data, workspace=workspace, progress=progress)


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def run_cells_in_workers(
    cells: Sequence[Any],
    *,
    workers: int,
    data: Path | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> list[Any]:
    """Execute grid cells in `workers` spawned processes; outcomes in the cells' order.

    A worker that dies (killed, out of memory) fails the cells it had, with the reason, and
    the others go on; running the grid again resumes them.

    Args:
        cells: planned cells (scenarios.grid.plan_grid).
        workers: processes to start (>= 1).
        data: dataset overriding the scenarios'.
        progress: per-run progress bars (interleaved: off by default).
        echo: one status line per finished cell.

    Returns:
        One CellOutcome per cell, in `cells` order.
    """
    from scenarios.grid import CellOutcome, cell_state

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    outcomes: list[Any] = [None] * len(cells)
    todo = []
    shown = 0
    for i, cell in enumerate(cells):  # finished cells need no worker
        if cell_state(cell) == "complete":
            outcomes[i] = CellOutcome(cell, "skipped")
            shown += 1
            echo(f"[{shown}/{len(cells)}] {cell.label}: skipped")
        else:
            todo.append(i)
    if not todo:
        return outcomes
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for w in range(workers):
        slots.put(w)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(slots, threads, _gpu_count()),
    ) as pool:
        futures = {pool.submit(_run_in_worker, cells[i], data, progress): i for i in todo}
        for finished, future in enumerate(as_completed(futures), start=shown + 1):
            i = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker process died: BrokenProcessPool and kin
                outcome = CellOutcome(cells[i], "failed", f"worker process failed: {exc}"[:300])
            outcomes[i] = outcome
            note = f" ({outcome.error})" if outcome.error else ""
            echo(f"[{finished}/{len(cells)}] {cells[i].label}: {outcome.status}{note}")
    return outcomes


def cell_command(cell: Any, data: Path | None = None) -> str:
    """The `toolkit run-scenario` line that runs one cell into its grid run folder.

    Hand these lines to a scheduler (one job each, under `torchrun` for several GPUs); a
    later `toolkit grid` call on the same output folder finds the finished cells complete.
    """
    parts = ["toolkit", "run-scenario", cell.source, *cell.overrides, "--out", str(cell.run_dir)]
    if data is not None:
        parts += ["--data", str(data)]
    return shlex.join(parts)


def grid_commands(spec: Any, *, out_dir: Path | None = None, data: Path | None = None) -> list[str]:
    """`cell_command` for every cell of a grid, in plan order (same folders as `run_grid`)."""
    from scenarios.grid import _safe, plan_grid

    out = Path(out_dir) if out_dir is not None else Path("runs") / f"grid-{_safe(spec.name)}"
    data_path = data if data is not None else (Path(spec.data) if spec.data else None)
    return [cell_command(cell, data_path) for cell in plan_grid(spec, out)]
