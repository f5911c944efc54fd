"""One Optuna study, N workers: `toolkit tune --workers N [--storage URL] [--executor ...]`.

The submitting process opens (or reopens) the study in a storage every worker reaches: an RDB
URL (``sqlite:///…/study.db`` on one machine, ``postgresql://…`` on a cluster) or a journal
file (`optuna.storages.JournalStorage` over a `JournalFileBackend`, for a cluster with a
shared file system and no database). Trials a killed earlier call left RUNNING become FAIL
and are enqueued again (`scenarios.tune.study.open_study`). Then N workers (local processes,
Ray tasks or SLURM jobs: `scenarios.run.executors`) each ask the study for a trial, train it in
their own trial folder and tell the value, until the budget is taken. Asking is serialised by
a file lock in the study folder, so the budget is never overshot and a GridSampler hands each
point out once. The submitting process then writes best.toml, tuning.json and tuning.md as
`toolkit tune` does, and runs best.toml's seeds (the only test evaluation).

Interrupted, the next call resumes: finished trials are kept and never repeated, the killed
ones run again. Trials of a worker are tracked only in the trial folders (metrics.jsonl), not
in the experiment tracker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.schema.errors import ScenarioError
from scenarios.tune.spec import TuneResult, TuneSpec

__all__ = ["WorkerJob", "open_storage", "storage_url", "tune_in_workers", "tune_worker"]


def storage_url(out_dir: Path, storage: str | None) -> str:
    """The storage every worker opens: `storage` as given (an RDB URL, or a journal file's
    path made absolute), or the study folder's SQLite file."""
    if storage is None:
        return f"sqlite:///{Path(out_dir).resolve() / 'study.db'}"
    if "://" in storage:
        return storage
    return str(Path(storage).resolve())


def open_storage(optuna: Any, url: str) -> Any:
    """An Optuna storage for `url`: an RDB URL as is, anything else a journal file."""
    if "://" in url:
        return url
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend  # Optuna >= 4.0

    Path(url).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(url))


@dataclass(frozen=True)
class WorkerJob:
    """What one tuning worker needs (picklable: it travels to a process, Ray or SLURM)."""

    file: str  # the scenario file or shipped name
    overrides: tuple[str, ...]  # applied before the searched values
    spec: TuneSpec
    out_dir: Path  # the study folder (trial folders, the ask lock): shared by the workers
    storage: str  # `storage_url`
    data: Path | None
    grid: tuple[tuple[str, tuple[Any, ...]], ...] | None  # GridSampler points; None: TPE
    worker: int  # names its lines


def _sampler(optuna: Any, job: WorkerJob, seed: int, taken: int) -> Any:
    if job.grid is not None:
        return optuna.samplers.GridSampler(dict(job.grid), seed=seed)
    from scenarios.tune.study import _sampler_seed

    return optuna.samplers.TPESampler(
        seed=_sampler_seed(seed, taken),
        n_startup_trials=job.spec.startup_trials,
        constant_liar=True,  # running trials of other workers count as guesses
    )


def _claim(optuna: Any, study: Any, job: WorkerJob, dists: Mapping, seed: int) -> Any:
    """The next trial of the study, or None when the budget is taken (finished + running)."""
    import warnings

    from filelock import FileLock

    state = optuna.trial.TrialState
    with FileLock(job.out_dir / "ask.lock"):
        taken = study.get_trials(
            deepcopy=False, states=(state.COMPLETE, state.PRUNED, state.RUNNING)
        )
        if len(taken) >= job.spec.trials:
            return None
        study.sampler = _sampler(optuna, job, seed, len(taken))
        with warnings.catch_warnings():  # trial 0 may hold a start value outside the range
            warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
            return study.ask(dists)


