"""Is scenario B better than scenario A on this catalogue, counting training randomness?

Both sides are trained with the same k seeds on the same split and rank the same n test users,
so seed s and user u give one paired difference ``d[s, u] = B[s, u] - A[s, u]``. Users and
seeds are **crossed** (every user is scored under every seed), so the model is

    d[s, u] = mu + alpha_s + beta_u + eps_su,
    Var(mean d) = sigma_alpha^2 / k + sigma_beta^2 / n + sigma_eps^2 / (k n).

From the two-way ANOVA mean squares of the k x n table (`two_way`) the variance of the mean
splits into a **seed component** ``V1 = MS_seed / (k n)`` on k - 1 degrees of freedom (it
estimates ``sigma_alpha^2 / k + sigma_eps^2 / (k n)``, exactly a scaled chi-square on k - 1 df
under normal effects) and a **user component** ``V2 = max(MS_user - MS_resid, 0) / (k n)`` on
n - 1 df (it estimates ``sigma_beta^2 / n``). The (1 - alpha) interval is Banerjee's (1961)
conservative interval for a sum of two variance components,

    mean d +- sqrt(t^2_{1 - alpha/2, k - 1} V1 + t^2_{1 - alpha/2, n - 1} V2),

and the p-value is the alpha at which that interval just touches 0, so the interval excludes 0
exactly when p < alpha: one p-value and one interval from one model. A verdict needs two seeds.

Why this rule and not the others (prototype simulations of the null on the grid of
benchmarks/stats_calibration.py, whose results for this rule and the withdrawn one are in
benchmarks/results/stats_calibration.md):

* Satterthwaite's t on the same split reached a false-positive rate of 0.12 at k = 2 when the
  seed variance dominates: with one or two seed df its approximate df are too optimistic.
* Subtracting MS_resid from the seed term instead (V1 = (MS_seed - MS_resid)+, V2 = MS_user)
  reached 0.13: the truncated seed term is often 0 when it should not be.
* A t on k - 1 df for the whole variance is calibrated but has no power with a strong user
  effect (the user term, known to n - 1 df, is charged the seed term's few df).
* Banerjee's interval is conservative for any ratio of the two components and, with a strong
  user effect and no seed effect, approaches the z test.
* The rule it replaces (a sign-flip test over seed-averaged users, which never sees training
  randomness, and a seeds-then-users nested bootstrap, which divides the user variance by k)
  called 17-22 % of null comparisons significant with 3 seeds, and up to a third with 2,
  when the seed variance dominates.

One seed measures no training randomness: the comparison is flagged (``single_seed``), never
significant, and its p-value and interval (a paired t test over users) are for information.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
MAX_SEEDS = 50  # `seeds_needed` looks no further
_P_FLOOR = 1e-100  # p below this is reported as 0 (the t quantiles stay finite above it)

METHOD = (
    "Each comparison pairs the two configurations on the same test users under the same "
    "training seeds, and takes the per-user difference B - A under every seed. The "
    "uncertainty of the mean difference has two sources: how training happened to go on each "
    "seed (measured by how much the seeds' mean differences disagree, known only to k - 1 "
    "degrees of freedom with k seeds) and which users happen to be in the test set (measured "
    "by how much users' differences vary beyond what the seeds explain, known to n - 1 "
    "degrees of freedom). Both are estimated from the same seeds-by-users table (a two-way "
    "analysis of variance), each is scaled by its own Student t quantile, and the two are "
    "combined into one 95% interval (Banerjee's conservative interval for two variance "
    "components); the p-value is the level at which that interval just reaches 0, so the "
    "interval excludes 0 exactly when p < 0.05. With few seeds the seed term dominates and "
    "the test is deliberately cautious: in simulations with 2 to 5 seeds and 200 to 2,000 "
    "users its false-positive rate stayed at or below about 5%. A comparison with one seed "
    "measures no training randomness and gets no verdict. 'Seeds needed' is the smallest "
    "number of seeds at which the same mean difference would be significant if the seeds "
    "spread as they did here."
)
"""One paragraph for report readers: what was tested (no markdown tables)."""


@dataclass(frozen=True)
class Components:
    """Two-way ANOVA of k x n tables of differences (arrays over any leading shape).

    Attributes:
        k: seeds (rows of each table).
        n: users (columns).
        mean: grand mean of each table.
        ms_seed: seed mean square, n * sum_s (seed mean - mean)^2 / (k - 1); 0 when k = 1.
        ms_user: user mean square, k * sum_u (user mean - mean)^2 / (n - 1); 0 when n = 1.
        ms_resid: interaction mean square on (k - 1)(n - 1) df; 0 when that is 0.
    """

    k: int
    n: int
    mean: np.ndarray
    ms_seed: np.ndarray
    ms_user: np.ndarray
    ms_resid: np.ndarray

    @property
    def df_seed(self) -> int:
        return self.k - 1

    @property
    def df_user(self) -> int:
        return self.n - 1

    @property
    def v_seed(self) -> np.ndarray:
        """V1: estimates sigma_alpha^2 / k + sigma_eps^2 / (k n)."""
        return self.ms_seed / (self.k * self.n)

    @property
    def v_user(self) -> np.ndarray:
        """V2: estimates sigma_beta^2 / n (the interaction is already in V1)."""
        return np.maximum(self.ms_user - self.ms_resid, 0.0) / (self.k * self.n)


def two_way(d: np.ndarray) -> Components:
    """Mean squares of [..., k, n] tables of differences (seeds on axis -2, users on -1).

    Vectorised over the leading axes so that the calibration benchmark runs this very code on
    thousands of simulated tables at once. A mean square with 0 degrees of freedom is 0.
    """
    d = np.asarray(d, dtype=np.float64)
    if d.ndim < 2 or d.shape[-1] == 0 or d.shape[-2] == 0:
        raise ValueError(f"differences must be non-empty [..., seeds, users], got {d.shape}")
    k, n = d.shape[-2:]
    grand = d.mean(axis=(-2, -1))
    seed_means = d.mean(axis=-1)  # [..., k]
    user_means = d.mean(axis=-2)  # [..., n]
    ss_seed = n * np.square(seed_means - grand[..., None]).sum(axis=-1)
    ss_user = k * np.square(user_means - grand[..., None]).sum(axis=-1)
    # The residual directly, not SS_total - SS_seed - SS_user: no cancellation error.
    resid = d - seed_means[..., :, None] - user_means[..., None, :] + grand[..., None, None]
    ss_resid = np.square(resid).sum(axis=(-2, -1))
    df_resid = (k - 1) * (n - 1)
    return Components(
        k=k,
        n=n,
        mean=grand,
        ms_seed=ss_seed / (k - 1) if k > 1 else np.zeros_like(grand),
        ms_user=ss_user / (n - 1) if n > 1 else np.zeros_like(grand),
        ms_resid=ss_resid / df_resid if df_resid > 0 else np.zeros_like(grand),
    )


def banerjee_halfwidth(
    v_seed: np.ndarray | float,
    df_seed: int,
    v_user: np.ndarray | float,
    df_user: int,
    alpha: float = ALPHA,
) -> np.ndarray:
    """Half-width sqrt(t^2_{1-alpha/2, df_seed} v_seed + t^2_{1-alpha/2, df_user} v_user).

    A term with 0 df (one seed, or one user) contributes nothing: its variance is 0 by
    construction (`two_way`), not an estimate.
    """
    total = np.zeros(np.broadcast(np.asarray(v_seed), np.asarray(v_user)).shape)
    for v, df in ((v_seed, df_seed), (v_user, df_user)):
        if df > 0:
            total = total + stats.t.isf(alpha / 2, df) ** 2 * np.asarray(v, dtype=np.float64)
    return np.sqrt(total)


def rejects(c: Components, alpha: float = ALPHA) -> np.ndarray:
    """Whether each table's (1 - alpha) interval excludes 0 (the verdict before k >= 2)."""
    width = banerjee_halfwidth(c.v_seed, c.df_seed, c.v_user, c.df_user, alpha)
    return np.abs(c.mean) > width


