"""The splits, vectorised over users.

Leave-one-out (the IISAN protocol, `split.kind = "leave_one_out"`): per user, keep the last
`keep_last` interactions `s`; users with fewer than `min_len` interactions are dropped (and
counted). Train on `s[:-2]`, validate on `s[-2]`, test on `s[-1]`.

Temporal (`split.kind = "temporal"`, datasets with times): two global time cuts, with no
look-ahead (`recsys.data.temporal`).

The leave-one-out catalogue shrinks to the items occurring in the kept interactions, the
temporal one to the items of the training period, in items-file order, re-indexed densely
1..N (0 is padding). Popularity (`Split.train_counts`: the `cold` bucket, the log-Q
correction) counts what the model trains on, the training sequences. With `split.new_items`
either split becomes the new-item protocol's (`withhold_items`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from recsys.config import NewItemsConfig, SplitConfig
from recsys.data.types import Catalogue, Dataset, Split, WithheldItems
from recsys.errors import ConfigError, DataFormatError


def _right_aligned(flat: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """[U, width] matrix with each user's items at the right end, 0 on the left."""
    users = len(lengths)
    out = np.zeros((users, width), dtype=np.int64)
    rows = np.repeat(np.arange(users), lengths)  # [T]
    starts = np.cumsum(lengths) - lengths  # offset of each user's first item in `flat`
    position = np.arange(len(flat)) - starts[rows]  # 0-based position within the user
    out[rows, width - lengths[rows] + position] = flat
    return out


def _last_columns(matrix: np.ndarray, width: int) -> np.ndarray:
    """The last `width` columns of a right-aligned matrix, left-padded with 0 if narrower."""
    if matrix.shape[1] >= width:
        return np.ascontiguousarray(matrix[:, matrix.shape[1] - width :])
    pad = np.zeros((matrix.shape[0], width - matrix.shape[1]), dtype=matrix.dtype)
    return np.concatenate([pad, matrix], axis=1)