def tune_worker(job: WorkerJob) -> int:
    """Run trials of the shared study until its budget is taken; returns how many."""
    from scenarios.run.prepared import Workspace, prepare
    from scenarios.schema.scenario import parse_scenario
    from scenarios.tune.run import optuna_module
    from scenarios.tune.spec import (
        distributions,
        scenario_document,
        search_space,
        value_overrides,
        withhold_test,
    )
    from scenarios.tune.study import (
        STUDY_NAME,
        _pruner,
        _run_trial,
        _trial_line,
        trained_values,
    )

    optuna = optuna_module()
    doc = scenario_document(job.file, job.overrides)
    base = parse_scenario(doc, source=job.file)
    space = search_space(base.method, job.spec.params, job.file)
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(optuna, job.storage))
    study.pruner = _pruner(optuna, job.spec)
    prepared = prepare(base, data=job.data, workspace=Workspace(), progress=False)
    split, seed = withhold_test(prepared.split), job.spec.training_seed(base)
    dists = distributions(optuna, space)
    count = 0
    while (trial := _claim(optuna, study, job, dists, seed)) is not None:
        values = {p.name: trained_values(trial)[p.name] for p in space}
        scenario = parse_scenario(doc, source=base.source, overrides=value_overrides(values))
        started = time.perf_counter()
        state, value = _run_trial(trial, scenario, seed, split, prepared, job.out_dir, None)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        state_enum = getattr(optuna.trial.TrialState, state)
        if job.grid is not None:  # GridSampler.after_trial calls study.stop(): not in ask/tell
            study.sampler = optuna.samplers.RandomSampler()
        frozen = study.tell(trial, value if state == "COMPLETE" else None, state=state_enum)
        print(f"worker {job.worker}: {_trial_line(optuna, study, frozen, job.spec)}", flush=True)
        count += 1
    return count


def tune_in_workers(
    file: str | Path,
    overrides: Sequence[str] = (),
    *,
    spec: TuneSpec,
    out_dir: Path,
    workers: int = 1,
    storage: str | None = None,
    executor: Any = None,
    data: Path | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    final_run: bool = True,
    echo: Callable[[str], None] = print,
) -> TuneResult:
    """`scenarios.tune.run.tune_scenario` with `workers` workers on one shared study.

    Args:
        file, overrides, spec, out_dir, data, final_run: as for `tune_scenario`.
        workers: workers at once (an `executor`'s own `workers` wins).
        storage: an RDB URL or a journal file path; None: `out_dir/study.db` (SQLite).
        executor: a `scenarios.run.executors.Executor` (local processes, Ray, SLURM); None:
            `workers` local processes (1: in this process).
        grid: points per searched key for a GridSampler (instead of TPE).

    Raises:
        ScenarioError: bad scenario or spec, a folder another call is tuning, or workers
            that died before the budget was finished (run again to resume).
    """
    from scenarios.run.executors import Executor, describe
    from scenarios.tune.run import final_runs, folder_lock, optuna_module, set_aside_other_study
    from scenarios.tune.spec import study_inputs
    from scenarios.tune.study import Search, open_study, write_summary

    optuna = optuna_module()
    inputs = study_inputs(file, overrides, spec, data)
    doc, base, space, identity = inputs.doc, inputs.base, inputs.space, inputs.identity
    out_dir = Path(out_dir).resolve()
    executor = executor or Executor("local", workers=workers)
    url = storage_url(out_dir, storage)
    with contextlib.ExitStack() as locks:
        locks.enter_context(folder_lock(out_dir))
        aside = set_aside_other_study if storage is None else lambda *a, **k: False
        if aside(optuna, out_dir, identity, label=None, echo=echo):  # the lock left with it
            locks.enter_context(folder_lock(out_dir))
        study = open_study(optuna, out_dir, identity, base, spec, space, open_storage(optuna, url))
        points = tuple((k, tuple(v)) for k, v in grid.items()) if grid is not None else None
        job = WorkerJob(str(file), tuple(overrides), spec, out_dir, url, data, points, 0)
        jobs = [dataclasses.replace(job, worker=w) for w in range(executor.workers)]
        echo(f"tuning with {executor.workers} workers: {describe(executor)}; study in {url}")
        _run_workers(optuna, study, executor, jobs)
        result = write_summary(Search(optuna, study, base, doc, spec, space, out_dir, identity))
    if final_run:
        result = final_runs(result, data, None, None, progress=False)
    return result


def _run_workers(optuna: Any, study: Any, executor: Any, jobs: Sequence[WorkerJob]) -> None:
    """Run the workers (the only one here when it is one local worker) until the budget is
    finished; ScenarioError when they stopped before (a died worker: run again to resume)."""
    from scenarios.run.executors import run_tasks
    from scenarios.run.pool import WorkerDied
    from scenarios.tune.study import finished

    if executor.kind == "local" and executor.workers == 1:
        results: list[Any] = [tune_worker(jobs[0])]
    else:
        out_dir, names = jobs[0].out_dir, [f"worker-{job.worker}" for job in jobs]
        results = run_tasks(executor, jobs, tune_worker, log_dir=out_dir / "logs", names=names)
    done, trials = len(finished(optuna, study)), jobs[0].spec.trials
    if done < trials:
        died = "; ".join(str(r) for r in results if isinstance(r, WorkerDied))
        message = f"{done} of {trials} trials finished ({died or 'the workers stopped'})"
        raise ScenarioError(jobs[0].out_dir, "", message + "; run the same command again to resume")