def banerjee_p(g: float, v_seed: float, df_seed: int, v_user: float, df_user: int) -> float:
    """Two-sided p: the alpha at which |g| equals the Banerjee half-width.

    The half-width falls monotonically as alpha grows (from infinity to 0 at alpha = 1), so
    the root is unique; with one informative term it is the t test's p in closed form.
    """
    terms = [(v, df) for v, df in ((v_seed, df_seed), (v_user, df_user)) if df > 0 and v > 0]
    if g == 0:
        return 1.0
    if not terms:  # no spread at all on the measured sources: the difference is exact
        return 0.0
    if len(terms) == 1:
        v, df = terms[0]
        return float(min(1.0, 2 * stats.t.sf(abs(g) / math.sqrt(v), df)))

    def excess(log_alpha: float) -> float:
        width = banerjee_halfwidth(v_seed, df_seed, v_user, df_user, math.exp(log_alpha))
        return float(width) - abs(g)

    low = math.log(_P_FLOOR)
    if excess(low) <= 0:
        return 0.0
    return float(math.exp(optimize.brentq(excess, low, 0.0, xtol=1e-14)))


def seeds_needed(c: Components, alpha: float = ALPHA) -> int | None:
    """Smallest k' in 2..MAX_SEEDS at which the same mean would be significant.

    Uses the estimated components of a single table: n sigma_alpha^2 + sigma_eps^2 as
    max(MS_seed, MS_resid) (the seed term with k' seeds is that over k' n, on k' - 1 df) and
    sigma_beta^2 / n as V2 (on n - 1 df). None when g = 0, when even MAX_SEEDS would not do,
    or with one seed (the seed spread was not measured).
    """
    g = float(c.mean)
    if g == 0 or c.k < 2:
        return None
    ks = np.arange(2, MAX_SEEDS + 1)
    per_seed = float(max(c.ms_seed, c.ms_resid)) / c.n  # V1 * k'
    # All candidate k' at once: one t quantile per k' - 1 (the user term is the same for all).
    seed_term = stats.t.isf(alpha / 2, ks - 1) ** 2 * per_seed / ks
    width = np.sqrt(seed_term + float(banerjee_halfwidth(0.0, 0, c.v_user, c.df_user, alpha)) ** 2)
    enough = np.flatnonzero(abs(g) > width)
    return int(ks[enough[0]]) if enough.size else None


