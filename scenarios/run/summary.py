"""What a run's end shows on screen: one status line that says what was done, and a small
table of the numbers a researcher looks for first, all read from the run's results.json.

`run_summary` is the JSON form (`toolkit run-scenario --json`), `summary_table` the table
(`rich`), `summary_line` the one-line form a grid prints per cell and `status_line` the
honest account of the call ("already complete: ...; nothing trained"). Each names the data
it ran on, the users the split kept and dropped and the items ranked of those defined;
`split_warnings` says so loudly when more than a fifth of either was dropped.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scenarios.run.results import beyond_of, from_results

BEYOND_ROW = "test coverage@10 / tail@10"  # the summary table's beyond-accuracy row
SUMMARY_METRICS = (("hr@10", "test HR@10"), ("ndcg@10", "test NDCG@10"), ("mrr", "test MRR"))


def _cutoff(key: str) -> int | None:
    """10 of "ndcg@10"; None for a metric without a cut-off (mrr)."""
    head, _, k = key.partition("@")
    return int(k) if head in ("hr", "ndcg") and k.isdigit() else None


def summary_metrics(keys: Sequence[str]) -> list[tuple[str, str]]:
    """(key, row name) of the test metrics to show: HR and NDCG at every cut-off the run
    reported (its `eval.ks`, smallest first), then MRR; the @10 defaults when none is
    recorded."""
    ks = sorted({k for k in map(_cutoff, keys) if k is not None})
    if not ks:
        return list(SUMMARY_METRICS)
    pairs = [(f"{m}@{k}", f"test {m.upper()}@{k}") for k in ks for m in ("hr", "ndcg")]
    return [*pairs, ("mrr", "test MRR")]


def summary_of(
    results: Mapping[str, Any], *, run_dir: Path, results_dir: Path, status: str = ""
) -> dict[str, Any]:
    """The summary of one results.json (plain values, JSON-able)."""
    run = from_results(results, run_dir)
    raw = run.raw()
    dataset, source = raw.get("dataset") or {}, (raw.get("record") or {}).get("dataset") or {}
    summary = {
        "run_dir": str(run_dir),
        "results_file": str(Path(results_dir) / "results.json"),
        "status": status,
        "method": results.get("method"),
        "seed": results.get("seed"),
        "protocol": run.protocol.label,
        "repeat_targets": run.protocol.repeat_targets,
        "repeat_share": run.protocol.repeat_share,
        "test": {key: run.test.get(key) for key, _ in summary_metrics(list(run.test))},
        "beyond": beyond_of(raw),  # coverage@10, tail@10 (None: not recorded)
        "best_epoch": run.best_epoch,
        "epochs": run.epochs,
        "stop_reason": run.stop_reason,
        "seconds_per_epoch": run.efficiency.seconds_per_epoch,
        "trainable_params": (raw.get("params") or {}).get("trainable"),
        "dataset": run.dataset,
        "dataset_path": source.get("path"),
        "users": dataset.get("users"),
        "dropped_users": dataset.get("dropped_users"),
        "items_ranked": dataset.get("items"),
        "items_defined": dataset.get("items_defined"),
        "catalogue": dataset.get("catalogue"),
    }
    return summary | {"warnings": split_warnings(summary)}


def run_summary(run: Any) -> dict[str, Any]:
    """The summary of a `recsys.run.RunResult` (its results.json read from disk)."""
    from recsys.fingerprints import read_results

    folder = Path(run.results_dir or run.out_dir)
    results = read_results(folder / "results.json") or {}
    return summary_of(results, run_dir=run.out_dir, results_dir=folder, status=run.status)


def beyond_cell(summary: Mapping[str, Any], *, named: bool = True) -> str:
    """ "coverage@10 0.1234, tail@10 0.0567" of a run summary (`named=False`: the values
    only, "0.1234 / 0.0567"); "–" for a run recorded without them."""
    found = summary.get("beyond") or {}
    values = [found.get(key) for key in ("coverage@10", "tail@10")]
    text = ["–" if v is None else f"{v:.4f}" for v in values]
    return f"coverage@10 {text[0]}, tail@10 {text[1]}" if named else " / ".join(text)


def _number(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "–"


def status_line(summary: Mapping[str, Any], resumed_from: int = 0) -> str:
    """What the call did, in one line."""
    ndcg = _number(summary["test"].get("ndcg@10"), ".4f")
    run_dir, status = summary["run_dir"], summary["status"]
    if status == "complete":
        where = Path(summary["results_file"]).parent
        return f"already complete: {where} (test NDCG@10 {ndcg}); nothing trained"
    if status == "evaluated":
        return (
            f"already trained: {run_dir}; its best checkpoint scored under these evaluation "
            f"settings into {Path(summary['results_file']).parent} (test NDCG@10 {ndcg}); "
            "nothing trained"
        )
    if status == "resumed":
        return f"results written to {run_dir} (resumed at epoch {resumed_from + 1})"
    return f"results written to {run_dir}"


def summary_line(summary: Mapping[str, Any]) -> str:
    """The numbers of one run in one line (a grid's per-cell line), its data, and any
    `split_warnings` at its end."""
    test = summary["test"]
    line = (
        f"test NDCG@10 {_number(test.get('ndcg@10'), '.4f')}, "
        f"HR@10 {_number(test.get('hr@10'), '.4f')}, MRR {_number(test.get('mrr'), '.4f')}; "
        f"{beyond_cell(summary)}; "
        f"best epoch {summary['best_epoch']} of {summary['epochs']}, "
        f"{_number(summary['seconds_per_epoch'], '.2f')} s/epoch; "
        f"on {summary.get('dataset') or '–'}: users {_users(summary)}, "
        f"items {_items(summary)}"
    )
    return "; ".join([line, *split_warnings(summary)])


def _users(summary: Mapping[str, Any]) -> str:
    """The users the split kept, and in brackets those it dropped."""
    kept, dropped = summary.get("users"), summary.get("dropped_users")
    return f"{_number(kept, ',')} ({_number(dropped, ',')} dropped)"


def _items(summary: Mapping[str, Any]) -> str:
    """The items ranked, of those the dataset defines."""
    ranked, defined = summary.get("items_ranked"), summary.get("items_defined")
    return f"{_number(ranked, ',')} of {_number(defined or ranked, ',')} ranked"


DROPPED_SHARE = 0.2  # above this share of users or of the catalogue dropped: a warning


def split_warnings(summary: Mapping[str, Any]) -> list[str]:
    """Lines starting "warning:" when the split dropped more than a fifth of the users or of the
    catalogue (the run's numbers then describe a small corner of the data)."""
    lines = []
    kept, dropped = summary.get("users"), summary.get("dropped_users")
    if (
        isinstance(kept, int)
        and isinstance(dropped, int)
        and dropped > DROPPED_SHARE * (kept + dropped)
    ):
        lines.append(
            f"warning: the split dropped {dropped:,} of {kept + dropped:,} users "
            f"({dropped / (kept + dropped):.0%}); only {kept:,} are trained and evaluated"
        )
    ranked, defined = summary.get("items_ranked"), summary.get("items_defined")
    if (
        isinstance(ranked, int)
        and isinstance(defined, int)
        and defined - ranked > (DROPPED_SHARE * defined)
    ):
        lines.append(
            f"warning: only {ranked:,} of the {defined:,} catalogue items are ranked "
            f"({(defined - ranked) / defined:.0%} dropped by the split)"
        )
    return lines


def _rows(summary: Mapping[str, Any], metrics: Sequence[tuple[str, str]]) -> list[str]:
    test = summary["test"]
    return [
        str(summary.get("dataset") or "–"),
        _users(summary),
        _items(summary),
        *(_number(test.get(key), ".4f") for key, _ in metrics),
        beyond_cell(summary, named=False),
        str(summary["best_epoch"]),
        f"{summary['epochs']} ({summary['stop_reason'] or '–'})",
        _number(summary["seconds_per_epoch"], ".2f"),
        _number(summary["trainable_params"], ","),
        str(summary["protocol"] or "–"),
        _repeats(summary),
    ]


def _repeats(summary: Mapping[str, Any]) -> str:
    count, share = summary.get("repeat_targets"), summary.get("repeat_share")
    if count is None or share is None:
        return "not recorded"
    return f"{count:,} ({share:.1%})"


def row_names(metrics: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The table's row names around the metric rows `metrics` (`summary_metrics`)."""
    names = (*(name for _, name in metrics), BEYOND_ROW)
    return ("dataset", "users", "items", *names, *_TAIL_ROWS)


_TAIL_ROWS = (
    "best epoch",
    "epochs",
    "s/epoch",
    "trainable parameters",
    "protocol",
    "target in history",
)


def summary_table(summaries: Sequence[Mapping[str, Any]], *, width: int = 100) -> str:
    """A small table, one column per run (seed), and the ranked catalogue and the data's
    path under it (`split_warnings` go to stderr: `toolkit.app.show_runs`)."""
    from rich.console import Console
    from rich.table import Table

    first = summaries[0]
    table = Table(title=f"{first['method']}: {first['run_dir']}", title_justify="left")
    table.add_column("")
    for summary in summaries:
        table.add_column(f"seed {summary['seed']}", justify="right")
    metrics = summary_metrics([key for s in summaries for key in s["test"]])
    columns = [_rows(s, metrics) for s in summaries]
    for i, name in enumerate(row_names(metrics)):
        table.add_row(name, *(column[i] for column in columns))
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(table)
    notes = {s["catalogue"] for s in summaries if s.get("catalogue")}
    for note in sorted(notes):
        console.print(f"catalogue: {note}", highlight=False, soft_wrap=True)
    for path in sorted({s["dataset_path"] for s in summaries if s.get("dataset_path")}):
        console.print(f"data: {path}", highlight=False, soft_wrap=True)
    return buffer.getvalue().rstrip("\n")
