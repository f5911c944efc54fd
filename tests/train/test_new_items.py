"""The new-item protocol: withheld items never reach training (asserted on what the trainer
feeds the model), exactly the users whose test target is withheld are tested, validation
never ranks a withheld item, and the protocol is part of the split's fingerprint."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.config import EvalConfig, NewItemsConfig, SASRecConfig, SplitConfig, TrainConfig
from recsys.data import Catalogue, Dataset, make_split
from recsys.data.split import withhold_items
from recsys.errors import ConfigError
from recsys.eval.evaluator import evaluate_states
from recsys.models.recommender import SequentialRecommender
from recsys.run import run_experiment
from recsys.spec import RunSpec, split_fingerprint
from recsys.train import checkpoint as ckpt
from recsys.train.trainer import Trainer
from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import load_scenario

SASREC = SASRecConfig(dim=8, num_blocks=1, num_heads=2, ffn_dim=16, dropout=0.0)
NEW = NewItemsConfig(fraction=0.2, seed=1)


@pytest.fixture(scope="module")
def base():
    rng = np.random.default_rng(3)
    items = [f"i{k:02d}" for k in range(25)]
    seqs = {
        f"u{u:03d}": tuple(items[(start + s) % 25] for s in range(rng.integers(4, 9)))
        for u, start in enumerate(rng.integers(0, 20, size=60))
    }
    catalogue = Catalogue(tuple(items), tuple(items), (None,) * 25, (None,) * 25)
    return Dataset("toy", catalogue, seqs, Path("toy")), SplitConfig(max_len=5)


def _held(split) -> np.ndarray:
    return split.withheld.items


def test_withheld_items_leave_every_training_and_history_array(base) -> None:
    dataset, config = base
    plain = make_split(dataset, config)
    split = make_split(dataset, SplitConfig(max_len=5, new_items=NEW))
    held = _held(split)
    assert len(held) == 5 and np.array_equal(held, np.unique(held))  # round(0.2 * 25)
    assert np.array_equal(held, _held(make_split(dataset, SplitConfig(max_len=5, new_items=NEW))))
    other = make_split(dataset, SplitConfig(max_len=5, new_items=NewItemsConfig(0.2, seed=2)))
    assert not np.array_equal(held, _held(other))
    for array in (split.train_seqs, split.valid_history, split.test_history, *split.valid_seen[1:]):
        assert not np.isin(array, held).any()
    assert not np.isin(split.test_seen[1], held).any()
    assert (split.train_counts[held] == 0).all()
    kept = np.setdiff1d(np.arange(1, split.num_items + 1), held)
    assert np.array_equal(split.train_counts[kept], plain.train_counts[kept])
    assert np.array_equal(split.test_target, plain.test_target)  # same users, same targets
    assert split.user_ids == plain.user_ids and split.catalogue == plain.catalogue
    # One user by hand: the histories keep the user's other items, in order.
    u = next(i for i in range(split.num_users) if np.isin(plain.valid_history[i], held).any())
    before = [x for x in plain.test_history[u] if x]
    assert [x for x in split.test_history[u] if x] == [x for x in before if x not in held]
    assert split.protocol == "leave_one_out_full_ranking+new_items(fraction=0.2,seed=1)"


def test_the_temporal_split_withholds_items_too(base) -> None:
    dataset, _ = base
    # Every user's i-th interaction at time 100 i + k: the global cuts fall inside each user.
    users = enumerate(dataset.sequences.items())
    times = {u: tuple(100.0 * i + k for i in range(len(seq))) for k, (u, seq) in users}
    timed = Dataset("toy", dataset.catalogue, dataset.sequences, Path("toy"), timestamps=times)
    config = SplitConfig(max_len=5, kind="temporal", valid_cut=0.4, test_cut=0.7)
    plain = make_split(timed, config)
    split = make_split(timed, dataclasses.replace(config, new_items=NEW))
    held = _held(split)
    assert split.protocol == "temporal_full_ranking+new_items(fraction=0.2,seed=1)"
    for array in (split.train_seqs, split.valid_history, split.test_history):
        assert not np.isin(array, held).any()
    assert np.array_equal(split.test_target, plain.test_target) and split.cuts == plain.cuts
    assert split_fingerprint(split) != split_fingerprint(plain)


def test_fingerprint_names_the_protocol(base) -> None:
    dataset, config = base
    plain = make_split(dataset, config)
    split = make_split(dataset, SplitConfig(max_len=5, new_items=NEW))
    assert split_fingerprint(split) != split_fingerprint(plain)
    # Same arrays, other protocol record: still another fingerprint.
    relabelled = withhold_items(plain, NewItemsConfig(0.2, seed=1))
    assert split_fingerprint(relabelled) == split_fingerprint(split)
    renamed = dataclasses.replace(split, withheld=dataclasses.replace(split.withheld, seed=9))
    assert split_fingerprint(renamed) != split_fingerprint(split)


def test_exactly_the_users_whose_target_is_withheld_are_tested(base) -> None:
    dataset, _ = base
    split = make_split(dataset, SplitConfig(max_len=5, new_items=NEW))
    held = _held(split)
    table = torch.randn(split.num_items + 1, 4, generator=torch.Generator().manual_seed(0))
    table[held] += 100.0  # withheld items on top of every ranking

    def state_fn(hist, start, stop):
        return torch.ones(hist.shape[0], 4)

    test = evaluate_states(state_fn, split, "test", EvalConfig(ks=(5,)), table)
    expected = np.flatnonzero(np.isin(split.test_target, held))
    assert 0 < len(expected) < split.num_users
    assert test.rows.tolist() == expected.tolist() and test.num_users == len(expected)
    assert test.buckets["cold"]["users"] == len(expected)  # every new item is cold
    valid = evaluate_states(state_fn, split, "valid", EvalConfig(ks=(5,)), table)
    assert valid.rows.tolist() == np.flatnonzero(~np.isin(split.valid_target, held)).tolist()
    # Validation never ranks a withheld item: the +100 rows do not push the targets down.
    plain_table = table.clone()
    plain_table[held] = float("-inf")
    reference = evaluate_states(state_fn, split, "valid", EvalConfig(ks=(5,)), plain_table)
    assert valid.per_user["higher"].tolist() == reference.per_user["higher"].tolist()


def test_no_user_to_test_is_a_clear_error(base) -> None:
    dataset, config = base
    plain = make_split(dataset, config)
    with pytest.raises(ConfigError, match="split.new_items.fraction"):
        withhold_items(plain, NewItemsConfig(fraction=0.01))  # rounds to no item
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        withhold_items(plain, NewItemsConfig(fraction=1.0))


@pytest.mark.parametrize("loss", ["full_softmax", "inbatch_logq"])
def test_the_trainer_never_sees_a_withheld_item(base, tmp_path, monkeypatch, loss) -> None:
    dataset, _ = base
    split = make_split(dataset, SplitConfig(max_len=5, new_items=NEW))
    held = set(_held(split).tolist())
    batches: list[torch.Tensor] = []
    tower_inputs: list[torch.Tensor] = []
    real_loss = SequentialRecommender.loss

    def recording_loss(self, batch, kind, log_pop, exclude=None):
        batches.append(batch.detach().clone())
        tower = self.item_tower
        real_forward = tower.forward

        def forward(items):  # every id the tower embeds for this loss (with gradients)
            tower_inputs.append(items.detach().clone())
            return real_forward(items)

        tower.forward = forward
        try:
            return real_loss(self, batch, kind, log_pop, exclude)
        finally:
            del tower.forward

    initial: dict[str, torch.Tensor] = {}
    real_init = Trainer.__init__

    def remember_init(self, model, *args, **kwargs):
        initial["table"] = model.item_tower.embedding.weight.detach().clone()
        real_init(self, model, *args, **kwargs)

    monkeypatch.setattr(SequentialRecommender, "loss", recording_loss)
    monkeypatch.setattr(Trainer, "__init__", remember_init)
    run_experiment(
        RunSpec(
            split=split,
            method="id",
            sasrec=SASREC,
            train=TrainConfig(epochs=3, batch_size=16, device="cpu", loss=loss, patience=5),
            evaluation=EvalConfig(ks=(5, 10)),
            cache_dir=tmp_path / "cache",
        ),
        out_dir=tmp_path / "run",
        progress=False,
    )
    assert batches and tower_inputs
    seen = set(torch.cat([b.flatten() for b in batches + tower_inputs]).tolist())
    assert not seen & held, seen & held
    assert seen - {0} >= set(range(1, split.num_items + 1)) - held - {0} - _never_trained(split)
    # The ID rows of withheld items are exactly their initialisation: no training signal.
    weights, _ = ckpt.load_weights(tmp_path / "run" / "checkpoint" / "best.safetensors")
    table = weights["item_tower.embedding.weight"]
    rows = sorted(held)
    assert torch.equal(table[rows], initial["table"][rows])
    trained = sorted(seen - {0})
    assert not torch.equal(table[trained], initial["table"][trained])
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert results["protocol"] == split.protocol == results["config"]["protocol"]
    assert results["config"]["split"]["new_items"] == {"fraction": 0.2, "seed": 1, "items": 5}
    assert results["new_items"]["test_users"] == int(np.isin(split.test_target, rows).sum())
    with open(tmp_path / "run" / "test_per_user.csv", encoding="utf-8", newline="") as handle:
        tested = list(csv.DictReader(handle))
    targets = {split.user_ids[u] for u in np.flatnonzero(np.isin(split.test_target, rows))}
    assert {r["user_id"] for r in tested} == targets and len(tested) == len(targets)
    assert {r["target_train_count"] for r in tested} == {"0"}


def _never_trained(split) -> set[int]:
    """Items of no training sequence (only ever validation or test targets)."""
    return set(np.flatnonzero(split.train_counts == 0).tolist())


def test_scenario_option_and_fingerprint() -> None:
    base = load_scenario("title")
    assert base.split.new_items is None
    new = load_scenario("title", ["split.new_items.fraction=0.1"])
    assert new.split.new_items == NewItemsConfig(fraction=0.1, seed=0)
    assert new.fingerprint() != base.fingerprint()
    seeded = load_scenario("title", ["split.new_items.fraction=0.1", "split.new_items.seed=3"])
    assert seeded.fingerprint() != new.fingerprint()
    with pytest.raises(ScenarioError, match=r"split\.new_items\.fraction: is 1\.5") as info:
        load_scenario("title", ["split.new_items.fraction=1.5"])
    assert info.value.key == "split.new_items.fraction"
    with pytest.raises(ScenarioError, match="split.new_items.fractoin"):
        load_scenario("title", ["split.new_items.fractoin=0.1"])
