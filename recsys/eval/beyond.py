"""Beyond-accuracy metrics over each user's top-K list: coverage, Gini, entropy, ARP, tail
share and novelty (docs/beyond-accuracy.md states every formula).

The lists come from the evaluator's own score chunks (`chunk_top`, `merge_top`), after the
same masking as the accuracy metrics, over the same ranked catalogue (padding and, under the
new-item protocol at validation, the withheld items are never listed). Tie rule: items are
ordered by score, highest first, and equal scores by item index, lowest first (the catalogue
order), so an all-equal row lists items 1, 2, ..., K (less masked ones). The rule is exact:
no tie at the K-th place is left to `torch.topk`'s unspecified order.

List-set metrics (one number per evaluation, over every user's list): ``coverage@K``,
``gini@K``, ``entropy@K``. Per-user metrics (a value per user, averaged; paired across runs
like NDCG): ``arp@K``, ``tail@K``, ``novelty@K``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from recsys.eval.buckets import assign_buckets

TIE_RULE = "score descending, then item index ascending (catalogue order)"
PER_USER = ("arp", "tail", "novelty")  # per-user metrics: test_per_user.csv columns <name>@K
LIST_SET = ("coverage", "gini", "entropy")  # one value per evaluation (compared over seeds)
TAIL_BUCKETS = 2  # `cold` and the first bucket (`1-4` by default) are the tail


def _order(values: torch.Tensor, index: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First `k` columns of (values, index) [b, m] under the tie rule."""
    by_index = index.argsort(dim=1)
    values, index = values.gather(1, by_index), index.gather(1, by_index)
    order = values.argsort(dim=1, descending=True, stable=True)[:, :k]
    return values.gather(1, order), index.gather(1, order)


_WIDE = 128  # CPU torch.topk stays cheap up to about this many columns, then ~10x slower


def _candidates(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, chunk columns) [b, k+1], values descending: the k+1 best of a candidate set
    that holds every item scoring at least the row's k-th best (so every item tied with it).

    `torch.topk` over a whole row is slow on CPU; an `amax` pass over at most `_WIDE` groups
    is cheap. The k best groups by maximum hold the k best items whenever the k-th group
    maximum beats the (k+1)-th strictly: any item outside them is at most the (k+1)-th
    maximum, below k items inside. So the candidates narrow level by level (`_narrow`)
    until one `topk` of at most `_WIDE` columns is left. Rows where two such maxima are
    equal at any level (ties, e.g. an untrained model) take the direct `topk` instead.
    """
    values, levels, unsure = scores, [], None
    while values.shape[1] > _WIDE and values.shape[1] // _group_size(values.shape[1]) > k:
        values, level, tie = _narrow(values, k)
        levels.append(level)
        unsure = tie if unsure is None else unsure | tie
    top, at = values.topk(k + 1, dim=1)
    for sel, size, main in reversed(levels):  # positions back to the chunk's columns
        inside = at < k * size
        group = sel.gather(1, (at // size).clamp(max=k - 1))
        at = torch.where(inside, group * size + at % size, main + at - k * size)
    if unsure is not None and bool(unsure.any()):
        rows = torch.nonzero(unsure).flatten()
        top[rows], at[rows] = scores[rows].topk(k + 1, dim=1)
    return top, at


def _group_size(width: int) -> int:
    """Items per group so that at most about `_WIDE` groups cover `width` columns; above 8
    a multiple of 32, which CPU `amax` reduces several times faster than odd sizes."""
    size = -(-width // _WIDE)
    return size if size <= 8 else -(-size // 32) * 32


def padded_width(width: int) -> int:
    """`width` rounded up to whole first-level groups (`_candidates`): a score chunk that
    wide narrows without a partial group at any level for the usual cut-offs."""
    size = _group_size(width)
    return width if width <= _WIDE else -(-width // size) * size


def _narrow(
    values: torch.Tensor, k: int
) -> tuple[torch.Tensor, tuple[torch.Tensor, int, int], torch.Tensor]:
    """One level of `_candidates`: the items of the k best of at most `_WIDE` groups (and of
    the last, partial group) [b, k * size + rest]; (groups kept [b, k], size, start of the
    partial group); rows whose k-th and (k+1)-th group maxima tie [b]."""
    b, width = values.shape
    size = _group_size(width)
    groups = width // size
    main = groups * size
    blocks = values[:, :main].unflatten(1, (groups, size))  # [b, groups, size], a view
    best = blocks.amax(2).topk(k + 1, dim=1)
    sel = best.indices[:, :k]
    rows = torch.arange(b, device=values.device)[:, None]
    kept = blocks[rows, sel].flatten(1)  # [b, k * size]: whole groups copied
    if main < width:
        kept = torch.cat([kept, values[:, main:]], 1)
    return kept, (sel, size, main), best.values[:, k - 1] == best.values[:, k]


def chunk_top(scores: torch.Tensor, offset: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-`k` (values, global item indices) [b, k] of one score chunk under the tie
    rule; masked items are -inf, and a chunk narrower than `k` is padded with -inf.

    `_candidates` picks k+1 items in score order; only when some are tied is the order
    redone (`_order`), and rows whose k-th and (k+1)-th values are equal (a tie across the
    cut) are redone exactly: every item above the tied value, then the lowest-index tied
    items.
    """
    width = scores.shape[1]
    if width <= k:
        b, device = scores.shape[0], scores.device
        pad = torch.full((b, k - width), float("-inf"), device=device, dtype=scores.dtype)
        index = torch.arange(width, device=device).expand_as(scores) + offset
        index = torch.cat([index, torch.zeros(b, k - width, dtype=index.dtype, device=device)], 1)
        return _order(torch.cat([scores, pad], 1), index, k)
    values, index = _candidates(scores, k)  # [b, k+1]
    index += offset
    ties = values[:, 1:] == values[:, :-1]  # [b, k] neighbours tied (values descending)
    if not bool(ties.any()):
        return values[:, :k], index[:, :k]
    values, index = _order(values, index, k + 1)
    crossing = torch.nonzero(ties[:, k - 1]).flatten()
    values, index = values[:, :k].clone(), index[:, :k].clone()
    if len(crossing):
        _fix_crossing(scores, offset, values, index, crossing)
    return values, index


