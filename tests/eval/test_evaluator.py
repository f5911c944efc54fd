"""The evaluator: masking conventions, ties, chunking, most-popular reference."""

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


def test_target_never_masked_by_default(make_toy_split) -> None:
    split = make_toy_split(SEQS)
    state_fn, table = _score_by_letter(split, "acbde")
    result = evaluate_states(state_fn, split, "test", EvalConfig(ks=(1, 5)), table)
    # u1: history a b c d masked, target e is the only item left -> rank 1.
    # u2: history b c a d masked except the target a -> rank 1.
    # u3: history e d c b a masked except target c -> rank 1.
    assert result.per_user["hr@1"].tolist() == [1.0, 1.0, 1.0]
    assert result.masking["mask_repeat_targets"] is False
    assert result.masking["masked_targets"] == 0
    assert result.protocol == PROTOCOL_NAME


def test_mask_repeat_targets_counts_repeats_as_misses(make_toy_split) -> None:
    split = make_toy_split(SEQS)
    state_fn, table = _score_by_letter(split, "acbde")
    config = EvalConfig(ks=(1, 5), mask_repeat_targets=True)
    result = evaluate_states(state_fn, split, "test", config, table)
    assert result.per_user["hr@5"].tolist() == [1.0, 0.0, 0.0]
    assert result.per_user["missed"].tolist() == [False, True, True]
    assert result.masking["masked_targets"] == 2
    assert result.metrics["hr@5"] == pytest.approx(1 / 3)


def test_validation_masks_train_part_only(make_toy_split) -> None:
    split = make_toy_split(SEQS)
    state_fn, table = _score_by_letter(split, "edcba")
    result = evaluate_states(state_fn, split, "valid", EvalConfig(ks=(1, 5)), table)
    # u1 valid target d, masked a b c; e (not in seq[:-2]) scores above d -> rank 2.
    assert result.per_user["rank"][0] == 2.0
    # u3 valid target a, masked e d c b (seq[:-2]); nothing else left -> rank 1.
    assert result.per_user["rank"][2] == 1.0


def _brute_force(states, table, history_sets, targets, ks):
    out = {f"hr@{k}": [] for k in ks} | {"rank": []}
    for u, target in enumerate(targets):
        scores = (states[u] @ table.T).numpy().astype(np.float64)
        masked = set(history_sets[u]) - {target} | {0}
        keep = np.array([i not in masked for i in range(len(table))])
        s_t = scores[target]
        higher = int((scores[keep] > s_t).sum())
        tied = int((scores[keep] == s_t).sum()) - 1
        out["rank"].append(1 + higher + tied / 2)
        for k in ks:
            out[f"hr@{k}"].append(np.clip(k - higher, 0, tied + 1) / (tied + 1))
    return out


@pytest.mark.parametrize(("item_chunk", "row_block"), [(3, 5), (1000, 128)])
def test_chunked_ranking_matches_brute_force_with_ties(
    make_toy_split, monkeypatch, item_chunk, row_block
) -> None:
    import recsys.eval.evaluator as evaluator

    monkeypatch.setattr(evaluator, "_ROW_BLOCK", row_block)
    rng = np.random.default_rng(0)
    letters = [chr(ord("a") + i) for i in range(12)]
    seqs = {f"u{u}": list(rng.choice(letters, size=rng.integers(3, 9))) for u in range(40)}
    split = make_toy_split(seqs, max_len=4)
    # Integer-valued embeddings make exact ties common.
    table = torch.from_numpy(rng.integers(-2, 3, size=(split.num_items + 1, 3))).float()
    states = torch.from_numpy(rng.integers(-1, 2, size=(split.num_users, 3))).float()
    config = EvalConfig(ks=(1, 3), user_batch=7, item_chunk=item_chunk)
    result = evaluate_states(lambda h, a, b: states[a:b], split, "test", config, table)
    indptr, indices = split.test_seen
    history_sets = [indices[indptr[u] : indptr[u + 1]].tolist() for u in range(split.num_users)]
    expected = _brute_force(states, table, history_sets, split.test_target, (1, 3))
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
    # Recompute u2's rank from score_all directly.
    row = scores[1].numpy()
    target = split.test_target[1]
    masked = set(split.test_seen[1][split.test_seen[0][1] : split.test_seen[0][2]]) - {target}
    others = [i for i in range(1, split.num_items + 1) if i not in masked and i != target]
    assert result.per_user["higher"][1] == sum(row[i] > row[target] for i in others)


def test_most_popular_ranks_by_train_counts(make_toy_split) -> None:
    split = make_toy_split({"u1": ["a", "a", "b", "c", "x"], "u2": ["a", "d", "e", "y"]})
    result = most_popular(split, "test", EvalConfig(ks=(1, 2)))
    # u1: history a a b c masked, target x; remaining d (count 1), e, y (0): x ties with
    # e and y (count 0, train part) below d -> higher 1, tied 2.
    assert result.per_user["higher"][0] == 1 and result.per_user["tied"][0] == 2
    assert result.per_user["hr@2"][0] == pytest.approx(1 / 3)