def user_term_covers(diff: float, se_user: float, df_user: int, alpha: float = ALPHA) -> bool:
    """The user term of the interval alone reaches |diff|: more seeds shrink only the seed
    term, so no number of them would make this difference significant (more users might)."""
    if df_user < 1:
        return False
    return abs(diff) <= float(banerjee_halfwidth(0.0, 0, se_user**2, df_user, alpha))


@dataclass(frozen=True)
class SeededComparison:
    """B against A (difference = B - A) over crossed users and seeds.

    Attributes:
        n: users paired (present in every run of both sides).
        seeds: the seeds both sides finished, in the order used.
        mean_a: mean metric of A over seeds and users.
        mean_b: mean metric of B.
        diff: mean of B - A.
        ci_low: lower end of the (1 - alpha) Banerjee interval (95% by default).
        ci_high: upper end.
        p_value: two-sided p of the same model (below alpha exactly when the interval
            excludes 0); raw, before any multiplicity adjustment.
        per_seed: mean difference on each seed, in `seeds` order.
        agree: seeds whose difference has the sign of `diff` (0 when diff == 0).
        single_seed: only one seed: training randomness was not measured, no verdict.
        significant: >= 2 seeds and p < alpha.
        se_seed: sqrt(V1), the seed component of the standard error (0 with one seed).
        se_user: sqrt(V2), the user component.
        df_seed: V1's degrees of freedom, k - 1.
        df_user: V2's degrees of freedom, n - 1.
        seeds_needed: fewest seeds (2..50) at which this mean would be significant at this
            seed and user spread; None if 50 would not do, diff == 0 or one seed.
    """

    n: int
    seeds: tuple[int, ...]
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    per_seed: tuple[float, ...]
    agree: int
    single_seed: bool
    significant: bool
    se_seed: float
    se_user: float
    df_seed: int
    df_user: int
    seeds_needed: int | None

    def tested(self) -> str:
        """What was tested, in words and numbers (the report prints it beside the table)."""
        k = len(self.seeds)
        if self.single_seed:
            return (
                f"One seed: training randomness was not measured, so no verdict is given. For "
                f"information only, a paired t test over {self.n} users of the mean difference "
                f"{self.diff:+.4g} gives p = {self.p_value:.2g}."
            )
        return (
            f"Crossed users x seeds test of the mean difference {self.diff:+.4g} over "
            f"{self.n} users and {k} seeds: the seed spread (standard error "
            f"{self.se_seed:.2g} on {self.df_seed} df) and the user spread ({self.se_user:.2g} "
            f"on {self.df_user} df) are combined by Banerjee's conservative interval; "
            f"p = {self.p_value:.2g}."
        )

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["seeds"] = list(self.seeds)
        out["per_seed"] = list(self.per_seed)
        out["tested"] = self.tested()
        return out