def _fix_crossing(
    scores: torch.Tensor,
    offset: int,
    values: torch.Tensor,
    index: torch.Tensor,
    crossing: torch.Tensor,
) -> None:
    """In place: rows `crossing` of (values, index) [b, k] get, after the items above the
    k-th value, the lowest-index items tied with it (from the whole chunk row)."""
    k = values.shape[1]
    tie = values[crossing, k - 1 : k]  # [r, 1]
    above = (values[crossing] > tie).sum(1, keepdim=True)  # [r, 1] all among candidates
    equal = scores[crossing] == tie  # [r, width]
    take = equal & (equal.cumsum(1) <= k - above)  # lowest-index tied items
    _, cols = torch.nonzero(take, as_tuple=True)
    slot = torch.arange(k, device=scores.device).expand(len(crossing), k)
    fill = slot >= above  # [r, k] the slots the tied items take, in index order
    fixed = index[crossing]
    fixed[fill] = cols + offset
    index[crossing] = fixed
    values[crossing] = torch.where(fill, tie, values[crossing])


def merge_top(
    best: tuple[torch.Tensor, torch.Tensor] | None,
    chunk: tuple[torch.Tensor, torch.Tensor],
    k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-`k` of two exact candidate lists (a running best and a chunk's) under the tie
    rule: the exact top-k of their union."""
    if best is None:
        return chunk
    return _order(torch.cat([best[0], chunk[0]], 1), torch.cat([best[1], chunk[1]], 1), k)


def finish_lists(values: torch.Tensor, index: torch.Tensor) -> np.ndarray:
    """[b, K] item indices; a slot holding a masked item (-inf: fewer than K rankable) is 0."""
    index = index.masked_fill(values == float("-inf"), 0)
    return index.cpu().numpy().astype(np.int64)


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


def _slot_mean(values: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Per-row mean over the filled slots (0 for a row without any)."""
    n = filled.sum(1)
    return np.where(n > 0, (values * filled).sum(1) / np.maximum(n, 1), 0.0)


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
    tail = assign_buckets(counts.astype(np.int64), bounds) < TAIL_BUCKETS
    means: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    for k in ks:
        top = lists[:, :k]
        filled = top > 0
        exposure = _exposure(top, len(counts) - 1)
        exposure[0] = 0
        means[f"coverage@{k}"] = float(np.count_nonzero(exposure) / max(catalogue, 1))
        means[f"gini@{k}"] = gini_index(exposure, catalogue)
        means[f"entropy@{k}"] = shannon_entropy(exposure)
        per_user[f"arp@{k}"] = _slot_mean(counts[top], filled)
        per_user[f"tail@{k}"] = _slot_mean(tail[top].astype(np.float64), filled)
        per_user[f"novelty@{k}"] = _slot_mean(surprise[top], filled)
    for name, values in per_user.items():
        means[name] = float(np.mean(values)) if len(values) else 0.0
    return means, per_user


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
