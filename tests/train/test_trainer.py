"""The training loop: determinism, resume after a crash, checkpoint contents, structure."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from plumbing.io import read_jsonl
from recsys.config import EvalConfig, SASRecConfig, TrainConfig
from recsys.errors import ConfigError
from recsys.eval.per_user import read_per_user_csv
from recsys.models.base import ItemTower, ParamGroup
from recsys.models.recommender import SequentialRecommender
from recsys.models.sasrec import SASRec
from recsys.run import run_experiment
from recsys.spec import RunSpec
from recsys.train import checkpoint as ckpt
from recsys.train.trainer import Trainer
from tests.support.runs import crash_after_checkpoints

SASREC = SASRecConfig(dim=16, num_blocks=1, num_heads=2, ffn_dim=32, dropout=0.2)
EVAL = EvalConfig(ks=(5, 10))


def _train_config(**kw) -> TrainConfig:
    base = dict(epochs=4, batch_size=16, patience=10, device="cpu", select_metric="ndcg@10")
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def split(make_toy_split):
    rng = np.random.default_rng(3)
    letters = [f"i{k:02d}" for k in range(25)]
    seqs = {}
    for u in range(60):
        start = rng.integers(0, 20)  # sequences walk forward through the catalogue
        seqs[f"u{u:03d}"] = [letters[(start + s) % 25] for s in range(rng.integers(4, 9))]
    return make_toy_split(seqs, max_len=5)


def _run(split, out: Path, **kw):
    return run_experiment(
        RunSpec(
            split=split,
            method="id",
            sasrec=SASREC,
            train=_train_config(**kw),
            evaluation=EVAL,
            seed=7,
            cache_dir=out / "cache",
        ),
        out_dir=out,
        progress=False,
    )


def test_interrupted_then_resumed_run_matches_uninterrupted(split, tmp_path, monkeypatch):
    straight = _run(split, tmp_path / "straight")

    real_write_pointer = ckpt.write_pointer
    crash_after_checkpoints(monkeypatch, 2)  # as if killed right after epoch 2's checkpoint
    with pytest.raises(KeyboardInterrupt):
        _run(split, tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "results.json").exists()
    # A crash between the metrics line and the checkpoint leaves an orphan epoch-3 line.
    from plumbing.io import append_jsonl

    append_jsonl(tmp_path / "resumed" / "metrics.jsonl", {"epoch": 3, "orphan": True})
    monkeypatch.setattr(ckpt, "write_pointer", real_write_pointer)
    resumed = _run(split, tmp_path / "resumed")

    assert resumed.test == straight.test and resumed.valid == straight.valid
    assert resumed.best_epoch == straight.best_epoch and resumed.epochs_run == 4
    lines, torn = read_jsonl(tmp_path / "resumed" / "metrics.jsonl")
    expected, _ = read_jsonl(tmp_path / "straight" / "metrics.jsonl")
    assert torn == 0 and [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert [r["loss"] for r in lines] == [r["loss"] for r in expected]


def test_completed_run_is_reused_and_files_are_complete(split, tmp_path):
    first = _run(split, tmp_path / "run", epochs=2)
    stamp = (tmp_path / "run" / "results.json").stat().st_mtime_ns
    again = _run(split, tmp_path / "run", epochs=2)
    assert (first.status, again.status) == ("trained", "complete")  # and says so
    assert dataclasses.replace(again, status="trained") == first
    assert (tmp_path / "run" / "results.json").stat().st_mtime_ns == stamp  # not retrained
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    for key in (
        "protocol",
        "method",
        "seed",
        "config",
        "dataset",
        "valid",
        "test",
        "best_epoch",
        "epochs_run",
        "efficiency",
        "params",
        "tower",
        "record",
        "toolkit_version",
    ):
        assert key in results
    assert results["dataset"]["users"] == split.num_users
    efficiency = results["efficiency"]
    assert efficiency["cpu_seconds_per_epoch"] > 0 and efficiency["memory_mb"] >= 0
    assert efficiency["memory_mb"] == efficiency["rss_growth_mb"]  # CPU: growth incl. peaks
    assert not [t for t in threading.enumerate() if t.name == "rss-sampler"]  # joined
    assert set(results["test"]) == {"hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr"}
    per_user = read_per_user_csv(tmp_path / "run" / "test_per_user.csv")
    assert per_user["user_id"].tolist() == list(split.user_ids)
    assert np.mean(per_user["ndcg@10"]) == pytest.approx(first.test["ndcg@10"])
    assert np.mean(per_user["hr@5"]) == pytest.approx(first.test["hr@5"])
    assert (per_user["rank_expectation"] >= 1).all()
    np.testing.assert_array_equal(per_user["target_masked"], per_user["target_in_history"])
    with pytest.raises(ConfigError, match="another configuration"):
        _run(split, tmp_path / "run", epochs=3)


class _FrozenBackboneTower(ItemTower):
    """A frozen 'backbone' embedding plus a trainable projection (role adapter)."""

    def __init__(self, num_items: int, dim: int) -> None:
        super().__init__()
        self.out_dim = dim
        self.backbone = nn.Embedding(num_items + 1, 12)
        self.backbone.requires_grad_(False)
        self.proj = nn.Linear(12, dim)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.proj(self.backbone(items))

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup("proj", list(self.proj.parameters()), role="adapter")]

    def frozen_modules(self) -> list[nn.Module]:
        return [self.backbone]


def _frozen_model(split) -> SequentialRecommender:
    torch.manual_seed(0)
    return SequentialRecommender(
        _FrozenBackboneTower(split.num_items, 16), SASRec(16, 1, 2, 32, 5, 0.1)
    )


def test_checkpoint_holds_only_trainable_tensors(split, tmp_path):
    model = _frozen_model(split)
    backbone_before = model.item_tower.backbone.weight.clone()
    trainer = Trainer(
        model,
        split,
        _train_config(epochs=2, loss="inbatch_logq", lr=1e-3),
        EVAL,
        seed=1,
        out_dir=tmp_path,
        run_config={"test": 1},
        device=torch.device("cpu"),
        progress=False,
    )
    groups = {g["name"]: g for g in trainer.optimizer.param_groups}
    assert groups["proj"]["lr"] == 1e-4 and groups["sasrec"]["lr"] == 1e-3  # adapter_lr / lr
    fit = trainer.fit()
    assert torch.equal(model.item_tower.backbone.weight, backbone_before)
    tensors, meta = ckpt.load_weights(tmp_path / "checkpoint" / "best.safetensors")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(tensors) == trainable and not any("backbone" in n for n in tensors)
    assert meta["config"] == {"test": 1} and meta["toolkit_version"]
    optim = torch.load(tmp_path / "checkpoint" / "epoch-0002.optim.pt", weights_only=True)
    assert "optimizer" in optim
    assert fit.params["total"] - fit.params["trainable"] == model.item_tower.backbone.weight.numel()


def test_undeclared_trainable_parameter_is_refused(split):
    model = _frozen_model(split)
    model.item_tower.backbone.weight.requires_grad_(True)  # trainable but in no group
    with pytest.raises(ConfigError, match="in no param_groups"):
        Trainer(
            model,
            split,
            _train_config(loss="inbatch_logq", lr=1e-3),
            EVAL,
            seed=0,
            out_dir=None,
            run_config={},
            device=torch.device("cpu"),
            progress=False,
        )


def test_fixed_seed_is_deterministic_and_seeds_differ(split):
    def fit(seed: int):
        model = _frozen_model(split)
        trainer = Trainer(
            model,
            split,
            _train_config(epochs=2, loss="inbatch_logq", lr=1e-3),
            EVAL,
            seed=seed,
            out_dir=None,
            run_config={},
            device=torch.device("cpu"),
            progress=False,
        )
        return trainer.fit()

    a, b, c = fit(5), fit(5), fit(6)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert a.best_valid == b.best_valid
    assert [r["loss"] for r in a.history] != [r["loss"] for r in c.history]


def test_a_frozen_tensor_changed_in_training_is_reported(split):
    model = _frozen_model(split)
    tower = model.item_tower
    real_forward = tower.forward

    def leaky_forward(items):
        with torch.no_grad():
            tower.backbone.weight[1, 0] += 1e-3  # a bug: something updates the backbone
        return real_forward(items)

    tower.forward = leaky_forward
    trainer = Trainer(
        model,
        split,
        _train_config(epochs=1, loss="inbatch_logq", lr=1e-3),
        EVAL,
        seed=0,
        out_dir=None,
        run_config={},
        device=torch.device("cpu"),
        progress=False,
    )
    with pytest.raises(ConfigError, match="frozen tensor"):
        trainer.fit()


def test_run_experiment_rejects_bad_method_and_settings(split, tmp_path):
    with pytest.raises(ConfigError, match="valid methods: .*id"):
        run_experiment(
            RunSpec(split=split, method="nope", cache_dir=tmp_path), out_dir=tmp_path / "a"
        )
    with pytest.raises(ConfigError, match="select_metric"):
        _run(split, tmp_path / "b", select_metric="ndcg@50")
    with pytest.raises(ConfigError, match="valid: inbatch_logq, full_softmax"):
        _run(split, tmp_path / "c", loss="bpr")


def test_sasrec_init_reaches_run_config_and_changes_the_hash(split, tmp_path, monkeypatch):
    import dataclasses

    import recsys.factory as run_mod  # the one model factory run_experiment builds through

    built = []  # every model run_experiment builds, to look at its ID table
    original = run_mod.SequentialRecommender

    def recording(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(run_mod, "SequentialRecommender", recording)
    _run(split, tmp_path / "n", epochs=1)  # the default init, "normal"
    xavier = dataclasses.replace(SASREC, init="xavier")
    run_experiment(
        RunSpec(
            split=split,
            method="id",
            sasrec=xavier,
            train=_train_config(epochs=1),
            evaluation=EVAL,
            seed=7,
            cache_dir=tmp_path / "cache",
        ),
        out_dir=tmp_path / "x",
        progress=False,
    )
    xavier_cfg = json.loads((tmp_path / "x" / "config.json").read_text())
    normal_cfg = json.loads((tmp_path / "n" / "config.json").read_text())
    # Runs recorded before the option were all Xavier and name no init: their hash still holds.
    assert "init" not in xavier_cfg["sasrec"]
    assert normal_cfg["sasrec"]["init"] == "normal"
    assert normal_cfg["config_sha256"] != xavier_cfg["config_sha256"]
    assert built[0].item_tower.init == "normal" and built[1].item_tower.init == "xavier"
    with pytest.raises(ConfigError, match="valid choices: xavier, normal"):
        run_experiment(
            RunSpec(
                split=split,
                method="id",
                sasrec=dataclasses.replace(SASREC, init="he"),
                cache_dir=tmp_path,
            ),
            out_dir=tmp_path / "bad",
        )


def test_method_defaults_fill_unset_train_fields():
    from recsys.methods import get_method
    from recsys.train.trainer import resolve_train_config

    resolved = resolve_train_config(TrainConfig(), get_method("id").defaults)
    assert (resolved.batch_size, resolved.lr, resolved.loss) == (256, 1e-3, "full_softmax")
    kept = resolve_train_config(
        TrainConfig(lr=5e-4, loss="inbatch_logq"), get_method("id").defaults
    )
    assert (kept.lr, kept.loss) == (5e-4, "inbatch_logq")
