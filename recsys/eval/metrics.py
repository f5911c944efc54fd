"""Ranking metrics as pure numpy functions of each user's rank counts.

A user's target has `higher` items scored strictly above it and `tied` *other* items scored
exactly equal. Under uniform random tie-breaking its rank R is uniform over
{h+1, ..., h+t+1} (h = higher, t = tied), so every metric is an exact expectation:

    E[HR@K]   = |{r in [h+1, h+t+1] : r <= K}| / (t+1)
              = clip(K - h, 0, t+1) / (t+1)
    E[NDCG@K] = (1/(t+1)) * sum_{r=h+1}^{min(h+t+1, K)} 1 / log2(r+1)
    E[MRR]    = (1/(t+1)) * sum_{r=h+1}^{h+t+1} 1 / r
    E[R]      = 1 + h + t/2

Sums use prefix sums, so a tie group of any size costs O(1). With t = 0 these reduce to the
usual HR = [rank <= K], NDCG = 1/log2(rank+1), MRR = 1/rank. (Using the mean rank inside
1/log2 would be biased: the discount is convex.) Users whose target was masked (a repeated
target under `eval.history = "masked"`) score 0 everywhere; pass them in `missed`.
"""

from __future__ import annotations

import numpy as np


def _prefix(values: np.ndarray) -> np.ndarray:
    """[n+1] prefix sums with a leading 0: out[r] = sum(values[:r])."""
    return np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])


def _range_mean(
    higher: np.ndarray, tied: np.ndarray, stop: np.ndarray, discount: np.ndarray
) -> np.ndarray:
    """(1/(t+1)) * sum_{r=h+1}^{stop} discount[r], with stop >= h (empty sum) allowed."""
    prefix = _prefix(discount[1:])  # prefix[r] = sum_{q=1}^{r} discount[q]
    stop = np.maximum(stop, higher)
    return (prefix[stop] - prefix[higher]) / (tied + 1.0)


def _as_counts(higher: np.ndarray, tied: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(higher, dtype=np.int64)
    t = np.asarray(tied, dtype=np.int64)
    if h.shape != t.shape or (h < 0).any() or (t < 0).any():
        raise ValueError("higher and tied must be non-negative arrays of one shape")
    return h, t


def _apply_missed(values: np.ndarray, missed: np.ndarray | None) -> np.ndarray:
    if missed is not None:
        values = np.where(np.asarray(missed, dtype=bool), 0.0, values)
    return values


def hit_rate(
    higher: np.ndarray, tied: np.ndarray, k: int, missed: np.ndarray | None = None
) -> np.ndarray:
    """Per-user expected HR@k under random tie-breaking."""
    h, t = _as_counts(higher, tied)
    values = np.clip(k - h, 0, t + 1) / (t + 1.0)
    return _apply_missed(values, missed)


def ndcg(
    higher: np.ndarray, tied: np.ndarray, k: int, missed: np.ndarray | None = None
) -> np.ndarray:
    """Per-user expected NDCG@k (one relevant item, so IDCG = 1) under random tie-breaking."""
    h, t = _as_counts(higher, tied)
    ranks = np.arange(k + 1, dtype=np.float64)
    discount = np.zeros(k + 1)
    discount[1:] = 1.0 / np.log2(ranks[1:] + 1.0)  # discount[r] for r = 1..k
    stop = np.minimum(h + t + 1, k)
    values = _range_mean(np.minimum(h, k), t, stop, discount)
    return _apply_missed(values, missed)


def mrr(higher: np.ndarray, tied: np.ndarray, missed: np.ndarray | None = None) -> np.ndarray:
    """Per-user expected reciprocal rank under random tie-breaking."""
    h, t = _as_counts(higher, tied)
    top = int((h + t + 1).max(initial=1))
    discount = np.zeros(top + 1)
    discount[1:] = 1.0 / np.arange(1, top + 1, dtype=np.float64)
    values = _range_mean(h, t, h + t + 1, discount)
    return _apply_missed(values, missed)


def expected_rank(
    higher: np.ndarray, tied: np.ndarray, missed: np.ndarray | None = None
) -> np.ndarray:
    """Per-user expected 1-based rank; +inf for users whose target was masked."""
    h, t = _as_counts(higher, tied)
    values = 1.0 + h + t / 2.0
    if missed is not None:
        values = np.where(np.asarray(missed, dtype=bool), np.inf, values)
    return values


def per_user_metrics(
    higher: np.ndarray,
    tied: np.ndarray,
    ks: tuple[int, ...],
    missed: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every metric per user: ``hr@k``, ``ndcg@k`` for k in ks, ``mrr``, ``rank``."""
    out: dict[str, np.ndarray] = {}
    for k in ks:
        out[f"hr@{k}"] = hit_rate(higher, tied, k, missed)
    for k in ks:
        out[f"ndcg@{k}"] = ndcg(higher, tied, k, missed)
    out["mrr"] = mrr(higher, tied, missed)
    out["rank"] = expected_rank(higher, tied, missed)
    return out


def summarise(per_user: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over users of every metric except the rank."""
    return {name: float(np.mean(v)) for name, v in per_user.items() if name != "rank"}
