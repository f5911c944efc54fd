"""The grid report: runs.csv / runs.json, report.md and the quality-vs-cost plot.

Rows come from the run folders (results.json), so a report can be rebuilt at any time
from what is on disk. Per scenario, method, encoders and protocol: HR@10, NDCG@10 and MRR as
mean ± std over seeds, seconds per epoch, memory, trainable parameters and TPME (min-max over
the compared configurations). Text-only vs multimodal: per method, each scenario against the
matching text-only baseline with seed-aware paired statistics (`scenarios.report.comparisons`),
each table's p-values adjusted as one family (`scenarios.report.tables`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plumbing.io import atomic_write_json, atomic_write_text
from scenarios.report.code import code_note, withheld
from scenarios.report.comparisons import group_key, pick_baseline
from scenarios.report.cost import cost_note, setting_counts, settings_of
from scenarios.report.multiplicity import DEFAULT_CORRECTION
from scenarios.report.protocol import protocol_note, report_folder
from scenarios.report.tables import comparison_section, overall_comparisons
from scenarios.report.tuning import tuning_section
from scenarios.run.results import read_run
from scenarios.schema.specs import scenario_summary

METRICS = ("hr@10", "ndcg@10", "mrr")
COLUMNS = (
    "scenario",
    "method",
    "modalities",
    "text_encoder",
    "vision_encoder",
    "protocol",
    "test_users",
    "repeat_targets",
    "seed",
    "status",
    "error",
    "test_hr@10",
    "test_ndcg@10",
    "test_mrr",
    "valid_ndcg@10",
    "epochs",
    "seconds_per_epoch",
    "device",
    "torch_threads",
    "memory_mb",
    "memory_kind",
    "peak_rss_mb",
    "trainable_params",
    "head_params",
    "total_params",
    "caption_fingerprints",
    "code",
    "commit",
    "wall_seconds",
    "run_dir",
)


COST_COLUMNS = (  # runs.csv's columns of the run's `scenarios.run.results.Efficiency`
    "seconds_per_epoch",
    "device",
    "torch_threads",
    "memory_mb",
    "memory_kind",
    "peak_rss_mb",
    "trainable_params",
    "total_params",
    "head_params",
)


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
    scored = getattr(outcome, "results_dir", None)  # the cell scored under `report_eval`
    if scored is not None:
        row["run_dir"] = str(scored)  # where its results and per-user metrics are
    finished = (Path(row["run_dir"]) / "results.json").exists()
    if outcome.status in ("failed", "stale") or not finished:
        return row
    run = read_run(row["run_dir"])
    trained = run if scored is None else read_run(cell.run_dir)  # its code made the cell
    found = dict(
        protocol=run.protocol.label,
        test_users=run.protocol.test_users,  # None in runs recorded before eval.history
        repeat_targets=run.protocol.repeat_targets,
        **{f"test_{m}": run.test.get(m) for m in METRICS},
        **{"valid_ndcg@10": run.valid.get("ndcg@10")},
        epochs=run.epochs,
        **{k: getattr(run.efficiency, k) for k in COST_COLUMNS},
        caption_fingerprints=";".join(f"{k}={v[:12]}" for k, v in sorted(run.captions.items())),
        code=trained.code.source,
        commit=trained.code.commit,
    )
    row.update({k: "" if v is None else v for k, v in found.items()})  # runs.csv: "" missing
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
    """Mean ± std over seeds per (scenario, method, text encoder, vision encoder, protocol)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(group_key(row), []).append(row)
    out = []
    for key, members in groups.items():
        done = [r for r in members if _num(r["test_ndcg@10"]) is not None]
        agg: dict[str, Any] = key._asdict()  # scenario, method, encoders, protocol
        agg.update(
            modalities=members[0]["modalities"],
            seeds=len(done),
            failed=sum(r["status"] == "failed" for r in members),
            stale=sum(r["status"] == "stale" for r in members),
        )
        for col in (
            *(f"test_{m}" for m in METRICS),
            "seconds_per_epoch",
            "memory_mb",
            "trainable_params",
            "head_params",
            "total_params",
        ):
            values = [v for v in (_num(r[col]) for r in done) if v is not None]
            agg[col] = float(np.mean(values)) if values else None
            agg[f"{col}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        agg["memory_kind"] = next((r["memory_kind"] for r in done if r["memory_kind"]), "")
        agg["settings"] = settings_of(done)
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
        "| s/epoch | memory MB | trainable params | head params | TPME |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    several = len({g["protocol"] for g in groups}) > 1
    mixed = len(setting_counts(groups)) > 1
    for g in groups:
        name = f"{g['scenario']} [{g['protocol']}]" if several else g["scenario"]
        seconds = _fmt(g["seconds_per_epoch"], ".2f")
        if mixed and g["seconds_per_epoch"] is not None:
            seconds += f" ({' / '.join(g['settings']) or 'setting unrecorded'})"
        lines.append(
            f"| {name} | {g['method']} | {g['modalities']} | {_encoders(g)} "
            f"| {g['seeds']}{' (' + str(g['failed']) + ' failed)' if g['failed'] else ''} "
            f"| {_pm(g['test_hr@10'], g['test_hr@10_std'])} "
            f"| {_pm(g['test_ndcg@10'], g['test_ndcg@10_std'])} "
            f"| {_pm(g['test_mrr'], g['test_mrr_std'])} "
            f"| {seconds} | {_fmt(g['memory_mb'], '.1f')} "
            f"| {_fmt(g['trainable_params'], ',.0f')} | {_fmt(g['head_params'], ',.0f')} "
            f"| {_fmt(g['tpme'], '.3f')} |"
        )
    return "\n".join(lines)


def _inside(out_dir: Path, grid_dir: Path, run_dir: str) -> str:
    """`run_dir` relative to `out_dir` when it lies in the grid folder (read back by
    `scenarios.run.rows.grid_run_dir` from any working directory), else as given."""
    if not run_dir:
        return run_dir
    path, grid = Path(run_dir).resolve(), Path(grid_dir).resolve()
    if grid != path and grid not in path.parents:
        return str(run_dir)
    return Path(os.path.relpath(path, Path(out_dir).resolve())).as_posix()


def write_rows(out_dir: Path, rows: Sequence[dict[str, Any]], grid_dir: Path | None = None) -> None:
    """runs.csv and runs.json in `out_dir` (one row per cell; run folders inside the grid
    folder `grid_dir`, default `out_dir`, recorded relative to `out_dir`)."""
    grid_dir = out_dir if grid_dir is None else grid_dir
    rows = [{**r, "run_dir": _inside(out_dir, grid_dir, r["run_dir"])} for r in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "runs.csv", buffer.getvalue())
    atomic_write_json(out_dir / "runs.json", list(rows))


def plot_quality_vs_cost(
    groups: Sequence[dict[str, Any]], path: Path, caption: str = ""
) -> Path | None:
    """NDCG@10 (mean ± std over seeds) against seconds per training epoch, one colour and
    marker per configuration in one legend, `caption` (`scenarios.report.plots.caption_of_rows`)
    under it; PNG, PDF and SVG beside `path`. Returns the PNG, or None when nothing finished."""
    points = [g for g in groups if g["test_ndcg@10"] is not None and g["seconds_per_epoch"]]
    if not points:
        return None
    from scenarios.report.plots import legend_label, pyplot, save_figure, style

    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    several = len({g["protocol"] for g in points}) > 1
    for i, g in enumerate(sorted(points, key=lambda g: legend_label(g, several))):
        x, y, err = g["seconds_per_epoch"], g["test_ndcg@10"], g["test_ndcg@10_std"]
        label = legend_label(g, several)
        ax.errorbar([x], [y], yerr=[err], capsize=3, linestyle="none", label=label, **style(i))
    xs = [g["seconds_per_epoch"] for g in points]
    if min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("training seconds per epoch")
    ax.set_ylabel("test NDCG@10 (mean ± std over seeds)")
    ax.set_title("Quality vs training cost")
    return save_figure(fig, ax, path, caption)


def write_report(
    out_dir: Path,
    cells: Sequence[Any],
    outcomes: Sequence[Any],
    spec: Any,
    *,
    allow_mixed_code: bool = False,
) -> Path:
    """Write runs.csv, runs.json, report.md, quality_vs_cost (.png, .pdf, .svg), the
    bucket and beyond-accuracy outputs (scenarios.report.buckets, .report_beyond); returns
    report.md. Finished cells of more than one code identity get no verdict unless
    `allow_mixed_code` (scenarios.report.code)."""
    grid_dir = Path(out_dir)
    out_dir = grid_dir / report_folder(getattr(spec, "report_eval", ()))
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [row_for(o.cell, o) for o in outcomes]
    write_rows(out_dir, rows, grid_dir)
    groups = aggregate([r for r in rows if r["status"] != "stale"])
    baseline = pick_baseline(cells, getattr(spec, "baseline", None))
    metric = getattr(spec, "metric", "ndcg@10")
    correction = getattr(spec, "correction", DEFAULT_CORRECTION)
    stats = dict(metric=metric, correction=correction, no_verdict=withheld(rows, allow_mixed_code))
    comparisons = overall_comparisons(out_dir, rows, baseline, **stats)
    from scenarios.report.beyond import write_beyond_report  # beyond.png, comparisons_beyond
    from scenarios.report.buckets import write_bucket_report
    from scenarios.report.plots import caption_of_rows

    plot = plot_quality_vs_cost(groups, out_dir / "quality_vs_cost.png", caption_of_rows(rows))
    beyond = write_beyond_report(out_dir, rows, baseline, **stats)
    sections = (write_bucket_report(out_dir, rows, baseline, **stats), beyond)
    sections += (tuning_section(grid_dir, spec),)
    text = render_markdown(groups, comparisons, rows, baseline, metric, plot, sections, correction)
    if getattr(spec, "report_eval", ()):
        settings = " ".join(f"`{o}`" for o in spec.report_eval)
        text = text.replace(
            "# Grid report\n",
            f"# Grid report\n\nScored under {settings}: every run's best checkpoint, selected "
            "as the run was trained, re-scored without training (each run's `eval-<hash>/`).\n",
            1,
        )
    if note := code_note(rows, allow_mixed_code):  # first: it qualifies everything below
        text = text.replace("# Grid report\n", f"# Grid report\n\n{note}", 1)
    atomic_write_text(report := out_dir / "report.md", text)
    return report


def render_markdown(
    groups: Sequence[dict[str, Any]],
    comparisons: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    baseline: str | None,
    metric: str,
    plot: Path | None,
    sections: Sequence[str] = (),
    correction: str = DEFAULT_CORRECTION,
) -> str:
    """The whole report.md; `sections` (e.g. the popularity buckets) follow the plot;
    `correction` is the one `comparisons` were adjusted with (`scenarios.report.multiplicity`)."""
    memory_kinds = sorted({g["memory_kind"] for g in groups if g["memory_kind"]})
    protocols = ", ".join(sorted({g["protocol"] for g in groups if g["protocol"]}))
    parts = [
        "# Grid report",
        "",
        f"Test metrics, mean ± std over seeds, under each row's protocol ({protocols or '–'}). "
        f"Memory: {', '.join(memory_kinds) or 'not recorded'}. TPME (lower is better) "
        "min-max normalises time, trainable parameters and memory over the configurations "
        "below, then weighs them 0.45 / 0.10 / 0.45.",
        "",
        *([note, ""] if (note := protocol_note(rows)) else []),
        markdown_table(groups),
        "",
        *([note, ""] if (note := cost_note(groups)) else []),
    ]
    if "cpu_rss_growth" in memory_kinds:
        parts += [
            "On CPU, memory is the growth of resident memory during training. Cells of one "
            "grid share a process, so later runs reuse memory earlier ones allocated: compare "
            "memory (and TPME's memory term) only between runs in separate processes, as "
            "`benchmarks/efficiency.py` does.",
            "",
        ]
    parts += comparison_section(comparisons, baseline, metric, correction)
    if plot is not None:
        parts += [f"![quality vs cost]({plot.name})", ""]
    parts += [section for section in sections if section]
    stale = [r for r in rows if r["status"] == "stale"]
    if stale:
        parts += ["## Stale runs (not in the tables)", ""]
        parts += [
            f"- {r['scenario']} / {r['method']} / seed {r['seed']}: {r['error']}" for r in stale
        ]
        parts.append("")
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
