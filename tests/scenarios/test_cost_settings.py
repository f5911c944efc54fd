"""Seconds per epoch measured under different settings (torch threads, device) are labelled
and never ranked silently side by side in a grid report or `toolkit results`."""

from __future__ import annotations

import json
from pathlib import Path

from scenarios.report.cost import cost_note, setting_of
from scenarios.report.grid_report import COLUMNS, aggregate, markdown_table, render_markdown
from scenarios.report.results_table import results_table
from scenarios.run.results import read_run


def _row(method: str, seed: int, seconds: float, threads: int | str, device: str = "cpu"):
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        scenario="title", method=method, modalities="text", text_encoder="minilm",
        protocol="loo/history=masked", seed=seed, status="done",
        **{"test_ndcg@10": 0.1, "test_hr@10": 0.2, "test_mrr": 0.05}, seconds_per_epoch=seconds,
        device=device, torch_threads=threads, memory_mb=10.0, trainable_params=100,
    )  # fmt: skip
    return row


def test_setting_names_the_device_and_the_cpu_thread_count() -> None:
    assert setting_of({"device": "cpu", "torch_threads": 1}) == "cpu, 1 thread"
    assert setting_of({"device": "cpu", "torch_threads": "2"}) == "cpu, 2 threads"  # runs.csv
    assert setting_of({"device": "cuda", "torch_threads": 8}) == "cuda"
    assert setting_of({"device": "", "torch_threads": ""}) == ""  # recorded before it was
    assert setting_of({"device": "cpu", "torch_threads": None}) == ""


def test_a_grid_of_mixed_thread_counts_labels_each_figure_and_says_why() -> None:
    rows = [_row("id", 0, 18.0, 1), _row("id", 1, 20.0, 1), _row("frozen", 0, 9.0, 2)]
    groups = aggregate(rows)
    table = markdown_table(groups)
    assert "| 19.00 (cpu, 1 thread) |" in table
    assert "| 9.00 (cpu, 2 threads) |" in table
    note = cost_note(groups)
    assert "2 settings (cpu, 1 thread: 1 configuration; cpu, 2 threads: 1 configuration)" in note
    report = render_markdown(groups, [], rows, None, "ndcg@10", None)
    assert note in report


def test_one_setting_adds_no_label_and_no_note() -> None:
    rows = [_row("id", 0, 18.0, 2), _row("frozen", 0, 9.0, 2), _row("frozen", 1, 9.0, "")]
    groups = aggregate(rows)
    assert "| 18.00 |" in markdown_table(groups) and "thread" not in markdown_table(groups)
    assert cost_note(groups) == ""
    assert "settings" not in render_markdown(groups, [], rows, None, "ndcg@10", None)


def test_a_run_records_its_setting_and_the_reader_returns_it(tmp_path: Path) -> None:
    results = {
        "protocol": "loo", "method": "id", "seed": 0, "test": {"ndcg@10": 0.1},
        "efficiency": {"seconds_per_epoch": 3.0, "device": "cpu", "torch_threads": 2},
    }  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    eff = read_run(tmp_path).efficiency
    assert (eff.device, eff.torch_threads) == ("cpu", 2)
    (row,) = results_table([tmp_path]).rows  # `toolkit results` shows it beside the seconds
    assert (row["seconds_per_epoch"], row["device"], row["torch_threads"]) == (3.0, "cpu", 2)
