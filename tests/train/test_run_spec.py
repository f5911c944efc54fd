"""The run specification (`recsys.spec.RunSpec`) is the one entry to training: a scenario
maps to it field by field (`scenarios.run.prepared.spec_for`), it records the same
configuration the keyword path did (fingerprints hard-coded from that code), and a tuning
trial and run-scenario reach the same training function with the same spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from recsys.errors import ConfigError
from recsys.fingerprints import fingerprints, training_config
from recsys.spec import RunSpec
from scenarios.run.prepared import Workspace, prepare, spec_for
from scenarios.schema.scenario import load_scenario

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "shipped"
COMMON = ("train.lr=0.0005", "train.epochs=3", "model.dropout=0.3", "eval.ks=[5, 10, 20]")
TITLE = (
    *COMMON,
    "method_options.rank=8",
    "method_options.gate_temperature=0.5",
    "train.adapter_lr=0.002",
    "eval.history=unmasked",
)
WS = Workspace()  # the embedded sample, loaded and split once for this module


def _spec(name: str, overrides: tuple[str, ...] = COMMON, seed: int = 11) -> RunSpec:
    scenario = load_scenario(SHIPPED / name, overrides=list(overrides))
    return spec_for(scenario, prepare(scenario, workspace=WS, progress=False), seed=seed)


def _prints(spec: RunSpec) -> dict[str, str]:
    """The run's fingerprints, the encoder's resolved path (machine-dependent) named instead."""
    config = spec.run_config()
    for channel in config["channels"]:
        channel["encoder"]["model"] = "<model>"
    return fingerprints(config)


# Computed by the keyword path this spec replaced (`run_config_for(split, method=...,
# channels=..., method_options=..., sasrec=scenario.model, train=resolved, evaluation=
# scenario.eval, seed=11)` on the embedded sample): a run folder recorded before the spec
# must be found complete by the same scenario now.
EXPECTED = {
    "id.toml": (
        COMMON,
        {
            "config_sha256": "82e039caeae3791e12d625d7cca8ca621bdb484ffa1c9fb9aa4f21377500cf67",
            "train_sha256": "579679a24eede7e21989ae75af5984de387065fbfaf5d5da1f61f41269bc7b65",
            "eval_sha256": "c1558668e9477e3e801f111348968c747dafee4e40324fbcbe8004877fff3df2",
        },
    ),
    "title.toml": (
        TITLE,
        {
            "config_sha256": "a870d72a14158a5ae20f76109376d14b0c7b91af0828a692d054b7c0c409182a",
            "train_sha256": "7cc7d91e41aae60cd8a6815ee326bbdc803e028aeffe1983768b0f8d3de49984",
            "eval_sha256": "33ce5553b5980d19f195ccae6a1df532fb6f0c89dc761b1f24d3cfa0bb7bc7ee",
        },
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_spec_for_records_what_the_keyword_path_recorded(name: str) -> None:
    overrides, expected = EXPECTED[name]
    assert _prints(_spec(name, overrides)) == expected


@pytest.mark.parametrize(
    ("override", "changes"),
    [
        ("train.lr=0.0007", "train"),
        ("train.epochs=4", "train"),
        ("train.batch_size=32", "train"),
        ("train.weight_decay=0.01", "train"),
        ("model.dim=32", "train"),
        ("model.dropout=0.1", "train"),
        ("eval.history=unmasked", "both"),  # selects the epoch: training and scoring
        ("eval.ks=[5, 10, 50]", "eval"),
        ("eval.beyond=false", "eval"),
        ("method_options.rank=16", "train"),
    ],
)
def test_every_scenario_setting_reaches_the_spec(override: str, changes: str) -> None:
    """Each setting that decides training changes the training fingerprint, each scoring
    setting the evaluation fingerprint (method_options on the title scenario: `id` has none)."""
    name = "title.toml" if override.startswith("method_options") else "id.toml"
    base, changed = _prints(_spec(name)), _prints(_spec(name, (*COMMON, override)))
    assert (changed["train_sha256"] != base["train_sha256"]) == (changes in ("train", "both"))
    assert (changed["eval_sha256"] != base["eval_sha256"]) == (changes in ("eval", "both"))


def test_spec_for_maps_the_scenario_field_by_field(tmp_path: Path) -> None:
    scenario = load_scenario(SHIPPED / "title.toml", overrides=list(TITLE))
    prepared = prepare(scenario, workspace=WS, progress=False)
    spec = spec_for(scenario, prepared, seed=5)
    assert (spec.method, spec.seed, spec.split) == ("iisan_versa", 5, prepared.split)
    assert spec.channels == prepared.channels and spec.channels[0].name == "text"
    assert spec.method_options == {"rank": 8, "gate_temperature": 0.5}
    assert (spec.sasrec, spec.train, spec.evaluation) == (
        scenario.model,
        scenario.train,
        scenario.eval,
    )
    assert spec.cache_dir == scenario.output.cache_path() / "states"
    other = object()
    assert spec_for(scenario, prepared, seed=5, split=other).split is other  # a trial's split
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 6  # type: ignore[misc]


def test_resolved_fills_the_method_defaults_once() -> None:
    spec = dataclasses.replace(_spec("id.toml"), train=load_scenario(SHIPPED / "id.toml").train)
    assert spec.train.lr is None and spec.train.loss == "auto"
    resolved = spec.resolved()
    assert (resolved.train.lr, resolved.train.batch_size) == (1e-3, 256)
    assert resolved.resolved() is resolved  # idempotent
    assert spec.run_config() == resolved.run_config()  # the record always holds the defaults


def test_a_bad_spec_fails_before_any_work(tmp_path: Path) -> None:
    spec = _spec("id.toml")
    with pytest.raises(ConfigError, match="nope"):
        dataclasses.replace(spec, method="nope").check()
    with pytest.raises(ConfigError, match="needs at least one input channel"):
        dataclasses.replace(spec, method="iisan_versa").check()
    title = _spec("title.toml", TITLE)
    with pytest.raises(ConfigError, match="rnak"):
        dataclasses.replace(title, method_options={"rnak": 8}).check()


class _Reached(Exception):
    """Raised by the stubbed training entry once it has seen its arguments."""


def test_a_tuning_trial_and_run_scenario_train_through_one_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both reach `recsys.run.fit_model` with the same spec; run-scenario's checkpoints hold
    the training configuration, a trial's its whole configuration (as before the spec)."""
    from scenarios.run.runner import run_one_result
    from scenarios.tune.study import fit_trial

    monkeypatch.chdir(tmp_path)  # the scenario's output and cache folders
    seen: list[tuple[RunSpec, dict]] = []

    def entry(spec, out_dir, *, checkpoint_config, **_):
        seen.append((spec, checkpoint_config))
        raise _Reached

    monkeypatch.setattr("recsys.run.fit_model", entry)
    scenario = load_scenario(SHIPPED / "id.toml", overrides=[*COMMON, "train.device=cpu"])
    prepared = prepare(scenario, workspace=WS, progress=False)
    with pytest.raises(_Reached):
        run_one_result(scenario, seed=3, run_dir=tmp_path / "run", workspace=WS, progress=False)
    with pytest.raises(_Reached):
        fit_trial(scenario, 3, prepared.split, prepared, tmp_path / "trial", [])
    (run, run_ckpt), (trial, trial_ckpt) = seen
    assert run.split is trial.split is prepared.split
    assert dataclasses.replace(run, split=None) == dataclasses.replace(trial, split=None)
    assert run.train.lr == 0.0005 and run.train.batch_size == 256  # resolved once, the same
    assert trial_ckpt == run.run_config() and run_ckpt == training_config(run.run_config())
