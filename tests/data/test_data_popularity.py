"""Popularity counts what the model trains on (issue 26, item 4): `Split.train_counts` is
over the training sequences (the last max_len + 1 of the training part), for both split
kinds and the new-item protocol; with the defaults (keep_last 13, max_len 10) the training
part is exactly that window, so the counts are what they always were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.config import NewItemsConfig, SplitConfig
from recsys.data import Catalogue, Dataset, make_split

ITEMS = tuple(f"i{k:02d}" for k in range(30))


def _dataset() -> Dataset:
    rng = np.random.default_rng(7)
    seqs, stamps = {}, {}
    for u in range(40):
        n = int(rng.integers(3, 26))
        seqs[f"u{u:02d}"] = tuple(ITEMS[int(k)] for k in rng.integers(0, 30, size=n))
        stamps[f"u{u:02d}"] = tuple(np.sort(rng.uniform(0, 100, size=n)).tolist())
    n = len(ITEMS)
    catalogue = Catalogue(ITEMS, ITEMS, (None,) * n, (None,) * n)
    return Dataset("pop", catalogue, seqs, Path("pop"), timestamps=stamps)


def _over(matrix: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(matrix.ravel(), minlength=n + 1)
    counts[0] = 0
    return counts


TEMPORAL = {"kind": "temporal", "valid_cut": 0.5, "test_cut": 0.75}


@pytest.mark.parametrize("kind", [{}, TEMPORAL], ids=["leave_one_out", "temporal"])
@pytest.mark.parametrize("new_items", [None, NewItemsConfig(fraction=0.2, seed=1)])
def test_counts_are_over_the_training_sequences(kind, new_items) -> None:
    split = make_split(
        _dataset(), SplitConfig(keep_last=20, max_len=4, new_items=new_items, **kind)
    )
    assert split.train_seqs.shape[1] == 5
    assert np.array_equal(split.train_counts, _over(split.train_seqs, split.num_items))
    # the whole training part (the validation mask) holds more: those are never trained on
    whole = np.bincount(split.valid_seen[1], minlength=split.num_items + 1)
    assert whole.sum() > split.train_counts.sum()
    if new_items is not None:
        assert (split.train_counts[split.withheld.items] == 0).all()


@pytest.mark.parametrize("kind", [{}, TEMPORAL], ids=["leave_one_out", "temporal"])
@pytest.mark.parametrize("new_items", [None, NewItemsConfig(fraction=0.2, seed=1)])
def test_with_the_defaults_nothing_changes(kind, new_items) -> None:
    split = make_split(_dataset(), SplitConfig(new_items=new_items, **kind))
    assert (split.keep_last, split.max_len) == (13, 10)
    # before: the counts over the whole training part `s[:-2]` (the validation mask)
    before = np.bincount(split.valid_seen[1], minlength=split.num_items + 1)
    before[0] = 0
    assert np.array_equal(split.train_counts, before)
