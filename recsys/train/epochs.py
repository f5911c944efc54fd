"""The bookkeeping of a training run between epochs: the state its checkpoint pointer
holds (epochs done, the best epoch and its validation value, epochs without improvement,
the per-epoch history), how one finished epoch updates it (record, best epoch, early
stopping), and the lines it writes (metrics.jsonl, the per-epoch progress line)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from plumbing.console import say


def fresh_state(config_hash: str) -> dict[str, Any]:
    """The state of a run that has trained no epoch yet."""
    return {
        "epoch": 0,
        "best_epoch": 0,
        "best_value": -math.inf,
        "bad_epochs": 0,
        "history": [],
        "config_sha256": config_hash,
        "done": False,
    }


def end_epoch(
    state: dict[str, Any],
    epoch: int,
    trained: tuple[float, int, float, float],
    valid: dict[str, float],
    *,
    metric: str,
    patience: int,
) -> tuple[dict[str, Any], bool]:
    """Update `state` with a finished epoch; (its metrics.jsonl record, whether it improved).

    Args:
        state: the run state (see `fresh_state`), updated in place.
        epoch: the epoch just trained (1-based).
        trained: (mean loss, steps, training seconds, validation seconds).
        valid: the validation metrics.
        metric: the validation metric that selects the best epoch (higher is better).
        patience: epochs without improvement that stop the run (`done`, "early_stopping").
    """
    loss, steps, seconds, eval_seconds = trained
    value = valid[metric]
    improved = value > state["best_value"]
    if improved:
        state.update(best_epoch=epoch, best_value=value, bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    record = {
        "epoch": epoch,
        "loss": loss,
        "steps": steps,
        "train_seconds": seconds,
        "eval_seconds": eval_seconds,
        "valid": valid,
        "best_epoch": state["best_epoch"],
    }
    state["history"].append(record)
    state["epoch"] = epoch
    state["done"] = state["bad_epochs"] >= patience
    state["stop_reason"] = "early_stopping" if state["done"] else "max_epochs"
    return record, improved


def json_line(record: Mapping[str, Any]) -> str:
    """One metrics.jsonl line."""
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def report_epoch(record: Mapping[str, Any], metric: str) -> None:
    """The per-epoch progress line (loss, validation metric, best epoch, seconds)."""
    say(
        f"epoch {record['epoch']}: loss {record['loss']:.4f}, "
        f"valid {metric} {record['valid'][metric]:.4f} (best epoch {record['best_epoch']}), "
        f"train {record['train_seconds']:.1f}s, eval {record['eval_seconds']:.1f}s"
    )
