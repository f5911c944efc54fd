"""The crossed users x seeds comparison (issue 25): hand-worked mean squares, one p-value and
one interval from the same model, calibration against the withdrawn rule, power, one seed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from scenarios.report.stats import (
    METHOD,
    banerjee_halfwidth,
    compare_seeded,
    seeds_needed,
    two_way,
)

ROOT = Path(__file__).resolve().parents[2]


def _calibration():
    """benchmarks/stats_calibration.py as a module (registered first: it has dataclasses)."""
    name = "stats_calibration"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "benchmarks" / "stats_calibration.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _runs(d: np.ndarray) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """A = 0 and B = d, seed by seed (seeds 0..k-1)."""
    return {s: np.zeros(d.shape[1]) for s in range(len(d))}, dict(enumerate(d))


def test_mean_squares_and_components_of_a_hand_worked_table() -> None:
    d = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 8.0]])  # k = 2 seeds, n = 3 users
    # By hand: grand mean g = 21 / 6 = 3.5; seed means 2 and 5; user means 2, 3, 5.5.
    # SS_seed = 3 * (1.5^2 + 1.5^2) = 13.5 on 1 df -> MS_seed = 13.5.
    # SS_user = 2 * (1.5^2 + 0.5^2 + 2^2) = 13 on 2 df -> MS_user = 6.5.
    # Residuals d - seed mean - user mean + g: [[.5, .5, -1], [-.5, -.5, 1]] -> SS 3 on 2 df,
    # MS_resid = 1.5 (and 13.5 + 13 + 3 = 29.5 = sum (d - g)^2).
    # V1 = MS_seed / (k n) = 13.5 / 6 = 2.25; V2 = (MS_user - MS_resid) / 6 = 5 / 6.
    c = two_way(d)
    assert (c.k, c.n, c.df_seed, c.df_user) == (2, 3, 1, 2)
    assert float(c.mean) == pytest.approx(3.5)
    assert (float(c.ms_seed), float(c.ms_user), float(c.ms_resid)) == pytest.approx(
        (13.5, 6.5, 1.5)
    )
    assert (float(c.v_seed), float(c.v_user)) == pytest.approx((2.25, 5 / 6))
    # 95% half-width: sqrt(12.7062^2 * 2.25 + 4.3027^2 * 5/6) = 19.4598.
    assert float(banerjee_halfwidth(2.25, 1, 5 / 6, 2)) == pytest.approx(19.4598, abs=1e-4)
    result = compare_seeded(*_runs(d))
    assert (result.se_seed, result.se_user) == pytest.approx((1.5, np.sqrt(5 / 6)))
    assert (result.df_seed, result.df_user) == (1, 2)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (3.5 - 19.4598, 3.5 + 19.4598), abs=1e-4
    )
    # The p-value is the level whose half-width is exactly |g|.
    width = banerjee_halfwidth(2.25, 1, 5 / 6, 2, alpha=result.p_value)
    assert float(width) == pytest.approx(3.5, rel=1e-9)
    # The user term alone (4.3027 * sqrt(5/6) = 3.93 > 3.5) rules out a verdict at any k.
    assert result.seeds_needed is None and not result.significant
    assert "3 users and 2 seeds" in result.tested() and f"p = {result.p_value:.2g}" in (
        result.tested()
    )


def test_interval_excludes_zero_exactly_when_p_is_below_alpha() -> None:
    rng = np.random.default_rng(3)
    seen = set()
    for i in range(40):
        k, n = (2, 3, 5)[i % 3], (1, 8, 60, 400)[i % 4]
        d = (
            rng.normal(0, rng.choice([0.0, 0.05, 0.3]), (k, 1))
            + rng.normal(0, rng.choice([0.0, 0.2, 1.0]), (1, n))
            + rng.normal(0, 1.0, (k, n))
            + rng.choice([0.0, 0.1, 0.5, 2.0])
        )
        r = compare_seeded(*_runs(d))
        excludes = r.ci_low > 0 or r.ci_high < 0
        assert excludes == (r.p_value < 0.05) == r.significant, (k, n, r)
        seen.add(excludes)
        if n == 1:  # no user term: the one-sample t test over the seed means
            assert r.p_value == pytest.approx(stats.ttest_1samp(d[:, 0], 0.0).pvalue)
    assert seen == {True, False}


def test_p_falls_as_the_mean_moves_away_from_zero() -> None:
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.1, (3, 1)) + rng.normal(0, 1.0, (1, 300)) + rng.normal(0, 1, (3, 300))
    noise -= noise.mean()  # g = shift; the mean squares do not depend on the shift
    ps = [compare_seeded(*_runs(noise + shift)).p_value for shift in np.linspace(0, 1.0, 21)]
    assert ps[0] == 1.0 and ps[-1] < 0.05
    assert all(later < earlier for earlier, later in zip(ps, ps[1:], strict=False))
    negative = [compare_seeded(*_runs(noise - shift)).p_value for shift in (0.2, 0.5)]
    assert negative == pytest.approx([ps[4], ps[10]])


@pytest.fixture(scope="module")
def seed_dominant() -> dict[str, np.ndarray]:
    """300 null tables, k = 3, n = 200, strong user effect (sd 2 x sd_eps), seed sd 4x the
    user-level SE; verdicts of the exact withdrawn rule, its CLT shortcut and the new rule.
    (The 2,000-replicate grid gives 0.22 for the old rule and 0.035 for the new one here.)"""
    module = _calibration()
    return module.exact_cell(module.Cell("normal", 3, 200, 2.0, 4.0), 300, seed=0)


def test_seed_dominant_null_fools_the_old_rule_not_the_new(
    seed_dominant: dict[str, np.ndarray],
) -> None:
    assert seed_dominant["old_exact"].mean() > 0.12
    assert seed_dominant["new"].mean() <= 0.08


def test_clt_shortcut_of_the_old_rule_matches_the_exact_one(
    seed_dominant: dict[str, np.ndarray],
) -> None:
    exact, clt = seed_dominant["old_exact"], seed_dominant["old_clt"]
    mc_se = np.sqrt(exact.mean() * (1 - exact.mean()) / exact.size)
    assert abs(clt.mean() - exact.mean()) <= 2 * mc_se
    assert np.mean(exact == clt) >= 0.95  # same tables: the verdicts themselves agree


def test_the_new_verdict_is_the_library_verdict() -> None:
    module = _calibration()
    d, _ = module.simulate(module.Cell("normal", 2, 50, 0.25, 1.0), 60, np.random.default_rng(8))
    d = d + 0.3 * np.arange(60)[:, None, None] / 60  # from null to clear effects
    expected = [compare_seeded(*_runs(t)).significant for t in d]
    assert module.new_verdicts(d).tolist() == expected and 0 < sum(expected) < 60


def test_four_standard_errors_with_five_seeds_are_usually_found() -> None:
    rng = np.random.default_rng(9)
    k, n, sd_user = 5, 200, 0.25
    se_users = np.sqrt(sd_user**2 / n + 1 / (k * n))
    sd_seed = se_users  # seed sd equal to the user-level SE
    effect = 4 * np.sqrt(sd_seed**2 / k + se_users**2)
    found = [
        compare_seeded(
            *_runs(
                effect
                + rng.normal(0, sd_seed, (k, 1))
                + rng.normal(0, sd_user, (1, n))
                + rng.standard_normal((k, n))
            )
        ).significant
        for _ in range(300)
    ]
    assert np.mean(found) > 0.7


def test_two_seeds_that_disagree_give_no_verdict() -> None:
    rng = np.random.default_rng(0)
    users = 400
    base = rng.random(users)
    a = {0: base, 1: base + rng.normal(0.0, 0.002, users)}
    # Seed 0: B is better for every user; seed 1: B is worse for every user, a bit less.
    b = {0: a[0] + 0.05 + rng.normal(0, 0.01, users), 1: a[1] - 0.04 + rng.normal(0, 0.01, users)}
    # What the old report did: average each user over seeds, then a paired test over users.
    assert stats.ttest_rel((b[0] + b[1]) / 2, (a[0] + a[1]) / 2).pvalue < 0.001
    result = compare_seeded(a, b)
    assert result.p_value > 0.5 and result.ci_low < 0 < result.ci_high
    assert not result.significant and result.se_seed > 10 * result.se_user
    assert result.per_seed == pytest.approx((0.05, -0.04), abs=0.003)
    assert result.agree == 1 and result.seeds == (0, 1) and not result.single_seed


def test_a_consistent_difference_is_significant_and_needs_few_seeds() -> None:
    rng = np.random.default_rng(1)
    users = 300
    a = {s: rng.random(users) * 0.3 for s in (0, 1, 2)}
    b = {s: a[s] + 0.03 + rng.normal(0, 0.02, users) for s in (0, 1, 2)}
    result = compare_seeded(a, b)
    assert result.significant and result.agree == 3 and result.p_value < 1e-3
    assert 0.02 < result.ci_low < result.diff < result.ci_high < 0.04
    assert result.diff == pytest.approx(result.mean_b - result.mean_a)
    assert result.seeds_needed == 2
    assert set(result.to_dict()) >= {"tested", "se_seed", "se_user", "df_seed", "seeds_needed"}


def test_seeds_needed_is_the_first_k_whose_interval_would_exclude_zero() -> None:
    rng = np.random.default_rng(6)
    d = 0.02 + rng.normal(0, 0.02, (3, 1)) + rng.normal(0, 0.3, (3, 500))
    c = two_way(d)
    needed = seeds_needed(c)
    assert needed is not None and needed > 2
    per_seed = max(float(c.ms_seed), float(c.ms_resid)) / c.n
    width = [
        float(banerjee_halfwidth(per_seed / k, k - 1, float(c.v_user), c.df_user))
        for k in (needed - 1, needed)
    ]
    assert width[0] >= abs(float(c.mean)) > width[1]
    assert compare_seeded(*_runs(d)).seeds_needed == needed
    assert seeds_needed(two_way(d - d.mean())) is None  # g = 0
    far_apart = np.array([[1.0], [-0.9]]) + rng.normal(0, 0.1, (2, 20))  # g ~ 0.05
    assert seeds_needed(two_way(far_apart)) is None  # 50 seeds would not do


def test_one_seed_is_flagged_never_significant_and_says_why() -> None:
    rng = np.random.default_rng(2)
    d = rng.normal(0.5, 0.2, (1, 100))
    result = compare_seeded(*_runs(d))
    assert result.single_seed and not result.significant and result.seeds_needed is None
    # For information: the paired t test over users.
    assert result.p_value == pytest.approx(stats.ttest_1samp(d[0], 0.0).pvalue)
    low, high = stats.ttest_1samp(d[0], 0.0).confidence_interval()
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))
    assert (result.se_seed, result.df_seed, result.df_user) == (0.0, 0, 99)
    assert "training randomness was not measured" in result.tested()
    assert "no verdict" in result.tested()


def test_degenerate_tables() -> None:
    same = compare_seeded(*_runs(np.full((3, 4), 0.5)))  # every difference identical
    assert same.p_value == 0.0 and same.significant and same.ci_low == same.ci_high == 0.5
    zero = compare_seeded(*_runs(np.zeros((3, 4))))
    assert zero.p_value == 1.0 and not zero.significant and zero.seeds_needed is None
    lone = compare_seeded(*_runs(np.array([[0.25]])))  # one seed, one user: nothing measured
    assert lone.p_value == 1.0 and (lone.ci_low, lone.ci_high) == (-np.inf, np.inf)
    with pytest.raises(ValueError, match="non-empty"):
        two_way(np.zeros((2, 0)))


def test_only_common_seeds_are_compared_and_shapes_must_match() -> None:
    a = {0: np.zeros(4), 1: np.zeros(4), 2: np.ones(4)}
    b = {1: np.full(4, 0.25), 2: np.full(4, 1.5), 7: np.zeros(4)}
    result = compare_seeded(a, b)
    assert result.seeds == (1, 2)
    assert result.per_seed == pytest.approx((0.25, 0.5))
    assert result.diff == pytest.approx(0.375)
    with pytest.raises(ValueError, match="no seed in common"):
        compare_seeded({0: np.zeros(2)}, {1: np.zeros(2)})
    with pytest.raises(ValueError, match="equal 1-d shapes"):
        compare_seeded({0: np.zeros(2)}, {0: np.zeros(3)})


def test_method_explains_the_test_in_one_paragraph() -> None:
    assert "\n" not in METHOD and "|" not in METHOD
    assert "seed" in METHOD and "users" in METHOD and "one seed" in METHOD.lower()
