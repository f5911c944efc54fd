"""The grid report: runs.csv / runs.json, report.md and the quality-vs-cost plot.

Rows come from the run folders (results.json), so a report can be rebuilt at any time
from what is on disk. Per scenario, method and encoders: HR@10, NDCG@10 and MRR as mean ±
std over seeds, seconds per epoch, memory, trainable parameters and TPME (min-max over the
compared configurations). Text-only vs multimodal: per method, each scenario against the
text-only baseline with a paired test over test users (t-test and bootstrap).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from media.io import atomic_write_json, atomic_write_text
from scenarios.schema import scenario_summary

METRICS = ("hr@10", "ndcg@10", "mrr")
COLUMNS = (
    "scenario",
    "method",
    "modalities",
    "text_encoder",
    "vision_encoder",
    "seed",
    "status",
    "error",
    "test_hr@10",
    "test_ndcg@10",
    "test_mrr",
    "valid_ndcg@10",
    "epochs",
    "seconds_per_epoch",
    "memory_mb",
    "memory_kind",
    "peak_rss_mb",
    "trainable_params",
    "total_params",
    "caption_fingerprints",
    "wall_seconds",
    "run_dir",
)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def metrics_of(results: dict[str, Any], part: str) -> dict[str, float]:
    """Test or validation metrics from results.json, wherever the trainer put them."""
    for path in ((part,), ("metrics", part), (f"{part}_metrics",), ("best", part)):
        found = _get(results, *path)
        if isinstance(found, dict) and found:
            return {k: v for k, v in found.items() if isinstance(v, int | float)}
    return {}


def efficiency_of(results: dict[str, Any]) -> dict[str, Any]:
    found = _get(results, "efficiency")
    return found if isinstance(found, dict) else {}


def row_for(cell: Any, outcome: Any) -> dict[str, Any]:
    """One runs.csv row for a grid cell (from its results.json when it finished)."""
    s = cell.scenario
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row.update(
        scenario=s.name,
        method=s.method,
        modalities=scenario_summary(s)["modalities"],
        text_encoder=cell.text_encoder or _first_model(s, text=True),
        vision_encoder=cell.vision_encoder or _first_model(s, text=False),
        seed=cell.seed,
        status=outcome.status,
        error=outcome.error,
        wall_seconds=round(outcome.seconds, 2),
        run_dir=str(cell.run_dir),
    )
    results_file = cell.run_dir / "results.json"
    if outcome.status == "failed" or not results_file.exists():
        return row
    results = json.loads(results_file.read_text(encoding="utf-8"))
    test, valid, eff = (
        metrics_of(results, "test"),
        metrics_of(results, "valid"),
        efficiency_of(results),
    )
    row.update({f"test_{m}": test.get(m, "") for m in METRICS})
    row["valid_ndcg@10"] = valid.get("ndcg@10", "")
    for key in ("seconds_per_epoch", "memory_mb", "memory_kind", "peak_rss_mb"):
        row[key] = eff.get(key, "")
    for key in ("trainable_params", "total_params"):
        row[key] = eff.get(key, _get(results, "params", key.removesuffix("_params")) or "")
    row["epochs"] = results.get("epochs_run", "")
    captions = _get(results, "record", "captions") or _get(results, "captions") or {}
    row["caption_fingerprints"] = ";".join(
        f"{k}={v.get('fingerprint', '')[:12]}" for k, v in sorted(captions.items())
    )
    return row


def _first_model(scenario: Any, *, text: bool) -> str:
    for ch in scenario.channels:
        if (ch.modality == "text") == text:
            return ch.encoder.model
    return ""


# ---------------------------------------------------------------- aggregation


def _num(value: Any) -> float | None:
    if value in ("", None):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std over seeds per (scenario, method, text encoder, vision encoder)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row["scenario"], row["method"], row["text_encoder"], row["vision_encoder"])
        groups.setdefault(key, []).append(row)
    out = []
    for key, members in groups.items():
        done = [r for r in members if _num(r["test_ndcg@10"]) is not None]
        agg: dict[str, Any] = {
            "scenario": key[0],
            "method": key[1],
            "text_encoder": key[2],
            "vision_encoder": key[3],
            "modalities": members[0]["modalities"],
            "seeds": len(done),
            "failed": sum(r["status"] == "failed" for r in members),
        }
        for col in (
            *(f"test_{m}" for m in METRICS),
            "seconds_per_epoch",
            "memory_mb",
            "trainable_params",
            "total_params",
        ):
            values = [v for v in (_num(r[col]) for r in done) if v is not None]
            agg[col] = float(np.mean(values)) if values else None
            agg[f"{col}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        agg["memory_kind"] = next((r["memory_kind"] for r in done if r["memory_kind"]), "")
        out.append(agg)
    _add_tpme(out)
    return out


def _add_tpme(groups: list[dict[str, Any]]) -> None:
    """TPME over every configuration of the grid that has a full efficiency record."""
    complete = {
        i: {
            "seconds_per_epoch": g["seconds_per_epoch"],
            "trainable_params": g["trainable_params"],
            "memory_mb": g["memory_mb"],
            "memory_kind": g["memory_kind"] or None,
        }
        for i, g in enumerate(groups)
        if None not in (g["seconds_per_epoch"], g["trainable_params"], g["memory_mb"])
    }
    for g in groups:
        g["tpme"] = None
    if len(complete) < 2:
        return
    from recsys.eval.efficiency import tpme

    scores = tpme({str(i): rec for i, rec in complete.items()})
    for i in complete:
        groups[i]["tpme"] = scores[str(i)]


# ---------------------------------------------------------------- significance


def user_metrics(run_dir: Path, metric: str) -> dict[str, float]:
    """Per-test-user values of `metric` from a run's `test_per_user.csv` (user id -> value)."""
    path = Path(run_dir) / "test_per_user.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no per-user test metrics")
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["user_id"]: float(row[metric]) for row in csv.DictReader(handle)}


