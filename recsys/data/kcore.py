"""The k-core filter: keep only users and items with at least k interactions each."""

from __future__ import annotations

import dataclasses

import numpy as np

from recsys.data.types import Dataset
from recsys.errors import ConfigError, DataFormatError


def kcore_filter(dataset: Dataset, k: int) -> Dataset:
    """Drop users and items with fewer than `k` interactions, repeatedly, until every user
    and every item left has at least `k` (dropping an item can push a user below `k`).

    Repeat interactions count. Sequences keep their order (and times); the catalogue keeps
    the surviving items in its order. The result's report records the filter (`kcore`:
    k, rounds, users / items / interactions before and after) and a note says the same;
    `unfiltered` keeps the dataset as read, so a temporal split can filter its training
    period alone (`recsys.data.temporal`).

    Raises:
        ConfigError: k < 1.
        DataFormatError: nothing survives.
    """
    if k < 1:
        raise ConfigError(f"is {k}; must be >= 1 (0 turns the filter off)", field="dataset.kcore")
    cat = dataset.catalogue
    users = list(dataset.sequences)
    lengths = np.fromiter((len(dataset.sequences[u]) for u in users), dtype=np.int64)
    owner = np.repeat(np.arange(len(users)), lengths)  # [T] user code per interaction
    item = np.fromiter(
        (cat._index[i] for u in users for i in dataset.sequences[u]), dtype=np.int64
    )  # [T] 1-based catalogue index
    alive, rounds = core_mask(owner, item, len(users), len(cat), k)
    if not alive.any():
        raise DataFormatError(dataset.source, f"no user and item survive the {k}-core filter")
    return _rebuilt(dataset, k, rounds, users, lengths, alive, item)


def core_mask(
    owner: np.ndarray, item: np.ndarray, users: int, items: int, k: int
) -> tuple[np.ndarray, int]:
    """Which interactions survive the k-core filter, and the passes that removed something.

    Args:
        owner: [T] user code (0..users-1) of each interaction.
        item: [T] 1-based item index (1..items) of each interaction.
        users, items: how many user codes and items there are.
        k: the minimum count for users and items alike.
    """
    alive = np.ones(len(item), dtype=bool)
    rounds = 0
    while True:
        item_count = np.bincount(item[alive], minlength=items + 1)
        user_count = np.bincount(owner[alive], minlength=users)
        keep = alive & (item_count[item] >= k) & (user_count[owner] >= k)
        if (keep == alive).all():
            return alive, rounds
        alive = keep
        rounds += 1


def _rebuilt(
    dataset: Dataset,
    k: int,
    rounds: int,
    users: list[str],
    lengths: np.ndarray,
    alive: np.ndarray,
    item: np.ndarray,
) -> Dataset:
    starts = np.cumsum(lengths) - lengths
    sequences: dict[str, tuple[str, ...]] = {}
    stamps: dict[str, tuple[float, ...]] = {}
    for code, user in enumerate(users):
        rows = np.flatnonzero(alive[starts[code] : starts[code] + lengths[code]])
        if not len(rows):
            continue
        seq = dataset.sequences[user]
        sequences[user] = tuple(seq[r] for r in rows)
        if dataset.timestamps is not None:
            stamps[user] = tuple(dataset.timestamps[user][r] for r in rows)
    kept_items = np.zeros(len(dataset.catalogue) + 1, dtype=bool)
    kept_items[item[alive]] = True
    catalogue = dataset.catalogue.subset(
        [i for n, i in enumerate(dataset.catalogue.item_ids, start=1) if kept_items[n]]
    )
    facts = {
        "k": k,
        "rounds": rounds,
        "users_before": len(users),
        "users_after": len(sequences),
        "items_before": len(dataset.catalogue),
        "items_after": len(catalogue),
        "interactions_before": int(lengths.sum()),
        "interactions_after": int(alive.sum()),
    }
    note = (
        f"{k}-core filter ({rounds} rounds): kept {facts['users_after']:,} of "
        f"{facts['users_before']:,} users, {facts['items_after']:,} of "
        f"{facts['items_before']:,} items, {facts['interactions_after']:,} of "
        f"{facts['interactions_before']:,} interactions"
    )
    report = dataclasses.replace(dataset.report, notes=(*dataset.report.notes, note), kcore=facts)
    return dataclasses.replace(
        dataset,
        catalogue=catalogue,
        sequences=sequences,
        timestamps=stamps if dataset.timestamps is not None else None,
        report=report,
        unfiltered=dataset.unfiltered or dataset,
    )