def _csr(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero entries of each row, in order (duplicates kept), as (indptr, indices)."""
    nonzero = matrix != 0
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(nonzero.sum(axis=1), out=indptr[1:])
    return indptr, matrix[nonzero].astype(np.int64)


def leave_one_out_split(dataset: Dataset, config: SplitConfig = SplitConfig()) -> Split:
    """Split a dataset by the IISAN leave-one-out protocol (`recsys.data.splitting.make_split`
    picks it or the temporal split by `config.kind`).

    Args:
        dataset: a loaded dataset (sequences oldest first).
        config: keep_last (13), max_len L (10) and min_len (3).

    Returns:
        The Split (see its docstring): train_seqs [U, L+1] = last L+1 of `s[:-2]`;
        valid/test histories [U, L] = last L of `s[:-2]` / `s[:-1]`, left-padded; targets
        `s[-2]` / `s[-1]`; masks `s[:-2]` / `s[:-1]` (whole kept window, in order,
        duplicates kept) as CSR; train_counts over train_seqs. With `config.new_items`, the
        new-item protocol's split (`withhold_items`).

    Raises:
        ConfigError: an impossible configuration.
        DataFormatError: no user has enough interactions.
    """
    config.check()
    full_index = dataset.catalogue._index  # item id -> 1-based index in the full catalogue
    kept_users: list[str] = []
    flat_ids: list[str] = []
    lengths: list[int] = []
    for user, seq in dataset.sequences.items():
        if len(seq) < config.min_len:
            continue
        window = seq[-config.keep_last :]
        kept_users.append(user)
        flat_ids.extend(window)
        lengths.append(len(window))
    dropped = len(dataset.sequences) - len(kept_users)
    if not kept_users:
        raise DataFormatError(
            dataset.source, f"no user has at least {config.min_len} interactions; nothing to split"
        )
    full = np.fromiter((full_index[i] for i in flat_ids), dtype=np.int64, count=len(flat_ids))
    catalogue, remap = _dense(dataset.catalogue, full)
    flat = remap[full]  # [T]

    seqs = _right_aligned(flat, np.asarray(lengths, dtype=np.int64), config.keep_last)
    # train part s[:-2] [U, keep_last-2] and test history s[:-1] [U, keep_last-1], right-aligned
    parts = (seqs[:, :-2], seqs[:, :-1], seqs[:, -2].copy(), seqs[:, -1].copy())
    return _assemble(
        catalogue, tuple(kept_users), parts, dropped, config, defined=len(dataset.catalogue)
    )


def _assemble(
    catalogue: Catalogue,
    users: tuple[str, ...],
    parts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    dropped: int,
    config: SplitConfig,
    cuts: tuple[float, float] | None = None,
    defined: int = 0,
    filtering: dict[str, Any] | None = None,
) -> Split:
    """The Split from (train part [U, W], test history [U, W'], valid targets [U], test
    targets [U]), each history right-aligned; `cuts` marks a temporal split."""
    train_part, seen_test, valid_target, test_target = parts
    train_seqs = _last_columns(train_part, config.max_len + 1)
    split = Split(
        catalogue=catalogue,
        user_ids=users,
        train_seqs=train_seqs,
        valid_history=_last_columns(train_part, config.max_len),
        valid_target=valid_target,
        test_history=_last_columns(seen_test, config.max_len),
        test_target=test_target,
        valid_seen=_csr(train_part),
        test_seen=_csr(seen_test),
        train_counts=_train_counts(train_seqs, len(catalogue)),
        dropped_users=dropped,
        keep_last=config.keep_last,
        max_len=config.max_len,
        min_len=config.min_len,
        kind="leave_one_out" if cuts is None else "temporal",
        cuts=cuts,
        defined_items=defined,
        filtering=filtering,
    )
    return split if config.new_items is None else withhold_items(split, config.new_items)


def _train_counts(train_seqs: np.ndarray, num_items: int) -> np.ndarray:
    """[N+1] occurrences of each item in the training sequences (what the model trains on:
    not the part of `s[:-2]` left of the last max_len + 1); index 0 (padding) is 0."""
    counts = np.bincount(train_seqs.ravel(), minlength=num_items + 1).astype(np.int64)
    counts[0] = 0
    return counts


def _draw_withheld(num_items: int, config: NewItemsConfig) -> np.ndarray:
    """Sorted dense indices (1..N) of round(fraction * N) items drawn without replacement."""
    config.check()
    count = round(config.fraction * num_items)
    if count < 1 or count >= num_items:
        raise ConfigError(
            f"{config.fraction:g} of {num_items} items withholds {count}; it must withhold "
            "at least one item and leave at least one",
            field="split.new_items.fraction",
        )
    rng = np.random.default_rng(config.seed)
    return np.sort(rng.choice(num_items, size=count, replace=False) + 1).astype(np.int64)


def _without(seen: tuple[np.ndarray, np.ndarray], withheld: np.ndarray) -> tuple[np.ndarray, ...]:
    """A per-user CSR sequence without the withheld items: (right-aligned matrix [U, w],
    indptr, indices)."""
    indptr, indices = seen
    keep = ~withheld[indices]
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    lengths = np.bincount(rows[keep], minlength=len(indptr) - 1)
    width = max(int(lengths.max(initial=0)), 1)
    matrix = _right_aligned(indices[keep], lengths, width)  # [U, width]
    return matrix, *_csr(matrix)


def withhold_items(split: Split, config: NewItemsConfig) -> Split:
    """The new-item protocol's version of a split (leave-one-out or temporal).

    A seeded fraction of the catalogue never reaches training: those items are removed
    from every training sequence, validation history and test history (the histories keep
    the user's other items, in order), their training counts are 0, and they stay in the
    catalogue, so the test ranks against the full catalogue. Which users are ranked, and
    against which items, follows from `withheld` (recsys.eval.evaluator: test ranks exactly
    the users whose test target is withheld; validation those whose target is not, without
    the withheld items, which do not exist before the test).

    Args:
        split: a split as `_assemble` makes it (no items withheld yet): `valid_seen` is
            the training part, `test_seen` the test history, both in time order.
        config: the fraction of the catalogue to withhold and the seed that draws it.

    Returns:
        The same users, catalogue and targets; training sequences, histories, masks and
        train_counts without the withheld items; `withheld` set.

    Raises:
        ConfigError: a fraction outside (0, 1) or one that withholds no item (or all).
    """
    if split.withheld is not None:
        raise ConfigError("this split already withholds items", field="split.new_items")
    items = _draw_withheld(split.num_items, config)
    is_withheld = np.zeros(split.num_items + 1, dtype=bool)
    is_withheld[items] = True
    train_part, *valid_seen = _without(split.valid_seen, is_withheld)  # seq[:-2]
    seen_test, *test_seen = _without(split.test_seen, is_withheld)  # seq[:-1]
    train_seqs = _last_columns(train_part, split.max_len + 1)
    return dataclasses.replace(
        split,
        train_seqs=train_seqs,
        valid_history=_last_columns(train_part, split.max_len),
        test_history=_last_columns(seen_test, split.max_len),
        valid_seen=tuple(valid_seen),
        test_seen=tuple(test_seen),
        train_counts=_train_counts(train_seqs, split.num_items),  # 0 for the withheld items
        withheld=WithheldItems(items=items, fraction=config.fraction, seed=config.seed),
    )


def _dense(catalogue: Catalogue, used: np.ndarray) -> tuple[Catalogue, np.ndarray]:
    """The catalogue of the items in `used` (full 1-based indices), in items-file order, and
    the map full index -> dense index."""
    occurs = np.zeros(len(catalogue) + 1, dtype=bool)
    occurs[used] = True
    occurs[0] = False
    remap = np.cumsum(occurs)  # full index -> dense index (items-file order kept)
    rows = np.flatnonzero(occurs[1:])
    return catalogue.subset([catalogue.item_ids[r] for r in rows]), remap


def restrict_users(split: Split, user_ids: Sequence[str]) -> Split:
    """The split with only the rows of `user_ids` (kept in the split's order), for scoring a
    subset of users. The catalogue and training counts stay the whole split's: they are
    what a trained model's item indices and the popularity statistics refer to.

    Raises:
        ConfigError: an id that is not a user of the split, or no id at all.
    """
    index = {user: row for row, user in enumerate(split.user_ids)}
    unknown = [u for u in user_ids if u not in index]
    if unknown:
        raise ConfigError(
            f"{len(unknown)} of {len(user_ids)} user ids are not users of the split "
            f"(first: {', '.join(map(repr, unknown[:3]))})"
        )
    rows = np.array(sorted({index[u] for u in user_ids}), dtype=np.int64)
    if len(rows) == 0:
        raise ConfigError("the user subset is empty")

    def take(seen: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        indptr, indices = seen
        parts = [indices[indptr[r] : indptr[r + 1]] for r in rows]
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        new_indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return new_indptr, np.concatenate(parts).astype(np.int64)

    return dataclasses.replace(
        split,
        user_ids=tuple(split.user_ids[r] for r in rows),
        train_seqs=split.train_seqs[rows],
        valid_history=split.valid_history[rows],
        valid_target=split.valid_target[rows],
        test_history=split.test_history[rows],
        test_target=split.test_target[rows],
        valid_seen=take(split.valid_seen),
        test_seen=take(split.test_seen),
    )