def _seed_averaged(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, float]:
    """User id -> metric averaged over the given runs (users present in all of them)."""
    per_run = [user_metrics(Path(r["run_dir"]), metric) for r in rows]
    users = set(per_run[0]).intersection(*per_run[1:]) if per_run else set()
    return {u: float(np.mean([m[u] for m in per_run])) for u in users}


def pick_baseline(cells: Sequence[Any], requested: str | None) -> str | None:
    """The text-only reference scenario: the requested one, else the first text-only one."""
    names = [c.scenario.name for c in cells]
    if requested:
        return requested if requested in names else None
    for cell in cells:
        summary = scenario_summary(cell.scenario)
        if summary["text_only"]:
            return cell.scenario.name
    return None


def significance(
    rows: Sequence[dict[str, Any]],
    baseline: str,
    *,
    metric: str = "ndcg@10",
    samples: int = 10_000,
) -> list[dict[str, Any]]:
    """Each scenario vs the baseline scenario, per method and text encoder.

    Per user, the metric is averaged over the seeds both configurations finished; users
    are paired by id. Returns one dict per comparison with the `PairedComparison` fields.
    """
    from scenarios.stats import compare_paired

    done = [r for r in rows if _num(r["test_ndcg@10"]) is not None]
    out = []
    keyed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in done:
        keyed.setdefault(
            (r["scenario"], r["method"], r["text_encoder"], r["vision_encoder"]), []
        ).append(r)
    for (scenario, method, text_enc, vision_enc), members in keyed.items():
        if scenario == baseline:
            continue
        base = [r for r in done if r["scenario"] == baseline and r["method"] == method]
        same_text = [r for r in base if r["text_encoder"] == text_enc]
        base = same_text or base
        seeds = {r["seed"] for r in members} & {r["seed"] for r in base}
        if not seeds:
            continue
        try:
            a = _seed_averaged([r for r in base if r["seed"] in seeds], metric)
            b = _seed_averaged([r for r in members if r["seed"] in seeds], metric)
        except (FileNotFoundError, KeyError) as exc:
            out.append({"scenario": scenario, "method": method, "error": str(exc)})
            continue
        users = sorted(set(a) & set(b))
        result = compare_paired(
            np.array([a[u] for u in users]), np.array([b[u] for u in users]), samples=samples
        )
        out.append(
            {
                "scenario": scenario,
                "baseline": baseline,
                "method": method,
                "text_encoder": text_enc,
                "vision_encoder": vision_enc,
                "metric": metric,
                "seeds": len(seeds),
                **result.__dict__,
            }
        )
    return out


# ---------------------------------------------------------------- writing


def _pm(mean: Any, std: Any, digits: int = 4) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _encoders(g: dict[str, Any]) -> str:
    names = [Path(x).name for x in (g["text_encoder"], g["vision_encoder"]) if x]
    return " + ".join(names) or "–"


