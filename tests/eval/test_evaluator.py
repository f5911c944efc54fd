"""The evaluator: history conventions, ties, chunking, most-popular reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.config import PROTOCOL_NAME, EvalConfig
from recsys.eval.evaluator import evaluate, evaluate_states, most_popular
from recsys.models.id_tower import IdTower
from recsys.models.recommender import SequentialRecommender
from recsys.models.sasrec import SASRec

SEQS = {
    "u1": ["a", "b", "c", "d", "e"],
    "u2": ["b", "c", "a", "d", "a"],  # test target "a" repeats a history item
    "u3": ["e", "d", "c", "b", "a", "c"],  # test target "c" repeats too
}


def _score_by_letter(split, order: str):
    """Item table giving every user the same scores: earlier letters in `order` rank higher."""
    table = torch.zeros(split.num_items + 1, 1)
    for rank, letter in enumerate(order):
        table[split.catalogue.index_of(letter), 0] = float(len(order) - rank)

    def state_fn(hist, start, stop):
        return torch.ones(hist.shape[0], 1)

    return state_fn, table


def test_masked_is_the_default_and_counts_repeats_as_misses(make_toy_split) -> None:
    split = make_toy_split(SEQS)
    state_fn, table = _score_by_letter(split, "acbde")
    result = evaluate_states(state_fn, split, "test", EvalConfig(ks=(1, 5)), table)
    # u1: history a b c d masked, target e is the only item left -> rank 1.
    # u2, u3: the target repeats a history item, which is masked -> a miss.
    assert result.per_user["hr@5"].tolist() == [1.0, 0.0, 0.0]
    assert result.per_user["missed"].tolist() == [False, True, True]
    assert result.per_user["repeat"].tolist() == [False, True, True]
    assert result.masking["convention"] == "masked"
    assert result.masking["masked_targets"] == 2
    assert result.masking["repeat_targets"] == 2
    assert result.masking["repeat_share"] == pytest.approx(2 / 3)
    assert result.metrics["hr@5"] == pytest.approx(1 / 3)
    assert result.protocol == PROTOCOL_NAME


def test_unknown_history_convention_is_refused() -> None:
    from recsys.errors import ConfigError

    with pytest.raises(ConfigError, match="eval.history.*'masked', 'unmasked'"):
        EvalConfig(history="except_target").check()


# A 6-item catalogue a..f and models that score any item a user has in its input history at
# +inf (1e6: exact in fp32) or -inf, and every other item by a fixed order a > b > ... > f.
SIX = {
    "u1": ["a", "b", "c", "d"],  # test target d: not in the history a b c
    "u2": ["a", "b", "c", "a"],  # test target a repeats (history a b c)
    "u3": ["e", "f", "b", "c", "e"],  # test target e repeats (history e f b c)
    "u4": ["f", "e", "d", "f", "b"],  # test target b: not in the history f e d
}
BASE = {"a": 6.0, "b": 5.0, "c": 4.0, "d": 3.0, "e": 2.0, "f": 1.0}


def _six(split, history_score: float | None):
    """state_fn and table: one-hot item rows, so a user's state is its score vector."""
    n = split.num_items
    table = torch.zeros(n + 1, n)
    table[1:, :] = torch.eye(n)
    indptr, indices = split.test_seen

    def state_fn(hist, start, stop):
        states = torch.zeros(stop - start, n)
        for letter, score in BASE.items():
            states[:, split.catalogue.index_of(letter) - 1] = score
        for u in range(start, stop):
            for item in indices[indptr[u] : indptr[u + 1]] if history_score is not None else []:
                states[u - start, int(item) - 1] = history_score
        return states

    return state_fn, table


def _ranks(split, history: str, history_score: float | None) -> dict[str, np.ndarray]:
    state_fn, table = _six(split, history_score)
    config = EvalConfig(ks=(1, 3), history=history)
    return evaluate_states(state_fn, split, "test", config, table).per_user


def test_masked_gains_nothing_from_scoring_the_history_first(make_toy_split) -> None:
    split = make_toy_split(SIX)
    lover = _ranks(split, "masked", 1e6)
    plain = _ranks(split, "masked", None)  # the same model without the history preference
    # Repeat-target users (u2, u3) are misses whatever the model does.
    assert lover["rank"].tolist()[1:3] == [np.inf, np.inf]
    assert lover["hr@3"].tolist()[1:3] == [0.0, 0.0]
    # Every other user ranks as if the history were absent: u1's d is first among d e f,
    # u4's b is behind a only (d e f masked; c scores below b): rank 2.
    assert lover["rank"][0] == 1.0 and lover["rank"][3] == 2.0
    np.testing.assert_array_equal(lover["rank"], plain["rank"])


def test_unmasked_repeat_target_shares_the_top_never_alone(make_toy_split) -> None:
    split = make_toy_split(SIX)
    lover = _ranks(split, "unmasked", 1e6)
    # u2: a ties at the top with b and c (its history): higher 0, tied 2 -> E[rank] 2.
    # u3: e ties with f, b and c: tied 3 -> E[rank] 2.5. (The withdrawn convention gave
    # both rank 1: the target alone at the top, the others of the history masked.)
    assert lover["higher"][1] == 0 and lover["tied"][1] == 2 and lover["rank"][1] == 2.0
    assert lover["higher"][2] == 0 and lover["tied"][2] == 3 and lover["rank"][2] == 2.5
    assert lover["hr@1"][1] == pytest.approx(1 / 3) and lover["hr@1"][2] == pytest.approx(1 / 4)
    # Non-repeat targets fall behind the whole boosted history: u1's d behind a b c.
    assert lover["rank"][0] == 4.0
    assert not lover["missed"].any() and lover["repeat"].tolist() == [False, True, True, False]


