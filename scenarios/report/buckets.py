"""The grid report's popularity-bucket section: where content helps.

Each run records its test metrics per popularity bucket of the target item (results.json
`buckets`, recsys.eval.buckets): `cold` (never in the training part), then buckets by
training count (default 1-4, 5-19, 20+). Per configuration (scenario, method, encoders,
protocol) the section gives the metric per bucket as mean ± std over seeds with each
bucket's users, each configuration against the text-only baseline per bucket (the paired
seed-aware statistics of `scenarios.report.comparisons.significance`, restricted to the bucket's
users), and `buckets.png` (with .pdf and .svg): the metric by bucket, one point per
configuration and bucket on a categorical axis. The
comparisons of every configuration and bucket form one family: their p-values are adjusted
together (`scenarios.report.multiplicity`) and the verdicts use the adjusted ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plumbing.io import atomic_write_json
from scenarios.report.comparisons import group_key, significance
from scenarios.report.multiplicity import DEFAULT_CORRECTION, adjust_family, family_sentence
from scenarios.report.tables import p_header, p_text, verdict, withhold
from scenarios.run.results import NAMES
from scenarios.run.rows import row_record

PLOT_NAME = "buckets.png"
COMPARISONS_NAME = "comparisons_buckets.json"


def _run_buckets(row: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The test buckets a finished run recorded, or None (not finished, or recorded before
    buckets existed)."""
    run = row_record(row)
    found = run.buckets if run is not None else {}
    return {label: dict(entry) for label, entry in found.items()} or None


def bucket_groups(
    rows: Sequence[dict[str, Any]], metric: str
) -> tuple[list[dict[str, Any]], dict[str, list[int | None]], int]:
    """Per configuration: mean ± std of `metric` per bucket over its seeds, with users.

    Returns:
        (groups, labels -> inclusive training-count range in first-seen order, runs that
        finished without bucket metrics). A group's `buckets[label]` is {"mean", "std",
        "users", "seeds"}; mean is None where the bucket has no user (never NaN).
    """
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    labels: dict[str, list[int | None]] = {}
    missing = 0
    for row in rows:
        recorded = _run_buckets(row)
        if recorded is None:
            finished = row.get("status") != "stale" and row.get("test_ndcg@10") not in ("", None)
            missing += int(finished)
            continue
        key = group_key(row)
        group = groups.setdefault(key, {"key": key, "values": {}, "users": {}, "seeds": 0})
        group["seeds"] += 1
        for label, entry in recorded.items():
            labels.setdefault(label, list(entry["train_count"]))
            group["users"].setdefault(label, int(entry["users"]))
            if entry["users"] and entry.get(metric) is not None:
                group["values"].setdefault(label, []).append(float(entry[metric]))
    return [_summary(g) for g in groups.values()], labels, missing


def _summary(group: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(NAMES, group["key"], strict=True))
    out["seeds"] = group["seeds"]
    out["buckets"] = {}
    for label, users in group["users"].items():
        values = group["values"].get(label, [])
        out["buckets"][label] = {
            "users": users,
            "seeds": len(values),
            "mean": float(np.mean(values)) if values else None,
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        }
    return out


def _encoders(g: dict[str, Any]) -> str:
    names = [Path(x).name for x in (g["text_encoder"], g["vision_encoder"]) if x]
    return " + ".join(names) or "–"


def _name(g: dict[str, Any], several: bool) -> str:
    return f"{g['scenario']} [{g['protocol']}]" if several else g["scenario"]


def _user_counts(groups: Sequence[dict[str, Any]], label: str) -> set[int]:
    return {g["buckets"][label]["users"] for g in groups if label in g["buckets"]}


def bucket_table(groups: Sequence[dict[str, Any]], labels: Sequence[str], metric: str) -> str:
    """Markdown: one row per configuration, one column per bucket (mean ± std over seeds);
    a bucket's users in its header when every configuration has the same, else per cell."""
    shared = {label: _user_counts(groups, label) for label in labels}
    heads = [
        f"{label} (n={next(iter(shared[label]))})" if len(shared[label]) == 1 else label
        for label in labels
    ]
    lines = [
        f"| scenario | method | encoders | seeds | {' | '.join(heads)} |",
        "|---|---|---|---|" + "---|" * len(labels),
    ]
    several = len({g["protocol"] for g in groups}) > 1
    for g in groups:
        cells = []
        for label in labels:
            b = g["buckets"].get(label)
            cell = "–" if b is None or b["mean"] is None else f"{b['mean']:.4f} ± {b['std']:.4f}"
            if b is not None and len(shared[label]) > 1:
                cell += f" (n={b['users']})"
            cells.append(cell)
        lines.append(
            f"| {_name(g, several)} | {g['method']} | {_encoders(g)} | {g['seeds']} "
            f"| {' | '.join(cells)} |"
        )
    return "\n".join(lines)


