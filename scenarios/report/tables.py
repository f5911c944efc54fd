"""The grid report's comparison tables: each configuration against the baseline.

`scenarios.report.comparisons.significance` computes the paired, seed-aware comparisons; this
module makes a family of them (`scenarios.report.multiplicity`: the overall table is one family,
the popularity-bucket table another), writes them to JSON and renders them: the raw p
beside the adjusted one, and the verdict from the adjusted one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from plumbing.io import atomic_write_json
from scenarios.report.comparisons import significance
from scenarios.report.multiplicity import DEFAULT_CORRECTION, LABELS, adjust_family, family_sentence

BASELINE_RULE = (
    "A baseline named by its scenario is used only when it was trained with the same method, "
    "text encoder, vision encoder (or none) and protocol, or, when the scenario was never "
    "trained with that method, its only configuration; a baseline named as a configuration "
    "(`scenario/method[/encoders]`) is compared with every configuration of its protocol. "
    "Runs of different protocols are never compared."
)


def p_text(value: float | None) -> str:
    """A p-value for a table: two significant digits, "–" when there is none."""
    return "–" if value is None or math.isnan(value) else f"{value:.2g}"


def p_header(correction: str) -> str:
    """The adjusted p column's name, after the correction ("p (Holm)")."""
    return f"p ({LABELS[correction]})"


def seeds_note(c: dict[str, Any]) -> str:
    """How many seeds a verdict at this comparison's difference and seed spread would need
    (`seeds_needed`), when that is more than it has; else ""."""
    from scenarios.report.stats import MAX_SEEDS, user_term_covers  # scipy loads slowly

    needed = c["seeds_needed"]
    if needed is None and user_term_covers(c["diff"], c["se_user"], c["df_user"]):
        return "; no number of seeds would settle it: the user-level uncertainty alone covers it"
    if needed is None:
        return f"; more than {MAX_SEEDS} seeds would be needed at this spread"
    return f"; ≥ {needed} seeds would be needed at this spread" if needed > len(c["seeds"]) else ""


def verdict(c: dict[str, Any], alpha: float | None = None) -> str:
    """better / worse / no significant difference (with the seeds it would take) / one seed,
    from `significant`, which `adjust_family` bases on the adjusted p; `alpha` defaults to
    `scenarios.report.stats.ALPHA`."""
    from scenarios.report.stats import ALPHA

    alpha = ALPHA if alpha is None else alpha
    if c.get("no_verdict"):  # withheld for the whole report (`withhold`)
        return f"{c['no_verdict']}: no verdict"
    if c["single_seed"]:
        return "one seed: no verdict"
    if c["significant"]:
        return "better" if c["diff"] > 0 else "worse"
    adjusted = c.get("p_adjusted")
    if adjusted is not None and c["p_value"] < alpha <= adjusted:
        # the raw p alone would have called it: say that the family's adjustment did not
        return f"no significant difference after the {LABELS[c['correction']]} adjustment"
    return "no significant difference" + seeds_note(c)


def withhold(comparisons: Sequence[dict[str, Any]], reason: str | None) -> None:
    """Withhold every verdict of `comparisons` in place for `reason` (e.g. "mixed code":
    `scenarios.report.code`): `no_verdict` set, `significant` False; None leaves them."""
    if reason:
        for c in comparisons:
            c.update(no_verdict=reason, significant=False)


def significance_table(comparisons: Sequence[dict[str, Any]], correction: str) -> str:
    """The text-only vs other scenarios table (paired over test users, seeds counted): the
    raw p, the adjusted p (no column when `correction` is "none") and the verdict."""
    adjusted = correction != "none"
    p_heads = f"p | {p_header(correction)}" if adjusted else "p"
    lines = [
        "| scenario | method | encoders | vs | users | seeds | Δ per seed | seeds agree "
        f"| mean (vs) | mean | Δ | 95% CI | {p_heads} | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * (1 + adjusted),
    ]
    for c in comparisons:
        encoders = " + ".join(Path(x).name for x in (c["text_encoder"], c["vision_encoder"]) if x)
        head = f"| {c['scenario']} | {c['method']} | {encoders or '–'} | {c['baseline']} "
        if "error" in c:
            lines.append(head + f"| {c['error']} |" + " |" * (9 + adjusted))
            continue
        per_seed = ", ".join(f"{x:+.4f}" for x in c["per_seed"])
        k = len(c["seeds"])
        p_cells = p_text(c["p_value"]) + (f" | {p_text(c.get('p_adjusted'))}" if adjusted else "")
        lines.append(
            head + f"| {c['n']} | {k} | {per_seed} | {c['agree']}/{k} "
            f"| {c['mean_a']:.4f} | {c['mean_b']:.4f} | {c['diff']:+.4f} "
            f"| [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] | {p_cells} | {verdict(c)} |"
        )
    return "\n".join(lines)


def tested_paragraph(
    metric: str, correction: str, family_size: int, family: str, rule: str = BASELINE_RULE
) -> str:
    """What was tested, in one paragraph: the test (`scenarios.report.stats.METHOD`), the family and
    its correction, and which baseline is used.

    Args:
        metric: the per-user metric compared.
        correction: the family's correction (`scenarios.report.multiplicity.CORRECTIONS`).
        family_size: comparisons in the family (those with at least two seeds).
        family: which comparisons form it, in words ("the rows of this table").
        rule: which baseline each row is compared with, in words.
    """
    from scenarios.report.stats import METHOD

    return (
        f"Metric: `{metric}` per test user. {METHOD} "
        f"{family_sentence(correction, family_size, family)} {rule}"
    )


def overall_comparisons(
    out_dir: Path,
    rows: Sequence[dict[str, Any]],
    baseline: str | None,
    *,
    metric: str,
    correction: str = DEFAULT_CORRECTION,
    no_verdict: str | None = None,
) -> list[dict[str, Any]]:
    """Every configuration against the baseline over all test users, adjusted as one family;
    written to `comparisons.json` (empty without a baseline).

    Args:
        out_dir: the grid's output folder.
        rows: runs.csv rows (`scenarios.report.grid_report.row_for`).
        baseline: the baseline label (`scenarios.report.baselines`), or None (no comparison).
        metric: the per-user metric compared.
        correction: the family's correction (`scenarios.report.multiplicity.CORRECTIONS`).
        no_verdict: withhold every verdict for this reason (`withhold`); None gives them.
    """
    comparisons = significance(rows, baseline, metric=metric) if baseline else []
    adjust_family(comparisons, correction)
    withhold(comparisons, no_verdict)
    atomic_write_json(Path(out_dir) / "comparisons.json", comparisons)
    return comparisons


def comparison_section(
    comparisons: Sequence[dict[str, Any]], baseline: str | None, metric: str, correction: str
) -> list[str]:
    """The report.md lines of the overall comparison (its heading, what was tested, table)."""
    if baseline is None:
        return [
            "No baseline in this grid (no text-only scenario, no `baseline` given): "
            "no significance tests.",
            "",
        ]
    size = sum("family_size" in c for c in comparisons)  # set on the family's members only
    return [
        f"## Against the baseline `{baseline}`",
        "",
        tested_paragraph(metric, correction, size, "the rows of this table"),
        "",
        significance_table(comparisons, correction) if comparisons else "(nothing to compare yet)",
        "",
    ]
