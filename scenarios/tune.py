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
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from media.io import atomic_write_json
from scenarios.schema import Scenario, ScenarioError

OBJECTIVE = "ndcg@10"
"""The validation metric every study maximises."""

TEST_NOTE = (
    "Test data never influenced these choices: trials trained and were selected on "
    "validation NDCG@10 over a split whose test targets were withheld, and test metrics were "
    "computed only after the search, for the chosen configuration."
)


@dataclass(frozen=True)
class TuneSpec:
    """How a (scenario, method) is tuned: `toolkit tune`, or a grid's `tune = {...}` table."""

    trials: int  # the budget: finished trials (complete or pruned) per study
    params: tuple[str, ...] = ()  # a subset of the method's declared space; empty = all of it
    seed: int | None = None  # trains every trial and seeds the sampler; None = first seed

    def training_seed(self, scenario: Scenario) -> int:
        """The seed every trial trains with (and the sampler's)."""
        return self.seed if self.seed is not None else scenario.seeds[0]

    startup_trials: int = 5  # random trials before TPE models the space (and the pruner acts)
    pruner: Literal["median", "none"] = "median"  # stop trials behind the median per epoch
    warmup_epochs: int = 2  # epochs every trial trains before the pruner may stop it
    include_start: bool = True  # trial 0 is the scenario's own values

    def check(self, source: str = "<tune>", prefix: str = "tune") -> None:
        """Raise ScenarioError (naming `<prefix>.<field>`) on an impossible setting."""
        for name, least in (("trials", 1), ("startup_trials", 0), ("warmup_epochs", 0)):
            if getattr(self, name) < least:
                raise ScenarioError(source, f"{prefix}.{name}", f"must be >= {least}")


@dataclass(frozen=True)
class TuneResult:
    """A finished study: where it is, what it chose, and (for `toolkit tune`) its test runs."""

    out_dir: Path
    best_file: Path  # best.toml
    best_value: float  # validation NDCG@10 of the best trial
    best_params: dict[str, Any]
    trials: list[dict[str, Any]]  # as in tuning.json
    final: dict[int, dict[str, Any]] = field(default_factory=dict)  # seed -> results.json


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ScenarioError(
            "<tune>", "", "tuning needs Optuna: pip install 'mmrec-toolkit[tune]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def search_space(method: str, only: Sequence[str] = (), source: str = "<tune>") -> tuple:
    """The method's declared space (recsys.space.SearchParam), or the subset named in `only`."""
    from recsys.methods import get_method

    space = get_method(method).space
    if not space:
        raise ScenarioError(source, "method", f"method {method!r} declares no search space")
    names = [p.name for p in space]
    for name in only:
        if name not in names:
            valid = ", ".join(names)
            raise ScenarioError(source, "tune.params", f"{name!r} is not searched; valid: {valid}")
    return tuple(p for p in space if not only or p.name in only)


def withhold_test(split: Any) -> Any:
    """The split with its test targets removed: whatever evaluates on it fails loudly."""
    import dataclasses

    import numpy as np

    return dataclasses.replace(split, test_target=np.zeros(0, dtype=split.test_target.dtype))


def scenario_document(file: str | Path, overrides: Sequence[str]) -> dict[str, Any]:
    """The scenario file as a plain TOML document with `overrides` applied (and its name)."""
    from scenarios.schema import apply_override, find_scenario_file, tomllib

    path = find_scenario_file(file)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))  # fresh, plain dicts and lists
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(path, "", f"cannot read: {exc}") from None
    for item in overrides:
        apply_override(doc, item, source=str(path))
    doc.setdefault("name", path.stem)
    return doc


def value_overrides(values: Mapping[str, Any]) -> list[str]:
    """`key=value` overrides for searched values (JSON agrees with TOML for numbers)."""
    return [f"{k}={json.dumps(v)}" for k, v in values.items()]


def start_values(scenario: Scenario, space: Sequence[Any]) -> dict[str, Any]:
    """The scenario's own value of every searched key (trial 0). A log scale cannot hold 0,
    so a zero there (weight decay off) starts at the range's low end."""
    from recsys.methods import get_method, parse_method_options

    options = parse_method_options(scenario.method, scenario.method_options)
    lr = (
        scenario.train.lr
        if scenario.train.lr is not None
        else get_method(scenario.method).defaults.lr
    )
    known = {
        "train.lr": lr,
        "train.adapter_lr": scenario.train.adapter_lr,
        "train.weight_decay": scenario.train.weight_decay,
        "model.dropout": scenario.model.dropout,
    }
    out = {}
    for p in space:
        value = known.get(p.name)
        if value is None:
            value = getattr(options, p.name.removeprefix("method_options."))
        if p.log and value <= 0:
            value = p.low
        out[p.name] = value
    return out


