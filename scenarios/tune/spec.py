"""The data of a tuning study, apart from Optuna: its spec, its result, the searched space and
the helpers both `scenarios.tune.run` (the entry point) and `scenarios.tune.study` (the Optuna
loop) use. Nothing here imports Optuna."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scenarios.schema.errors import ScenarioError
from scenarios.schema.specs import Scenario

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
    from scenarios.schema.overrides import apply_override
    from scenarios.schema.scenario import find_scenario_file

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the tomli backport (a pyproject dependency there)
        import tomli as tomllib  # type: ignore[no-redef]

    path = find_scenario_file(file)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))  # fresh, plain dicts and lists
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(path, "", f"cannot read: {exc}") from None
    for item in overrides:
        apply_override(doc, item, source=str(path))
    doc.setdefault("name", path.stem)
    return doc


@dataclass(frozen=True)
class StudyInputs:
    """What a study is opened from: the scenario document, its parsed base scenario, the
    searched space and the study's identity (`study_identity`)."""

    doc: dict[str, Any]
    base: Scenario
    space: tuple
    identity: dict[str, Any]


def study_inputs(
    file: str | Path, overrides: Sequence[str], spec: Any, data: str | Path | None
) -> StudyInputs:
    """The checked inputs of a tuning study, the same for one process (`tune.run`) and for N
    workers (`tune.workers`); ScenarioError names what is wrong."""
    from scenarios.schema.scenario import parse_scenario

    doc = scenario_document(file, overrides)
    base = parse_scenario(doc, source=str(file))
    spec.check(str(file))
    space = search_space(base.method, spec.params, str(file))
    return StudyInputs(doc, base, space, study_identity(base, spec, space, data))


def value_overrides(values: Mapping[str, Any]) -> list[str]:
    """`key=value` overrides for searched values (JSON agrees with TOML for numbers)."""
    return [f"{k}={json.dumps(v)}" for k, v in values.items()]


def start_values(scenario: Scenario, space: Sequence[Any]) -> dict[str, Any]:
    """The scenario's own value of every searched key (trial 0 trains and records these)."""
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
        out[p.name] = value
    return out


def searchable(values: Mapping[str, Any], space: Sequence[Any]) -> dict[str, Any]:
    """`values` as the sampler may hold them: a log scale cannot hold 0, so a zero there
    (weight decay off) is told to Optuna as the range's low end (the trial still trains
    with 0: its `own` attribute, `scenarios.tune.study.trained_values`)."""
    low = {p.name: p.low for p in space if p.log}
    return {k: low[k] if k in low and v <= 0 else v for k, v in values.items()}


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


def remove_checkpoints(folder: Path) -> None:
    """A finished trial's checkpoints are dead weight (its metrics.jsonl stays)."""
    shutil.rmtree(Path(folder) / "checkpoint", ignore_errors=True)


# How each field of a study's identity is named when it differs (`identity_change`).
_IDENTITY_LABELS = {
    "scenario_fingerprint": "configuration",
    "dataset": "dataset",
    "trials": "trials",
    "space": "search space",
    "epochs": "epochs",
    "sampler_seed": "sampler seed",
    "startup_trials": "startup trials",
    "pruner": "pruner",
    "warmup_epochs": "pruner warm-up epochs",
    "include_start": "start trial",
    "objective": "objective",
    "scenario": "scenario",
    "method": "method",
}


def study_identity(
    base: Scenario, spec: TuneSpec, space: Sequence[Any], data: Path | None
) -> dict[str, Any]:
    """What defines a study: a folder's study is reused or resumed only when its recorded
    identity equals this one exactly (`sha256` is over every other field)."""
    from media.hashing import sha256_json
    from scenarios.run.prepared import dataset_path

    fields = {
        "scenario": base.name,
        "method": base.method,
        "scenario_fingerprint": base.fingerprint(),  # the untuned scenario with its overrides
        "dataset": str(dataset_path(base, data).expanduser().resolve()),
        "space": [p.describe() for p in space],  # the searched keys and their ranges
        "trials": spec.trials,
        "epochs": base.train.epochs,
        "sampler_seed": spec.training_seed(base),  # also the training seed of every trial
        "startup_trials": spec.startup_trials,
        "pruner": spec.pruner,
        "warmup_epochs": spec.warmup_epochs,
        "include_start": spec.include_start,
        "objective": f"valid {OBJECTIVE}",
    }
    fields = json.loads(json.dumps(fields))  # as it reads back from JSON
    return {**fields, "sha256": sha256_json(fields)}


def identity_change(held: Any, wanted: Mapping[str, Any]) -> str | None:
    """None when `held` (a recorded identity) is `wanted`, else what differs in one line:
    `trials 20 → 4, dataset /a → /b`. An identity missing or unreadable (older code) differs."""
    if not isinstance(held, Mapping) or "sha256" not in held:
        return "no recorded study identity (older code)"
    if dict(held) == dict(wanted):
        return None
    diffs = [
        f"{_IDENTITY_LABELS.get(key, key)} {_shown(key, held.get(key))} → "
        f"{_shown(key, wanted[key])}"
        for key in wanted
        if key != "sha256" and held.get(key) != wanted[key]
    ]
    return ", ".join(diffs) or "identity hash differs"


def _shown(key: str, value: Any) -> str:
    if key == "scenario_fingerprint" and isinstance(value, str):
        return value[:12]
    if key == "space" and isinstance(value, list):
        return "[" + "; ".join(map(str, value)) + "]"
    return str(value)


def recorded_identity(folder: Path) -> tuple[bool, Any]:
    """(whether `folder` holds a finished study's tuning.json, the identity it records)."""
    try:
        summary = json.loads((Path(folder) / "tuning.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, None
    except (OSError, UnicodeDecodeError, ValueError):
        return True, None
    return True, summary.get("identity") if isinstance(summary, dict) else None
