"""The temporal split on a hand-made timeline: global cuts by quantile or date, targets and
histories on either side of them, dropped users counted, and the errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.config import SplitConfig
from recsys.data import Catalogue, Dataset, make_split
from recsys.errors import ConfigError, DataFormatError
from recsys.spec import split_fingerprint

ITEMS = ("a", "b", "c", "d", "e")  # dense indices 1..5 when all occur
TIMELINE = {
    "ua": [("a", 1), ("b", 2), ("c", 5), ("d", 6), ("e", 9)],
    "ub": [("a", 3), ("c", 7), ("b", 8)],
    "uc": [("b", 4)],  # nothing after the validation cut: dropped
    "ud": [("d", 7.5), ("e", 10)],  # nothing before it: dropped
    "ue": [("c", 0.5), ("d", 0.6), ("e", 0.7)],  # training period only: dropped
}
# All 14 times sorted: .5 .6 .7 1 2 3 4 5 6 7 7.5 8 9 10. Quantile 0.5 -> position 7 -> 5;
# quantile 0.75 -> position floor(10.5) = 10 -> 7.5. Every item occurs before the first cut.
QUANTILES = SplitConfig(kind="temporal", valid_cut=0.5, test_cut=0.75)


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
    assert split.user_ids == ("ua", "ub") and split.dropped_users == 3
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
        timeline(), SplitConfig(kind="temporal", valid_cut=0.5, test_cut=0.75, keep_last=3)
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
    later = make_split(timeline(), SplitConfig(kind="temporal", valid_cut=0.5, test_cut=0.8))
    assert later.cuts == (5.0, 8.0) and split_fingerprint(later) != split_fingerprint(temporal)


def test_errors() -> None:
    with pytest.raises(DataFormatError, match="needs interaction times"):
        make_split(timeline(with_times=False), QUANTILES)
    with pytest.raises(ConfigError, match="split.test_cut: .* not after split.valid_cut"):
        make_split(
            timeline(), SplitConfig(kind="temporal", valid_cut=0.5, test_cut="1970-01-01T00:00:04Z")
        )
    with pytest.raises(DataFormatError, match="no user has 1 interaction"):
        make_split(timeline(), SplitConfig(kind="temporal", valid_cut=0.05, test_cut=0.1))
    with pytest.raises(ConfigError, match="split.valid_cut: only applies"):
        make_split(timeline(), SplitConfig(valid_cut=0.5))
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        make_split(timeline(), SplitConfig(kind="temporal", valid_cut=1.0))


# A 2-core decided on the whole timeline keeps `x` (one training and one test interaction)
# and `u3` (one training interaction, two later ones); decided on the training period
# (before 5) it keeps neither. Cuts: validation from 5, test from 8.
FUTURE = {
    "u1": [("p", 1), ("q", 2), ("r", 3), ("x", 3.5), ("q", 6), ("p", 9)],
    "u2": [("p", 1.5), ("q", 2.5), ("r", 3.2), ("r", 6.5), ("x", 9.5), ("q", 10)],
    "u3": [("r", 4), ("p", 6), ("q", 9)],
}
DATES = SplitConfig(
    kind="temporal", valid_cut="1970-01-01T00:00:05Z", test_cut="1970-01-01T00:00:08Z"
)


def _future(events: dict[str, list[tuple[str, float]]]) -> Dataset:
    items = ("p", "q", "r", "x")
    return Dataset(
        name="future",
        catalogue=Catalogue(items, items, (None,) * 4, (None,) * 4),
        sequences={u: tuple(i for i, _ in evs) for u, evs in events.items()},
        source=Path("future"),
        timestamps={u: tuple(float(t) for _, t in evs) for u, evs in events.items()},
    )


def test_no_look_ahead_kcore_and_catalogue_come_from_the_training_period() -> None:
    from recsys.data import kcore_filter
    from recsys.spec import split_record

    loaded = kcore_filter(_future(FUTURE), 2)
    assert "x" in loaded.catalogue and "u3" in loaded.sequences  # the whole-timeline 2-core
    split = make_split(loaded, DATES)
    assert split.catalogue.item_ids == ("p", "q", "r")  # x: one training interaction
    assert split.user_ids == ("u1", "u2") and split.dropped_users == 1  # u3: one
    # u1: train p q r (x gone) | valid q | test p.  u2: train p q r | valid r | test q (x gone)
    assert split.train_seqs[:, -3:].tolist() == [[1, 2, 3], [1, 2, 3]]
    assert split.valid_target.tolist() == [2, 3] and split.test_target.tolist() == [1, 2]
    assert _rows(split.test_seen) == [[1, 2, 3, 2], [1, 2, 3, 3]]
    assert split.filtering == {
        "decided_on": "training period (before 1970-01-01T00:00:05+00:00)",
        "kcore": 2,
        "kcore_rounds": 1,
        "training_interactions": 8,
        "training_interactions_kept": 6,
        "items_defined": 4,
        "items_known": 3,
        "later_interactions_dropped": 1,
    }
    assert "training period" in split.catalogue_note() and "2-core" in split.catalogue_note()
    assert split_record(split)["filtering"] == split.filtering  # what results.json says
    # The future does not move the training side: without u2's test-period x, and without
    # u3's later interactions, the catalogue and training sequences are the same.
    calmer = {**FUTURE, "u2": [e for e in FUTURE["u2"] if e != ("x", 9.5)], "u3": [("r", 4)]}
    other = make_split(kcore_filter(_future(calmer), 2), DATES)
    assert other.catalogue.item_ids == split.catalogue.item_ids
    assert np.array_equal(other.train_seqs, split.train_seqs)


def test_without_a_kcore_the_catalogue_is_the_training_period_items() -> None:
    split = make_split(_future(FUTURE), DATES)
    assert split.catalogue.item_ids == ("p", "q", "r", "x")  # x occurs before the cut
    assert split.user_ids == ("u1", "u2", "u3") and split.filtering["kcore"] == 0
    late = {**FUTURE, "u1": [*FUTURE["u1"][:3], ("q", 6), ("x", 8.5), ("p", 9)]}
    late["u2"] = late["u2"][:4] + [("q", 10)]  # x now occurs only after the validation cut
    split = make_split(_future(late), DATES)
    assert split.catalogue.item_ids == ("p", "q", "r")
    assert split.test_target.tolist()[0] == 1  # u1's test target skips the unknown x
    assert split.filtering["later_interactions_dropped"] == 1
