"""The grid report's beyond-accuracy section: how much of the catalogue each configuration
recommends, and how far into the tail (docs/beyond-accuracy.md).

Each run records, per split, the beyond-accuracy metrics of its users' top-K lists
(results.json `beyond`, recsys.eval.beyond). Per configuration the section gives, at one
cut-off K, coverage, Gini, entropy, ARP, tail share and novelty as mean ± std over seeds;
then the comparisons with the baseline:

* per-user quantities (ARP, tail share, novelty) with the paired, seed-aware statistics of
  NDCG (`scenarios.report.comparisons.significance` over `test_per_user.csv`), every
  configuration and metric adjusted as one family (the grid's correction);
* list-set quantities (coverage, Gini, entropy: one number per run) over seeds only: the
  mean of the per-seed differences with a t interval over the common seeds, outside the
  family, and labelled so.

`beyond.png` (.pdf, .svg) plots NDCG@10 against coverage@K and tail share@K (two panels), one
point per configuration with seed-std error bars. Runs recorded before these metrics show
"–" and are left out of the plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plumbing.io import atomic_write_json
from scenarios.report.comparisons import group_key, significance
from scenarios.report.multiplicity import DEFAULT_CORRECTION, adjust_family
from scenarios.report.tables import significance_table, tested_paragraph, withhold
from scenarios.run.results import NAMES
from scenarios.run.rows import row_record

PLOT_NAME = "beyond.png"
COMPARISONS_NAME = "comparisons_beyond.json"
PER_USER = ("arp", "tail", "novelty")  # recsys.eval.beyond.PER_USER (no recsys import here)
LIST_SET = ("coverage", "gini", "entropy")
COLUMNS = (*LIST_SET, *PER_USER)


def directional(table: str, metric: str) -> str:
    """A significance table's verdicts as "higher" / "lower" when `metric` is a per-user
    beyond-accuracy metric: a direction, not a judgement (more tail or less popularity is
    neither better nor worse); other metrics' tables unchanged."""
    if metric.split("@")[0] not in PER_USER:
        return table
    return table.replace("| better |", "| higher |").replace("| worse |", "| lower |")


def run_beyond(row: dict[str, Any]) -> dict[str, float] | None:
    """The test beyond-accuracy means a finished run recorded; None when it has none (not
    finished, or recorded before these metrics or under `eval.beyond = false`)."""
    run = row_record(row)
    found = run.beyond.get("test") if run is not None else None
    return dict(found) if found else None


def beyond_groups(rows: Sequence[dict[str, Any]], k: int = 10) -> list[dict[str, Any]]:
    """Per configuration: each metric@k and NDCG@10 as mean ± std over the seeds that
    recorded it, with the per-seed values (`values[name][seed]`)."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        if row.get("status") in ("failed", "stale") or row.get("test_ndcg@10") in ("", None):
            continue
        group = groups.setdefault(group_key(row), {"values": {}})
        seed, recorded = int(row["seed"]), run_beyond(row) or {}
        group["values"].setdefault("ndcg@10", {})[seed] = float(row["test_ndcg@10"])
        for name in COLUMNS:
            if f"{name}@{k}" in recorded:
                group["values"].setdefault(name, {})[seed] = float(recorded[f"{name}@{k}"])
    out = []
    for key, group in groups.items():
        entry: dict[str, Any] = dict(zip(NAMES, key, strict=True)) | {"values": group["values"]}
        for name, by_seed in group["values"].items():
            values = list(by_seed.values())
            entry[name] = float(np.mean(values))
            entry[f"{name}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        entry["seeds"] = len(group["values"]["ndcg@10"])
        out.append(entry)
    return out


def _encoders(g: dict[str, Any]) -> str:
    return " + ".join(Path(x).name for x in (g["text_encoder"], g["vision_encoder"]) if x) or "–"


def _cell(g: dict[str, Any], name: str) -> str:
    if name not in g:
        return "–"
    digits = 2 if name in ("arp", "novelty", "entropy") else 4
    return f"{g[name]:.{digits}f} ± {g[f'{name}_std']:.{digits}f}"


def beyond_table(groups: Sequence[dict[str, Any]], k: int) -> str:
    """Markdown: one row per configuration, mean ± std over seeds of every metric@k."""
    heads = [f"{name}@{k}" for name in COLUMNS]
    lines = [
        f"| scenario | method | encoders | seeds | {' | '.join(heads)} |",
        "|---|---|---|---|" + "---|" * len(heads),
    ]
    for g in groups:
        cells = " | ".join(_cell(g, name) for name in COLUMNS)
        lines.append(
            f"| {g['scenario']} | {g['method']} | {_encoders(g)} | {g['seeds']} | {cells} |"
        )
    return "\n".join(lines)


def seed_delta(base: dict[int, float], other: dict[int, float]) -> dict[str, Any] | None:
    """Mean of the per-seed differences (other - base) over the common seeds, with a 95% t
    interval (none with one seed); None without a common seed."""
    seeds = sorted(set(base) & set(other))
    if not seeds:
        return None
    d = np.array([other[s] - base[s] for s in seeds])
    out: dict[str, Any] = {"seeds": seeds, "diff": float(d.mean()), "ci": None}
    if len(d) > 1:
        from scipy import stats

        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        out["ci"] = [float(d.mean() - half), float(d.mean() + half)]
    return out


def list_set_deltas(
    groups: Sequence[dict[str, Any]], comparisons: Sequence[dict[str, Any]]
) -> list[str]:
    """Markdown rows: each compared configuration's list-set Δ vs the baseline configuration
    its per-user comparison used (matched by label, method, encoders and protocol)."""
    lines = []
    for c in comparisons:
        if c.get("metric", "").split("@")[0] != PER_USER[0] or "error" in c:
            continue
        mine = _find(groups, tuple(c[n] for n in NAMES))
        base = _find_baseline(groups, c)
        if mine is None or base is None:
            continue
        cells = []
        for name in LIST_SET:
            delta = seed_delta(base["values"].get(name, {}), mine["values"].get(name, {}))
            if delta is None:
                cells.append("–")
                continue
            ci = delta["ci"]
            span = f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else ""
            cells.append(f"{delta['diff']:+.4f}{span} ({len(delta['seeds'])} seeds)")
        lines.append(
            f"| {c['scenario']} | {c['method']} | {_encoders(c)} | {c['baseline']} "
            f"| {' | '.join(cells)} |"
        )
    return lines


def _find(groups: Sequence[dict[str, Any]], key: tuple[str, ...]) -> dict[str, Any] | None:
    return next((g for g in groups if tuple(g[n] for n in NAMES) == key), None)


def _find_baseline(groups: Sequence[dict[str, Any]], c: dict[str, Any]) -> dict[str, Any] | None:
    """The baseline configuration of comparison `c`: its label's scenario (and method and
    encoders when the label names them), the same protocol, preferring c's method."""
    parts = str(c["baseline"]).split("/")
    found = [
        g
        for g in groups
        if g["scenario"] == parts[0]
        and g["protocol"] == c["protocol"]
        and (len(parts) < 2 or g["method"] == parts[1])
        and tuple(g[n] for n in NAMES) != tuple(c[n] for n in NAMES)
    ]
    found.sort(key=lambda g: (g["method"] != c["method"], g["text_encoder"] != c["text_encoder"]))
    return found[0] if found else None


