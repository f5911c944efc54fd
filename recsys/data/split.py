"""The leave-one-out split of the IISAN protocol, vectorised over users.

Per user, keep the last `keep_last` interactions `s`; users with fewer than `min_len`
interactions are dropped (and counted). Train on `s[:-2]`, validate on `s[-2]`, test on
`s[-1]`. The catalogue shrinks to the items occurring in the kept interactions, in
items-file order, re-indexed densely 1..N (0 is padding).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recsys.config import NewItemsConfig, SplitConfig
from recsys.data.types import Dataset, Split, WithheldItems
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


def make_split(dataset: Dataset, config: SplitConfig = SplitConfig()) -> Split:
    """Split a dataset by the IISAN leave-one-out protocol.

    Args:
        dataset: a loaded dataset (sequences oldest first).
        config: keep_last (13), max_len L (10) and min_len (3).

    Returns:
        The Split (see its docstring): train_seqs [U, L+1] = last L+1 of `s[:-2]`;
        valid/test histories [U, L] = last L of `s[:-2]` / `s[:-1]`, left-padded; targets
        `s[-2]` / `s[-1]`; masks `s[:-2]` / `s[:-1]` (whole kept window, in order,
        duplicates kept) as CSR; train_counts over `s[:-2]`. With `config.new_items`, the
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
    occurs = np.zeros(len(dataset.catalogue) + 1, dtype=bool)
    occurs[full] = True
    occurs[0] = False
    remap = np.cumsum(occurs)  # full index -> dense index (items-file order kept)
    flat = remap[full]  # [T]
    rows = np.flatnonzero(occurs[1:])
    catalogue = dataset.catalogue.subset([dataset.catalogue.item_ids[r] for r in rows])

    seqs = _right_aligned(flat, np.asarray(lengths, dtype=np.int64), config.keep_last)
    train_part = seqs[:, :-2]  # [U, keep_last-2] s[:-2], right-aligned
    seen_test = seqs[:, :-1]  # [U, keep_last-1] s[:-1]
    train_counts = np.bincount(train_part.ravel(), minlength=len(catalogue) + 1)
    train_counts[0] = 0
    split = Split(
        catalogue=catalogue,
        user_ids=tuple(kept_users),
        train_seqs=_last_columns(train_part, config.max_len + 1),
        valid_history=_last_columns(train_part, config.max_len),
        valid_target=seqs[:, -2].copy(),
        test_history=_last_columns(seen_test, config.max_len),
        test_target=seqs[:, -1].copy(),
        valid_seen=_csr(train_part),
        test_seen=_csr(seen_test),
        train_counts=train_counts.astype(np.int64),
        dropped_users=dropped,
        keep_last=config.keep_last,
        max_len=config.max_len,
        min_len=config.min_len,
    )
    return split if config.new_items is None else withhold_items(split, config.new_items)


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
    """The new-item protocol's version of a leave-one-out split.

    A seeded fraction of the catalogue never reaches training: those items are removed
    from every training sequence, validation history and test history (the histories keep
    the user's other items, in order), their training counts are 0, and they stay in the
    catalogue, so the test ranks against the full catalogue. Which users are ranked, and
    against which items, follows from `withheld` (recsys.eval.evaluator: test ranks exactly
    the users whose test target is withheld; validation those whose target is not, without
    the withheld items, which do not exist before the test).

    Args:
        split: a split made by `recsys.data.make_split` (no items withheld yet).
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
    counts = split.train_counts.copy()
    counts[items] = 0  # exactly the counts over the filtered training parts
    return dataclasses.replace(
        split,
        train_seqs=_last_columns(train_part, split.max_len + 1),
        valid_history=_last_columns(train_part, split.max_len),
        test_history=_last_columns(seen_test, split.max_len),
        valid_seen=tuple(valid_seen),
        test_seen=tuple(test_seen),
        train_counts=counts,
        withheld=WithheldItems(items=items, fraction=config.fraction, seed=config.seed),
    )