def bucket_comparisons(
    rows: Sequence[dict[str, Any]],
    baseline: str,
    labels: dict[str, list[int | None]],
    *,
    metric: str,
    correction: str = DEFAULT_CORRECTION,
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """label -> `scenarios.report.comparisons.significance` over that bucket's users, every
    configuration and bucket adjusted as one family (`correction`); and the family's size."""
    by_bucket = {
        label: significance(rows, baseline, metric=metric, bucket=(low, high))
        for label, (low, high) in labels.items()
    }
    size = adjust_family([c for found in by_bucket.values() for c in found], correction)
    return by_bucket, size


def _delta_cell(c: dict[str, Any] | None) -> str:
    if c is None or "error" in c:
        return "–"
    p = f"p={p_text(c['p_value'])}"
    if c.get("correction", "none") != "none":
        p += f", {p_header(c['correction'])}={p_text(c['p_adjusted'])}"
    return f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] {p}: {verdict(c)}"


def delta_table(by_bucket: dict[str, list[dict[str, Any]]], labels: Sequence[str]) -> str:
    """Markdown: per configuration and bucket, Δ vs the baseline [95% CI], the raw and
    the adjusted p, and the verdict (from the adjusted p)."""
    keys: list[tuple[str, ...]] = []
    cells: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for label in labels:
        for c in by_bucket[label]:
            key = tuple(c[name] for name in NAMES)
            if key not in keys:
                keys.append(key)
            cells[key, label] = c
    lines = [
        f"| scenario | method | encoders | {' | '.join(labels)} |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    several = len({k[4] for k in keys}) > 1
    for key in keys:
        g = dict(zip(NAMES, key, strict=True))
        mine = [cells.get((key, label)) for label in labels]
        errors = [c["error"] for c in mine if c is not None and "error" in c]
        if len(errors) == len(labels) and errors[0].startswith("no matching baseline"):
            row = errors[0] + " |" * (len(labels) - 1)  # said once, not once per bucket
        else:
            row = " | ".join(_delta_cell(c) for c in mine)
        lines.append(f"| {_name(g, several)} | {g['method']} | {_encoders(g)} | {row} |")
    return "\n".join(lines)


def where_it_helps(by_bucket: dict[str, list[dict[str, Any]]], labels: Sequence[str]) -> str:
    """One line per compared configuration: Δ and the ratio to the baseline per bucket, and
    the buckets where the difference is significant (whatever they show)."""
    lines = []
    keys: dict[tuple[str, ...], list[str]] = {}
    for label in labels:
        for c in by_bucket[label]:
            if "error" in c:
                continue
            ratio = f"{c['mean_b'] / c['mean_a']:.2g}×" if c["mean_a"] > 0 else "–"
            parts = keys.setdefault(tuple(c[name] for name in NAMES), [])
            mark = ", significant" if c["significant"] else ""
            parts.append(f"`{label}` {c['diff']:+.4f} ({ratio}{mark})")
    several = len({k[4] for k in keys}) > 1
    for key, parts in keys.items():
        g = dict(zip(NAMES, key, strict=True))
        name = f"{_name(g, several)} ({g['method']}, {_encoders(g)})"
        lines.append(f"- {name}: " + "; ".join(parts))
    return "\n".join(lines)


def plot_buckets(
    groups: Sequence[dict[str, Any]],
    labels: Sequence[str],
    metric: str,
    path: Path,
    *,
    caption: str = "",
    yscale: str = "linear",
) -> Path | None:
    """`metric` (mean ± std over seeds) per bucket on a categorical x axis, each
    configuration a point beside the others in every bucket (no line joins buckets: they
    are categories), `caption` under it, on a `linear` or `log` y axis (`log` keeps the cold
    buckets' small values visible); PNG, PDF and SVG beside `path`. Returns the PNG, or None
    when no bucket has a value."""
    if not any(b["mean"] is not None for g in groups for b in g["buckets"].values()):
        return None
    from scenarios.report.plots import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    draw_buckets(ax, groups, labels, metric, yscale)
    return save_figure(fig, ax, path, caption)


def draw_buckets(
    ax: Any, groups: Sequence[dict[str, Any]], labels: Sequence[str], metric: str, yscale: str
) -> None:
    """`plot_buckets`' drawing on `ax`: bucket i at x = i, configuration j offset within it."""
    from scenarios.report.plots import legend_label, style

    if yscale not in ("linear", "log"):
        raise ValueError(f"yscale must be 'linear' or 'log', not {yscale!r}")
    several = len({g["protocol"] for g in groups}) > 1
    step = min(0.8 / max(len(groups), 1), 0.15)
    for j, g in enumerate(groups):
        offset = (j - (len(groups) - 1) / 2) * step
        found = [(i, g["buckets"].get(label)) for i, label in enumerate(labels)]
        keep = [(i, b) for i, b in found if b is not None and b["mean"] is not None]
        if yscale == "log":  # a zero has no place on a log axis: left out, not drawn at 0
            keep = [(i, b) for i, b in keep if b["mean"] > 0]
        ax.errorbar(
            [i + offset for i, _ in keep],
            [b["mean"] for _, b in keep],
            yerr=[b["std"] for _, b in keep],
            capsize=3,
            linestyle="none",
            label=legend_label(g, several),
            **style(j),
        )
    ticks = []
    for label in labels:  # a bucket's users under its name when every configuration agrees
        users = _user_counts(groups, label)
        ticks.append(f"{label}\n(n={users.pop()})" if len(users) == 1 else label)
    ax.set_xticks(range(len(labels)), ticks)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_yscale(yscale)
    ax.set_xlabel("target item's interactions in the training part (popularity bucket)")
    scale = ", log scale" if yscale == "log" else ""
    ax.set_ylabel(f"test {metric.upper()} (mean ± std over seeds{scale})")
    ax.set_title(f"{metric.upper()} by popularity bucket")


ID_NOTE = (
    "Methods that read no content (`{methods}`) have no input for an item they never "
    "trained on: their `cold` figures are what an embedding row without a positive training "
    "signal gives, shown, not hidden. Under leave-one-out a cold item's row is at most a "
    "negative of the full softmax (pushed down, never up); under the new-item protocol the "
    "withheld items' rows are never touched: their random initialisation ranks them."
)
HOW_TO_READ = (
    "Popularity buckets: how often the test target occurs in the training part of the split "
    "(`cold` = never: a new item, or one seen only as a validation or test target). "
    "{metric} is the mean over the bucket's test users, mean ± std over seeds; the "
    "user-weighted mean of the buckets is the overall figure. Under the new-item protocol "
    "every test target is cold."
)


def write_bucket_report(
    out_dir: Path,
    rows: Sequence[dict[str, Any]],
    baseline: str | None,
    *,
    metric: str = "ndcg@10",
    correction: str = DEFAULT_CORRECTION,
    no_verdict: str | None = None,
) -> str:
    """Write comparisons_buckets.json and buckets (.png, .pdf, .svg); return the report.md
    section. Every configuration × bucket comparison is one family adjusted by `correction`;
    `no_verdict` withholds every verdict for that reason (`scenarios.report.tables.withhold`)."""
    groups, labels, missing = bucket_groups(rows, metric)
    if not groups:
        return ""
    label_names = list(labels)
    parts = [
        f"## {metric.upper()} by popularity bucket",
        "",
        HOW_TO_READ.format(metric=metric.upper()),
        "",
        bucket_table(groups, label_names, metric),
        "",
    ]
    content_free = sorted({g["method"] for g in groups if not _reads_content(g["method"])})
    if content_free:
        parts += [ID_NOTE.format(methods="`, `".join(content_free)), ""]
    if missing:
        parts += [f"{missing} finished runs recorded no buckets (made before they existed).", ""]
    by_bucket, size = (
        bucket_comparisons(rows, baseline, labels, metric=metric, correction=correction)
        if baseline
        else ({}, 0)
    )
    withhold([c for found in by_bucket.values() for c in found], no_verdict)
    atomic_write_json(Path(out_dir) / COMPARISONS_NAME, by_bucket)
    if any(by_bucket.values()):
        parts += [
            f"### Against `{baseline}` per bucket",
            "",
            "Δ = configuration − baseline, over the bucket's test users paired by id "
            "(same test and pairing rules as the overall comparison above): Δ [95% CI] "
            f"p = raw p-value{_adjusted_legend(correction)}: verdict. "
            + family_sentence(correction, size, "every configuration × bucket below"),
            "",
            delta_table(by_bucket, label_names),
            "",
            "Where the difference lies: per bucket, Δ and the configuration's mean as a "
            "multiple of the baseline's:",
            "",
            where_it_helps(by_bucket, label_names),
            "",
        ]
    from scenarios.report.plots import caption_of_rows

    caption = caption_of_rows(rows)
    plot = plot_buckets(groups, label_names, metric, Path(out_dir) / PLOT_NAME, caption=caption)
    if plot is not None:
        parts += [f"![{metric} by popularity bucket]({plot.name})", ""]
    return "\n".join(parts)


def _adjusted_legend(correction: str) -> str:
    return "" if correction == "none" else f", {p_header(correction)} = adjusted p-value"


def _reads_content(method: str) -> bool:
    from recsys.errors import ConfigError
    from recsys.methods import get_method

    try:
        return get_method(method).needs_channels
    except ConfigError:
        return True
