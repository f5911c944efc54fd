"""Paired significance tests on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.stats import compare_paired, paired_bootstrap, paired_ttest


def test_paired_ttest_matches_the_hand_computation() -> None:
    a = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    b = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # d = b - a: mean 3, sample variance 2.5, so t = 3 / sqrt(2.5 / 5) = 3 * sqrt(2).
    t, p = paired_ttest(a, b)
    assert t == pytest.approx(3 * math.sqrt(2))
    # Two-sided p for t = 4.2426 with 4 degrees of freedom (t-table: 0.0132).
    assert p == pytest.approx(0.013236, abs=1e-5)
    # Swapping the sides flips the sign, not the p-value.
    t2, p2 = paired_ttest(b, a)
    assert t2 == pytest.approx(-t) and p2 == pytest.approx(p)


def test_pairing_matters() -> None:
    # Large between-user spread, small consistent improvement: paired test sees it.
    a = np.array([0.1, 0.5, 0.9, 0.2, 0.7, 0.3, 0.8, 0.4])
    b = a + np.array([0.02, 0.03, 0.02, 0.03, 0.02, 0.03, 0.02, 0.03])
    _, p = paired_ttest(a, b)
    assert p < 1e-5
    result = compare_paired(a, b, samples=2000)
    assert result.diff == pytest.approx(0.025)
    assert 0.02 <= result.ci_low <= result.ci_high <= 0.03
    assert result.p_bootstrap == pytest.approx(2 / 2001)  # every resample is positive


def test_degenerate_cases() -> None:
    same = np.array([0.2, 0.4, 0.6])
    assert paired_ttest(same, same)[1] == 1.0
    assert paired_bootstrap(same, same, samples=100)[0] == 1.0
    t, p = paired_ttest(same, same + 0.1)
    assert math.isinf(t) and p == 0.0
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        paired_ttest(np.zeros(3), np.zeros(4))


def test_bootstrap_p_value_is_calibrated_under_the_null() -> None:
    rng = np.random.default_rng(3)
    a = rng.random(400)
    b = a + rng.normal(0.0, 0.2, 400)  # no true difference
    p_boot, low, high = paired_bootstrap(a, b, samples=4000, seed=1)
    _, p_t = paired_ttest(a, b)
    assert low < 0 < high or p_boot < 0.05
    # Bootstrap and t-test agree closely for a few hundred users.
    assert abs(p_boot - p_t) < 0.05
