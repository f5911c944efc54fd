"""The temporal split on a hand-made timeline: global cuts by quantile or date, targets and
histories on either side of them, dropped users counted, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.config import SplitConfig
from recsys.data import Catalogue, Dataset, make_split
from recsys.errors import ConfigError, DataFormatError
from recsys.run import split_fingerprint

ITEMS = ("a", "b", "c", "d", "e")  # dense indices 1..5 when all occur
TIMELINE = {
    "ua": [("a", 1), ("b", 2), ("c", 5), ("d", 6), ("e", 9)],
    "ub": [("a", 3), ("c", 7), ("b", 8)],
    "uc": [("b", 4)],  # nothing after the validation cut: dropped
    "ud": [("d", 7.5), ("e", 10)],  # nothing before it: dropped
}
# All 11 times sorted: 1 2 3 4 5 6 7 7.5 8 9 10. Quantile 0.4 -> position floor(4.4) = 4 -> 5;
# quantile 0.7 -> position floor(7.7) = 7 -> 7.5.
QUANTILES = SplitConfig(kind="temporal", valid_cut=0.4, test_cut=0.7)


def timeline(with_times: bool = True) -> Dataset:
    n = len(ITEMS)
    return Dataset(
        name="timeline",
        catalogue=Catalogue(ITEMS, tuple(i.upper() for i in ITEMS), (None,) * n, (None,) * n),
        sequences={u: tuple(i for i, _ in evs) for u, evs in TIMELINE.items()},
        source=Path("timeline"),
        timestamps={u: tuple(float(t) for _, t in evs) for u, evs in TIMELINE.items()}
        if with_times
        else None,
    )


def _rows(csr: tuple[np.ndarray, np.ndarray]) -> list[list[int]]:
    indptr, indices = csr
    return [indices[a:b].tolist() for a, b in zip(indptr[:-1], indptr[1:], strict=True)]


def test_quantile_cuts_by_hand() -> None:
    split = make_split(timeline(), QUANTILES)
    assert (split.kind, split.protocol, split.cuts) == (
        "temporal",
        "temporal_full_ranking",
        (5, 7.5),
    )
    assert split.user_ids == ("ua", "ub") and split.dropped_users == 2
    assert split.catalogue.item_ids == ITEMS
    # ua: train a b | validation c d | test e.   ub: train a | validation c | test b.
    assert split.valid_target.tolist() == [3, 3]
    assert split.test_target.tolist() == [5, 2]
    assert split.valid_history[:, -2:].tolist() == [[1, 2], [0, 1]]
    assert split.test_history[:, -4:].tolist() == [[1, 2, 3, 4], [0, 0, 1, 3]]
    assert split.train_seqs[:, -2:].tolist() == [[1, 2], [0, 1]]
    assert (split.train_seqs[:, :-2] == 0).all() and split.train_seqs.shape == (2, 11)
    assert _rows(split.valid_seen) == [[1, 2], [1]]
    assert _rows(split.test_seen) == [[1, 2, 3, 4], [1, 3]]
    assert split.train_counts.tolist() == [0, 2, 1, 0, 0, 0]


def test_date_cuts_give_the_same_split_and_keep_last_bounds_histories() -> None:
    dates = SplitConfig(
        kind="temporal", valid_cut="1970-01-01T00:00:05Z", test_cut="1970-01-01 00:00:07.5"
    )
    by_date, by_quantile = make_split(timeline(), dates), make_split(timeline(), QUANTILES)
    assert by_date.cuts == (5.0, 7.5)
    assert split_fingerprint(by_date) == split_fingerprint(by_quantile)
    short = make_split(
        timeline(), SplitConfig(kind="temporal", valid_cut=0.4, test_cut=0.7, keep_last=3)
    )
    assert _rows(short.valid_seen) == [[2], [1]]  # the last keep_last - 2 = 1 before the cut
    assert _rows(short.test_seen) == [[3, 4], [1, 3]]  # the last keep_last - 1 = 2
    assert short.valid_target.tolist() == [3, 3] and short.test_target.tolist() == [5, 2]


def test_the_fingerprint_tells_temporal_from_leave_one_out() -> None:
    loo = make_split(timeline())
    temporal = make_split(timeline(), QUANTILES)
    assert loo.kind == "leave_one_out" and loo.cuts is None
    assert loo.protocol == "leave_one_out_full_ranking"
    assert split_fingerprint(loo) != split_fingerprint(temporal)
    later = make_split(timeline(), SplitConfig(kind="temporal", valid_cut=0.4, test_cut=0.75))
    assert later.cuts == (5.0, 8.0) and split_fingerprint(later) != split_fingerprint(temporal)


def test_errors() -> None:
    with pytest.raises(DataFormatError, match="needs interaction times"):
        make_split(timeline(with_times=False), QUANTILES)
    with pytest.raises(ConfigError, match="split.test_cut: .* not after split.valid_cut"):
        make_split(
            timeline(), SplitConfig(kind="temporal", valid_cut=0.4, test_cut="1970-01-01T00:00:04Z")
        )
    with pytest.raises(DataFormatError, match="no user has 1 interaction"):
        make_split(timeline(), SplitConfig(kind="temporal", valid_cut=0.05, test_cut=0.1))
    with pytest.raises(ConfigError, match="split.valid_cut: only applies"):
        make_split(timeline(), SplitConfig(valid_cut=0.5))
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        make_split(timeline(), SplitConfig(kind="temporal", valid_cut=1.0))
