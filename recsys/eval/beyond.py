"""Beyond-accuracy metrics over each user's top-K list: coverage, Gini, entropy, ARP, tail
share and novelty (docs/beyond-accuracy.md states every formula).

The lists come from the evaluator's own score chunks (recsys.eval.topk), after the same
masking as the accuracy metrics, over the same ranked catalogue (padding and, under the
new-item protocol at validation, the withheld items are never listed), under an exact tie
rule (`TIE_RULE`: score descending, then item index ascending).

List-set metrics (one number per evaluation, over every user's list): ``coverage@K``,
``gini@K``, ``entropy@K``. Per-user metrics (a value per user, averaged; paired across runs
like NDCG): ``arp@K``, ``tail@K``, ``novelty@K``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from recsys.eval.buckets import assign_buckets
from recsys.eval.topk import TIE_RULE

PER_USER = ("arp", "tail", "novelty")  # per-user metrics: test_per_user.csv columns <name>@K
LIST_SET = ("coverage", "gini", "entropy")  # one value per evaluation (compared over seeds)
TAIL_BUCKETS = 2  # `cold` and the first bucket (`1-4` by default) are the tail


def _exposure(lists: np.ndarray, n_items: int) -> np.ndarray:
    """[N+1] how often each item appears in the lists (column 0: empty slots)."""
    return np.bincount(lists.ravel(), minlength=n_items + 1)


def gini_index(counts: np.ndarray, catalogue: int) -> float:
    """RecBole's GiniIndex: sum_j (2j - n - 1) c_(j) / (n * sum c), counts c_(j) of the
    n = `catalogue` items sorted ascending (never-listed items count 0)."""
    listed = np.sort(counts[counts > 0])
    total = listed.sum()
    if total == 0:
        return 0.0
    j = np.arange(catalogue - len(listed) + 1, catalogue + 1)
    return float(np.sum((2 * j - catalogue - 1) * listed) / total / catalogue)


def shannon_entropy(counts: np.ndarray) -> float:
    """-sum_i p_i ln p_i over listed items, p_i = c_i / sum c (nats)."""
    p = counts[counts > 0] / counts.sum() if counts.sum() else np.zeros(0)
    return float(-np.sum(p * np.log(p)))


def _mean_of_sums(sums: np.ndarray, n: np.ndarray) -> np.ndarray:
    """sums / n per user, 0 where n = 0."""
    return np.where(n > 0, sums / np.maximum(n, 1), 0.0)


def beyond_metrics(
    lists: np.ndarray,
    train_counts: np.ndarray,
    ks: Sequence[int],
    bounds: Sequence[int],
    catalogue: int,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Every beyond-accuracy metric at each K of `ks`.

    Args:
        lists: [users, max(ks)] item indices under the tie rule (0 = empty slot).
        train_counts: [N+1] training occurrences of each item (`Split.train_counts`).
        ks: cut-offs.
        bounds: popularity bucket starts (`EvalConfig.buckets`); the tail is `cold` and
            the first bucket.
        catalogue: items that could be listed (the ranked catalogue, padding excluded).

    Returns:
        (means: ``coverage@K``, ``gini@K``, ``entropy@K``, ``arp@K``, ``tail@K``,
        ``novelty@K``; per-user arrays: ``arp@K``, ``tail@K``, ``novelty@K``).
    """
    counts = np.asarray(train_counts, dtype=np.float64)
    total = counts[1:].sum()
    # add-one smoothing: p(i) = (c_i + 1) / (T + n); a never-seen item is finite, not inf
    surprise = -np.log2((counts + 1.0) / (total + len(counts) - 1))
    surprise[0] = 0.0  # an empty slot (item 0) adds nothing to a user's novelty sum
    tail = assign_buckets(counts.astype(np.int64), bounds) < TAIL_BUCKETS
    found = {k: (a, b) for k, a, b in _by_k(lists, counts, tail, surprise, ks, catalogue)}
    means: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    for k in ks:
        means.update(found[k][0])
        per_user.update(found[k][1])
    for name, values in per_user.items():
        means[name] = float(np.mean(values)) if len(values) else 0.0
    return means, per_user


def _by_k(
    lists: np.ndarray,
    counts: np.ndarray,
    tail: np.ndarray,
    surprise: np.ndarray,
    ks: Sequence[int],
    catalogue: int,
) -> Iterator[tuple[int, dict[str, float], dict[str, np.ndarray]]]:
    """(K, list-set metrics, per-user metrics) for each K of `ks`, in increasing K.

    The integer-valued sums (filled slots, training counts, tail slots) are kept slot-major
    and grown K by K: exact, and a [K, users] array is summed down its rows, where numpy's
    reduction over a short last axis costs ~0.1 us per user and K. Novelty sums non-integer
    surprisals: it keeps the per-user row sums (empty slots add 0.0), so the same bits. For
    12,076 users at K = 5, 10, 20: 9.3 -> 5.5 ms, every value bit-identical."""
    slots = np.ascontiguousarray(lists.T)  # [max K, users]
    filled = slots > 0
    values = {"n": filled, "arp": np.where(filled, np.take(counts, slots), 0.0)}
    values["tail"] = np.take(tail, slots) & filled  # np.take: ~2/3 of counts[slots]'s time
    sums = {name: np.zeros(slots.shape[1]) for name in values}
    exposure = np.zeros(len(counts), dtype=np.int64)
    done = 0
    for k in sorted(set(ks)):  # slots done..k-1 join every sum
        for name, value in values.items():
            sums[name] += value[done:k].sum(axis=0)
        exposure += _exposure(slots[done:k], len(counts) - 1)
        exposure[0], done = 0, k
        list_set = {
            f"coverage@{k}": float(np.count_nonzero(exposure) / max(catalogue, 1)),
            f"gini@{k}": gini_index(exposure, catalogue),
            f"entropy@{k}": shannon_entropy(exposure),
        }
        n = sums["n"].astype(np.int64)
        users = {
            f"arp@{k}": _mean_of_sums(sums["arp"], n),
            f"tail@{k}": _mean_of_sums(sums["tail"], n),
            f"novelty@{k}": _mean_of_sums(np.take(surprise, lists[:, :k]).sum(1), n),
        }
        yield k, list_set, users


def beyond_record(valid: Any, test: Any) -> dict[str, Any] | None:
    """The `beyond` entry of results.json from the validation and test EvalResults; None
    when they were scored without it (`eval.beyond = false`)."""
    if not test.beyond:
        return None
    return {
        "tie_rule": TIE_RULE,
        "per_user": list(PER_USER),
        "list_set": list(LIST_SET),
        "valid": valid.beyond,
        "test": test.beyond,
    }
