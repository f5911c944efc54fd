"""`tune_scenario`: equal-budget hyper-parameter search with Optuna, resumable.

The method's declared space (`recsys.space`, in its registry entry; `TuneSpec.params` may
pick a subset) is searched on **validation NDCG@10** only. Every trial trains with the
scenario's epoch budget and early-stopping rule and the same training seed; trials differ
only in the searched values, which are applied as ordinary dotted overrides. A seeded TPE
sampler proposes values (re-seeded from the count of finished trials before each proposal, so
a resumed study proposes what an uninterrupted one would) and a median pruner stops trials
whose per-epoch validation falls behind.

Test data never influences the choice: trials train and select on a copy of the split whose
test targets are withheld (an evaluation on test would fail), and the test metrics of the
chosen configuration are computed once, after the search, by an ordinary run of the written
scenario file.

The output folder::

    study.db      Optuna's SQLite storage (the study; reopened by the next call)
    trials/<id>/  one folder per trial configuration: metrics.jsonl (+ checkpoint while running)
    best.toml     the best configuration, a scenario file `run-scenario` accepts as is
    tuning.json   budget, space, every trial, the choice; tuning.md the same for people
    best/         the final run(s) of best.toml: the only test metrics (`toolkit tune`)

Killed (`kill -9`, a lost machine): the next call on the same folder takes the folder's lock,
marks the trial that was RUNNING as FAIL (attribute `killed`; it does not count toward the
budget) and enqueues its values again, so the retry trains that configuration next, resuming
from the killed trial's last epoch checkpoint; finished trials are kept as they are and only
the remaining ones run.

A folder is reopened only for the very same study: `tuning.json` and `study.db` record the
study's identity (`scenarios.tune.spec.study_identity`: scenario fingerprint, dataset, space,
trials, epochs, sampler seed, startup trials, pruner) and a folder holding any other study,
or one recorded by older code without an identity, is set aside as `<folder>.stale-<n>` with
a line saying what differs, and the study starts afresh. Another budget is another study too,
so a summary states exactly the trials its choice was made from.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from plumbing.io import atomic_write_json
from scenarios.schema.errors import ScenarioError
from scenarios.schema.specs import Scenario
from scenarios.tune.spec import (
    TuneResult,
    TuneSpec,
    identity_change,
    recorded_identity,
    study_inputs,
)

__all__ = [
    "default_study_dir",
    "tune_scenario",
]


def optuna_module() -> Any:
    try:
        import optuna
    except ImportError:
        raise ScenarioError(
            "<tune>", "", "tuning needs Optuna: pip install 'mmrec-toolkit[tune]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def default_study_dir(file: str | Path, overrides: Sequence[str] = ()) -> Path:
    """runs/tune-<scenario>-<method> under the scenario's `output.dir`."""
    from scenarios.schema.scenario import load_scenario

    scenario = load_scenario(file, overrides)
    return Path(scenario.output.dir) / f"tune-{scenario.name}-{scenario.method}"


