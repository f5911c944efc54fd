"""Exact top-K lists from the evaluator's own score chunks, in bounded memory: the lists the
beyond-accuracy metrics (recsys.eval.beyond) are computed from.

Tie rule: items are ordered by score, highest first, and equal scores by item index, lowest
first (the catalogue order), so an all-equal row lists items 1, 2, ..., K (less masked
ones). The rule is exact: no tie at the K-th place is left to `torch.topk`'s unspecified
order.

`TopLists` collects, chunk by chunk, a small exact candidate set per user (`_candidates`:
about k + 1 items per user and chunk) and orders all of them once, when the caller has
scored every chunk (`TopLists.finish`). The candidates of every chunk together hold each
user's k best items and every item tied with the k-th, so one sort of them (by row, score
and index: `_in_tie_order`) gives the exact lists; no per-chunk merge is needed (with many
chunks the candidates held are compacted to each user's k best now and then). Ordering once
per call instead of once per block of users matters: in the ranking loop each array
operation on a few thousand candidates costs a few microseconds (the score block has just
evicted everything else from the caches), and the per-block steps are what the lists' cost
is made of.
"""

from __future__ import annotations

import numpy as np
import torch

TIE_RULE = "score descending, then item index ascending (catalogue order)"

# items per group: `amax` over groups of 128 takes ~0.19 ms per 128 x 20k block (64: ~0.26,
# 256: ~0.15, 512: ~0.14) while the gathered groups stay small (20 x 128 items per user);
# in the ranking loop the lists added 0.69 ms per block with 128, 0.79 with 64 and 1.25
# with 256 (the gather and the filter grow with the group)
_GROUP = 128
_MANY = 8  # candidates per user above which items tied with the cut are trimmed first