def plot_beyond(
    groups: Sequence[dict[str, Any]], k: int, path: Path, caption: str = ""
) -> Path | None:
    """NDCG@10 against coverage@k (left) and tail share@k (right), one point per
    configuration with seed-std error bars; None when no run recorded them."""
    drawn = [g for g in groups if "coverage" in g and "tail" in g]
    if not drawn:
        return None
    from scenarios.report.plots import legend_label, pyplot, save_figure, style

    fig, axes = pyplot().subplots(1, 2, figsize=(9, 4), sharey=True)
    several = len({g["protocol"] for g in drawn}) > 1
    for ax, name, label in ((axes[0], "coverage", "coverage"), (axes[1], "tail", "tail share")):
        for j, g in enumerate(drawn):
            ax.errorbar(
                g[name], g["ndcg@10"], xerr=g[f"{name}_std"], yerr=g["ndcg@10_std"],
                capsize=3, linestyle="none", label=legend_label(g, several), **style(j),
            )  # fmt: skip
        ax.set_xlabel(f"{label}@{k}")
    axes[0].set_ylabel("NDCG@10")
    axes[0].grid(alpha=0.3)
    return save_figure(fig, axes[1], path, caption)


def write_beyond_report(
    out_dir: Path,
    rows: Sequence[dict[str, Any]],
    baseline: str | None,
    *,
    metric: str = "ndcg@10",
    correction: str = DEFAULT_CORRECTION,
    no_verdict: str | None = None,
    k: int = 10,
) -> str:
    """The report.md section (empty when no run recorded beyond-accuracy metrics); writes
    `comparisons_beyond.json` and the plot. `metric` is the grid's headline metric (unused
    here: the per-user quantities are compared instead)."""
    groups = beyond_groups(rows, k)
    if not any("coverage" in g for g in groups):
        return ""
    from scenarios.report.plots import caption_of_rows

    parts = [f"## Beyond accuracy (@{k})", "", beyond_table(groups, k), ""]
    plot = plot_beyond(groups, k, Path(out_dir) / PLOT_NAME, caption_of_rows(rows))
    if plot is not None:
        parts += [f"![accuracy vs coverage and tail share]({plot.name})", ""]
    if baseline is None:
        return "\n".join(parts)
    found = [c for name in PER_USER for c in significance(rows, baseline, metric=f"{name}@{k}")]
    size = adjust_family(found, correction)
    withhold(found, no_verdict)
    atomic_write_json(Path(out_dir) / COMPARISONS_NAME, found)
    names = ", ".join(f"{name}@{k}" for name in PER_USER)
    parts += [
        f"### Per-user quantities against `{baseline}` ({names}: paired over test users)",
        "",
        tested_paragraph(names, correction, size, "the three tables below"),
        "",
    ]
    for name in PER_USER:
        mine = [c for c in found if c["metric"] == f"{name}@{k}"]
        table = directional(significance_table(mine, correction), f"{name}@{k}")
        parts += [f"**{name}@{k}**", "", table, ""]
    if any("no column" in c.get("error", "") for c in found):
        parts += [
            "Runs recorded before these metrics have no per-user columns for them: "
            "`toolkit evaluate <run folder>` re-scores a run's checkpoint with them.",
            "",
        ]
    return "\n".join(parts + list_set_section(groups, found, k))


def list_set_section(
    groups: Sequence[dict[str, Any]], found: Sequence[dict[str, Any]], k: int
) -> list[str]:
    """The report lines comparing coverage, Gini and entropy over seeds (none to show: [])."""
    deltas = list_set_deltas(groups, found)
    if not deltas:
        return []
    heads = " | ".join(f"Δ {name}@{k} [95% CI]" for name in LIST_SET)
    return [
        "### List-set quantities (compared over seeds only)",
        "",
        "One number per run: the mean of the per-seed differences from the baseline over "
        "the common seeds, with a t interval over seeds; no per-user pairing, and not part "
        "of the family adjusted above.",
        "",
        f"| scenario | method | encoders | vs | {heads} |",
        "|---|---|---|---|---|---|---|",
        *deltas,
        "",
    ]
