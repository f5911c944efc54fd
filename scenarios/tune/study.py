"""The Optuna side of `scenarios.tune.run`: the study in its SQLite file, the trial loop, and the
summary (tuning.json, tuning.md, best.toml). Only `scenarios.tune.run` calls these; Optuna is
passed in, never imported at module level."""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plumbing.io import atomic_write_json, atomic_write_text
from scenarios.schema.errors import ScenarioError
from scenarios.schema.specs import Scenario
from scenarios.tune.spec import (
    OBJECTIVE,
    TEST_NOTE,
    TuneResult,
    TuneSpec,
    distributions,
    identity_change,
    remove_checkpoints,
    searchable,
    start_values,
    trial_folder,
    value_overrides,
    withhold_test,
)

STUDY_NAME = "tune"


def held_identity(optuna: Any, out_dir: Path) -> tuple[bool, Any]:
    """(whether `out_dir/study.db` holds a study, the identity it records)."""
    db = Path(out_dir) / "study.db"
    if not db.is_file():
        return False, None
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{db.resolve()}")
    except KeyError:  # an empty storage: no study was created in it
        return False, None
    return True, study.user_attrs.get("identity")


def open_study(
    optuna: Any, out_dir: Path, identity: Mapping[str, Any], base: Scenario, spec: TuneSpec,
    space: Sequence, storage: Any = None,
) -> Any:  # fmt: skip
    """Create or reopen the study in `out_dir/study.db` (or `storage`: an Optuna storage or
    RDB URL shared by workers, `scenarios.tune.workers`) (only the study of `identity`, see
    `scenarios.tune.spec.study_identity`); trials a killed call left RUNNING become FAIL
    (attribute `killed`) and their values are enqueued to run again first."""
    storage = storage or f"sqlite:///{Path(out_dir).resolve() / 'study.db'}"
    study = optuna.create_study(
        storage=storage, study_name=STUDY_NAME, direction="maximize", load_if_exists=True
    )
    held = study.user_attrs.get("identity")
    if held is None and not study.get_trials(deepcopy=False):
        study.set_user_attr("identity", dict(identity))
        if spec.include_start:
            own = start_values(base, space)
            study.enqueue_trial(searchable(own, space), user_attrs={"start": True, "own": own})
    elif (change := identity_change(held, identity)) is not None:
        raise ScenarioError(
            out_dir, "", f"holds another study ({change}); choose another output folder"
        )
    state = optuna.trial.TrialState
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        # We hold the folder's lock, so no live process owns this trial: its process died.
        study.tell(trial.number, state=state.FAIL)
        study.set_user_attr(f"killed_{trial.number}", True)
        retry = {**trial.user_attrs, "retry_of": trial.number}
        study.enqueue_trial(dict(trial.params), user_attrs=retry)
    return study


def trained_values(trial: Any) -> dict[str, Any]:
    """The values a trial trained with: its parameters, except where trial 0 holds the
    scenario's own value that the sampler's range cannot (`scenarios.tune.spec.searchable`)."""
    return dict(trial.params) | dict(trial.user_attrs.get("own") or {})


def finished(optuna: Any, study: Any) -> list[Any]:
    """The trials that count toward the budget: complete or pruned."""
    state = optuna.trial.TrialState
    return study.get_trials(deepcopy=False, states=(state.COMPLETE, state.PRUNED))


def _sampler_seed(seed: int, done: int) -> int:
    """A seed per proposal, from the study seed and how many trials finished before it."""
    if done == 0:
        return seed
    return int(hashlib.sha256(f"{seed}:{done}".encode()).hexdigest()[:8], 16)


def _pruner(optuna: Any, spec: TuneSpec) -> Any:
    if spec.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=max(spec.startup_trials, 1), n_warmup_steps=spec.warmup_epochs
    )


@dataclass(frozen=True)
class Search:
    """One study being run: Optuna, the study, and what every trial shares."""

    optuna: Any
    study: Any
    base: Scenario  # the scenario with its overrides, before the searched values
    doc: Mapping[str, Any]  # its TOML document (what best.toml is written from)
    spec: TuneSpec
    space: tuple[Any, ...]
    out_dir: Path
    identity: Mapping[str, Any]  # scenarios.tune.spec.study_identity, kept in tuning.json