def markdown_table(groups: Sequence[dict[str, Any]]) -> str:
    """The per-configuration table (quality mean ± std over seeds, and cost)."""
    lines = [
        "| scenario | method | inputs | encoders | seeds | HR@10 | NDCG@10 | MRR "
        "| s/epoch | memory MB | trainable params | TPME |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in groups:
        lines.append(
            f"| {g['scenario']} | {g['method']} | {g['modalities']} | {_encoders(g)} "
            f"| {g['seeds']}{' (' + str(g['failed']) + ' failed)' if g['failed'] else ''} "
            f"| {_pm(g['test_hr@10'], g['test_hr@10_std'])} "
            f"| {_pm(g['test_ndcg@10'], g['test_ndcg@10_std'])} "
            f"| {_pm(g['test_mrr'], g['test_mrr_std'])} "
            f"| {_fmt(g['seconds_per_epoch'], '.2f')} | {_fmt(g['memory_mb'], '.1f')} "
            f"| {_fmt(g['trainable_params'], ',.0f')} | {_fmt(g['tpme'], '.3f')} |"
        )
    return "\n".join(lines)


def significance_table(comparisons: Sequence[dict[str, Any]]) -> str:
    """The text-only vs other scenarios table (paired over test users)."""
    lines = [
        "| scenario | method | vs | users | seeds | metric | mean (vs) | mean | Δ | 95% CI "
        "| p (t-test) | p (bootstrap) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        if "error" in c:
            lines.append(f"| {c['scenario']} | {c['method']} | – | {c['error']} |" + " |" * 8)
            continue
        lines.append(
            f"| {c['scenario']} | {c['method']} | {c['baseline']} | {c['n']} | {c['seeds']} "
            f"| {c['metric']} | {c['mean_a']:.4f} | {c['mean_b']:.4f} | {c['diff']:+.4f} "
            f"| [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] | {c['p_ttest']:.2g} "
            f"| {c['p_bootstrap']:.2g} |"
        )
    return "\n".join(lines)


def write_rows(out_dir: Path, rows: Sequence[dict[str, Any]]) -> None:
    """runs.csv and runs.json (one row per cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "runs.csv", buffer.getvalue())
    atomic_write_json(out_dir / "runs.json", list(rows))


def plot_quality_vs_cost(groups: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """NDCG@10 (mean ± std over seeds) against seconds per training epoch, one marker per
    method, each point labelled with its scenario. Returns None when nothing finished."""
    points = [g for g in groups if g["test_ndcg@10"] is not None and g["seconds_per_epoch"]]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    markers = "osD^v<>P*X"
    methods = sorted({g["method"] for g in points})
    for i, method in enumerate(methods):
        mine = [g for g in points if g["method"] == method]
        ax.errorbar(
            [g["seconds_per_epoch"] for g in mine],
            [g["test_ndcg@10"] for g in mine],
            yerr=[g["test_ndcg@10_std"] for g in mine],
            fmt=markers[i % len(markers)],
            capsize=3,
            label=method,
        )
        for g in mine:
            ax.annotate(
                g["scenario"],
                (g["seconds_per_epoch"], g["test_ndcg@10"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
    xs = [g["seconds_per_epoch"] for g in points]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("training seconds per epoch")
    ax.set_ylabel("test NDCG@10 (mean ± std over seeds)")
    ax.set_title("Quality vs training cost")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    from media.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def write_report(out_dir: Path, cells: Sequence[Any], outcomes: Sequence[Any], spec: Any) -> Path:
    """Write runs.csv, runs.json, report.md and quality_vs_cost.png; returns report.md."""
    out_dir = Path(out_dir)
    rows = [row_for(o.cell, o) for o in outcomes]
    write_rows(out_dir, rows)
    groups = aggregate(rows)
    baseline = pick_baseline(cells, getattr(spec, "baseline", None))
    metric = getattr(spec, "metric", "ndcg@10")
    comparisons = (
        significance(
            rows, baseline, metric=metric, samples=getattr(spec, "bootstrap_samples", 10_000)
        )
        if baseline
        else []
    )
    atomic_write_json(out_dir / "comparisons.json", comparisons)
    plot = plot_quality_vs_cost(groups, out_dir / "quality_vs_cost.png")
    text = render_markdown(groups, comparisons, rows, baseline, metric, plot)
    atomic_write_text(out_dir / "report.md", text)
    return out_dir / "report.md"


def render_markdown(
    groups: Sequence[dict[str, Any]],
    comparisons: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    baseline: str | None,
    metric: str,
    plot: Path | None,
) -> str:
    """The whole report.md."""
    memory_kinds = sorted({g["memory_kind"] for g in groups if g["memory_kind"]})
    parts = [
        "# Grid report",
        "",
        "Test metrics under the leave-one-out full-ranking protocol, mean ± std over seeds. "
        f"Memory: {', '.join(memory_kinds) or 'not recorded'}. TPME (lower is better) "
        "min-max normalises time, trainable parameters and memory over the configurations "
        "below, then weighs them 0.45 / 0.10 / 0.45.",
        "",
        markdown_table(groups),
        "",
    ]
    if "cpu_rss_growth" in memory_kinds:
        parts += [
            "On CPU, memory is the growth of resident memory during training. Cells of one "
            "grid share a process, so later runs reuse memory earlier ones allocated: compare "
            "memory (and TPME's memory term) only between runs in separate processes, as "
            "`benchmarks/efficiency.py` does.",
            "",
        ]
    if baseline is None:
        parts += ["No text-only baseline scenario in this grid: no significance tests.", ""]
    else:
        parts += [
            f"## Against the text-only baseline `{baseline}`",
            "",
            f"Paired over test users ({metric} per user, averaged over the seeds both sides "
            "finished): paired t-test and paired bootstrap (two-sided), with the bootstrap "
            "95% interval of the mean difference. The bootstrap p-value cannot go below "
            "2 / (resamples + 1).",
            "",
            significance_table(comparisons) if comparisons else "(nothing to compare yet)",
            "",
        ]
    if plot is not None:
        parts += [f"![quality vs cost]({plot.name})", ""]
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        parts += ["## Failed runs", ""]
        parts += [
            f"- {r['scenario']} / {r['method']} / seed {r['seed']}: {r['error']} "
            f"(see {r['run_dir']}/error.txt)"
            for r in failed
        ]
        parts.append("")
    return "\n".join(parts)
