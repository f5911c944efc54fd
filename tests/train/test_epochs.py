"""The run state between epochs (recsys.train.epochs): best epoch, patience, records."""

from __future__ import annotations

import json
import math

from recsys.train.epochs import end_epoch, fresh_state, json_line


def test_end_epoch_tracks_the_best_epoch_and_stops_after_patience() -> None:
    state = fresh_state("abc")
    assert state["best_value"] == -math.inf and state["config_sha256"] == "abc"
    values = [0.10, 0.30, 0.20, 0.25]  # best at epoch 2, then two epochs without improvement
    seen = []
    for epoch, value in enumerate(values, start=1):
        record, improved = end_epoch(
            state, epoch, (1.0 / epoch, 6, 2.0, 0.5), {"ndcg@10": value},
            metric="ndcg@10", patience=2,
        )  # fmt: skip
        seen.append((improved, record["best_epoch"], state["done"], state["stop_reason"]))
    assert seen == [
        (True, 1, False, "max_epochs"),
        (True, 2, False, "max_epochs"),
        (False, 2, False, "max_epochs"),
        (False, 2, True, "early_stopping"),
    ]
    assert state["epoch"] == 4 and state["best_epoch"] == 2 and state["best_value"] == 0.30
    assert [r["epoch"] for r in state["history"]] == [1, 2, 3, 4]
    last = state["history"][-1]
    assert last == {
        "epoch": 4, "loss": 0.25, "steps": 6, "train_seconds": 2.0, "eval_seconds": 0.5,
        "valid": {"ndcg@10": 0.25}, "best_epoch": 2,
    }  # fmt: skip
    assert json.loads(json_line(last)) == last and json_line(last).endswith("\n")
