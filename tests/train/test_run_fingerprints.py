"""A run's two fingerprints (training, evaluation), runs recorded before they were split,
honest statuses (complete / resumed / evaluated) and scoring a finished run without training."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from media.hashing import sha256_json
from recsys.config import EvalConfig, SASRecConfig, TrainConfig
from recsys.errors import ConfigError
from recsys.eval.per_user import read_per_user_csv
from recsys.fingerprints import fingerprints, training_config
from recsys.run import evaluate_trained, run_experiment
from recsys.spec import RunSpec
from tests.support.runs import crash_after_checkpoints, snapshot

SASREC = SASRecConfig(dim=16, num_blocks=1, num_heads=2, ffn_dim=32, dropout=0.2)
EVAL = EvalConfig(ks=(5, 10))
TRAIN = TrainConfig(epochs=4, batch_size=16, patience=10, device="cpu")


@pytest.fixture(scope="module")
def split(make_toy_split):
    rng = np.random.default_rng(5)
    letters = [f"i{k:02d}" for k in range(25)]
    seqs = {}
    for u in range(60):
        start = rng.integers(0, 20)
        seqs[f"u{u:03d}"] = [letters[(start + s) % 25] for s in range(rng.integers(4, 9))]
    return make_toy_split(seqs, max_len=5)


def _run(split, out: Path, evaluation: EvalConfig = EVAL, progress: bool = False):
    return run_experiment(_spec(split, out / "cache", evaluation), out_dir=out, progress=progress)


def _spec(split, cache: Path, evaluation: EvalConfig = EVAL) -> RunSpec:
    """The settings of every run in this module."""
    return RunSpec(
        split=split, method="id", sasrec=SASREC, train=TRAIN, evaluation=evaluation, seed=7,
        cache_dir=cache,
    )  # fmt: skip


def _to_legacy_form(run_dir: Path) -> dict:
    """Rewrite results.json and config.json as a release before the split wrote them: one
    `config_sha256` over the whole configuration, no training / evaluation fingerprints."""
    results = json.loads((run_dir / "results.json").read_text())
    for key in ("train_sha256", "eval_sha256"):
        results.pop(key)
    assert results["config_sha256"] == sha256_json(results["config"])
    (run_dir / "results.json").write_text(json.dumps(results))
    return results


def test_scoring_settings_leave_the_training_fingerprint_alone() -> None:
    base = {"method": "id", "train": {"epochs": 3}, "evaluation": dataclasses.asdict(EVAL)}

    def with_eval(**changes) -> dict:
        return fingerprints(base | {"evaluation": base["evaluation"] | changes})

    plain = fingerprints(base)
    cutoffs = with_eval(ks=[1, 50])
    assert cutoffs["train_sha256"] == plain["train_sha256"] != cutoffs["eval_sha256"]
    chunks = with_eval(user_batch=7, item_chunk=3)  # how the ranking is chunked
    assert (chunks["train_sha256"], chunks["eval_sha256"]) == (
        plain["train_sha256"],
        plain["eval_sha256"],
    )
    assert chunks["config_sha256"] != plain["config_sha256"]  # the whole-config hash sees all
    masked = with_eval(history="unmasked")  # changes validation: selects the epoch
    assert masked["train_sha256"] != plain["train_sha256"]
    # A record that predates a field (here `buckets`) is read with the field's default ...
    older = base | {
        "evaluation": {"ks": [5, 10], "history": "masked", "user_batch": 1024, "item_chunk": 1}
    }
    assert fingerprints(older)["train_sha256"] == plain["train_sha256"]
    # ... except `beyond` (recsys.eval.beyond): such a record computed no beyond-accuracy
    # metrics, so it reads as off, and `toolkit evaluate` re-scores it to get them
    assert fingerprints(older)["eval_sha256"] == with_eval(beyond=False)["eval_sha256"]
    assert fingerprints(older)["eval_sha256"] != plain["eval_sha256"]
    assert training_config(base)["selection"] == {"history": "masked"}
    # ... except a record from before eval.history: its default was another (withdrawn)
    # convention;
    # `mask_repeat_targets = true` was exactly today's "masked".
    old = {"ks": [5, 10], "user_batch": 1024, "item_chunk": 200_000}
    withdrawn = base | {"evaluation": old | {"mask_repeat_targets": False}}
    assert training_config(withdrawn)["selection"] == {"history": "withdrawn_target_unmasked"}
    assert fingerprints(withdrawn)["train_sha256"] != plain["train_sha256"]
    same = base | {"evaluation": old | {"mask_repeat_targets": True}}
    assert training_config(same)["selection"] == {"history": "masked"}


def test_a_run_recorded_before_the_split_is_still_complete(split, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = _run(split, run_dir)
    assert first.status == "trained" and first.resumed_from == 0
    written = json.loads((run_dir / "results.json").read_text())
    assert {"config_sha256", "train_sha256", "eval_sha256"} <= set(written)
    legacy = _to_legacy_form(run_dir)
    before = snapshot(run_dir)
    again = _run(split, run_dir)
    assert again.status == "complete" and again.test == legacy["test"]
    assert snapshot(run_dir) == before  # nothing trained, nothing rewritten
    # Other cut-offs: scored, not trained, beside the untouched legacy files.
    wider = _run(split, run_dir, EvalConfig(ks=(5, 10, 20)))
    assert wider.status == "evaluated" and wider.results_dir.name.startswith("eval-")
    assert wider.test["ndcg@10"] == pytest.approx(legacy["test"]["ndcg@10"], abs=1e-12)
    assert "ndcg@20" in wider.test and snapshot(run_dir) == before
    assert _run(split, run_dir, EvalConfig(ks=(5, 10, 20))).status == "complete"
    # Any scoring setting of EvalConfig works the same way, the popularity buckets too.
    bucketed = _run(split, run_dir, EvalConfig(ks=(5, 10), buckets=(1, 3)))
    assert bucketed.status == "evaluated" and bucketed.results_dir != wider.results_dir
    scored = json.loads((bucketed.results_dir / "results.json").read_text())
    assert scored["buckets"]["bounds"] == [1, 3] and legacy["buckets"]["bounds"] != [1, 3]
    assert scored["test"] == pytest.approx(legacy["test"], abs=1e-12)
    # Another validation convention selects epochs differently: another run, and the
    # message says how to score this one under it instead.
    with pytest.raises(ConfigError, match="toolkit evaluate .* eval.history="):
        _run(split, run_dir, EvalConfig(ks=(5, 10), history="unmasked"))


def test_an_interrupted_run_from_before_the_split_resumes_and_says_so(
    split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    straight = _run(split, tmp_path / "straight")
    crash_after_checkpoints(monkeypatch, 2)
    run_dir = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        _run(split, run_dir)
    monkeypatch.undo()
    # The checkpoint as a release before the split wrote it: hashed over the whole config.
    config = json.loads((run_dir / "config.json").read_text())
    legacy_hash = config["config_sha256"]
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state["config_sha256"] == config["train_sha256"] != legacy_hash
    state["config_sha256"] = legacy_hash
    (run_dir / "checkpoint" / "state.json").write_text(json.dumps(state))
    capsys.readouterr()
    resumed = _run(split, run_dir, progress=True)
    assert "resuming at epoch 3 of 4" in capsys.readouterr().err
    assert resumed.status == "resumed" and resumed.resumed_from == 2
    assert resumed.test == straight.test and resumed.best_epoch == straight.best_epoch


def test_scoring_a_user_subset_writes_their_rows_only(split, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _run(split, run_dir)
    before = snapshot(run_dir)
    users = list(split.user_ids[10:30:2])
    scored = evaluate_trained(
        _spec(split, run_dir / "cache"),
        out_dir=run_dir,
        users=users,
    )
    assert scored.status == "evaluated" and snapshot(run_dir) == before
    rows = read_per_user_csv(scored.results_dir / "test_per_user.csv")
    assert sorted(rows["user_id"]) == sorted(users)
    full = read_per_user_csv(run_dir / "test_per_user.csv")
    keep = np.isin(full["user_id"], users)
    for metric in ("hr@10", "ndcg@10", "mrr"):  # the subset's mean of the run's own rows
        assert scored.test[metric] == pytest.approx(full[metric][keep].mean(), abs=1e-12)
    results = json.loads((scored.results_dir / "results.json").read_text())
    assert results["dataset"]["users"] == len(users)
    assert results["config"]["evaluation"]["users"]["count"] == len(users)
    assert (
        results["train_sha256"]
        == json.loads((run_dir / "results.json").read_text())["train_sha256"]
    )
    assert results["evaluated_from"]["selection"] == {"history": "masked"}
    with pytest.raises(ConfigError, match="not users of the split"):
        evaluate_trained(
            _spec(split, run_dir / "cache"),
            out_dir=run_dir,
            users=["nobody"],
        )
    with pytest.raises(ConfigError, match="not a finished run"):
        evaluate_trained(
            _spec(split, run_dir / "cache"),
            out_dir=tmp_path / "empty",
        )
