"""The IISAN leave-one-out split, on toy sequences computed by hand and on random ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.config import SplitConfig
from recsys.data import Catalogue, Dataset, load_dataset, make_split
from recsys.errors import ConfigError, DataFormatError

SCIENTIFIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "amazon_scientific"


def toy_dataset(items: list[str], sequences: dict[str, list[str]]) -> Dataset:
    n = len(items)
    catalogue = Catalogue(tuple(items), tuple(i.upper() for i in items), (None,) * n, (None,) * n)
    return Dataset("toy", catalogue, {u: tuple(s) for u, s in sequences.items()}, Path("toy"))


LETTERS = list("abcdefghijklmno")
# Items file order: z first, then a..o, p, q. Dense indices after the split: a=1 ... o=15.
TOY = toy_dataset(
    ["z", *LETTERS, "p", "q"],
    {
        "u1": ["p"],  # length 1: dropped (and with it the only use of p)
        "u2": ["a", "b"],  # length 2: dropped
        "u3": ["c", "a", "b"],  # length 3: the shortest kept user
        "u4": ["d", "d", "e", "d"],  # repeats, and a test target that repeats history
        "u5": ["q", "q", *LETTERS[2:]],  # 15 items: q q falls outside the last 13
    },
)


def test_toy_split_matches_hand_computation() -> None:
    split = make_split(TOY)
    assert split.user_ids == ("u3", "u4", "u5") and split.dropped_users == 2
    assert split.catalogue.item_ids == tuple(LETTERS)  # z, p, q never in kept interactions
    assert split.num_items == 15 and split.catalogue.titles[0] == "A"
    c_to_m = list(range(3, 14))
    np.testing.assert_array_equal(split.train_seqs, [[0] * 10 + [3], [0] * 9 + [4, 4], c_to_m])
    np.testing.assert_array_equal(
        split.valid_history, [[0] * 9 + [3], [0] * 8 + [4, 4], list(range(4, 14))]
    )
    np.testing.assert_array_equal(split.valid_target, [1, 5, 14])
    np.testing.assert_array_equal(
        split.test_history, [[0] * 8 + [3, 1], [0] * 7 + [4, 4, 5], list(range(5, 15))]
    )
    np.testing.assert_array_equal(split.test_target, [2, 4, 15])
    np.testing.assert_array_equal(split.valid_seen[0], [0, 1, 3, 14])
    np.testing.assert_array_equal(split.valid_seen[1], [3, 4, 4, *c_to_m])
    np.testing.assert_array_equal(split.test_seen[0], [0, 2, 5, 17])
    np.testing.assert_array_equal(split.test_seen[1], [3, 1, 4, 4, 5, *range(3, 15)])
    expected_counts = np.zeros(16, dtype=np.int64)
    expected_counts[3] = 2  # c: u3 and u5
    expected_counts[4] = 3  # d: twice in u4, once in u5
    expected_counts[5:14] = 1  # e..m in u5
    np.testing.assert_array_equal(split.train_counts, expected_counts)
    assert (split.keep_last, split.max_len, split.min_len) == (13, 10, 3)


def test_toy_split_with_a_short_window() -> None:
    split = make_split(TOY, SplitConfig(keep_last=5, max_len=3, min_len=3))
    assert split.catalogue.item_ids == tuple("abcdeklmno")  # u5 keeps k l m n o
    np.testing.assert_array_equal(split.train_seqs, [[0, 0, 0, 3], [0, 0, 4, 4], [0, 6, 7, 8]])
    np.testing.assert_array_equal(split.valid_history, [[0, 0, 3], [0, 4, 4], [6, 7, 8]])
    np.testing.assert_array_equal(split.test_history, [[0, 3, 1], [4, 4, 5], [7, 8, 9]])
    np.testing.assert_array_equal(split.test_target, [2, 4, 10])


def test_repeat_target_is_in_the_mask_only_because_it_is_history() -> None:
    split = make_split(TOY)
    for u in range(split.num_users):
        start, end = split.test_seen[0][u], split.test_seen[0][u + 1]
        seen = split.test_seen[1][start:end]
        history = split.test_history[u][split.test_history[u] > 0]
        assert (split.test_target[u] in seen) == (split.test_target[u] in history)
    assert split.test_target[1] in split.test_seen[1][2:5]  # u4's target d repeats


@pytest.mark.parametrize(
    "config",
    [SplitConfig(min_len=2), SplitConfig(keep_last=3, min_len=4), SplitConfig(max_len=0)],
)
def test_impossible_configs_are_refused(config: SplitConfig) -> None:
    with pytest.raises(ConfigError, match="split"):
        make_split(TOY, config)


def test_no_long_enough_user_is_an_error() -> None:
    with pytest.raises(DataFormatError, match="no user has at least 3"):
        make_split(toy_dataset(["a"], {"u": ["a", "a"]}))


def reference_split(ds: Dataset, keep: int, length: int) -> dict[str, list]:
    """A slow, obviously-correct version of the protocol, one user at a time."""
    kept = {u: list(s[-keep:]) for u, s in ds.sequences.items() if len(s) >= 3}
    used = {i for s in kept.values() for i in s}
    items = [i for i in ds.catalogue.item_ids if i in used]
    index = {item: k + 1 for k, item in enumerate(items)}

    def pad(seq: list[str], width: int) -> list[int]:
        ids = [index[i] for i in seq][-width:]
        return [0] * (width - len(ids)) + ids

    out: dict[str, list] = {"items": items, "users": list(kept), "train": [], "vh": [], "th": []}
    out.update(vt=[], tt=[], vs=[], ts=[])
    for s in kept.values():
        out["train"].append(pad(s[:-2], length + 1))
        out["vh"].append(pad(s[:-2], length))
        out["th"].append(pad(s[:-1], length))
        out["vt"].append(index[s[-2]])
        out["tt"].append(index[s[-1]])
        out["vs"].append([index[i] for i in s[:-2]])
        out["ts"].append([index[i] for i in s[:-1]])
    return out


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=18), min_size=1, max_size=12),
    keep=st.integers(3, 14),
    length=st.integers(1, 12),
)
def test_split_matches_reference_on_random_sequences(
    seqs: list[list[int]], keep: int, length: int
) -> None:
    items = [f"i{k}" for k in (5, 2, 7, 0, 1, 3, 6, 4)]  # file order differs from id order
    ds = toy_dataset(items, {f"u{n}": [f"i{k}" for k in s] for n, s in enumerate(seqs)})
    if all(len(s) < 3 for s in seqs):
        return
    split = make_split(ds, SplitConfig(keep_last=keep, max_len=length, min_len=3))
    ref = reference_split(ds, keep, length)
    assert list(split.catalogue.item_ids) == ref["items"]
    assert list(split.user_ids) == ref["users"]
    assert split.dropped_users == sum(len(s) < 3 for s in seqs)
    np.testing.assert_array_equal(split.train_seqs, np.array(ref["train"]).reshape(-1, length + 1))
    np.testing.assert_array_equal(split.valid_history, np.array(ref["vh"]).reshape(-1, length))
    np.testing.assert_array_equal(split.test_history, np.array(ref["th"]).reshape(-1, length))
    np.testing.assert_array_equal(split.valid_target, ref["vt"])
    np.testing.assert_array_equal(split.test_target, ref["tt"])
    for (indptr, indices), rows in ((split.valid_seen, ref["vs"]), (split.test_seen, ref["ts"])):
        assert [list(indices[indptr[u] : indptr[u + 1]]) for u in range(len(rows))] == rows
    # popularity counts what the model trains on: the training sequences (issue 26)
    trained = [i for row in ref["train"] for i in row]
    counts = np.bincount(trained, minlength=split.num_items + 1)
    counts[0] = 0
    np.testing.assert_array_equal(split.train_counts, counts)


@pytest.mark.skipif(not SCIENTIFIC.is_dir(), reason="shared Scientific data not present")
def test_scientific_counts_match_the_reference() -> None:
    split = make_split(load_dataset(SCIENTIFIC))
    assert split.num_users == 12_076 and split.dropped_users == 0
    assert split.num_items == 20_314
    assert int(split.test_seen[0][-1]) + split.num_users == 81_711  # kept interactions
    repeats = sum(
        split.test_target[u]
        in split.test_seen[1][split.test_seen[0][u] : split.test_seen[0][u + 1]]
        for u in range(split.num_users)
    )
    assert repeats == 621  # DESIGN.md: "about 620 Scientific test targets" repeat history


def test_the_split_states_its_ranked_catalogue_and_why() -> None:
    split = make_split(TOY)  # z, p and q are defined but not in any kept interaction
    assert split.defined_items == 18 and split.num_items == 15
    assert split.catalogue_note() == (
        "15 of 18 items ranked: those occurring in the kept interactions "
        "(the last 13 of each user with at least 3)"
    )
    every_item_used = toy_dataset(["a", "b", "c"], {"u": ["a", "b", "c"]})
    assert make_split(every_item_used).catalogue_note() == "3 items ranked"
    import dataclasses

    temporal = dataclasses.replace(split, kind="temporal")  # the reason is worded per kind
    assert temporal.catalogue_note().endswith(
        "(those of users with a training, validation and test interaction)"
    )


def test_a_user_subset_keeps_those_rows_and_the_whole_catalogue() -> None:
    from recsys.data.split import restrict_users

    split = make_split(TOY)
    sub = restrict_users(split, ["u5", "u3"])  # given out of order: the split's order is kept
    assert sub.user_ids == ("u3", "u5")
    np.testing.assert_array_equal(sub.test_target, split.test_target[[0, 2]])
    np.testing.assert_array_equal(sub.valid_history, split.valid_history[[0, 2]])
    # CSR rows of u3 and u5, re-based: u3 masks [3, 1] for test, u5 masks 3..14.
    np.testing.assert_array_equal(sub.test_seen[0], [0, 2, 14])
    np.testing.assert_array_equal(sub.test_seen[1], [3, 1, *range(3, 15)])
    np.testing.assert_array_equal(sub.valid_seen[0], [0, 1, 12])
    assert sub.catalogue == split.catalogue and sub.train_counts is split.train_counts
    with pytest.raises(ConfigError, match="1 of 2 user ids are not users of the split"):
        restrict_users(split, ["u3", "u1"])  # u1 was dropped (too short)
