"""Running a grid: every cell an independent, idempotent run with its own folder.

A finished cell (its results.json records the cell's scenario fingerprint, seed and dataset)
is skipped, whoever ran it, with whatever code (unless `rerun_other_code`); a folder holding
another configuration is stale: set aside (`<name>.stale-<n>`) and run again, or only listed
with `run=False`; an interrupted cell resumes; a failing one is recorded (error.txt) and the
grid goes on. Cells share the caption store and the hidden-state caches (same cache folder)
and, within one process, the loaded dataset and split. The report (runs.csv, runs.json,
report.md, comparisons.json, quality_vs_cost.png) is rebuilt from the run folders after
every grid call.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plumbing.console import quiet_libraries
from plumbing.io import atomic_write_json, atomic_write_text, set_aside
from provenance import source_sha256
from scenarios.grid.plan import (
    GridCell,
    GridSpec,
    default_out_dir,
    grid_data,
    plan_grid,
)
from scenarios.grid.state import cell_state
from scenarios.grid.tune import prepare_cells
from scenarios.report.comparisons import pick_baseline

__all__ = [
    "CellOutcome",
    "GridResult",
    "execute_cell",
    "run_grid",
]


@dataclass(frozen=True)
class CellOutcome:
    """What happened to one cell in this grid call."""

    cell: GridCell
    status: str  # "done" (trained now), "skipped" (already complete), "failed"
    error: str = ""  # one-line reason when failed
    seconds: float = 0.0  # wall time of this call for the cell
    results_dir: Path | None = None  # the cell's eval-<hash>/ under the grid's report_eval


@dataclass(frozen=True)
class GridResult:
    """A finished grid call: where the outputs are and what happened per cell."""

    out_dir: Path
    outcomes: tuple[CellOutcome, ...]
    report: Path  # report.md

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


RunCell = Callable[[GridCell, Path | None, Any, bool], None]


def _default_run_cell(cell: GridCell, data: Path | None, workspace: Any, progress: bool) -> None:
    from scenarios.run.runner import run_one

    encoders = {"text_encoder": cell.text_encoder, "vision_encoder": cell.vision_encoder}
    extra = {"grid_cell": encoders}
    run_one(
        cell.scenario,
        seed=cell.seed,
        run_dir=cell.run_dir,
        data=data,
        workspace=workspace,
        progress=progress,
        extra_record=extra,
        tracking=cell.tracking,
    )


def execute_cell(
    cell: GridCell,
    *,
    data: Path | None = None,
    workspace: Any = None,
    progress: bool = False,
    run_cell: RunCell | None = None,
) -> CellOutcome:
    """Run one cell (it must not be complete); a failure is caught, written down and returned.

    Only `Exception`s are caught: Ctrl-C (KeyboardInterrupt) stops the grid, and the next
    call resumes at this cell.
    """
    from recsys.run import claim_run_folder

    started = time.perf_counter()
    claim_run_folder(cell.run_dir)  # before its first file
    atomic_write_json(
        cell.run_dir / "cell.json",
        {"fingerprint": cell.scenario.fingerprint(), "seed": cell.seed, "label": cell.label},
    )
    error_file = cell.run_dir / "error.txt"
    try:
        (run_cell or _default_run_cell)(cell, data, workspace, progress)
    except Exception as exc:
        atomic_write_text(error_file, traceback.format_exc())
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return CellOutcome(cell, "failed", reason, time.perf_counter() - started)
    if error_file.exists():
        error_file.unlink()  # an earlier failure of this cell is resolved
    return CellOutcome(cell, "done", "", time.perf_counter() - started)


_WORKER_STATE: dict[str, Any] = {}  # per worker process of `run_in_workers`: its Workspace


def _execute_in_worker(task: tuple[GridCell, Path | None, bool, RunCell | None]) -> CellOutcome:
    """A cell in a worker (local process, Ray task, SLURM job); `run_cell` only from tests."""
    from scenarios.run.prepared import Workspace

    cell, data, progress, run_cell = task
    workspace = _WORKER_STATE.setdefault("workspace", Workspace())
    return execute_cell(cell, data=data, workspace=workspace, progress=progress, run_cell=run_cell)


def _sort_cells(
    cells: Sequence[GridCell],
    data: Path | None,
    run: bool,
    echo: Callable[[str], None],
    code: str | None = None,
) -> tuple[list[CellOutcome | None], list[int]]:
    """Outcomes of the cells that need no run (complete, or stale/todo with run=False) and
    the indices of those to run; stale folders to be rerun are set aside first."""
    outcomes: list[CellOutcome | None] = [None] * len(cells)
    todo: list[int] = []
    for i, cell in enumerate(cells):
        state, reason = cell_state(cell, data, code)
        if state == "complete":
            outcomes[i] = CellOutcome(cell, "skipped")
        elif not run:
            status = "stale" if state == "stale" else "not run"
            outcomes[i] = CellOutcome(cell, status, reason)
        else:
            if state == "stale":
                moved = set_aside(cell.run_dir)
                echo(f"{cell.label}: {reason}; moved it to {moved} and running it again")
            todo.append(i)
    return outcomes, todo


GRID_KIND = "grid"  # the marker of a grid folder: plumbing.folders.marker_path(out, GRID_KIND)


def is_grid_folder(folder: Path) -> bool:
    """A grid folder written before grid folders had a marker: it holds runs.csv or runs/."""
    return (folder / "runs.csv").is_file() or (folder / "runs").is_dir()


def claim_grid_folder(folder: Path) -> None:
    """Refuse a folder that holds files and is not a grid folder; mark a grid folder.

    Raises:
        OutputError: `folder` is not empty and not a grid folder of this toolkit.
    """
    from plumbing.folders import claim_folder

    claim_folder(folder, GRID_KIND, is_grid_folder, "grid folder")


def run_grid(
    spec: GridSpec,
    *,
    out_dir: Path | None = None,
    data: Path | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    run_cell: RunCell | None = None,
    workers: int = 1,
    run: bool = True,
    verbose: bool = False,
    rerun_other_code: bool = False,
    allow_mixed_code: bool = False,
    executor: Any = None,
    tune_workers: int = 1,
) -> GridResult:
    """Run every cell of a grid that is not complete, then write the report.

    Args:
        spec: the grid (`load_grid`, or `GridSpec(...)` built in code).
        out_dir: output folder; default `runs/grid-<name>`.
        data: dataset for every scenario, overriding the grid's and the scenarios'.
        progress: per-run progress bars.
        echo: where one status line per cell goes.
        run_cell: replaces the per-cell runner (tests); only with workers == 1.
        workers: cells run in this many spawned local processes (scenarios.run.pool);
            1 runs them here, one after another.
        run: False only writes the report from what is on disk: unfinished cells are
            "not run" and stale ones "stale" (listed, never in the tables).
        verbose: keep the model libraries' own bars and warnings (else quiet unless progress).
        rerun_other_code: a finished cell that other library code made (its source hash) is
            stale: set aside and run again (listed with run=False).
        allow_mixed_code: the report gives verdicts across cells of several code identities.
        executor: a `scenarios.run.executors.Executor` (Ray tasks, SLURM jobs; its `workers`
            replaces `workers`); None: `workers` local processes.
        tune_workers: > 1: the grid's `tune` studies each run on this many workers of the
            executor against one shared study (`scenarios.tune.workers`); 1: in this process.

    Returns:
        The outcomes and the report path; failed cells are listed, not raised.
    """
    executor = _checked_executor(executor, workers, run_cell)
    out = Path(out_dir) if out_dir is not None else default_out_dir(spec)
    claim_grid_folder(out)  # a user's folder is refused before anything is done
    data_path = grid_data(spec, data)
    cells = plan_grid(spec, out)
    pick_baseline(cells, spec.baseline)  # an unknown label fails now, not after training
    if not (progress or verbose):
        quiet_libraries()
    tuner = dataclasses.replace(executor, workers=tune_workers) if tune_workers > 1 else None
    cells, parent = prepare_cells(spec, cells, out, data_path, run=run, echo=echo, tuner=tuner)
    code = source_sha256() if rerun_other_code else None
    outcomes, todo = _sort_cells(cells, data_path, run, echo, code)
    final = _run_cells(cells, outcomes, todo, executor, echo, data=data_path, progress=progress,
                       run_cell=run_cell, log_dir=out / "logs")  # fmt: skip
    return _report(out, cells, final, spec, data_path, echo, parent, allow_mixed_code)


def _checked_executor(executor: Any, workers: int, run_cell: RunCell | None) -> Any:
    """`executor`, or `workers` local processes when None; ValueError for a bad combination."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    from scenarios.run.executors import Executor

    executor = executor or Executor("local", workers=workers)
    if executor.kind == "local" and executor.workers > 1 and run_cell is not None:
        raise ValueError("run_cell cannot be combined with workers > 1")
    return executor


