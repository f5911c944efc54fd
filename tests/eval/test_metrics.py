"""Metrics against values computed by hand, ties included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys.eval.metrics import expected_rank, hit_rate, mrr, ndcg, per_user_metrics, summarise


def test_no_ties_match_textbook_definitions() -> None:
    higher = np.array([0, 1, 4, 9, 10, 50])  # ranks 1, 2, 5, 10, 11, 51
    tied = np.zeros(6, dtype=int)
    assert hit_rate(higher, tied, 10).tolist() == [1, 1, 1, 1, 0, 0]
    assert hit_rate(higher, tied, 5).tolist() == [1, 1, 1, 0, 0, 0]
    expected = [1.0, 1 / math.log2(3), 1 / math.log2(6), 1 / math.log2(11), 0.0, 0.0]
    np.testing.assert_allclose(ndcg(higher, tied, 10), expected)
    np.testing.assert_allclose(mrr(higher, tied), [1, 1 / 2, 1 / 5, 1 / 10, 1 / 11, 1 / 51])
    np.testing.assert_allclose(expected_rank(higher, tied), [1, 2, 5, 10, 11, 51])


def test_ties_are_exact_expectations() -> None:
    # Target tied with 3 others, 8 items above: rank uniform on {9, 10, 11, 12}.
    h, t = np.array([8]), np.array([3])
    assert hit_rate(h, t, 10)[0] == pytest.approx(2 / 4)
    assert hit_rate(h, t, 5)[0] == 0.0
    assert hit_rate(h, t, 20)[0] == 1.0
    assert ndcg(h, t, 10)[0] == pytest.approx((1 / math.log2(10) + 1 / math.log2(11)) / 4)
    assert mrr(h, t)[0] == pytest.approx((1 / 9 + 1 / 10 + 1 / 11 + 1 / 12) / 4)
    assert expected_rank(h, t)[0] == pytest.approx(10.5)
    # Not the metric of the mean rank: 1/log2(10.5 + 1) differs.
    assert ndcg(h, t, 20)[0] != pytest.approx(1 / math.log2(11.5))


def test_all_tied_catalogue_gives_k_over_n() -> None:
    # 100 items, all equal scores: HR@10 = 10/100 exactly.
    h, t = np.array([0]), np.array([99])
    assert hit_rate(h, t, 10)[0] == pytest.approx(0.1)
    assert mrr(h, t)[0] == pytest.approx(sum(1 / r for r in range(1, 101)) / 100)


def test_missed_users_score_zero_and_average() -> None:
    h, t = np.array([0, 0]), np.array([0, 0])
    missed = np.array([False, True])
    per_user = per_user_metrics(h, t, (10,), missed)
    assert per_user["hr@10"].tolist() == [1.0, 0.0]
    assert per_user["rank"][1] == np.inf
    means = summarise(per_user)
    assert means["hr@10"] == 0.5 and means["ndcg@10"] == 0.5 and means["mrr"] == 0.5
    assert "rank" not in means


def test_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        hit_rate(np.array([-1]), np.array([0]), 10)