class TopLists:
    """Exact top-`k` lists of `users` rows, built from score chunks (`add`) in bounded memory.

    The candidates held are compacted to each row's k best (exact: an item with k items
    ahead of it under the tie rule, score then index, can never be listed, whatever comes
    later) whenever they pass `_HELD` x k per row, which only happens with many item chunks.

    Args:
        users: rows of the lists.
        k: list length.
    """

    def __init__(self, users: int, k: int) -> None:
        self.users, self.k = users, k
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._held = 0  # candidates in `_parts`

    def padded(self, width: int) -> int:
        """Columns `add` best takes for a chunk of `width` items: a whole number of groups
        where the chunk is wide, so `_candidates` has no partial group to scan apart (~0.07
        ms per block of 128 users x 20k items in the ranking loop); `width` otherwise. The
        caller fills the columns past `width` with -inf: a -inf candidate is never listed."""
        if _group_size(width, self.k) < _GROUP:
            return width
        return -(-width // _GROUP) * _GROUP

    def add(self, scores: torch.Tensor, row0: int, col0: int) -> None:
        """Keep the candidates of one chunk: `scores` [b, w] of rows row0..row0+b-1 and items
        col0..col0+w-1, masked items -inf. Chunks may come in any order."""
        if scores.shape[1] <= self.k:
            rows, cols, vals = _every(scores)
        else:
            rows, cols, vals = _candidates(scores, self.k)
        self._parts.append((rows + row0, cols + col0, vals))
        self._held += len(vals)
        if self._held > _HELD * self.k * max(self.users, 1):
            rows, cols, vals, at, filled = self._best()
            chosen = at[filled]  # -inf candidates are never listed: they need not be kept
            self._parts = [(rows[chosen], cols[chosen], vals[chosen])]
            self._held = len(chosen)

    def _best(self) -> tuple[np.ndarray, ...]:
        """(rows, cols, vals, at, filled): every candidate in the tie rule's order (by row,
        then score descending, then index); `at` [users, k], where each list slot's
        candidate is, and `filled` [users, k], whether that slot holds a rankable item
        (False past a row's candidates and for -inf ones)."""
        rows, cols, vals = (np.concatenate(part) for part in zip(*self._parts, strict=True))
        rows, cols, vals = _in_tie_order(rows, cols, vals)
        counts, starts = _row_starts(rows, self.users)
        slot = np.arange(self.k)
        filled = slot < counts[:, None]  # [users, k]
        at = np.where(filled, starts[:, None] + slot, 0)
        filled &= vals[at] != -np.inf
        return rows, cols, vals, at, filled

    def finish(self) -> np.ndarray:
        """[users, k] item indices under the tie rule; a slot that no rankable item fills
        (fewer than k unmasked items) is 0."""
        if not self._held:
            return np.zeros((self.users, self.k), dtype=np.int64)
        _, cols, _, at, filled = self._best()
        return np.where(filled, cols[at], 0)


_HELD = 4  # candidates held per row and list slot before they are compacted to the k best


def _row_starts(rows: np.ndarray, users: int) -> tuple[np.ndarray, np.ndarray]:
    """(entries per row, each row's first position) [users], for `rows` sorted ascending."""
    counts = np.bincount(rows, minlength=users)
    return counts, np.cumsum(counts) - counts


def _every(scores: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every item of a chunk no wider than k, as candidates in (row, index) order."""
    b, width = scores.shape
    vals = _refuse_nan(_host(scores).flatten())  # a copy: the caller reuses the memory
    return np.repeat(np.arange(b), width), np.tile(np.arange(width), b), vals


def _refuse_nan(scores: np.ndarray) -> np.ndarray:
    """`scores`, unless one is NaN (then no order, so no list, is defined)."""
    if np.isnan(scores).any():
        raise ValueError("scores hold NaN: the top-K lists are undefined")
    return scores


def _group_size(width: int, k: int) -> int:
    """Items per group of `_candidates`: `_GROUP`, or fewer so that a chunk holds at least
    4k groups (the k best groups are then a small part of the chunk)."""
    return max(1, min(_GROUP, width // (4 * k)))


def _candidates(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, chunk columns, scores) of a chunk wider than k: every item at least as high as
    its row's cut t (the grouped ones in (row, index) order, then those of a partial last
    group); they hold each row's k best and every item tied with the k-th.

    One `amax` pass over groups of items, then t = each row's k-th largest group maximum;
    every group whose maximum is at least t is gathered and its items at least t kept (about
    k + 1 per row on real data). At least k items score >= t (one per such group) and every
    item >= t is kept (any other group's maximum is below t), with no tie special case. Only
    the group maxima and the kept groups leave the device; fp16/bf16 compare exactly as
    fp32.

    Measured in the ranking loop (Amazon Scientific, 95 blocks of 128 users x 20,315
    columns, one thread, medians in the loop): the lists add ~0.5 ms per block to ~4 ms of
    plain ranking (matmul ~3.4 ms, exact counts ~0.6 ms): `amax` ~0.2, the cut and the
    chosen groups ~0.06, gathering them ~0.07, filtering ~0.13, the rest with the block's
    share of `finish` ~0.08.
    """
    b, width = scores.shape
    size = _group_size(width, k)
    groups = width // size
    main = groups * size
    blocks = scores[:, :main].unflatten(1, (groups, size))  # [b, groups, size], a view
    maxima = _refuse_nan(_host(blocks.amax(2)))  # [b, groups]; amax propagates NaN
    cut = np.sort(maxima, axis=1)[:, groups - k]  # [b] k-th largest (sort: ~2/3 of partition)
    row, group = np.divmod(np.flatnonzero(maxima >= cut[:, None]), groups)  # row-major
    kept = _gather(blocks, row, group)  # [m, size]
    flat = np.flatnonzero(kept >= cut[row, None])
    at, col = np.divmod(flat, size)
    rows, cols, vals = row[at], group[at] * size + col, kept.reshape(-1)[flat]
    if main < width:  # the partial last group: its items >= t join the candidates
        rows, cols, vals = _with_rest(_host(scores[:, main:]), cut, main, (rows, cols, vals))
    if len(vals) > _MANY * k * b:  # wide ties at the cut (e.g. constant scores)
        rows, cols, vals = _trim_ties(rows, cols, vals, cut, k)
    return rows, cols, vals


def _with_rest(
    rest: np.ndarray, cut: np.ndarray, start: int, found: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`found` (rows, cols, vals) plus the items of `rest` [b, w] (columns start..) that
    are at least their row's cut; they follow every grouped candidate."""
    _refuse_nan(rest)
    r, c = np.divmod(np.flatnonzero(rest >= cut[:, None]), rest.shape[1])
    rows, cols, vals = found
    return (
        np.concatenate([rows, r]),
        np.concatenate([cols, c + start]),
        np.concatenate([vals, rest[r, c]]),
    )


def _trim_ties(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, cut: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates less, per row, the items equal to the cut after its k lowest-index
    ones (never listed), in (row, index) order. Where every score ties, this keeps ~k per
    row instead of the whole row: a constant-score block of 128 x 20k then takes ~60 ms,
    not the ~250 ms of sorting every item."""
    order = np.argsort(rows, kind="stable")  # the partial group's items join their rows
    rows, cols, vals = rows[order], cols[order], vals[order]
    tied = vals == cut[rows]
    seen = np.cumsum(tied)
    first = _row_starts(rows, len(cut))[1][rows]  # each row's first candidate
    keep = ~tied | (seen - seen[first] + tied[first] <= k)
    return rows[keep], cols[keep], vals[keep]


def _in_tie_order(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, vals) ordered by row, then score descending, then index. fp32: one int64
    key per candidate holding the row, the score's order-reversing 32-bit pattern (-0.0
    made +0.0 first) and the index, sorted by `np.sort` and read back from the sorted keys
    (~0.1 ms for 22k candidates, against ~0.3 ms for a stable argsort and ~2.5 ms for
    `np.lexsort`: the keys are distinct, so numpy's vectorised sort needs no stability).
    Keys wider than 63 bits, and other dtypes, use `np.lexsort`."""
    width = int(cols.max(initial=0)).bit_length()
    if vals.dtype != np.float32 or int(rows.max(initial=0)).bit_length() + 32 + width > 63:
        order = np.lexsort((cols, -vals, rows))
        return rows[order], cols[order], vals[order]
    bits = (vals + np.float32(0.0)).view(np.int32).astype(np.int64)
    rank = np.where(bits < 0, bits + (1 << 32), 0x7FFFFFFF - bits)  # descending with the score
    key = np.sort((rows.astype(np.int64) << (32 + width)) | (rank << width) | cols)
    rank = (key >> width) & 0xFFFFFFFF
    bits = np.where(rank >= 1 << 31, rank - (1 << 32), 0x7FFFFFFF - rank).astype(np.int32)
    return key >> (32 + width), key & ((1 << width) - 1), bits.view(np.float32)


def _gather(blocks: torch.Tensor, row: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Groups (row, group) of `blocks` [b, groups, size] as a host array [m, size]; on CPU by
    numpy indexing of the strided view (~0.04 ms per block against ~0.25 ms for torch's
    two-tensor indexing)."""
    if blocks.device.type == "cpu" and blocks.dtype in (torch.float32, torch.float64):
        return blocks.detach().numpy()[row, group]
    return _host(blocks[_device(row, blocks), _device(group, blocks)])


def _host(x: torch.Tensor) -> np.ndarray:
    """`x` as a CPU numpy array (fp16/bf16 widened to fp32: exact)."""
    x = x.detach()
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return x.cpu().numpy()


def _device(x: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """int64 numpy indices as a tensor on `like`'s device."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)).to(like.device)
