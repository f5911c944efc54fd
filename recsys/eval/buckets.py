"""Metrics by popularity bucket: the per-user metrics grouped by how often the user's target
item occurs in the training part of the split (`Split.train_counts`).

`cold` is 0 (an item that is only ever a validation or test target, or one the new-item
protocol withheld, is cold); the buckets after it start at the counts of
`EvalConfig.buckets` (default 1, 5, 20: `1-4`, `5-19`, `20+`). Each bucket's metric is the
mean over its users, so the user-weighted mean of the buckets is the overall metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def bucket_ranges(bounds: Sequence[int]) -> list[tuple[int, int | None]]:
    """[low, high) training-count ranges of `cold` and each bucket; high None = open."""
    starts = [0, *bounds]
    return [(lo, hi) for lo, hi in zip(starts, [*bounds, None], strict=True)]


def bucket_label(low: int, high: int | None) -> str:
    """`cold`, `1-4`, `7` (a one-count bucket) or `20+`."""
    if high is None:
        return f"{low}+" if low else "cold"
    if low == 0:
        return "cold"
    return str(low) if high == low + 1 else f"{low}-{high - 1}"


def bucket_labels(bounds: Sequence[int]) -> list[str]:
    """Labels of `cold` and every bucket, in order."""
    return [bucket_label(lo, hi) for lo, hi in bucket_ranges(bounds)]


def assign_buckets(counts: np.ndarray, bounds: Sequence[int]) -> np.ndarray:
    """Bucket index (0 = cold) of each training count."""
    return np.searchsorted(np.asarray(bounds, dtype=np.int64), counts, side="right")


def bucket_metrics(
    per_user: Mapping[str, np.ndarray], counts: np.ndarray, bounds: Sequence[int]
) -> dict[str, dict[str, Any]]:
    """Per bucket: its training-count range, its user count and the mean of every metric.

    Args:
        per_user: metric name -> per-user values (the evaluator's, without `rank`).
        counts: [users] training count of each user's target.
        bounds: where the buckets after `cold` start (`EvalConfig.buckets`).

    Returns:
        label -> {"train_count": [low, high or None] (inclusive), "users": n, metric: mean};
        a bucket without users has None for every metric (never NaN).
    """
    which = assign_buckets(counts, bounds)
    out: dict[str, dict[str, Any]] = {}
    for index, (low, high) in enumerate(bucket_ranges(bounds)):
        members = which == index
        n = int(members.sum())
        entry: dict[str, Any] = {
            "train_count": [low, None if high is None else high - 1],
            "users": n,
        }
        for name, values in per_user.items():
            entry[name] = float(np.mean(values[members])) if n else None
        out[bucket_label(low, high)] = entry
    return out


def in_bucket(counts: np.ndarray, train_count: Sequence[int | None]) -> np.ndarray:
    """Which counts fall in a recorded bucket range ([low, high or None], inclusive)."""
    low, high = train_count
    inside = counts >= low
    return inside if high is None else inside & (counts <= high)


def buckets_record(protocol: str, bounds: Sequence[int], valid: Any, test: Any) -> dict[str, Any]:
    """The `buckets` entry of results.json from the validation and test EvalResults."""
    return {
        "protocol": protocol,
        "count": "occurrences of the target item in the training part of the split",
        "bounds": list(bounds),
        "valid": valid.buckets,
        "test": test.buckets,
    }
