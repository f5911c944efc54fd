"""Weight decay never moves a row that got no gradient (issue 26, item 5): AdamW with no
decay on embedding tables; with weight decay 0 the updates are Adam's, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.config import EvalConfig, NewItemsConfig, SASRecConfig, SplitConfig, TrainConfig
from recsys.data import make_split
from recsys.run import run_experiment
from recsys.spec import RunSpec
from recsys.train import checkpoint as ckpt
from recsys.train import trainer as trainer_module
from recsys.train.trainer import Trainer
from tests.train.test_new_items import base  # noqa: F401  (the toy dataset fixture)

SASREC = SASRecConfig(dim=8, num_blocks=1, num_heads=2, ffn_dim=16, dropout=0.0)


def _train(split, tmp_path, monkeypatch, weight_decay: float):
    initial: dict[str, torch.Tensor] = {}
    groups: list[tuple[str, float]] = []
    real_init = Trainer.__init__

    def remember_init(self, model, *args, **kwargs):
        initial["table"] = model.item_tower.embedding.weight.detach().clone()
        initial["positions"] = model.sasrec.positions.weight.detach().clone()
        real_init(self, model, *args, **kwargs)
        groups.extend((g["name"], g["weight_decay"]) for g in self.optimizer.param_groups)

    monkeypatch.setattr(Trainer, "__init__", remember_init)
    run_experiment(
        RunSpec(
            split=split,
            method="id",
            sasrec=SASREC,
            train=TrainConfig(
                epochs=3, batch_size=16, device="cpu", patience=5, weight_decay=weight_decay
            ),
            evaluation=EvalConfig(ks=(5, 10)),
            cache_dir=tmp_path / "cache",
        ),
        out_dir=tmp_path / "run",
        progress=False,
    )
    weights, _ = ckpt.load_weights(tmp_path / "run" / "checkpoint" / "best.safetensors")
    return initial, weights, groups


def test_a_withheld_items_row_is_its_initialisation_under_weight_decay(
    base,  # noqa: F811
    tmp_path,
    monkeypatch,
) -> None:
    dataset, _ = base
    split = make_split(dataset, SplitConfig(max_len=5, new_items=NewItemsConfig(0.2, seed=1)))
    initial, weights, groups = _train(split, tmp_path, monkeypatch, weight_decay=1e-3)
    table = weights["item_tower.embedding.weight"]
    rows = [0, *split.withheld.items.tolist()]  # padding and the withheld items: no gradient
    assert torch.equal(table[rows], initial["table"][rows])
    trained = np.flatnonzero(split.train_counts).tolist()
    assert not torch.equal(table[trained], initial["table"][trained])
    assert groups == [
        ("item_embedding/embeddings", 0.0),
        ("sasrec", 1e-3),
        ("sasrec/embeddings", 0.0),  # SASRec's position embeddings
    ]


def _old_adam(model, groups, train):
    """The optimizer as it was before AdamW: coupled Adam over the declared groups."""
    return torch.optim.Adam(
        [
            {
                "params": g["params"],
                "lr": train.adapter_lr if g["role"] == "adapter" else train.lr,
                "name": g["name"],
            }
            for g in groups
        ],
        weight_decay=train.weight_decay,
    )


@pytest.mark.parametrize("loss", ["full_softmax", "inbatch_logq"])
def test_without_weight_decay_training_is_bit_identical_to_adam(
    base,  # noqa: F811
    tmp_path,
    monkeypatch,
    loss,
) -> None:
    dataset, config = base
    split = make_split(dataset, config)

    def fit(out):
        return run_experiment(
            RunSpec(
                split=split,
                method="id",
                sasrec=SASREC,
                train=TrainConfig(epochs=3, batch_size=16, device="cpu", patience=5, loss=loss),
                evaluation=EvalConfig(ks=(5, 10)),
                cache_dir=tmp_path / "cache",
            ),
            out_dir=out,
            progress=False,
        )

    new = fit(tmp_path / "adamw")
    with monkeypatch.context() as patch:
        patch.setattr(trainer_module, "build_optimizer", _old_adam)
        old = fit(tmp_path / "adam")
    assert new.test == old.test and new.valid == old.valid
    a, _ = ckpt.load_weights(tmp_path / "adamw" / "checkpoint" / "best.safetensors")
    b, _ = ckpt.load_weights(tmp_path / "adam" / "checkpoint" / "best.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
