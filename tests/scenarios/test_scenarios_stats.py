"""Seed-aware paired comparisons on hand-made and synthetic cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scenarios.stats import compare_seeded, hierarchical_bootstrap, sign_flip_test


def _scipy_p(d: np.ndarray, resamples: int, seed: int = 0) -> float:
    zeros = np.zeros_like(d)
    return stats.permutation_test(
        (d, zeros),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=resamples,
        rng=np.random.default_rng(seed),
    ).pvalue


def test_sign_flip_matches_scipy_exactly_when_every_flip_is_enumerated() -> None:
    d = np.array([0.3, -0.1, 0.25, 0.4, 0.05, -0.2, 0.15, 0.35, 0.1, 0.2])
    # 2^10 = 1024 sign vectors: both enumerate them all, so the p-values are exact and equal.
    ours = sign_flip_test(d, permutations=9_999)
    assert ours == pytest.approx(_scipy_p(d, 9_999))
    # By hand: |mean| of the observed signs is reached by `count` of the 1024 flips.
    signs = ((np.arange(1024)[:, None] >> np.arange(10)) & 1) * 2 - 1
    count = np.sum(np.abs(signs @ d) >= abs(d.sum()) - 1e-12)
    assert ours == pytest.approx(count / 1024)


def test_sign_flip_agrees_with_scipy_on_random_flips() -> None:
    rng = np.random.default_rng(5)
    d = rng.normal(0.03, 0.3, 300)
    ours = sign_flip_test(d, permutations=20_000, seed=1)
    assert ours == pytest.approx(_scipy_p(d, 20_000, seed=2), abs=0.01)


def test_sign_flip_degenerate_cases() -> None:
    assert sign_flip_test(np.zeros(50)) == 1.0
    assert sign_flip_test(np.array([])) == 1.0
    # A constant positive difference over many users: no flip reaches it.
    assert sign_flip_test(np.full(500, 0.1), permutations=999) == pytest.approx(1 / 1000)
    with pytest.raises(ValueError, match="1-d"):
        sign_flip_test(np.zeros((2, 3)))


def test_permutation_p_values_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(11)
    p_values = [
        sign_flip_test(rng.normal(0.0, 0.2, 60), permutations=999, seed=i) for i in range(200)
    ]
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_two_seeds_that_disagree_give_an_interval_with_zero() -> None:
    rng = np.random.default_rng(0)
    users = 400
    base = rng.random(users)
    a = {0: base, 1: base + rng.normal(0.0, 0.002, users)}
    # Seed 0: B is better for every user; seed 1: B is worse for every user, a bit less.
    b = {0: a[0] + 0.05 + rng.normal(0, 0.01, users), 1: a[1] - 0.04 + rng.normal(0, 0.01, users)}
    averaged_a = (a[0] + a[1]) / 2
    averaged_b = (b[0] + b[1]) / 2
    # What the old report did: average each user over seeds, then a paired test over users.
    assert stats.ttest_rel(averaged_b, averaged_a).pvalue < 0.001
    result = compare_seeded(a, b, resamples=1_000)
    assert result.p_value < 0.001  # the per-user test alone still "finds" it
    assert result.ci_low < 0 < result.ci_high  # the seeds say otherwise
    assert not result.significant
    assert result.per_seed[0] == pytest.approx(0.05, abs=0.003)
    assert result.per_seed[1] == pytest.approx(-0.04, abs=0.003)
    assert result.agree == 1 and result.seeds == (0, 1) and not result.single_seed
    assert "seeds resampled, then users resampled within seeds; 2 seeds" in result.tested()


def test_a_consistent_difference_stays_significant() -> None:
    rng = np.random.default_rng(1)
    users = 300
    a = {s: rng.random(users) * 0.3 for s in (0, 1, 2)}
    b = {s: a[s] + 0.03 + rng.normal(0, 0.02, users) for s in (0, 1, 2)}
    result = compare_seeded(a, b, resamples=1_000)
    assert result.significant and result.agree == 3
    assert 0.02 < result.ci_low < result.diff < result.ci_high < 0.04
    assert result.diff == pytest.approx(result.mean_b - result.mean_a)
    assert result.p_value == pytest.approx(1 / (9_999 + 1))


def test_one_seed_is_flagged_and_never_significant() -> None:
    a = {3: np.zeros(100)}
    b = {3: np.full(100, 0.5)}
    result = compare_seeded(a, b)
    assert result.single_seed and not result.significant
    assert result.ci_low == result.ci_high == pytest.approx(0.5)
    assert "one seed: training randomness not measured" in result.tested()


def test_only_common_seeds_are_compared_and_shapes_must_match() -> None:
    a = {0: np.zeros(4), 1: np.zeros(4), 2: np.ones(4)}
    b = {1: np.full(4, 0.25), 2: np.full(4, 1.5), 7: np.zeros(4)}
    result = compare_seeded(a, b, resamples=200)
    assert result.seeds == (1, 2)
    assert result.per_seed == pytest.approx((0.25, 0.5))
    assert result.diff == pytest.approx(0.375)
    with pytest.raises(ValueError, match="no seed in common"):
        compare_seeded({0: np.zeros(2)}, {1: np.zeros(2)})
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        compare_seeded({0: np.zeros(2)}, {0: np.zeros(3)})


def test_hierarchical_bootstrap_spreads_with_seed_variance() -> None:
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 0.01, (4, 200))
    tight = hierarchical_bootstrap(noise + 0.02, resamples=1_000)
    spread = hierarchical_bootstrap(noise + np.array([[0.08], [-0.04], [0.05], [-0.01]]))
    assert tight[1] - tight[0] < 0.01 < spread[1] - spread[0]
    assert tight[0] < 0.02 < tight[1]