def distributions(optuna: Any, space: Sequence[Any]) -> dict[str, Any]:
    """Optuna distributions of a space."""
    dist = optuna.distributions
    out = {}
    for p in space:
        if p.kind == "choice":
            out[p.name] = dist.CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[p.name] = dist.IntDistribution(int(p.low), int(p.high), log=p.log)
        else:
            out[p.name] = dist.FloatDistribution(p.low, p.high, log=p.log)
    return out


def trial_folder(out_dir: Path, params: Mapping[str, Any]) -> Path:
    """One folder per configuration: a retried trial finds the killed one's checkpoint."""
    digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True).encode()).hexdigest()
    return Path(out_dir) / "trials" / digest[:16]


def default_study_dir(file: str | Path, overrides: Sequence[str] = ()) -> Path:
    """runs/tune-<scenario>-<method> under the scenario's `output.dir`."""
    from scenarios.schema import load_scenario

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
) -> TuneResult:
    """Search the method's space for `file` + `overrides`; write best.toml; then (with
    `final_run`) run it once per seed: the only test evaluation.

    Args:
        file: a scenario file or a shipped scenario's name.
        overrides: dotted overrides applied before the searched values (`train.epochs=20`).
        spec: trials (the budget), the searched subset, seeds of sampler and trials, pruning.
        out_dir: the study folder (reopened and resumed when it holds this study).
        data: dataset path overriding the scenario's.
        final_run: run best.toml's seeds into `out_dir/best` (a grid runs its own cells).
        progress: a bar over trials (one line per finished trial is always written).
        echo: where lines go when there is no bar.
        workspace: a `scenarios.runner.Workspace` shared with other calls.
        tracking: the caller's `scenarios.tracking.TrackingContext` (a grid's), or None.

    Raises:
        ScenarioError: bad scenario or spec, a folder holding another study, or one that
            another process is tuning now.
    """
    from filelock import FileLock, Timeout

    from scenarios.runner import Workspace, prepare
    from scenarios.schema import parse_scenario
    from scenarios.tune_study import open_study, run_trials, write_summary

    optuna = _optuna()
    doc = scenario_document(file, overrides)
    base = parse_scenario(doc, source=str(file))
    spec.check(str(file))
    space = search_space(base.method, spec.params, str(file))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(out_dir / "study.lock", timeout=0):
            study = open_study(optuna, out_dir, base, spec, space)
            prepared = prepare(base, data=data, workspace=workspace or Workspace(), progress=False)
            parent = _parent(base, out_dir, tracking, spec, space)
            run_trials(
                optuna,
                study,
                base,
                doc,
                spec,
                space,
                prepared,
                out_dir,
                parent.context,
                progress=progress,
                echo=echo,
            )
            result = write_summary(optuna, study, base, doc, spec, space, out_dir)
            parent.finish([out_dir / "tuning.md", out_dir / "best.toml", out_dir / "tuning.json"])
    except Timeout:
        raise ScenarioError(
            out_dir, "", "another `toolkit tune` is running on this folder"
        ) from None
    if final_run:
        result = _final_runs(result, data, workspace, parent.context, progress)
    return result


def _parent(base: Scenario, out_dir: Path, tracking: Any, spec: TuneSpec, space: Sequence) -> Any:
    from scenarios.tracking import TrackingContext, open_parent

    context = tracking or TrackingContext(out_dir, f"tune-{base.name}-{base.method}")
    params = {"tune.trials": spec.trials, "tune.space": "; ".join(p.describe() for p in space)}
    return open_parent(
        base.output, context, key=out_dir, name=f"tune {base.name}/{base.method}", params=params
    )


def _final_runs(
    result: TuneResult, data: Path | None, workspace: Any, tracking: Any, progress: bool
) -> TuneResult:
    """Run best.toml once per seed into `best/`: the study's only test evaluation."""
    import dataclasses

    from scenarios.runner import run_dir_for, run_one
    from scenarios.schema import load_scenario

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


def remove_checkpoints(folder: Path) -> None:
    """A finished trial's checkpoints are dead weight (its metrics.jsonl stays)."""
    shutil.rmtree(Path(folder) / "checkpoint", ignore_errors=True)
