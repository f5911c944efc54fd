"""Multiple comparisons: adjust a family of p-values so that its verdicts keep their level.

A grid report runs many paired comparisons (configurations, and configurations × popularity
buckets), each at alpha = 0.05. Without an adjustment, the chance that at least one of m
true-null comparisons is called "better" or "worse" grows towards 1 - 0.95^m. So a report
adjusts the p-values of each table (a family) and bases its verdicts on the adjusted ones:

* ``holm`` (the default): Holm's step-down adjustment. It controls the family-wise error
  rate (the chance of any false verdict in the family) at alpha, under any dependence
  between the comparisons (they share the baseline runs and the test users).
* ``bh``: Benjamini-Hochberg (``scipy.stats.false_discovery_control``). It controls the
  expected share of false verdicts among the significant ones, which gives more power in
  large families; valid for independent or positively dependent p-values.
* ``none``: the raw p-values (each comparison at alpha on its own).

A family holds the comparisons that can give a verdict: those with at least two seeds and
no error. A one-seed comparison gives no verdict about training randomness whatever its
p-value, so it is left out of the family rather than allowed to make the others' bar higher.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal, get_args

Correction = Literal["holm", "bh", "none"]  # the grid file's `correction` (GridSpec)
CORRECTIONS: tuple[str, ...] = get_args(Correction)
DEFAULT_CORRECTION: Correction = "holm"
LABELS = {"holm": "Holm", "bh": "BH", "none": "unadjusted"}  # names in table headers


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given.

    The i-th smallest of m p-values is multiplied by (m - i + 1); a running maximum keeps
    the adjusted values in the order of the raw ones (so equal raw p-values get equal
    adjusted ones), and they are capped at 1.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values of one family, in the order given.

    Args:
        p_values: raw two-sided p-values, each in [0, 1].
        method: one of `CORRECTIONS` ("holm", "bh" or "none").

    Returns:
        One adjusted p-value per raw one (never below it, at most 1); an empty family gives
        an empty list.

    Raises:
        ValueError: an unknown method, or a p-value outside [0, 1] (NaN included).
    """
    if method not in CORRECTIONS:
        raise ValueError(f"unknown correction {method!r}; valid choices: {', '.join(CORRECTIONS)}")
    values = [float(p) for p in p_values]
    bad = [p for p in values if math.isnan(p) or not 0.0 <= p <= 1.0]
    if bad:
        raise ValueError(f"p-values must lie in [0, 1], got {bad[0]!r}")
    if not values or method == "none":
        return values
    if method == "holm":
        return holm(values)
    from scipy.stats import false_discovery_control  # imported here: scipy is slow to load

    return [float(p) for p in false_discovery_control(values, method="bh")]


def in_family(comparison: dict[str, Any]) -> bool:
    """A comparison that can give a verdict: no error and at least two seeds."""
    return "error" not in comparison and not comparison["single_seed"]


def adjust_family(
    comparisons: Iterable[dict[str, Any]],
    method: str = DEFAULT_CORRECTION,
    *,
    alpha: float | None = None,
) -> int:
    """Adjust one family of comparison dicts in place and redo their verdicts.

    Each comparison in the family (see `in_family`) gets `p_adjusted`, `correction` and
    `family_size`, and `significant` becomes "at least two seeds and p_adjusted < alpha".
    A one-seed comparison gets `p_adjusted` None (it gives no verdict and is not in the
    family); one with an `error` is left as it is.

    Args:
        comparisons: `scenarios.report.comparisons.significance`-style dicts (from
            `SeededComparison.to_dict`, or with an `error`).
        method: one of `CORRECTIONS`.
        alpha: the family's level (default `scenarios.report.stats.ALPHA`).

    Returns:
        The family's size.
    """
    if alpha is None:  # imported here: grid files load this module, and stats loads scipy
        from scenarios.report.stats import ALPHA

        alpha = ALPHA
    comparisons = list(comparisons)
    family = [c for c in comparisons if in_family(c)]
    adjusted = adjust([c["p_value"] for c in family], method)
    for c, p in zip(family, adjusted, strict=True):
        c.update(p_adjusted=p, correction=method, family_size=len(family))
        c["significant"] = len(c["seeds"]) >= 2 and p < alpha
    for c in comparisons:
        if "error" not in c and c["single_seed"]:
            c["p_adjusted"] = None
    return len(family)


def family_sentence(method: str, size: int, family: str) -> str:
    """One sentence for a report: which comparisons form the family and how it is adjusted.

    Args:
        method: the correction used (one of `CORRECTIONS`).
        size: comparisons in the family.
        family: what the family is, e.g. "the comparisons of this table".
    """
    noun = f"{size} comparison{'s' * (size != 1)}"
    if method == "none":
        return (
            f'Multiple comparisons: not adjusted (`correction = "none"`): each of the {noun} '
            f"with at least two seeds ({family}) is tested at 5% on its own, so with many of "
            "them some verdicts are expected to be false."
        )
    how = {
        "holm": "Holm's step-down method, which keeps the chance of any false verdict in the "
        "family at 5%",
        "bh": "the Benjamini-Hochberg procedure, which keeps the expected share of false "
        "verdicts among the significant ones at 5%",
    }[method]
    return (
        f"Multiple comparisons: the {noun} with at least two seeds ({family}) form one family; "
        f"their p-values are adjusted by {how}, and the verdicts use the adjusted p "
        f'(shown as "p ({LABELS[method]})"; the 95% intervals are not adjusted). One-seed '
        "comparisons give no verdict and are not in the family."
    )
