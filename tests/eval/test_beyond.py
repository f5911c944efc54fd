"""Beyond-accuracy metrics: hand-computed values, the tie rule, chunked lists vs brute
force, the per-user file and the evaluation fingerprint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsys.config import EvalConfig
from recsys.eval.beyond import beyond_metrics, gini_index
from recsys.eval.evaluator import evaluate_states
from recsys.eval.per_user import read_per_user_csv, write_per_user_csv
from recsys.eval.topk import TopLists, _in_tie_order
from recsys.fingerprints import evaluation_settings

# Items 1..5 with training counts 6, 5, 1, 0, 2 (T = 14): with buckets (1, 5, 20) items 3
# and 5 are `1-4`, item 4 is `cold`: the tail is {3, 4, 5}.
COUNTS = np.array([0, 6, 5, 1, 0, 2])
LISTS = np.array([[1, 2], [1, 3], [2, 1], [1, 4]])


def _bits(count: int) -> float:
    """-log2 p(i) with add-one smoothing: p(i) = (c + 1) / (T + n) = (c + 1) / 19."""
    return math.log2(19 / (count + 1))


def test_hand_computed_example() -> None:
    means, users = beyond_metrics(LISTS, COUNTS, (1, 2), (1, 5, 20), catalogue=5)
    # @1: lists 1, 1, 2, 1 -> exposure item1 3, item2 1; sorted [0, 0, 0, 1, 3],
    # Gini = ((-4)*0 + (-2)*0 + 0*0 + 2*1 + 4*3) / (5 * 4) = 14 / 20.
    assert means["coverage@1"] == pytest.approx(2 / 5)
    assert means["gini@1"] == pytest.approx(0.7)
    assert means["entropy@1"] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert users["arp@1"].tolist() == [6, 6, 5, 6]
    assert means["arp@1"] == pytest.approx(23 / 4)
    assert means["tail@1"] == 0.0
    assert users["novelty@1"] == pytest.approx([_bits(6), _bits(6), _bits(5), _bits(6)])
    # @2: exposure 4, 2, 1, 1, 0 of 8 slots; sorted [0, 1, 1, 2, 4]:
    # Gini = (-2*1 + 0*1 + 2*2 + 4*4) / (5 * 8) = 18 / 40; entropy of (1/2, 1/4, 1/8, 1/8).
    assert means["coverage@2"] == pytest.approx(4 / 5)
    assert means["gini@2"] == pytest.approx(0.45)
    assert means["entropy@2"] == pytest.approx(1.75 * math.log(2))
    assert users["arp@2"].tolist() == [5.5, 3.5, 5.5, 3.0]
    assert users["tail@2"].tolist() == [0.0, 0.5, 0.0, 0.5]
    assert means["tail@2"] == pytest.approx(0.25)
    assert users["novelty@2"][3] == pytest.approx((_bits(6) + _bits(0)) / 2)


def test_cut_offs_in_any_order_give_the_same_values_in_their_order() -> None:
    # the sums grow K by K in increasing K; the output follows `ks` as given
    means, users = beyond_metrics(LISTS, COUNTS, (2, 1, 2), (1, 5, 20), catalogue=5)
    want, want_users = beyond_metrics(LISTS, COUNTS, (1, 2), (1, 5, 20), catalogue=5)
    assert means == want and users.keys() == want_users.keys()
    assert list(users) == [f"{m}@{k}" for k in (2, 1) for m in ("arp", "tail", "novelty")]
    assert list(means)[:6] == [f"{m}@{k}" for k in (2, 1) for m in ("coverage", "gini", "entropy")]
    for name, values in users.items():
        np.testing.assert_array_equal(values, want_users[name])


def test_empty_slots_are_left_out_and_gini_extremes() -> None:
    means, users = beyond_metrics(np.array([[3, 0]]), COUNTS, (2,), (1, 5, 20), catalogue=5)
    assert users["arp@2"].tolist() == [1.0]  # the mean over the one filled slot
    assert users["tail@2"].tolist() == [1.0]
    assert means["coverage@2"] == pytest.approx(1 / 5)
    assert gini_index(np.array([0, 2, 2, 2]), 3) == 0.0  # equal exposure
    assert gini_index(np.array([0, 0, 0, 6]), 3) == pytest.approx(2 / 3)  # (n - 1) / n


def _top(scores: torch.Tensor, k: int, width: int = 0, offset: int = 0) -> list[list[int]]:
    """Lists of `scores` added in chunks of `width` columns (0: one chunk), items offset."""
    lists = TopLists(scores.shape[0], k)
    width = width or scores.shape[1]
    for start in range(0, scores.shape[1], width):
        lists.add(scores[:, start : start + width], 0, start + offset)
    return lists.finish().tolist()


def test_all_equal_scores_list_lowest_indices_first() -> None:
    scores = torch.zeros(2, 9)
    scores[1, 2] = float("-inf")  # masked
    for width in (9, 4, 2):  # one chunk, then several
        assert _top(scores, 4, width) == [[0, 1, 2, 3], [0, 1, 3, 4]]


def test_a_catalogue_shorter_than_k_leaves_empty_slots() -> None:
    scores = torch.tensor([[1.0, float("-inf"), 2.0]])  # item 1 masked, 2 rankable
    assert _top(scores, 4, 2) == [[2, 0, 0, 0]]
    assert _top(scores, 4) == [[2, 0, 0, 0]]
    assert TopLists(2, 3).finish().tolist() == [[0, 0, 0]] * 2  # nothing added


def test_tie_across_the_cut_keeps_higher_scores_first() -> None:
    scores = torch.tensor([[1.0, 3.0, 2.0, 2.0, 2.0, 5.0]])
    assert _top(scores, 3, offset=10) == [[15, 11, 12]]  # 5, 3, then the lowest-index 2


def test_chunks_added_for_several_row_blocks_keep_each_row_apart() -> None:
    rng = np.random.default_rng(3)
    scores = torch.from_numpy(rng.integers(0, 4, size=(9, 700))).float()
    lists = TopLists(9, 5)
    for lo in (0, 4, 8):  # row blocks, each in two chunks of items
        for start in (0, 350):
            lists.add(scores[lo : lo + 4, start : start + 350], lo, start)
    for got, row in zip(lists.finish().tolist(), scores.numpy(), strict=True):
        assert got == _tie_rule(row, 5)


def test_many_chunks_hold_bounded_candidates_and_stay_exact() -> None:
    # 6 users x 301 items in 43 chunks of 7 (k = 5): each chunk adds >= 5 candidates per
    # user, 1,290+ in all; they are compacted to each user's 5 best whenever they pass
    # 4 x 5 x 6 = 120, and the lists still follow the tie rule
    rng = np.random.default_rng(11)
    scores = torch.from_numpy(rng.integers(0, 4, size=(6, 301))).float()
    scores[0] = 1.0  # every item ties
    scores[1, 100:] = float("-inf")
    lists, most = TopLists(6, 5), 0
    for start in range(0, 301, 7):
        lists.add(scores[:, start : start + 7], 0, start)
        most = max(most, sum(len(part[0]) for part in lists._parts))
    assert most <= 4 * 5 * 6 + 6 * 7
    for got, row in zip(lists.finish().tolist(), scores.numpy(), strict=True):
        assert got == _tie_rule(row, 5)


@pytest.mark.parametrize("spread", [3, 1000])  # integer scores: many ties, or few
def test_pruned_chunks_match_the_tie_rule(spread) -> None:
    rng = np.random.default_rng(spread)
    scores = torch.from_numpy(rng.integers(0, spread, size=(30, 1000))).float()
    scores[:3] = 0.0  # all-equal rows
    scores[3:6, ::7] = float("-inf")  # masked items
    index = _top(scores, 4, offset=5)  # 1000 columns: 16 groups of 62 and 8 items more
    for row, got in zip(scores.numpy(), index, strict=True):
        assert got == [5 + i for i in sorted(range(1000), key=lambda i: (-row[i], i))[:4]]
    assert index[:3] == [[5, 6, 7, 8]] * 3


def _tie_rule(row: np.ndarray, k: int) -> list[int]:
    return sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]


def test_ties_exactly_at_the_threshold_are_listed_by_index() -> None:
    # 617 columns, k = 5: groups of 30 and a partial group of 17 (600..616). The 5th largest
    # group maximum is 0.5, shared by several groups; item 1 holds 0.5 under its group's
    # maximum 1.0 (item 2), and the partial group holds 1.0 (610) and 0.5 (605).
    row = np.zeros(617, dtype=np.float32)
    row[[2, 300, 610]] = 1.0
    row[[1, 40, 41, 95, 599, 605]] = 0.5
    scores = torch.from_numpy(np.stack([row, -row, np.full(617, -0.0, np.float32)]))
    scores[2, ::2] = 0.0  # signed zeros are equal: listed by index
    scores[2, 7] = float("-inf")
    index = _top(scores, 5, offset=3)
    assert index[0] == [3 + i for i in (2, 300, 610, 1, 40)]
    for got, values in zip(index, scores.numpy(), strict=True):
        assert got == [3 + i for i in _tie_rule(values, 5)]


@pytest.mark.parametrize("row_offset", [0, 1 << 40])  # one int64 key per candidate; lexsort
def test_candidates_order_by_row_then_score_then_index(row_offset) -> None:
    # the sorted keys give the rows, items and scores back: every special value survives
    # the round trip (signed zeros tie, -inf last, subnormals, the largest floats)
    special = [0.0, -0.0, 1.5, -1.5, 1e-45, -1e-45, 3.4e38, -3.4e38, float("-inf")]
    rng = np.random.default_rng(5)
    vals = rng.choice(np.array(special, dtype=np.float32), 600)
    rows = rng.integers(0, 30, 600) + row_offset
    cols = rng.permutation(600) * 37  # distinct (row, item) pairs
    got = _in_tie_order(rows, cols, vals)
    order = np.lexsort((cols, -vals, rows))
    for have, want in zip(got, (rows[order], cols[order], vals[order]), strict=True):
        assert np.array_equal(have, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_every_score_dtype_keeps_the_tie_rule(dtype) -> None:
    rng = np.random.default_rng(7)
    scores = torch.from_numpy(rng.integers(-4, 5, size=(20, 2000)) / 4).to(dtype)
    scores[:2] = float("-inf")  # nothing rankable: any k items, all -inf
    scores[2, 5:] = float("-inf")  # fewer than k rankable: every group maximum is the cut
    index = _top(scores, 7, offset=1)
    assert index[:2] == [[0] * 7] * 2  # empty slots
    assert index[2] == [1 + i for i in _tie_rule(scores[2].float().numpy(), 5)] + [0, 0]
    for got, row in zip(index[3:], scores[3:].float().numpy(), strict=True):
        assert got == [1 + i for i in _tie_rule(row, 7)]


@pytest.mark.parametrize("column", [0, 398, 401])  # a group, the partial group, all NaN
def test_nan_scores_are_refused(column) -> None:
    scores = torch.zeros(2, 402)  # k = 3: groups of 33, a partial group of 6
    scores[1, column] = float("nan")
    if column == 401:
        scores.fill_(float("nan"))
    for width in (402, 2):  # wide chunks, and chunks narrower than k
        with pytest.raises(ValueError, match="NaN"):
            _top(scores, 3, width)


def test_states_that_track_gradients_rank_alike() -> None:
    # rank_counts writes each chunk's scores into one reused buffer (matmul out=, which
    # autograd refuses): states from a model in training mode must still rank
    from recsys.eval.ranking import rank_counts

    gen = torch.Generator().manual_seed(0)
    table, states = torch.randn(30, 4, generator=gen), torch.randn(5, 4, generator=gen)
    targets, none = np.array([1, 2, 3, 4, 5]), np.zeros(0, dtype=np.int64)
    for chunk in (7, 100):
        got = rank_counts(states.requires_grad_(), table, targets, none, none, chunk, top_k=3)
        want = rank_counts(states.detach(), table, targets, none, none, chunk, top_k=3)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("item_chunk", [1 << 20, 2600, 2570, 1000])
def test_wide_chunks_padded_to_whole_groups_list_exactly(item_chunk) -> None:
    # 6,000 items, k = 5: chunks of 2,560 columns or more are scored into rows padded to
    # whole groups of 128 (-inf past the chunk), narrower ones keep a partial group; user 0
    # has 3 rankable items (the padding's -inf must not fill its empty slots), user 1's
    # target is hidden (a repeat under the masked convention)
    from recsys.eval.ranking import rank_counts

    rng = np.random.default_rng(item_chunk)
    table = torch.from_numpy(rng.integers(-3, 4, size=(6001, 4))).float()  # many ties
    states = torch.from_numpy(rng.integers(-2, 3, size=(9, 4))).float()
    targets = rng.choice(np.arange(1, 6001), 9, replace=False)
    masked = [set(rng.choice(6000, 30) + 1) - set(targets) for _ in range(9)]
    masked[0] = set(range(1, 6001)) - {int(targets[0]), 17, 4000}
    rows = np.concatenate([np.full(len(m), u) for u, m in enumerate(masked)])
    cols = np.concatenate([sorted(m) for m in masked]).astype(np.int64)
    hidden = np.arange(9) == 1
    got = rank_counts(states, table, targets, rows, cols, item_chunk, top_k=5, hidden=hidden)
    plain = rank_counts(states, table, targets, rows, cols, item_chunk, hidden=hidden)
    scores = (states @ table.T).numpy()
    for u in range(9):
        gone = masked[u] | ({int(targets[u])} if hidden[u] else set())
        keep = [i for i in range(1, 6001) if i not in gone]
        want = sorted(keep, key=lambda i: (-scores[u, i], i))[:5]
        assert got[2][u].tolist() == want + [0] * (5 - len(want))
    np.testing.assert_array_equal(got[0], plain[0])
    np.testing.assert_array_equal(got[1], plain[1])


def _brute_lists(states, table, split, history, k):
    indptr, indices = split.test_seen
    out = []
    for u in range(split.num_users):
        scores = (states[u] @ table.T).numpy().astype(np.float64)
        seen = set(indices[indptr[u] : indptr[u + 1]].tolist()) if history == "masked" else set()
        keep = [i for i in range(1, len(table)) if i not in seen]
        out.append(sorted(keep, key=lambda i: (-scores[i], i))[:k])
    return np.array(out)


@pytest.mark.parametrize("history", ["masked", "unmasked"])
@pytest.mark.parametrize(("item_chunk", "row_block"), [(3, 5), (1000, 128)])
def test_chunked_lists_match_brute_force_with_ties(
    tied_toy, monkeypatch, item_chunk, row_block, history
) -> None:
    import recsys.eval.ranking as ranking

    monkeypatch.setattr(ranking, "_ROW_BLOCK", row_block)
    split, table, states = tied_toy(1)
    config = EvalConfig(ks=(1, 3), user_batch=7, item_chunk=item_chunk, history=history)
    result = evaluate_states(lambda h, a, b: states[a:b], split, "test", config, table)
    lists = _brute_lists(states, table, split, history, 3)
    expected, _ = beyond_metrics(lists, split.train_counts, (1, 3), (1, 5, 20), split.num_items)
    assert result.beyond == pytest.approx(expected)
    np.testing.assert_array_equal(result.per_user["top"], lists)
    plain = EvalConfig(ks=(1, 3), history=history, beyond=False)
    off = evaluate_states(lambda h, a, b: states[a:b], split, "test", plain, table)
    assert off.beyond == {}
    for name in ("higher", "tied", "rank", "ndcg@3"):  # the lists change no accuracy count
        np.testing.assert_array_equal(off.per_user[name], result.per_user[name])


@pytest.mark.parametrize("spread", [3, 1 << 20])  # integer embeddings: many ties, or few
def test_a_wide_catalogue_is_narrowed_exactly(make_toy_split, spread) -> None:
    rng = np.random.default_rng(spread)
    items = [f"i{i:03d}" for i in range(300)]  # 301 columns: a partial last group
    seqs = {f"u{u}": list(rng.choice(items, size=rng.integers(3, 9))) for u in range(30)}
    split = make_toy_split(seqs, max_len=6)
    table = torch.from_numpy(rng.integers(-spread, spread, size=(split.num_items + 1, 4)))
    table = table.float()
    states = torch.from_numpy(rng.integers(-2, 3, size=(split.num_users, 4))).float()
    config = EvalConfig(ks=(2, 5), history="masked")
    result = evaluate_states(lambda h, a, b: states[a:b], split, "test", config, table)
    lists = _brute_lists(states, table, split, "masked", 5)
    np.testing.assert_array_equal(result.per_user["top"], lists)
    off = EvalConfig(ks=(2, 5), history="masked", beyond=False)
    plain = evaluate_states(lambda h, a, b: states[a:b], split, "test", off, table)
    for name in ("higher", "tied"):  # the lists change no count
        np.testing.assert_array_equal(plain.per_user[name], result.per_user[name])


def test_per_user_file_has_the_beyond_columns(make_toy_split, tmp_path) -> None:
    split = make_toy_split({"u1": list("abcde"), "u2": list("bcade"), "u3": list("edcba")})
    table = torch.ones(split.num_items + 1, 1)
    config = EvalConfig(ks=(1, 2), history="unmasked")
    result = evaluate_states(lambda h, a, b: torch.ones(b - a, 1), split, "test", config, table)
    write_per_user_csv(tmp_path / "p.csv", result, split)
    columns = read_per_user_csv(tmp_path / "p.csv")
    assert list(columns)[-6:] == ["arp@1", "arp@2", "tail@1", "tail@2", "novelty@1", "novelty@2"]
    # every score ties: everyone's list is items 1, 2 ("a", "b"): a's training count
    counts = split.train_counts
    assert columns["arp@1"].tolist() == [float(counts[1])] * 3
    assert result.beyond["coverage@2"] == pytest.approx(2 / split.num_items)


def test_beyond_joins_the_evaluation_fingerprint() -> None:
    old = {"ks": [5, 10, 20], "history": "masked"}  # a record from before `beyond`
    assert evaluation_settings(old) == evaluation_settings(old | {"beyond": False})
    assert evaluation_settings(old) != evaluation_settings(old | {"beyond": True})