def _run_cells(
    cells: list[GridCell], outcomes: list[CellOutcome | None], todo: list[int], executor: Any,
    echo: Callable[[str], None], *, data: Path | None, progress: bool,
    run_cell: RunCell | None, log_dir: Path,
) -> list[CellOutcome]:  # fmt: skip
    """Echo one numbered line per cell that needs no run, then run the cells `todo` (one line
    each as it ends); every cell's outcome, in cell order."""
    shown = 0

    def done(i: int, outcome: CellOutcome) -> None:
        nonlocal shown
        shown += 1
        outcomes[i] = outcome
        note = f" ({outcome.error})" if outcome.error else _cell_numbers(outcome)
        echo(f"[{shown}/{len(cells)}] {cells[i].label}: {outcome.status}{note}")

    for i, outcome in enumerate(outcomes):
        if outcome is not None:
            done(i, outcome)
    _run_todo(cells, todo, executor, done, data=data, progress=progress, run_cell=run_cell,
              log_dir=log_dir)  # fmt: skip
    return [o for o in outcomes if o is not None]


def _run_todo(
    cells: list[GridCell], todo: list[int], executor: Any, done: Callable[[int, CellOutcome], None],
    *, data: Path | None, progress: bool, run_cell: RunCell | None, log_dir: Path,
) -> None:  # fmt: skip
    """Run the cells `todo` here, one after another, or on `executor` (local processes, Ray
    tasks, SLURM jobs); `done(i, outcome)` as each ends (a worker that died: failed)."""
    from scenarios.run.prepared import Workspace

    if executor.kind == "local" and executor.workers == 1:
        workspace = Workspace()
        for i in todo:
            outcome = execute_cell(
                cells[i], data=data, workspace=workspace, progress=progress, run_cell=run_cell
            )
            done(i, outcome)
        return
    from scenarios.run.executors import run_tasks, with_scenario_gpus
    from scenarios.run.pool import WorkerDied

    executor = with_scenario_gpus(executor, [cells[i].scenario.train.device for i in todo])

    def finished(k: int, result: CellOutcome | WorkerDied) -> None:
        failed = CellOutcome(cells[todo[k]], "failed", str(result))
        done(todo[k], failed if isinstance(result, WorkerDied) else result)

    tasks = [(cells[i], data, progress, run_cell) for i in todo]
    names = [cells[i].label for i in todo]  # SLURM: which log is whose (logs/jobs.json)
    run_tasks(executor, tasks, _execute_in_worker, on_done=finished, log_dir=log_dir, names=names)


