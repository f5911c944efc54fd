"""Paired significance tests over test users: is scenario B better than scenario A?

Both runs rank the same test users on the same split, so each user contributes one paired
difference (e.g. NDCG@10 of B minus NDCG@10 of A). Two tests are reported: the paired
t-test (scipy) and a paired bootstrap over users (resampling users with replacement), with
a two-sided p-value and a percentile confidence interval for the mean difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedComparison:
    """The result of comparing per-user metrics `b` against `a` (difference = b - a)."""

    n: int  # paired users
    mean_a: float  # mean metric of A
    mean_b: float  # mean metric of B
    diff: float  # mean of b - a
    ci_low: float  # bootstrap 95% interval of the mean difference, lower end
    ci_high: float  # upper end
    t_stat: float  # paired t statistic (nan when undefined)
    p_ttest: float  # two-sided paired t-test p-value
    p_bootstrap: float  # two-sided paired bootstrap p-value


def paired_ttest(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided paired t-test of mean(b - a) = 0.

    Returns:
        (t statistic, p-value). With zero variance the test is degenerate: identical
        pairs give (nan, 1.0); a constant non-zero difference gives (±inf, 0.0).
    """
    from scipy import stats

    d = _diffs(a, b)
    if d.size < 2:
        return float("nan"), 1.0
    if np.allclose(d, d[0]):
        return (float("nan"), 1.0) if d[0] == 0 else (float(np.sign(d[0]) * np.inf), 0.0)
    result = stats.ttest_rel(b, a)
    return float(result.statistic), float(result.pvalue)


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, *, samples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Paired bootstrap over users of the mean difference b - a.

    The p-value is two-sided: twice the smaller share of resampled mean differences on
    either side of zero, with the usual +1 correction so it is never exactly 0.

    Returns:
        (p-value, 2.5th percentile, 97.5th percentile) of the resampled mean difference.
    """
    d = _diffs(a, b)
    if d.size == 0:
        return 1.0, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    # Chunked so memory stays bounded for tens of thousands of users.
    chunk = max(1, 2_000_000 // max(d.size, 1))
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        idx = rng.integers(0, d.size, size=(stop - start, d.size))  # [S, n]
        means[start:stop] = d[idx].mean(axis=1)
    below = (np.sum(means <= 0) + 1) / (samples + 1)
    above = (np.sum(means >= 0) + 1) / (samples + 1)
    p = min(1.0, 2.0 * min(below, above))
    low, high = np.percentile(means, [2.5, 97.5])
    return float(p), float(low), float(high)


def compare_paired(
    a: np.ndarray, b: np.ndarray, *, samples: int = 10_000, seed: int = 0
) -> PairedComparison:
    """Both tests and the summary numbers for per-user metrics `a` (baseline) and `b`."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    t_stat, p_t = paired_ttest(a, b)
    p_boot, low, high = paired_bootstrap(a, b, samples=samples, seed=seed)
    return PairedComparison(
        n=int(a.size),
        mean_a=float(a.mean()) if a.size else float("nan"),
        mean_b=float(b.mean()) if b.size else float("nan"),
        diff=float((b - a).mean()) if a.size else float("nan"),
        ci_low=low,
        ci_high=high,
        t_stat=t_stat,
        p_ttest=p_t,
        p_bootstrap=p_boot,
    )


def _diffs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples need equal 1-d shapes, got {a.shape} and {b.shape}")
    return b - a
