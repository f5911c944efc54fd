"""Calibration of the seed-aware verdict (`scenarios.report.stats`) under the null, and its power.

Simulates per-user differences of two runs over a crossed users x seeds design,
``d[s, u] = mu + alpha_s + beta_u + eps_su`` with normal effects and sd_eps = 1, on the grid
of issue 25: seed sd absent, equal to and 4x the user-level standard error of the mean
(``se_u = sqrt(sd_user^2 / n + 1 / (k n))``); a weak (sd_user = 0.25) and a strong
(sd_user = 2) user effect; k in {2, 3, 5} seeds; n in {200, 2000} users. Each cell reports the
verdict's false-positive rate at mu = 0 with its Monte-Carlo standard error, and its power at
mu = 2 and 4 total standard errors (``sqrt(sd_seed^2 / k + sd_user^2 / n + 1 / (k n))``), for

* the new rule: ``k >= 2`` and Banerjee's interval excludes 0 (`scenarios.report.stats.two_way` and
  `rejects`, the library's own vectorised code, on [replicates, k, n] arrays);
* today's (withdrawn) rule: ``k >= 2``, sign-flip p < 0.05 over seed-averaged users **and** a
  seeds-then-users nested bootstrap 95% interval that excludes 0. The grid uses a CLT shortcut
  of it (`old_verdicts_clt`); `exact_cell` runs the exact old functions, kept below, on a few
  hundred replicates of one cell to check the shortcut (the suite does the same).

A "zero-inflated" family (n = 2000, k = 3) adds non-normal data shaped like per-user NDCG
differences: most users 0, some +-large, clipped to [-1, 1].

    nice .venv/bin/python benchmarks/stats_calibration.py           # the full grid
    .venv/bin/python benchmarks/stats_calibration.py --quick        # a smoke run

Writes benchmarks/results/stats_calibration.{json,md} (--quick only prints, unless --out).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # run as a script from anywhere

from scenarios.report.stats import ALPHA, rejects, two_way  # noqa: E402

# ---- The withdrawn rule: copies of scenarios/report/stats.py before issue 25 (do not use). ----
PERMUTATIONS = 9_999  # random sign flips (exact enumeration when 2^n is smaller)
RESAMPLES = 2_000  # hierarchical bootstrap resamples
_CHUNK_ELEMENTS = 4_000_000  # bounds the [rows, users] blocks of both procedures


def sign_flip_test(d: np.ndarray, *, permutations: int = PERMUTATIONS, seed: int = 0) -> float:
    """WITHDRAWN. Two-sided paired sign-flip permutation p-value of mean(d) = 0.

    Under the null each difference is as likely to have either sign, so the observed mean is
    compared with the means of `d` under random sign flips. When ``2**n`` is at most
    `permutations` every sign vector is enumerated (the exact p); otherwise the usual
    ``(1 + #{|T*| >= |T|}) / (permutations + 1)`` over random flips, never 0. Same p-value as
    ``scipy.stats.permutation_test((b, a), mean difference, permutation_type="samples")``
    (the suite checked it before issue 25), vectorised here because scipy's takes ~8 s for
    12,000 users.
    """
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"differences must be 1-d, got shape {d.shape}")
    n = d.size
    if n == 0:
        return 1.0
    observed = abs(d.mean())
    # A relative tolerance so that flips equal to the observed mean up to rounding count as
    # "at least as extreme" (scipy does the same), e.g. all-zero differences give p = 1.
    threshold = observed - 1e-12 * max(1.0, float(np.abs(d).sum()) / n)
    if n <= 30 and 2**n <= permutations:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2.0 - 1.0  # [2^n, n]
        return float(np.mean(np.abs(signs @ d) / n >= threshold))
    rng = np.random.default_rng(seed)
    extreme = 0
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, permutations, rows):
        count = min(rows, permutations - start)
        signs = rng.integers(0, 2, size=(count, n), dtype=np.int8) * 2 - 1  # [count, n]
        extreme += int(np.sum(np.abs(signs @ d) / n >= threshold))
    return (1 + extreme) / (permutations + 1)


def hierarchical_bootstrap(
    diffs: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """WITHDRAWN. 95% percentile interval of the mean of `diffs` [seeds, users], resampling
    seeds with replacement and then users with replacement within each resampled seed."""
    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.ndim != 2 or diffs.size == 0:
        raise ValueError(f"differences must be a non-empty [seeds, users] array, got {diffs.shape}")
    k, n = diffs.shape
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    rows = max(1, _CHUNK_ELEMENTS // (k * n))
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        picked = rng.integers(0, k, size=(count, k))  # [count, k] seeds
        users = rng.integers(0, n, size=(count, k, n))  # [count, k, n] users per picked seed
        means[start : start + count] = diffs[picked[:, :, None], users].mean(axis=(1, 2))
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def old_verdict_exact(d: np.ndarray) -> bool:
    """WITHDRAWN rule as `compare_seeded` applied it (seed 0 for both procedures)."""
    p = sign_flip_test(d.mean(axis=0))
    low, high = hierarchical_bootstrap(d)
    return d.shape[0] >= 2 and p < ALPHA and (low > 0 or high < 0)


# ---- The shortcut of the withdrawn rule for the grid, and the new rule. ----


def old_verdicts_clt(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The withdrawn verdict on [R, k, n] tables through two CLT approximations.

    Sign flips: the flipped sum of the seed-averaged differences m has mean 0 and variance
    sum(m^2), so p ~ 2 Phi(-|sum m| / sqrt(sum m^2)) (n >= 200 users: close to normal).
    Nested bootstrap: a resample's mean is the mean over k picked seeds of a user bootstrap
    mean of that seed, ~ seed mean + N(0, within-seed variance (ddof 0) / n), independent
    across the k picks; so a resample is the mean of the picked seed means plus one normal
    of variance sum(picked variances) / (k^2 n). `exact_cell` checks both in one cell.
    """
    from scipy import special

    reps, k, n = d.shape
    m = d.mean(axis=1)  # [R, n]
    z = np.abs(m.sum(axis=1)) / np.sqrt(np.square(m).sum(axis=1))
    p = special.erfc(z / np.sqrt(2))  # two-sided normal p
    seed_mean, seed_var = d.mean(axis=2), d.var(axis=2)  # [R, k]
    picked = rng.integers(0, k, size=(reps, RESAMPLES, k))
    rows = np.arange(reps)[:, None, None]
    centre = seed_mean[rows, picked].mean(axis=2)  # [R, B]
    spread = np.sqrt(seed_var[rows, picked].sum(axis=2) / (k * k * n))
    means = centre + spread * rng.standard_normal((reps, RESAMPLES))
    low, high = np.percentile(means, [2.5, 97.5], axis=1)
    return (k >= 2) & (p < ALPHA) & ((low > 0) | (high < 0))


def new_verdicts(d: np.ndarray) -> np.ndarray:
    """The library's rule on [R, k, n] tables: k >= 2 and the Banerjee interval excludes 0."""
    return (d.shape[1] >= 2) & rejects(two_way(d), ALPHA)


@dataclasses.dataclass(frozen=True)
class Cell:
    """One simulated design; `sd_seed` is `ratio` x the user-level SE of the mean."""

    family: str  # "normal" or "zero-inflated"
    k: int
    n: int
    sd_user: float  # normal family only
    ratio: float
    user_se: float | None = None  # zero-inflated: simulated (`zero_inflated_se`)

    @property
    def se_users(self) -> float:
        if self.user_se is not None:
            return self.user_se
        return float(np.sqrt(self.sd_user**2 / self.n + 1.0 / (self.k * self.n)))

    @property
    def sd_seed(self) -> float:
        return self.ratio * self.se_users

    @property
    def total_se(self) -> float:
        return float(np.sqrt(self.sd_seed**2 / self.k + self.se_users**2))


_HIT = 0.10 * 0.5  # zero-inflated: share of users with a non-zero difference x share of seeds


def simulate(cell: Cell, reps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Null tables [reps, k, n] of `cell`, and where a true effect is added (same shape or 1).

    Normal: d = alpha_s + beta_u + eps_su. Zero-inflated: 90% of users never differ; the
    others differ under about half the seeds, by clip(beta_u + alpha_s + eps_su, -1, 1) with
    sd 0.3 for beta and eps (like per-user NDCG: mostly 0, sometimes +-0.3..1); the seed sd
    is scaled by 1 / `_HIT` so that its effect on the mean is `sd_seed`. An effect mu is
    added where d may differ, scaled by 1 / `_HIT` likewise (its expected mean is mu).
    """
    k, n = cell.k, cell.n
    if cell.family == "normal":
        alpha = rng.normal(0.0, cell.sd_seed, (reps, k, 1))
        beta = rng.normal(0.0, cell.sd_user, (reps, 1, n))
        return alpha + beta + rng.standard_normal((reps, k, n)), np.ones(1)
    active = rng.random((reps, 1, n)) < 0.10
    mask = active & (rng.random((reps, k, n)) < 0.5)
    alpha = rng.normal(0.0, cell.sd_seed / _HIT, (reps, k, 1))
    value = rng.normal(0.0, 0.3, (reps, 1, n)) + alpha + rng.normal(0.0, 0.3, (reps, k, n))
    return np.where(mask, np.clip(value, -1.0, 1.0), 0.0), mask / _HIT


def zero_inflated_se(k: int, n: int, reps: int, rng: np.random.Generator) -> float:
    """User-level SE of the mean of the zero-inflated family (no seed effect), simulated."""
    d, _ = simulate(Cell("zero-inflated", k, n, 0.0, 0.0), reps, rng)
    return float(d.mean(axis=(1, 2)).std(ddof=1))


def run_cell(cell: Cell, reps: int, seed: int) -> dict[str, object]:
    """False-positive rate and power at 2 and 4 total SE of both rules in one cell."""
    total_se = cell.total_se
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // (cell.k * cell.n))  # bounds the [R, k, n] arrays
    hits = {rule: np.zeros(3) for rule in ("new", "old")}
    for start in range(0, reps, chunk):
        d, where = simulate(cell, min(chunk, reps - start), rng)
        for i, effect in enumerate((0.0, 2.0, 4.0)):
            shifted = d + effect * total_se * where
            hits["new"][i] += new_verdicts(shifted).sum()
            hits["old"][i] += old_verdicts_clt(shifted, rng).sum()
    out: dict[str, object] = {**dataclasses.asdict(cell), "sd_seed": cell.sd_seed}
    out["total_se"] = total_se
    for rule, count in hits.items():
        rate = count / reps
        out[f"{rule}_fpr"] = rate[0]
        out[f"{rule}_fpr_se"] = float(np.sqrt(rate[0] * (1 - rate[0]) / reps))
        out[f"{rule}_power_2se"], out[f"{rule}_power_4se"] = rate[1], rate[2]
    return out


def exact_cell(cell: Cell, reps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Null verdicts of the exact withdrawn rule, its CLT shortcut and the new rule on the
    same `reps` tables (slow: the exact rule takes ~20 ms a table at k = 3, n = 200)."""
    rng = np.random.default_rng(seed)
    d, _ = simulate(cell, reps, rng)
    return {
        "old_exact": np.array([old_verdict_exact(t) for t in d]),
        "old_clt": old_verdicts_clt(d, rng),
        "new": new_verdicts(d),
    }


def grid(quick: bool, zero_inflated_user_se: float) -> list[Cell]:
    """The 36 normal cells (quick: 4) and the 3 zero-inflated ones (quick: 2)."""
    ks, ns, users = ((3,), (200,), (0.25, 2.0)) if quick else ((2, 3, 5), (200, 2000), (0.25, 2.0))
    ratios = (0.0, 4.0) if quick else (0.0, 1.0, 4.0)
    cells = [
        Cell("normal", k, n, sd, r) for n in ns for sd in users for k in ks for r in ratios
    ]  # fmt: skip
    se = zero_inflated_user_se
    return cells + [Cell("zero-inflated", 3, 2000, 0.0, r, user_se=se) for r in ratios]


def markdown(result: dict[str, object]) -> str:
    """The results table, one row per cell, with the command that made it."""
    lines = [
        "# Calibration of the seed-aware verdict (issue 25)",
        "",
        f"Command: `{result['command']}` ({result['seconds']:.0f} s, "
        f"{result['replicates']} replicates a cell, alpha = {ALPHA}).",
        "",
        "Null false-positive rate (FPR, ± Monte-Carlo SE) and power at a true effect of 2 and "
        "4 total standard errors. *new*: Banerjee's interval on the two-way ANOVA components "
        "(`scenarios.report.stats`). *old*: the withdrawn rule (sign-flip p < 0.05 over "
        "seed-averaged users and a seeds-then-users bootstrap interval excluding 0), by its "
        "CLT shortcut. "
        f"A new-rule FPR above {result['threshold']:.4f} (0.05 + 2 MC-SE at 0.05) is flagged "
        "**!**. sd_seed is `ratio` × the user-level SE of the mean.",
        "",
        "| family | k | n | sd_user | ratio | old FPR | new FPR | old power 2/4 SE "
        "| new power 2/4 SE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in result["cells"]:
        flag = " **!**" if c["new_flag"] else ""
        sd_user = "–" if c["family"] != "normal" else f"{c['sd_user']:g}"
        lines.append(
            f"| {c['family']} | {c['k']} | {c['n']} | {sd_user} | {c['ratio']:g} "
            f"| {c['old_fpr']:.3f} ± {c['old_fpr_se']:.3f} "
            f"| {c['new_fpr']:.3f} ± {c['new_fpr_se']:.3f}{flag} "
            f"| {c['old_power_2se']:.2f} / {c['old_power_4se']:.2f} "
            f"| {c['new_power_2se']:.2f} / {c['new_power_4se']:.2f} |"
        )
    normal = [c for c in result["cells"] if c["family"] == "normal"]
    worst = max(normal, key=lambda c: c["new_fpr"])
    check = result["shortcut_check"]
    lines += [
        "",
        f"Worst new-rule FPR (normal cells): {worst['new_fpr']:.3f} (k = {worst['k']}, "
        f"n = {worst['n']}, sd_user = {worst['sd_user']:g}, ratio = {worst['ratio']:g}); "
        f"flagged cells: {result['flagged']}.",
        "",
        f"Shortcut check ({check['replicates']} null tables, k = {check['k']}, n = "
        f"{check['n']}, sd_user = {check['sd_user']:g}, ratio = {check['ratio']:g}): exact old "
        f"rule FPR {check['old_exact_fpr']:.3f}, CLT shortcut {check['old_clt_fpr']:.3f} "
        f"(verdicts agree on {check['agreement']:.1%} of tables), new rule "
        f"{check['new_fpr']:.3f}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=2_000, help="null tables a cell")
    parser.add_argument("--exact-replicates", type=int, default=300, help="shortcut check")
    parser.add_argument("--quick", action="store_true", help="a few small cells (smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results (--quick: none)")
    args = parser.parse_args(argv)
    reps = 200 if args.quick and args.replicates == 2_000 else args.replicates
    exact_reps = 40 if args.quick and args.exact_replicates == 300 else args.exact_replicates
    started = time.perf_counter()
    zi_se = zero_inflated_se(3, 2000, 2_000, np.random.default_rng([args.seed, 99]))
    cells = []
    for i, cell in enumerate(grid(args.quick, zi_se)):
        row = run_cell(cell, reps, seed=args.seed * 1_000 + i)
        row["new_flag"] = bool(row["new_fpr"] > ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / reps))
        cells.append(row)
        print(
            f"{cell.family} k={cell.k} n={cell.n} sd_user={cell.sd_user:g} ratio={cell.ratio:g}:"
            f" FPR old {row['old_fpr']:.3f} new {row['new_fpr']:.3f}; power 2/4 SE old "
            f"{row['old_power_2se']:.2f}/{row['old_power_4se']:.2f} new "
            f"{row['new_power_2se']:.2f}/{row['new_power_4se']:.2f}",
            flush=True,
        )
    check_cell = Cell("normal", 3, 200, 2.0, 4.0)  # the suite's cell (tests/scenarios)
    verdicts = exact_cell(check_cell, exact_reps, seed=args.seed)
    result = {
        "command": " ".join(["nice .venv/bin/python benchmarks/stats_calibration.py"]
                            + [shlex.quote(a) for a in (argv or sys.argv[1:])]),
        "replicates": reps,
        "threshold": ALPHA + 2 * float(np.sqrt(ALPHA * (1 - ALPHA) / reps)),
        "cells": cells,
        "flagged": sum(c["new_flag"] for c in cells),
        "shortcut_check": {
            **dataclasses.asdict(check_cell),
            "replicates": exact_reps,
            **{f"{key}_fpr": float(v.mean()) for key, v in verdicts.items()},
            "agreement": float(np.mean(verdicts["old_exact"] == verdicts["old_clt"])),
        },
    }  # fmt: skip
    result["seconds"] = time.perf_counter() - started
    out = args.out or (None if args.quick else ROOT / "results")
    if out is None:  # a smoke run never overwrites the committed results
        print(markdown(result))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats_calibration.json").write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    (out / "stats_calibration.md").write_text(markdown(result), encoding="utf-8")
    print(f"wrote {out}/stats_calibration.{{json,md}} in {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