def _report(
    out: Path,
    cells: list[GridCell],
    final: list[CellOutcome],
    spec: GridSpec,
    data: Path | None,
    echo: Callable[[str], None],
    parent: Any,
    allow_mixed_code: bool = False,
) -> GridResult:
    """Score the finished cells under the grid's `report_eval` (when it names settings),
    then write the report and hand it to the grid's tracking run (`parent`)."""
    from scenarios.report.grid_report import write_report
    from scenarios.run.prepared import Workspace

    if spec.report_eval:
        workspace = Workspace()
        final = [_score_cell(o, spec.report_eval, data, workspace, echo) for o in final]
    report = write_report(out, cells, final, spec, allow_mixed_code=allow_mixed_code)
    parent.finish([report, report.parent / "quality_vs_cost.png"])
    return GridResult(out, tuple(final), report)


def _cell_numbers(outcome: CellOutcome) -> str:
    """ " (test NDCG@10 ..., ...)" for a finished cell; "" when it has no results."""
    from recsys.errors import RecsysError
    from recsys.fingerprints import read_results
    from scenarios.run.summary import summary_line, summary_of

    if outcome.status not in ("done", "skipped"):
        return ""
    folder = outcome.results_dir or outcome.cell.run_dir
    try:
        results = read_results(folder / "results.json")
    except RecsysError:  # unreadable: the report names it
        return ""
    if results is None:
        return ""
    summary = summary_of(results, run_dir=outcome.cell.run_dir, results_dir=folder)
    return f" ({summary_line(summary)})"


def _score_cell(
    outcome: CellOutcome,
    overrides: Sequence[str],
    data: Path | None,
    workspace: Any,
    echo: Callable[[str], None],
) -> CellOutcome:
    """A finished cell scored under the grid's `report_eval` (`toolkit evaluate`); failures
    are the cell's, recorded like a failed run."""
    from scenarios.run.evaluate import evaluate_run

    if outcome.status not in ("done", "skipped"):
        return outcome
    try:
        run = evaluate_run(outcome.cell.run_dir, overrides, data=data, workspace=workspace)
    except Exception as exc:  # one cell's failure never stops the report
        reason = f"scoring under {' '.join(overrides)}: {type(exc).__name__}: {exc}"
        return CellOutcome(outcome.cell, "failed", reason.splitlines()[0][:300], outcome.seconds)
    scored = CellOutcome(outcome.cell, outcome.status, "", outcome.seconds, run.results_dir)
    echo(f"{outcome.cell.label}: scored under {' '.join(overrides)}{_cell_numbers(scored)}")
    return scored