def run_trials(search: Search, prepared: Any, tracking: Any, *, progress: bool, echo: Any) -> None:
    """Run trials until `spec.trials` have finished; one line per finished trial."""
    from tqdm.auto import tqdm

    optuna, study, base, spec, space = (
        search.optuna, search.study, search.base, search.spec, search.space
    )  # fmt: skip

    from scenarios.schema.scenario import parse_scenario

    study.pruner = _pruner(optuna, spec)
    seed = spec.training_seed(base)
    split = withhold_test(prepared.split)
    dists = distributions(optuna, space)
    bar = tqdm(total=spec.trials, desc="tuning", unit="trial", disable=not progress)
    bar.update(min(len(finished(optuna, study)), spec.trials))
    write = bar.write if progress else echo
    while (done := len(finished(optuna, study))) < spec.trials:
        study.sampler = optuna.samplers.TPESampler(
            seed=_sampler_seed(seed, done), n_startup_trials=spec.startup_trials
        )
        with warnings.catch_warnings():  # trial 0 may hold a start value outside the range
            warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
            trial = study.ask(dists)
        values = {p.name: trained_values(trial)[p.name] for p in space}
        overrides = value_overrides(values)
        scenario = parse_scenario(search.doc, source=base.source, overrides=overrides)
        started = time.perf_counter()
        state, value = _run_trial(trial, scenario, seed, split, prepared, search.out_dir, tracking)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        state_enum = getattr(optuna.trial.TrialState, state)
        frozen = study.tell(trial, value if state == "COMPLETE" else None, state=state_enum)
        bar.update(1)
        write(_trial_line(optuna, study, frozen, spec))
    bar.close()


def _run_trial(
    trial: Any,
    scenario: Scenario,
    seed: int,
    split: Any,
    prepared: Any,
    out_dir: Path,
    tracking: Any,
) -> tuple[str, float | None]:
    """Train one trial; returns (state name, value)."""
    from recsys.train.trainer import TrainingDivergedError
    from scenarios.run.tracking import metric_key, track_run

    folder = trial_folder(out_dir, trained_values(trial))
    trial.set_user_attr("folder", str(folder.relative_to(out_dir)))
    pruning = _Pruning(trial)
    name = f"trial {trial.number}"
    with track_run(scenario, tracking, run_dir=folder, name=name) as tracker:
        try:
            fit = fit_trial(scenario, seed, split, prepared, folder, [pruning, *tracker.callbacks])
        except TrainingDivergedError as exc:  # a value, not a crash: TPE learns to avoid it
            trial.set_user_attr("diverged", str(exc))
            tracker.finish({"objective": 0.0})
            return "COMPLETE", 0.0
        value = float(fit.best_valid[OBJECTIVE])
        trial.set_user_attr("best_epoch", fit.best_epoch)
        tracker.finish({metric_key(f"best_valid/{OBJECTIVE}"): value, "pruned": pruning.pruned})
    remove_checkpoints(folder)
    return ("PRUNED" if pruning.pruned else "COMPLETE"), value


class _Pruning:
    """Reports each epoch's validation NDCG@10 to the trial; stops it when Optuna says so."""

    def __init__(self, trial: Any) -> None:
        self.trial, self.pruned = trial, False

    def __call__(self, record: Mapping[str, Any]) -> bool:
        self.trial.report(float(record["valid"][OBJECTIVE]), int(record["epoch"]))
        self.pruned = self.pruned or self.trial.should_prune()
        return self.pruned


def fit_trial(
    scenario: Scenario,
    seed: int,
    split: Any,
    prepared: Any,
    folder: Path,
    callbacks: Sequence[Any],
) -> Any:
    """Train a trial's model (validation only: there is no test evaluation in here) through
    the training entry every run uses (`recsys.run.fit_model`), on the scenario's run
    specification with the trial's split (test targets withheld)."""
    from recsys.run import fit_model
    from scenarios.run.prepared import spec_for

    spec = spec_for(scenario, prepared, seed=seed, split=split).check()
    # A trial's checkpoints hold its whole configuration (as they always did), so an
    # interrupted trial resumes only under exactly its own settings.
    _, fit = fit_model(spec, folder, checkpoint_config=spec.run_config(), callbacks=callbacks)
    return fit


def _trial_line(optuna: Any, study: Any, trial: Any, spec: TuneSpec) -> str:
    """`trial 3 [4/20]: valid ndcg@10 0.0712 (pruned after 2 epochs, 14 s); best 0.0815
    (trial 1) | train.lr=0.00123, ...` for a finished (frozen) trial."""
    done = len(finished(optuna, study))
    best = study.best_trial
    value = trial.value if trial.value is not None else (_last(trial) or 0.0)
    shown = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in trained_values(trial).items()
    )
    epochs = max(trial.intermediate_values, default=0)
    pruned = "pruned after " if trial.state.name == "PRUNED" else ""
    took = f"{pruned}{epochs} epochs, {trial.user_attrs.get('seconds', 0):.0f} s"
    return (
        f"trial {trial.number} [{done}/{spec.trials}]: valid {OBJECTIVE} {value:.4f} ({took}); "
        f"best {best.value:.4f} (trial {best.number}) | {shown}"
    )


