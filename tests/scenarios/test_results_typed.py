"""The typed results reader (`scenarios.run.results`) over run folders written before it.

tests/fixtures/results/ holds two run folders, each a results.json and a test_per_user.csv
trimmed to five users: `title-current` copied from `toolkit run-scenario title
train.epochs=1 train.max_steps_per_epoch=2 train.device=cpu "eval.ks=[5, 10]"` on the
embedded sample, with the summary that release printed (`summary_before.json`);
`title-withdrawn` the same run as a release before `eval.history`, `code` and `beyond`
wrote it (tests/scenarios/test_scenarios_results._as_withdrawn, then `code` and `beyond`
removed).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from provenance import UNRECORDED
from scenarios.run.results import (
    ConfigKey,
    ResultsError,
    from_results,
    read_per_user,
    read_run,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"
CURRENT, WITHDRAWN = FIXTURES / "title-current", FIXTURES / "title-withdrawn"
ROOT = Path(__file__).resolve().parents[2]


def test_a_current_run_folder_reads_into_a_typed_record() -> None:
    run = read_run(CURRENT)
    assert run.key == ConfigKey(
        "title", "iisan_versa", "minilm", "", "leave_one_out_full_ranking/history=masked"
    )
    assert run.key.label == "title/iisan_versa/minilm"
    assert (run.seed, run.best_epoch, run.epochs, run.stop_reason) == (0, 1, 1, "max_epochs")
    assert run.finished and run.run_dir == CURRENT
    assert run.test["ndcg@10"] == pytest.approx(0.017442240310319754)
    assert run.valid["hr@10"] == pytest.approx(0.044854881266490766)
    assert run.protocol.name == "leave_one_out_full_ranking"
    assert run.protocol.convention == "masked" and not run.protocol.withdrawn
    assert (run.protocol.test_users, run.protocol.repeat_targets) == (379, 63)
    assert run.dataset == "sample"
    assert run.dataset_identity.startswith("c18e72ded260")
    assert run.efficiency.trainable_params == 619911 and run.efficiency.head_params == 172480
    assert run.efficiency.memory_kind == "cpu_rss_growth"
    assert run.beyond["test"]["coverage@10"] == pytest.approx(0.5786802030456852)
    assert run.buckets["20+"]["train_count"] == [20, None] and run.buckets["cold"]["users"] == 53
    assert run.code.source.startswith("d7befea2da6f")
    assert run.code.commit == "1075474b1ff2+dirty"
    assert run.captions == {}


def test_a_record_is_frozen_all_the_way_down() -> None:
    run = read_run(CURRENT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        run.metrics["test"]["ndcg@10"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        run.results["record"]["scenario"] = {}  # type: ignore[index]


def test_a_run_of_the_withdrawn_convention_without_code_or_beyond_stays_readable() -> None:
    run = read_run(WITHDRAWN)
    assert run.protocol.label == "leave_one_out_full_ranking"  # never pairs with newer runs
    assert run.protocol.convention is None and run.protocol.withdrawn
    assert (run.protocol.test_users, run.protocol.repeat_targets) == (None, None)
    assert run.code.source == UNRECORDED and run.code.commit is None
    assert dict(run.beyond) == {}
    assert run.test == read_run(CURRENT).test  # the numbers themselves are untouched


def test_the_run_summary_is_what_the_release_before_the_typed_reader_printed() -> None:
    from scenarios.run.summary import summary_of

    results = json.loads((CURRENT / "results.json").read_text(encoding="utf-8"))
    summary = summary_of(results, run_dir=CURRENT, results_dir=CURRENT, status="trained")
    expected = json.loads((CURRENT / "summary_before.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in summary.items() if k in expected} == expected


def test_per_user_tables_read_by_user_with_missing_cells_as_none(tmp_path: Path) -> None:
    table = read_per_user(CURRENT)
    assert table.users == ("u0078", "u0140", "u0108", "u0197", "u0027")
    assert table.columns["ndcg@10"] == (0.0, 0.0, 0.0, 0.28906482631788766, 0.35620718710802235)
    assert table.values("hr@10") == {"u0078": 0, "u0140": 0, "u0108": 0, "u0197": 1, "u0027": 1}
    (tmp_path / "test_per_user.csv").write_text("user_id,ndcg@10\na,0.5\nb,\n", encoding="utf-8")
    sparse = read_per_user(tmp_path)
    assert sparse.columns["ndcg@10"] == (0.5, None)
    assert sparse.values("ndcg@10") == {"a": 0.5}
    with pytest.raises(KeyError, match="test_per_user.csv: no column 'mrr'"):
        read_per_user(tmp_path, columns=("mrr",))
    with pytest.raises(FileNotFoundError, match="valid_per_user.csv: no per-user valid"):
        read_per_user(tmp_path, "valid")


def test_a_folder_without_results_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"results.json: no readable results.json \(none\)"):
        read_run(tmp_path)
    (tmp_path / "results.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ResultsError, match="not a results.json"):
        read_run(tmp_path)
    empty = from_results({}, tmp_path / "s" / "r")
    assert empty.key == ConfigKey("s", "") and not empty.finished
    assert empty.seed is None and empty.efficiency.seconds_per_epoch is None


def test_config_key_parses_labels_and_reads_rows() -> None:
    row = {"scenario": "t", "method": "m", "text_encoder": "org/MiniLM", "vision_encoder": ""}
    key = ConfigKey.of(row)
    assert key == ("t", "m", "org/MiniLM", "", "") and key.label == "t/m/MiniLM"
    assert key[:4] == ("t", "m", "org/MiniLM", "")  # a tuple: groups slice it
    assert ConfigKey.parse("t") == ("t", None, None)
    assert ConfigKey.parse("t/m") == ("t", "m", None)
    assert ConfigKey.parse("t/m/a+b") == ("t", "m", "a+b")


def test_users_pair_by_id_over_common_seeds_and_users() -> None:
    from scenarios.report.comparisons import pair_users, user_metrics

    base = {0: {"a": 1.0, "b": 2.0, "c": 3.0}, 1: {"a": 4.0, "c": 6.0}, 2: {"a": 0.0}}
    other = {0: {"c": 30.0, "a": 10.0}, 1: {"c": 60.0, "a": 40.0, "d": 1.0}}
    a, b, users = pair_users(base, other)
    assert users == 2 and sorted(a) == sorted(b) == [0, 1]  # seed 2 has no partner
    assert a[0].tolist() == [1.0, 3.0] and b[1].tolist() == [40.0, 60.0]  # users a, c
    assert pair_users({}, other)[2] == 0
    cold = user_metrics(CURRENT, "ndcg@10", (0, 4))  # targets trained at most 4 times
    assert cold == {"u0108": 0.0, "u0197": 0.28906482631788766}


def test_compare_reads_a_run_folder_through_the_typed_record() -> None:
    from scenarios.report.compare import run_row

    row = run_row(CURRENT)
    assert row["scenario"] == "title" and row["text_encoder"] == "minilm"
    assert row["protocol"] == "leave_one_out_full_ranking/history=masked"
    assert row["dataset"].startswith("c18e72ded260") and row["code"].startswith("d7befea2")
    assert run_row(WITHDRAWN)["code"] == UNRECORDED
    with pytest.raises(ValueError, match="not a finished run"):
        run_row(FIXTURES)


def _scientific_tables():
    """benchmarks/scientific_tables.py as a module."""
    import importlib.util

    path = ROOT / "benchmarks" / "scientific_tables.py"
    spec = importlib.util.spec_from_file_location("scientific_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_study_tables_read_typed_runs_and_pair_users_like_the_report(tmp_path: Path) -> None:
    import csv
    import shutil

    tables = _scientific_tables()
    lines = ["scenario,method,text_encoder,seed,status,test_ndcg@10,protocol,run_dir"]
    for seed in (0, 1):
        for method, encoder, source in (("iisan_versa", "minilm", CURRENT), ("id", "", WITHDRAWN)):
            folder = tmp_path / "grid" / f"{method}-s{seed}"
            shutil.copytree(source, folder)
            lines.append(f"title,{method},{encoder},{seed},done,0.1,p,{folder}")
        table = (folder / "test_per_user.csv").read_text(encoding="utf-8").splitlines()
        rows = list(csv.DictReader(table))
        for row in rows:  # the ID run ranks no target in its top 10
            row["ndcg@10"] = "0.0"
        with open(folder / "test_per_user.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    (tmp_path / "grid" / "runs.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    study = tables.study(tmp_path / "grid")
    versa = study["configs"]["IISAN-Versa MiniLM"]
    assert versa["seeds"] == [0, 1] and versa["trainable_params"] == 619911
    assert versa["ndcg_mean"] == pytest.approx(0.017442240310319754)
    assert versa["bucket_ranges"]["20+"] == [20, None] and versa["bucket_users"]["cold"] == 53
    (pair,) = study["pairs"]  # IISAN-Versa MiniLM vs ID-SASRec: the two configurations run
    overall = pair["all"]
    assert overall["n"] == 5 and overall["seeds"] == [0, 1]
    assert overall["diff"] == pytest.approx((0.28906482631788766 + 0.35620718710802235) / 5)
    assert pair["buckets"]["1-4"]["n"] == 2  # u0108 and u0197: targets trained 1-4 times
    assert pair["buckets"]["cold"] is None  # no fixture user's target is cold: not tested
