"""Metrics by popularity bucket: assignment by training count on a hand-made split, the
user-weighted identity with the overall metrics, validation of `eval.buckets`, and what a
run writes (results.json `buckets`, the per-user training-count column)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from recsys.config import EvalConfig, SASRecConfig, TrainConfig
from recsys.errors import ConfigError
from recsys.eval.buckets import bucket_labels, bucket_ranges, in_bucket
from recsys.eval.evaluator import evaluate_states
from recsys.eval.per_user import read_per_user_csv, write_per_user_csv
from recsys.run import run_experiment
from recsys.spec import RunSpec
from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import load_scenario

# Train part = all but the last two items; validation target = second to last; test = last.
HAND = {
    "u1": ["a", "b", "c", "d", "e"],  # test e: never in a training part -> cold
    "u2": ["a", "b", "f", "g", "d"],  # test d: only u1's *validation* target -> cold
    "u3": ["a", "a", "b", "h", "g"],  # test g: only u2's validation target -> cold
    "u4": ["b", "c", "a", "i", "a"],  # test a: train parts u1 1 + u2 1 + u3 2 + u4 1 = 5
    "u5": ["f", "c", "b", "j", "c"],  # test c: train parts u1, u4, u5 = 3
}


def _random_scores(split, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(split.num_items + 1, 4, generator=gen)
    states = torch.randn(split.num_users, 4, generator=gen)
    return (lambda hist, start, stop: states[start:stop]), table


def test_bucket_labels_and_ranges() -> None:
    assert bucket_labels((1, 5, 20)) == ["cold", "1-4", "5-19", "20+"]
    assert bucket_ranges((1, 5, 20)) == [(0, 1), (1, 5), (5, 20), (20, None)]
    assert bucket_labels((1, 2, 10)) == ["cold", "1", "2-9", "10+"]
    assert bucket_labels((1,)) == ["cold", "1+"]
    counts = np.array([0, 1, 4, 5, 19, 20, 300])
    assert in_bucket(counts, [5, 19]).tolist() == [False, False, False, True, True, False, False]
    assert in_bucket(counts, [20, None]).tolist() == [False] * 5 + [True, True]


def test_buckets_by_training_count_on_a_hand_made_split(make_toy_split, tmp_path) -> None:
    split = make_toy_split(HAND)
    index = split.catalogue.index_of
    # train_counts are over the training parts only: validation targets never count.
    assert split.train_counts[index("d")] == 0 and split.train_counts[index("g")] == 0
    assert split.train_counts[index("a")] == 5 and split.train_counts[index("c")] == 3
    state_fn, table = _random_scores(split)
    result = evaluate_states(state_fn, split, "test", EvalConfig(ks=(1, 5)), table)
    assert result.per_user["train_count"].tolist() == [0, 0, 0, 5, 3]
    buckets = result.buckets
    assert list(buckets) == ["cold", "1-4", "5-19", "20+"]
    assert [b["users"] for b in buckets.values()] == [3, 1, 1, 0]
    assert buckets["cold"]["train_count"] == [0, 0] and buckets["20+"]["train_count"] == [20, None]
    cold = result.per_user["mrr"][:3]
    assert buckets["cold"]["mrr"] == pytest.approx(cold.mean(), abs=1e-15)
    assert buckets["5-19"]["ndcg@5"] == result.per_user["ndcg@5"][3]
    assert all(buckets["20+"][m] is None for m in result.metrics)  # empty: None, never NaN
    other = evaluate_states(state_fn, split, "test", EvalConfig(ks=(1,), buckets=(1, 4)), table)
    assert {k: v["users"] for k, v in other.buckets.items()} == {"cold": 3, "1-3": 1, "4+": 1}
    # Validation targets (d, g, h, i, j) never occur in a training part: all cold.
    valid = evaluate_states(state_fn, split, "valid", EvalConfig(ks=(1,)), table)
    assert valid.per_user["train_count"].tolist() == [0] * 5
    assert valid.buckets["cold"]["users"] == 5
    write_per_user_csv(tmp_path / "test_per_user.csv", result, split)
    on_disk = read_per_user_csv(tmp_path / "test_per_user.csv")
    assert on_disk["target"].tolist() == ["e", "d", "g", "a", "c"]
    assert on_disk["target_train_count"].tolist() == [0, 0, 0, 5, 3]


def test_bucket_means_weighted_by_users_are_the_overall_metrics(make_toy_split) -> None:
    rng = np.random.default_rng(5)
    items = [f"i{k:02d}" for k in range(40)]
    popular = rng.zipf(1.6, size=2000) % 40  # a long tail: some items in every bucket
    seqs = {f"u{u:03d}": [items[popular[u * 9 + s]] for s in range(9)] for u in range(200)}
    split = make_toy_split(seqs, max_len=5)
    state_fn, table = _random_scores(split, seed=2)
    config = EvalConfig(ks=(1, 5, 10), buckets=(1, 3, 8, 30))
    for which in ("valid", "test"):
        result = evaluate_states(state_fn, split, which, config, table)
        buckets = result.buckets.values()
        assert sum(b["users"] for b in buckets) == result.num_users == split.num_users
        assert sum(b["users"] > 0 for b in buckets) >= 3  # the identity is not vacuous
        for metric, overall in result.metrics.items():
            total = sum(b["users"] * b[metric] for b in buckets if b["users"])
            weighted = total / len(result.rows)
            assert abs(weighted - overall) <= 1e-12, (which, metric)


@pytest.mark.parametrize(
    ("buckets", "problem"),
    [((), "eval.buckets: is []"), ((2, 5), "eval.buckets: is [2, 5]"), ((1, 5, 5), "[1, 5, 5]")],
)
def test_invalid_buckets_name_the_key(make_toy_split, buckets, problem) -> None:
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        EvalConfig(buckets=buckets).check()
    split = make_toy_split(HAND)
    state_fn, table = _random_scores(split)
    with pytest.raises(ConfigError, match="strictly increasing"):
        evaluate_states(state_fn, split, "test", EvalConfig(buckets=buckets), table)


def test_scenario_buckets_are_validated_on_load() -> None:
    assert load_scenario("title", ["eval.buckets=[1, 3, 10]"]).eval.buckets == (1, 3, 10)
    with pytest.raises(ScenarioError, match=r"title\.toml: eval\.buckets: is \[1, 3, 3\]") as info:
        load_scenario("title", ["eval.buckets=[1, 3, 3]"])
    assert info.value.key == "eval.buckets"
    assert (
        load_scenario("title", ["eval.buckets=[1, 3]"]).fingerprint()
        != load_scenario("title").fingerprint()
    )


def test_a_run_records_buckets_and_the_training_count_column(make_toy_split, tmp_path) -> None:
    rng = np.random.default_rng(3)
    items = [f"i{k:02d}" for k in range(25)]
    seqs = {
        f"u{u:03d}": [items[(start + s) % 25] for s in range(rng.integers(4, 9))]
        for u, start in enumerate(rng.integers(0, 20, size=50))
    }
    split = make_toy_split(seqs, max_len=5)
    run_experiment(
        RunSpec(
            split=split,
            method="id",
            sasrec=SASRecConfig(dim=8, num_blocks=1, num_heads=2, ffn_dim=16),
            train=TrainConfig(epochs=1, batch_size=16, device="cpu"),
            evaluation=EvalConfig(ks=(5, 10)),
            cache_dir=tmp_path / "cache",
        ),
        out_dir=tmp_path / "run",
        progress=False,
    )
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    record = results["buckets"]
    assert record["protocol"] == results["protocol"] == "leave_one_out_full_ranking"
    assert record["bounds"] == [1, 5, 20] and set(record) >= {"valid", "test"}
    for part in ("valid", "test"):
        assert sum(b["users"] for b in record[part].values()) == split.num_users
    assert "buckets" not in results["config"]["evaluation"]  # default: not in the hash
    with open(tmp_path / "run" / "test_per_user.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    counts = [int(r["target_train_count"]) for r in rows]
    assert counts == split.train_counts[split.test_target].tolist()
    assert sum(c == 0 for c in counts) == record["test"]["cold"]["users"]
