"""One table of every finished run under some folders: `toolkit results DIR ...`.

The folders are searched recursively for grid output folders (a runs.csv: its finished rows,
named as the grid named them) and run folders (a results.json), both gathered by
`scenarios.report.compare.load_runs`; a run reached both ways is one row. A folder that looks like
a run (config.json, cell.json or metrics.jsonl) but has no results.json, a grid row that did
not finish, and a results.json that cannot be read are each reported as "skipped RUN: why",
never dropped silently. An `eval-<hash>/` folder inside a run (the run re-scored under other
evaluation settings, `toolkit evaluate`) is a scoring, not a run: it is a row only when a
grid's runs.csv lists it, i.e. when a grid's `report_eval-<settings>/` folder (`toolkit grid
--report-eval`) is given itself; searching a grid folder skips those, so each run is one row
"as trained" (the `scored` column says which).

A row: the configuration (scenario, method, encoders), the data (dataset name and content
hash), the protocol (`scenarios.run.results.protocol_of`) and seed; every test metric
results.json holds (`test_hr@K`, `test_ndcg@K`, `test_mrr[@K]`), the validation value of the
metric that selected the epoch; the cost (`efficiency`: seconds per epoch, epochs timed,
their product as `train_seconds`, memory, parameters); and the code identity (toolkit
version, `scenarios.run.results.Code`).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.report.compare import load_runs
from scenarios.run.results import read_run
from scenarios.run.rows import UNFINISHED, grid_run_dir

FORMATS = ("markdown", "csv", "json")
HEAD = (
    "scenario", "method", "text_encoder", "vision_encoder", "dataset", "protocol", "scored", "seed"
)  # fmt: skip
"""`scored`: "as trained", or the `eval-...` folder of a re-scoring (`toolkit evaluate`)."""
COST = (
    "seconds_per_epoch",
    "device",
    "torch_threads",
    "epochs_timed",
    "train_seconds",
    "memory_mb",
    "memory_kind",
    "peak_rss_mb",
    "trainable_params",
    "total_params",
)
TAIL = ("toolkit_version", "code", "commit", "dataset_hash", "run_dir")
RUN_FILES = ("config.json", "cell.json", "metrics.jsonl")  # a run folder, finished or not


@dataclass(frozen=True)
class ResultsTable:
    """Every finished run as one row (`columns` in order), and what was skipped and why."""

    rows: list[dict[str, Any]]
    columns: list[str]
    skipped: list[str] = field(default_factory=list)

    def render(self, fmt: str = "markdown") -> str:
        """The table as `markdown` (hashes shortened to 12 characters), `csv` or `json` (a
        list of row objects)."""
        if fmt == "json":
            return json.dumps(self.rows, indent=2, ensure_ascii=False, default=str) + "\n"
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
            return buffer.getvalue()
        if fmt != "markdown":
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(k, row.get(k)) for k in self.columns) + " |")
        return "\n".join(lines) + "\n"

    def write(self, path: Path, fmt: str = "markdown") -> Path:
        """Write the table to `path` atomically; returns `path`."""
        from plumbing.io import atomic_write_text

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, self.render(fmt))
        return Path(path)


def _cell(key: str, value: Any) -> str:
    if value in ("", None):
        return "–"
    if isinstance(value, float):  # metrics to 4 places, costs to 2
        if key.startswith(("test_", "valid_")):
            return f"{value:.4f}"
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if key in ("code", "dataset_hash") and len(str(value)) > 12:
        return str(value)[:12]
    return str(value).replace("|", "\\|")


def _metric_order(name: str) -> tuple[int, int, str]:
    """hr, ndcg, mrr, others; then by K (`mrr` without a K after its cut-off forms)."""
    base, _, k = name.partition("@")
    rank = {"hr": 0, "ndcg": 1, "mrr": 2, "coverage": 3, "gini": 4, "entropy": 5}.get(base, 6)
    return rank, int(k) if k.isdigit() else 10**6, name


def _select_metric(results: Mapping[str, Any]) -> str:
    """The validation metric that selected the epoch (`train.select_metric`)."""
    for path in (("config", "train"), ("record", "scenario", "train")):
        found: Any = results
        for key in path:
            found = found.get(key) if isinstance(found, Mapping) else None
        if isinstance(found, Mapping) and found.get("select_metric"):
            return str(found["select_metric"])
    return "ndcg@10"


def table_row(found: dict[str, Any]) -> dict[str, Any]:
    """The table's row for one `load_runs` row (its run folder's results.json read again)."""
    run_dir = Path(found["run_dir"])
    run = read_run(run_dir)
    if not run.finished:
        raise ValueError("results.json holds no test metrics")
    results = run.results
    row: dict[str, Any] = {k: found.get(k, "") for k in HEAD}
    row["dataset"] = run.dataset or "unrecorded"
    row["scored"] = run_dir.name if run_dir.name.startswith("eval-") else "as trained"
    row.update({f"test_{k}": v for k, v in run.test.items()})
    row.update({f"test_{k}": v for k, v in (run.beyond.get("test") or {}).items()})
    select = _select_metric(results)
    row["selected_by"] = f"valid_{select}"
    row["valid_selected"] = run.valid.get(select, "")
    for key in COST:  # parameters from `params` for runs before efficiency recorded them
        value = getattr(run.efficiency, key)
        row[key] = "" if value is None else value
    row["toolkit_version"] = str(results.get("toolkit_version", ""))
    row.update(code=run.code.source, commit=run.code.commit or "")
    if found.get("code") not in (None, "", "unrecorded"):
        row["code"] = found["code"]  # the grid's (a re-scored cell keeps its training code)
    row["dataset_hash"] = found.get("dataset", "")
    row["run_dir"] = str(run_dir)
    return row


def _grid_skips(grid: Path) -> dict[Path, str]:
    """Run folder -> "skipped RUN: status (error)" for each grid row that did not finish."""
    with open(grid / "runs.csv", encoding="utf-8", newline="") as handle:
        listed = list(csv.DictReader(handle))
    found = {}
    for r in listed:
        if r.get("status") in UNFINISHED or r.get("test_ndcg@10") == "":
            run_dir = grid_run_dir(grid, r["run_dir"]) if r.get("run_dir") else grid
            error = f" ({r['error']})" if r.get("error") else ""
            found[run_dir.resolve()] = f"skipped {run_dir}: {r.get('status')}{error}"
    return found


def _candidates(root: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """Under `root`: grid folders, finished run folders, unfinished run folders."""
    grids, runs, unfinished = [], [], []
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        if any(part.startswith("report_eval-") for part in folder.relative_to(root).parts):
            continue  # a grid's re-scored report: its rows only when that folder is given
        if (folder / "runs.csv").is_file():
            grids.append(folder)
        if (folder / "results.json").is_file():
            if folder.name.startswith("eval-") and (folder.parent / "results.json").is_file():
                continue  # a re-scoring of the run above, not a run
            runs.append(folder)
        elif any((folder / name).is_file() for name in RUN_FILES):
            unfinished.append(folder)
    return grids, runs, unfinished


def gather(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """`load_runs` rows for every finished run under `paths` (grids first, so a run keeps
    its grid's names), once each; and the "skipped RUN: why" lines.

    Raises:
        ValueError: a path is not a folder, or holds no run (finished or not).
    """
    rows: dict[Path, dict[str, Any]] = {}
    skipped: dict[Path, str] = {}
    for root in map(Path, paths):
        if not root.is_dir():
            raise ValueError(f"{root}: not a folder")
        grids, runs, unfinished = _candidates(root)
        if not (grids or runs or unfinished):
            raise ValueError(f"{root}: no runs under it (no results.json or runs.csv)")
        for folder in [*grids, *runs]:
            try:
                found = load_runs([folder])
            except (ValueError, KeyError, OSError) as exc:
                skipped[folder.resolve()] = f"skipped {folder}: {str(exc).strip(chr(39))}"
                continue
            for row in found:
                rows.setdefault(Path(row["run_dir"]).resolve(), row)
            if folder in grids:
                skipped.update(_grid_skips(folder))
        for folder in unfinished:  # a grid's own line (status, error) says more
            skipped.setdefault(folder.resolve(), f"skipped {folder}: no results.json (unfinished)")
    return list(rows.values()), list(skipped.values())


def results_table(paths: Sequence[Path]) -> ResultsTable:
    """One row per finished run under `paths` (run and grid folders, searched recursively),
    sorted by dataset, protocol, configuration and seed; the metric columns are the union
    of what the runs recorded.

    Raises:
        ValueError: a path is not a folder, or holds no run.
    """
    found, skipped = gather(paths)
    rows = []
    for row in found:
        try:
            rows.append(table_row(row))
        except (OSError, ValueError) as exc:
            skipped.append(f"skipped {row['run_dir']}: {exc}")
    rows.sort(key=lambda r: (*(str(r[k]) for k in HEAD[:-1]), _seed(r["seed"])))
    metrics = sorted(
        {k.removeprefix("test_") for r in rows for k in r if k.startswith("test_")},
        key=_metric_order,
    )
    columns = [*HEAD, *(f"test_{m}" for m in metrics), "selected_by", "valid_selected"]
    columns += [*COST, *TAIL]
    return ResultsTable([{k: r.get(k, "") for k in columns} for r in rows], columns, skipped)


def _seed(value: Any) -> tuple[int, str]:
    try:
        return int(value), ""
    except (TypeError, ValueError):
        return 0, str(value)


def slug(text: str) -> str:
    """A file-name-safe form of a dataset name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "data"


def _figure_row(row: dict[str, Any]) -> dict[str, Any]:
    """A table row in the form the grid report's aggregation and figures read."""
    from scenarios.report.grid_report import COLUMNS

    out: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    out.update({k: v for k, v in row.items() if k in COLUMNS})
    run = read_run(row["run_dir"])
    channels = ((run.raw().get("record") or {}).get("scenario") or {}).get("channels") or []
    out["modalities"] = "+".join(str(c.get("modality")) for c in channels) or "id"
    out["head_params"] = run.efficiency.head_params or ""
    out.update(status="done", dataset_name=row["dataset"])
    return out


def plot_results(
    table: ResultsTable, out_dir: Path, *, metric: str = "ndcg@10", yscale: str = "linear"
) -> list[Path]:
    """The grid report's two figures from the table's runs alone (no training): quality vs
    cost and `metric` by popularity bucket, each as PNG, PDF and SVG, one pair per dataset
    (its name in the stem when there are several). Returns the files written.

    Raises:
        ValueError: an unknown `yscale`.
    """
    from scenarios.report.buckets import bucket_groups, plot_buckets
    from scenarios.report.grid_report import aggregate, plot_quality_vs_cost
    from scenarios.report.plots import FORMATS, caption_of_rows

    if yscale not in ("linear", "log"):
        raise ValueError(f"--bucket-scale must be linear or log, not {yscale!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_data: dict[str, list[dict[str, Any]]] = {}
    for row in table.rows:
        by_data.setdefault(str(row["dataset"]), []).append(_figure_row(row))
    written: list[Path] = []
    for name, rows in by_data.items():
        stem = "" if len(by_data) == 1 else f"-{slug(name)}"
        caption = caption_of_rows(rows)
        pngs = [plot_quality_vs_cost(aggregate(rows), out / f"quality_vs_cost{stem}.png", caption)]
        groups, labels, _ = bucket_groups(rows, metric)
        if groups:
            path = out / f"buckets{stem}.png"
            pngs.append(
                plot_buckets(groups, list(labels), metric, path, caption=caption, yscale=yscale)
            )
        written += [p.with_suffix(f".{f}") for p in pngs if p is not None for f in FORMATS]
    return written