def test_non_repeat_target_ranks_the_same_under_both_when_history_scores_low(
    make_toy_split,
) -> None:
    split = make_toy_split(SIX)
    masked = _ranks(split, "masked", -1e6)
    unmasked = _ranks(split, "unmasked", -1e6)
    for u in (0, 3):  # u1, u4: targets not in their history
        assert masked["rank"][u] == unmasked["rank"][u]
        assert masked["higher"][u] == unmasked["higher"][u]
    assert unmasked["rank"][0] == 1.0 and unmasked["rank"][3] == 2.0


def test_validation_masks_train_part_only(make_toy_split) -> None:
    split = make_toy_split(SEQS)
    state_fn, table = _score_by_letter(split, "edcba")
    result = evaluate_states(state_fn, split, "valid", EvalConfig(ks=(1, 5)), table)
    # u1 valid target d, masked a b c; e (not in seq[:-2]) scores above d -> rank 2.
    assert result.per_user["rank"][0] == 2.0
    # u3 valid target a, masked e d c b (seq[:-2]); nothing else left -> rank 1.
    assert result.per_user["rank"][2] == 1.0


def _brute_force(states, table, history_sets, targets, ks, history):
    out = {f"hr@{k}": [] for k in ks} | {"rank": []}
    for u, target in enumerate(targets):
        if history == "masked" and target in history_sets[u]:
            out["rank"].append(np.inf)
            for k in ks:
                out[f"hr@{k}"].append(0.0)
            continue
        scores = (states[u] @ table.T).numpy().astype(np.float64)
        masked = (set(history_sets[u]) if history == "masked" else set()) | {0}
        keep = np.array([i not in masked for i in range(len(table))])
        s_t = scores[target]
        higher = int((scores[keep] > s_t).sum())
        tied = int((scores[keep] == s_t).sum()) - 1
        out["rank"].append(1 + higher + tied / 2)
        for k in ks:
            out[f"hr@{k}"].append(np.clip(k - higher, 0, tied + 1) / (tied + 1))
    return out


@pytest.mark.parametrize("history", ["masked", "unmasked"])
@pytest.mark.parametrize(("item_chunk", "row_block"), [(3, 5), (1000, 128)])
def test_chunked_ranking_matches_brute_force_with_ties(
    tied_toy, monkeypatch, item_chunk, row_block, history
) -> None:
    import recsys.eval.ranking as ranking

    monkeypatch.setattr(ranking, "_ROW_BLOCK", row_block)
    split, table, states = tied_toy(0)
    config = EvalConfig(ks=(1, 3), user_batch=7, item_chunk=item_chunk, history=history)
    result = evaluate_states(lambda h, a, b: states[a:b], split, "test", config, table)
    indptr, indices = split.test_seen
    history_sets = [indices[indptr[u] : indptr[u + 1]].tolist() for u in range(split.num_users)]
    expected = _brute_force(states, table, history_sets, split.test_target, (1, 3), history)
    assert (result.per_user["tied"] > 0).any()  # the case under test occurs
    for name, values in expected.items():
        np.testing.assert_allclose(result.per_user[name], values)


def test_evaluate_uses_model_scores(make_toy_split) -> None:
    torch.manual_seed(0)
    split = make_toy_split(SEQS, max_len=4)
    model = SequentialRecommender(
        IdTower(split.num_items, 8), SASRec(8, 1, 2, 16, 4, 0.0), num_items=split.num_items
    )
    result = evaluate(model, split, "test", EvalConfig(ks=(1, 5)))
    table = model.item_tower.embed_all(split.num_items)
    with torch.no_grad():
        scores = model.score_all(torch.from_numpy(split.test_history), table)
    # User u1: every item but the target is masked, so rank is 1 whatever the scores.
    assert result.per_user["rank"][0] == 1.0
    # u2's target repeats its history: a miss under the default; unmasked, recompute its
    # rank from score_all directly (every item competes).
    assert result.per_user["missed"][1]
    unmasked = evaluate(model, split, "test", EvalConfig(ks=(1, 5), history="unmasked"))
    row = scores[1].numpy()
    target = split.test_target[1]
    others = [i for i in range(1, split.num_items + 1) if i != target]
    assert unmasked.per_user["higher"][1] == sum(row[i] > row[target] for i in others)


def test_most_popular_ranks_by_train_counts(make_toy_split) -> None:
    split = make_toy_split({"u1": ["a", "a", "b", "c", "x"], "u2": ["a", "d", "e", "y"]})
    result = most_popular(split, "test", EvalConfig(ks=(1, 2)))
    # u1: history a a b c masked, target x; remaining d (count 1), e, y (0): x ties with
    # e and y (count 0, train part) below d -> higher 1, tied 2.
    assert result.per_user["higher"][0] == 1 and result.per_user["tied"][0] == 2
    assert result.per_user["hr@2"][0] == pytest.approx(1 / 3)