_ROW_ATTRS = ("start", "retry_of", "diverged", "seconds")  # user attributes a row keeps


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """Every trial of the study (killed ones included) as a plain record."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": "KILLED" if study.user_attrs.get(f"killed_{t.number}") else t.state.name,
                "value": t.value if t.value is not None else _last(t),
                "params": trained_values(t),
                "epochs": max(t.intermediate_values, default=0),
                **{k: v for k, v in t.user_attrs.items() if k in _ROW_ATTRS},
            }
        )
    return rows


def _last(trial: Any) -> float | None:
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def write_summary(search: Search) -> TuneResult:
    """best.toml (the base document with the chosen values), tuning.json and tuning.md."""
    import copy
    import textwrap

    import tomli_w

    from scenarios.schema.overrides import apply_override

    study, base, spec, space, out_dir = (
        search.study, search.base, search.spec, search.space, search.out_dir
    )  # fmt: skip

    best = study.best_trial
    chosen = {p.name: trained_values(best)[p.name] for p in space}
    tuned = copy.deepcopy(dict(search.doc))
    for item in value_overrides(chosen):
        apply_override(tuned, item, source=str(out_dir / "best.toml"))
    # the data the study used (`--data` or the scenario's, resolved): best.toml runs on it
    tuned["dataset"] = {**tuned.get("dataset", {}), "path": str(search.identity["dataset"])}
    note = (
        f"Tuned by `toolkit tune`: {spec.trials} trials, best trial {best.number} "
        f"(valid {OBJECTIVE} {best.value:.4f}). {TEST_NOTE}"
    )
    header = "".join(f"# {line}\n" for line in textwrap.wrap(note, 96))
    atomic_write_text(out_dir / "best.toml", header + tomli_w.dumps(tuned))
    rows = trial_rows(study)
    summary = {
        "scenario": base.name,
        "method": base.method,
        "objective": f"valid {OBJECTIVE}",
        "budget": budget(base, spec),
        "space": [p.describe() for p in space],
        "trials": rows,
        "best": {"number": best.number, "value": best.value, "params": chosen},
        "test_data": TEST_NOTE,
        "best_file": "best.toml",
        "identity": dict(search.identity),
    }
    atomic_write_json(out_dir / "tuning.json", summary)
    atomic_write_text(out_dir / "tuning.md", summary_markdown(summary))
    return TuneResult(out_dir, out_dir / "best.toml", float(best.value), chosen, rows)


def budget(base: Scenario, spec: TuneSpec) -> dict[str, Any]:
    """What every trial shared: the equal budget, stated in reports."""
    return {
        "trials": spec.trials,
        "epochs": base.train.epochs,
        "patience": base.train.patience,
        "max_steps_per_epoch": base.train.max_steps_per_epoch,
        "select_metric": base.train.select_metric,
        "training_seed": spec.training_seed(base),
        "sampler": f"TPE (seed {spec.training_seed(base)}, "
        f"{_count(spec.startup_trials, 'random startup trial')})",
        "pruner": "none"
        if spec.pruner == "none"
        else f"median (after {_count(spec.startup_trials, 'trial')} and "
        f"{_count(spec.warmup_epochs, 'epoch')})",
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """tuning.md: budget, space, the choice and every trial."""
    b = summary["budget"]
    lines = [
        f"# Tuning {summary['scenario']} / {summary['method']}",
        "",
        f"Budget: {b['trials']} trials, each at most {b['epochs']} epochs with early stopping "
        f"(patience {b['patience']}, on valid {b['select_metric']}); objective "
        f"{summary['objective']}; sampler {b['sampler']}; pruner {b['pruner']}.",
        "",
        "Space: " + "; ".join(summary["space"]),
        "",
        f"Chosen (trial {summary['best']['number']}, {summary['objective']} "
        f"{summary['best']['value']:.4f}): "
        + ", ".join(
            f"`{k}={v:.4g}`" if isinstance(v, float) else f"`{k}={v}`"
            for k, v in summary["best"]["params"].items()
        ),
        "",
        summary["test_data"],
        "",
        "| trial | state | valid NDCG@10 | epochs | values |",
        "|---|---|---|---|---|",
    ]
    for row in summary["trials"]:
        value = "–" if row["value"] is None else f"{row['value']:.4f}"
        shown = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row["params"].items()
        )
        lines.append(f"| {row['number']} | {row['state']} | {value} | {row['epochs']} | {shown} |")
    return "\n".join(lines) + "\n"
