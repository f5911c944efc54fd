"""`toolkit results`: every finished run under some folders as one table (run folders and
grids, recursively, once each), what was skipped said on stderr, the formats, the figures."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.report.results_table import results_table
from toolkit.cli import app

PNG = b"\x89PNG\r\n\x1a\n"


def results(method: str, seed: int, ndcg: float, *, k20: bool = False) -> dict:
    """A finished run's results.json (what the trainer records, trimmed to what is read)."""
    test = {"hr@5": 0.25, "hr@10": 0.5, "ndcg@5": ndcg / 2, "ndcg@10": ndcg, "mrr": 0.125}
    if k20:
        test["hr@20"] = 0.75
    bucket = {"train_count": [0, 0], "users": 10, "ndcg@10": ndcg / 4}
    return {
        "protocol": "leave_one_out_full_ranking",
        "masking": {"convention": "masked", "users": 40, "repeat_targets": 0},
        "method": method,
        "seed": seed,
        "config": {"train": {"select_metric": "hr@10"}},
        "valid": {"hr@10": 0.625, "ndcg@10": 0.3},
        "test": test,
        "buckets": {"test": {"cold": bucket, "20+": {**bucket, "train_count": [20, None]}}},
        "efficiency": {"seconds_per_epoch": 2.5, "epochs_timed": 4, "memory_mb": 100.0},
        "params": {"trainable": 1000, "total": 5000, "head": 10},
        "toolkit_version": "9.9.9",
        "code": {"source_sha256": "a" * 64, "commit": "b" * 40, "dirty": True},
        "record": {
            "scenario": {"name": "title", "channels": [{"modality": "text"}]},
            "dataset": {"name": "toyset", "content_hash": "d" * 64},
            "grid_cell": {"text_encoder": "minilm", "vision_encoder": ""},
        },
    }