def compare_seeded(
    a: Mapping[int, np.ndarray], b: Mapping[int, np.ndarray], *, alpha: float = ALPHA
) -> SeededComparison:
    """Compare per-user metrics of B against A over the seeds both finished.

    Args:
        a: seed -> per-user metric of the baseline run of that seed.
        b: seed -> per-user metric of the other run; every array (of both sides) must hold
            the same users in the same order.
        alpha: level of `significant` and of the interval (1 - alpha).

    Raises:
        ValueError: no seed in common, or arrays of different shapes.
    """
    seeds = tuple(s for s in sorted(a) if s in b)
    if not seeds:
        raise ValueError(f"no seed in common: A has {sorted(a)}, B has {sorted(b)}")
    stack_a = np.stack([np.asarray(a[s], dtype=np.float64) for s in seeds])  # [k, n]
    stack_b = np.stack([np.asarray(b[s], dtype=np.float64) for s in seeds])
    if stack_a.shape != stack_b.shape or stack_a.ndim != 2:
        raise ValueError(
            f"paired runs need equal 1-d shapes, got {stack_a.shape[1:]} and {stack_b.shape[1:]}"
        )
    diffs = stack_b - stack_a  # [k, n]
    c = two_way(diffs)
    diff, v1, v2 = float(c.mean), float(c.v_seed), float(c.v_user)
    if c.df_seed == 0 and c.df_user == 0:  # one seed, one user: nothing measures the spread
        p, low, high = 1.0, -math.inf, math.inf
    else:
        p = banerjee_p(diff, v1, c.df_seed, v2, c.df_user)
        width = float(banerjee_halfwidth(v1, c.df_seed, v2, c.df_user, alpha))
        low, high = diff - width, diff + width
    per_seed = tuple(float(x) for x in diffs.mean(axis=1))
    agree = sum(np.sign(x) == np.sign(diff) for x in per_seed) if diff != 0 else 0
    single = len(seeds) == 1
    return SeededComparison(
        n=c.n,
        seeds=seeds,
        mean_a=float(stack_a.mean()),
        mean_b=float(stack_b.mean()),
        diff=diff,
        ci_low=low,
        ci_high=high,
        p_value=p,
        per_seed=per_seed,
        agree=int(agree),
        single_seed=single,
        significant=(not single) and p < alpha,
        se_seed=math.sqrt(v1),
        se_user=math.sqrt(v2),
        df_seed=c.df_seed,
        df_user=c.df_user,
        seeds_needed=seeds_needed(c, alpha),
    )