def tune_scenario(
    file: str | Path,
    overrides: Sequence[str] = (),
    *,
    spec: TuneSpec,
    out_dir: Path,
    data: Path | None = None,
    final_run: bool = True,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    workspace: Any = None,
    tracking: Any = None,
    label: str | None = None,
) -> TuneResult:
    """Search the method's space for `file` + `overrides`; write best.toml; then (with
    `final_run`) run it once per seed: the only test evaluation.

    Args:
        file: a scenario file or a shipped scenario's name.
        overrides: dotted overrides applied before the searched values (`train.epochs=20`).
        spec: trials (the budget), the searched subset, seeds of sampler and trials, pruning.
        out_dir: the study folder: reopened and resumed (or reused when finished) only when
            it holds this very study (`study_identity`); another study there is set aside.
        data: dataset path overriding the scenario's.
        final_run: run best.toml's seeds into `out_dir/best` (a grid runs its own cells).
        progress: a bar over trials (one line per finished trial is always written).
        echo: where lines go when there is no bar.
        workspace: a `scenarios.run.prepared.Workspace` shared with other calls.
        tracking: the caller's `scenarios.run.tracking.TrackingContext` (a grid's), or None.
        label: how the line saying that `out_dir` held another study names it (default
            the folder's path).

    Raises:
        ScenarioError: bad scenario or spec, or a folder another process is tuning now.
    """
    from scenarios.run.prepared import Workspace, prepare
    from scenarios.tune.study import Search, open_study, run_trials, write_summary

    optuna = optuna_module()
    inputs = study_inputs(file, overrides, spec, data)
    doc, base, space, identity = inputs.doc, inputs.base, inputs.space, inputs.identity
    out_dir = Path(out_dir)
    with contextlib.ExitStack() as locks:
        locks.enter_context(folder_lock(out_dir))
        if set_aside_other_study(optuna, out_dir, identity, label=label, echo=echo):
            locks.enter_context(folder_lock(out_dir))  # the old lock left with the old folder
        study = open_study(optuna, out_dir, identity, base, spec, space)
        search = Search(optuna, study, base, doc, spec, space, out_dir, identity)
        prepared = prepare(base, data=data, workspace=workspace or Workspace(), progress=False)
        parent = _parent(base, out_dir, tracking, spec, space)
        run_trials(search, prepared, parent.context, progress=progress, echo=echo)
        result = write_summary(search)
        parent.finish([out_dir / "tuning.md", out_dir / "best.toml", out_dir / "tuning.json"])
    if final_run:
        result = final_runs(result, data, workspace, parent.context, progress)
    return result


@contextlib.contextmanager
def folder_lock(out_dir: Path) -> Iterator[None]:
    """Hold `out_dir/study.lock` (created with the folder); refuse a folder being tuned."""
    from filelock import FileLock, Timeout

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(out_dir / "study.lock", timeout=0):
            yield
    except Timeout:
        raise ScenarioError(
            out_dir, "", "another `toolkit tune` is running on this folder"
        ) from None


def set_aside_other_study(
    optuna: Any, out_dir: Path, identity: dict[str, Any], *, label: str | None, echo: Any
) -> bool:
    """When `out_dir` holds another study than `identity` (finished: tuning.json;
    interrupted: study.db), rename it `<folder>.stale-<n>` (never deleted), say what differs
    in one line and return True; a study recorded without an identity (older code) is
    another study. The caller holds the folder's lock."""
    from plumbing.io import set_aside
    from scenarios.tune.study import held_identity

    found, held = recorded_identity(out_dir)
    if not found:
        found, held = held_identity(optuna, out_dir)
    change = identity_change(held, identity) if found else None
    if change is None:
        return False
    moved = set_aside(out_dir)
    echo(
        f"{label or out_dir}: another study ({change}); tuning again "
        f"(the old one set aside as {moved.name})"
    )
    return True


def _parent(base: Scenario, out_dir: Path, tracking: Any, spec: TuneSpec, space: Sequence) -> Any:
    from scenarios.run.tracking import TrackingContext, open_parent

    context = tracking or TrackingContext(out_dir, f"tune-{base.name}-{base.method}")
    params = {"tune.trials": spec.trials, "tune.space": "; ".join(p.describe() for p in space)}
    return open_parent(
        base.output, context, key=out_dir, name=f"tune {base.name}/{base.method}", params=params
    )


def final_runs(
    result: TuneResult, data: Path | None, workspace: Any, tracking: Any, progress: bool
) -> TuneResult:
    """Run best.toml once per seed into `best/`: the study's only test evaluation."""
    import dataclasses

    from scenarios.run.runner import run_dir_for, run_one
    from scenarios.schema.scenario import load_scenario

    best = load_scenario(result.best_file)
    final, runs = {}, {}
    for seed in best.seeds:
        run_dir = run_dir_for(best, seed, result.out_dir / "best")
        final[seed] = run_one(
            best,
            seed=seed,
            run_dir=run_dir,
            data=data,
            workspace=workspace,
            progress=progress,
            tracking=tracking,
        )
        runs[str(seed)] = {"run_dir": str(run_dir), "test": final[seed]["test"]}
    summary_file = result.out_dir / "tuning.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    atomic_write_json(summary_file, summary | {"final_runs": runs})
    return dataclasses.replace(result, final=final)