def write_run(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "config.json").write_text("{}", encoding="utf-8")
    return folder


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A grid (one finished cell, one failed), a single run with a re-scoring inside, a
    broken results.json and an unfinished run folder."""
    grid = tmp_path / "study" / "grid"
    done = write_run(grid / "runs" / "title" / "frozen-s0", results("frozen", 0, 0.25))
    (grid / "runs" / "title" / "frozen-s1").mkdir(parents=True)
    (grid / "runs" / "title" / "frozen-s1" / "config.json").write_text("{}", encoding="utf-8")
    rows = [
        {"scenario": "title", "method": "frozen", "text_encoder": "minilm", "seed": 0,
         "status": "done", "error": "", "test_ndcg@10": 0.25, "run_dir": str(done)},
        {"scenario": "title", "method": "frozen", "text_encoder": "minilm", "seed": 1,
         "status": "failed", "error": "out of memory", "test_ndcg@10": "",
         "run_dir": str(grid / "runs" / "title" / "frozen-s1")},
    ]  # fmt: skip
    with open(grid / "runs.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    single = write_run(tmp_path / "study" / "one", results("iisan_versa", 3, 0.5, k20=True))
    write_run(single / "eval-0123456789ab", results("iisan_versa", 3, 0.9))  # a re-scoring
    (tmp_path / "study" / "broken").mkdir()
    (tmp_path / "study" / "broken" / "results.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "study" / "half").mkdir()
    (tmp_path / "study" / "half" / "metrics.jsonl").write_text("", encoding="utf-8")
    return tmp_path / "study"


def test_one_row_per_finished_run_with_every_column(tree: Path) -> None:
    table = results_table([tree, tree / "grid"])  # the grid reached twice: one row per run
    assert [(r["method"], r["seed"]) for r in table.rows] == [("frozen", 0), ("iisan_versa", 3)]
    assert table.columns[:8] == [
        "scenario", "method", "text_encoder", "vision_encoder", "dataset", "protocol", "scored",
        "seed",
    ]  # fmt: skip
    assert {r["scored"] for r in table.rows} == {"as trained"}
    metrics = [c for c in table.columns if c.startswith("test_")]
    assert metrics == ["test_hr@5", "test_hr@10", "test_hr@20", "test_ndcg@5", "test_ndcg@10",
                       "test_mrr"]  # fmt: skip
    frozen, versa = table.rows
    assert frozen["test_hr@20"] == "" and versa["test_hr@20"] == 0.75  # the union, blanks
    assert versa["test_ndcg@10"] == 0.5  # the run's own, not its eval-*/ re-scoring
    assert frozen["protocol"] == "leave_one_out_full_ranking/history=masked"
    assert (frozen["dataset"], frozen["text_encoder"]) == ("toyset", "minilm")
    assert (frozen["selected_by"], frozen["valid_selected"]) == ("valid_hr@10", 0.625)
    assert frozen["train_seconds"] == 10.0  # 2.5 s/epoch × 4 epochs timed
    assert (frozen["trainable_params"], frozen["total_params"]) == (1000, 5000)  # from params
    assert frozen["toolkit_version"] == "9.9.9"
    assert (frozen["code"], frozen["commit"]) == ("a" * 64, "b" * 12 + "+dirty")
    assert frozen["dataset_hash"] == "d" * 64


def test_unfinished_and_unreadable_runs_are_each_named_once(tree: Path) -> None:
    skipped = results_table([tree]).skipped
    assert len(skipped) == 3, skipped
    text = "\n".join(skipped)
    assert (
        f"skipped {tree / 'grid' / 'runs' / 'title' / 'frozen-s1'}: failed (out of memory)" in text
    )
    assert f"skipped {tree / 'half'}: no results.json (unfinished)" in text
    assert f"skipped {tree / 'broken'}: " in text and "no readable results.json" in text


def test_formats_round_trip(tree: Path) -> None:
    table = results_table([tree])
    parsed = list(csv.DictReader(io.StringIO(table.render("csv"))))
    assert [float(r["test_ndcg@10"]) for r in parsed] == [0.25, 0.5]
    assert list(parsed[0]) == table.columns
    assert json.loads(table.render("json")) == table.rows
    lines = table.render("markdown").splitlines()
    assert len(lines) == 2 + len(table.rows)
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[table.columns.index("test_ndcg@10")] == "0.2500"
    assert cells[table.columns.index("code")] == "a" * 12
    assert cells[table.columns.index("test_hr@20")] == "–"
    with pytest.raises(ValueError, match="format must be one of"):
        table.render("xlsx")


def test_cli_table_skips_out_and_figures(tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["results", str(tree), "--csv"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0].startswith("scenario,method,text_encoder")
    assert "skipped" not in shown.stdout and shown.stderr.count("skipped ") == 3
    out, figs = tmp_path / "table.md", tmp_path / "figs"
    written = runner.invoke(app, ["results", str(tree), "--out", str(out), "--plot", str(figs)])
    assert written.exit_code == 0, written.output
    assert out.read_text(encoding="utf-8") == results_table([tree]).render("markdown")
    names = sorted(p.name for p in figs.iterdir())
    assert names == [
        f"{s}.{f}" for s in ("buckets", "quality_vs_cost") for f in ("pdf", "png", "svg")
    ]
    assert (figs / "buckets.png").read_bytes()[:8] == PNG
    assert "Data: toyset." in (figs / "quality_vs_cost.svg").read_text(encoding="utf-8")
    piped = runner.invoke(app, ["results", str(tree), "--json", "--plot", str(figs)])
    assert len(json.loads(piped.stdout)) == 2  # stdout holds the table alone
    assert piped.stderr.count("figure: ") == 6


def test_cli_refuses_a_folder_without_runs_in_one_line(tmp_path: Path) -> None:
    found = CliRunner().invoke(app, ["results", str(tmp_path)])
    assert found.exit_code == 2
    assert (
        found.stderr.strip() == f"error: {tmp_path}: no runs under it (no results.json or runs.csv)"
    )
    both = CliRunner().invoke(app, ["results", str(tmp_path), "--csv", "--json"])
    assert both.exit_code == 2 and "choose one of" in both.stderr


def test_a_grids_rescored_report_is_listed_only_when_given(tree: Path) -> None:
    grid = tree / "grid"
    before = results_table([grid]).rows
    cell = grid / "runs" / "title" / "frozen-s0"
    rescored = write_run(cell / "eval-history=unmasked-0123", results("frozen", 0, 0.75))
    folder = grid / "report_eval-history=unmasked"  # `toolkit grid --report-eval` writes it
    folder.mkdir()
    with open(folder / "runs.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["scenario", "method", "seed", "status",
                                                    "test_ndcg@10", "run_dir"])  # fmt: skip
        writer.writeheader()
        writer.writerow({"scenario": "title", "method": "frozen", "seed": 0, "status": "done",
                         "test_ndcg@10": 0.75, "run_dir": str(rescored)})  # fmt: skip
    assert results_table([grid]).rows == before  # searching the grid: each run as trained
    (row,) = results_table([folder]).rows  # given itself: the re-scoring, labelled
    assert (row["scored"], row["test_ndcg@10"]) == ("eval-history=unmasked-0123", 0.75)
