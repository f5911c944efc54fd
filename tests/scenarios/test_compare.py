"""Comparisons across methods: a grid's baseline named as a configuration, and `toolkit
compare` over run folders, refusing runs of another protocol or dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scenarios.grid.plan import GridCell, GridSpec
from scenarios.grid.run import run_grid
from scenarios.report.compare import compare_runs
from scenarios.report.comparisons import user_metrics
from scenarios.report.stats import compare_seeded
from toolkit.cli import app

SEEDS = (0, 1, 2)


def _fake_run(cell: GridCell, data, workspace, progress) -> None:
    """Write what a finished run records (results.json with its protocol, per-user file)."""
    from scenarios.run.prepared import dataset_path

    gain = 0.0 if cell.scenario.method == "id" else 0.05 + 0.01 * cell.seed
    per_user = [0.1 + 0.02 * (u % 5) + gain * (u % 3 != 0) for u in range(40)]
    lines = ["user_id,ndcg@10"] + [f"u{u},{v}" for u, v in enumerate(per_user)]
    (cell.run_dir / "test_per_user.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = {
        "protocol": "leave_one_out_full_ranking",
        "masking": {"convention": "masked", "users": 40, "repeat_targets": 0},
        "method": cell.scenario.method,
        "test": {"hr@10": 0.5, "ndcg@10": sum(per_user) / 40, "mrr": 0.2},
        "valid": {"ndcg@10": 0.2},
        "seed": cell.seed,
        "dataset": {"catalogue_sha256": "c" * 64},
        "record": {
            "captions": {},
            "scenario": {"name": cell.scenario.name},
            "scenario_fingerprint": cell.scenario.fingerprint(),
            "dataset": {"path": str(dataset_path(cell.scenario, data)), "content_hash": "d" * 64},
            "grid_cell": {"text_encoder": cell.text_encoder, "vision_encoder": cell.vision_encoder},
        },
    }
    (cell.run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")


@pytest.fixture(scope="module")
def grid(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cross")
    spec = GridSpec(
        scenarios=("title", "id"), methods=("iisan_versa", "id"), seeds=SEEDS, baseline="id"
    )
    run_grid(spec, out_dir=out, data=tiny_data, echo=lambda _: None, run_cell=_fake_run)
    return out


def _expected(grid: Path) -> dict:
    """compare_seeded straight from the per-user files: id/id (A) vs title/iisan_versa (B)."""
    a = {s: user_metrics(grid / "runs" / "id" / f"id-s{s}", "ndcg@10") for s in SEEDS}
    b = {s: user_metrics(grid / "runs" / "title" / f"iisan_versa-s{s}", "ndcg@10") for s in SEEDS}
    users = sorted(a[0])
    return compare_seeded(
        {s: np.array([a[s][u] for u in users]) for s in SEEDS},
        {s: np.array([b[s][u] for u in users]) for s in SEEDS},
    ).to_dict()


def _same(found: dict, expected: dict) -> None:
    for name in ("diff", "ci_low", "ci_high", "p_value", "n", "seeds", "per_seed"):
        assert found[name] == pytest.approx(expected[name]), name


def test_a_grid_compares_every_method_with_a_baseline_named_by_label(grid: Path) -> None:
    [c] = json.loads((grid / "comparisons.json").read_text(encoding="utf-8"))
    assert (c["scenario"], c["method"], c["baseline"]) == ("title", "iisan_versa", "id/id")
    _same(c, _expected(grid))
    report = (grid / "report.md").read_text(encoding="utf-8")
    assert "| title | iisan_versa | minilm | id/id | 40 | 3 |" in report


def test_compare_run_folders_of_two_methods_gives_the_grid_numbers(grid: Path) -> None:
    folders = [grid / "runs" / "title" / f"iisan_versa-s{s}" for s in SEEDS]
    folders += [grid / "runs" / "id" / f"id-s{s}" for s in SEEDS]
    result = compare_runs(folders, folders[3])  # the baseline as a run folder
    [c] = result.comparisons
    _same(c, _expected(grid))
    assert result.baseline == "id/id" and not result.refused
    assert compare_runs([grid], "id/id").comparisons[0]["p_value"] == pytest.approx(c["p_value"])


def test_runs_of_another_protocol_or_dataset_are_refused_with_the_reason(
    grid: Path, tmp_path: Path
) -> None:
    def variant(name: str, change) -> Path:
        folder = tmp_path / name
        shutil.copytree(grid / "runs" / "title" / "iisan_versa-s0", folder)
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        change(results)
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
        return folder

    unmasked = variant("unmasked", lambda r: r["masking"].update(convention="unmasked"))
    other = variant("other", lambda r: r["record"]["dataset"].update(content_hash="e" * 64))
    out = tmp_path / "out"
    args = ["compare", str(grid), str(unmasked), str(other), "--baseline", "id", "--out", str(out)]
    printed = CliRunner().invoke(app, args)
    assert printed.exit_code == 0, printed.output
    saved = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    _same(saved["comparisons"][0], _expected(grid))
    reasons = [r["reason"] for r in saved["refused"]]
    assert len(saved["refused"]) == 2 and len(saved["comparisons"]) == 1
    assert any(
        "another protocol: leave_one_out_full_ranking/history=unmasked" in r for r in reasons
    )
    assert any(r.startswith("another dataset: eeee") for r in reasons)
    assert "## Refused" in printed.output and "another dataset" in printed.output
    assert (out / "compare.md").read_text(encoding="utf-8").startswith("# Against `id/id`")


def test_runs_of_other_code_are_refused_unless_mixed_code_is_allowed(
    grid: Path, tmp_path: Path
) -> None:
    ids = [grid / "runs" / "id" / f"id-s{s}" for s in SEEDS]  # no code recorded: unrecorded
    titles = []
    for s in SEEDS:
        folder = tmp_path / f"title-s{s}"
        shutil.copytree(grid / "runs" / "title" / f"iisan_versa-s{s}", folder)
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        results["code"] = {"source_sha256": "f" * 64}
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
        titles.append(folder)
    refused = compare_runs([*ids, *titles], "id/id")
    assert not refused.comparisons and refused.refused[0]["reason"].startswith("another code")
    mixed = compare_runs([*ids, *titles], "id/id", allow_mixed_code=True)
    [c] = mixed.comparisons
    _same(c, _expected(grid))  # the same numbers as the single-code grid
    assert mixed.mixed_code == {"unrecorded": 3, "f" * 64: 3} and not mixed.refused
    args = ["compare", *map(str, ids + titles), "--baseline", "id/id", "--allow-mixed-code"]
    printed = CliRunner().invoke(app, args)
    assert printed.exit_code == 0, printed.output
    assert "**Mixed code** (`--allow-mixed-code`)" in printed.output
    assert "`unrecorded` (3 runs), `ffffffffffff` (3 runs)" in printed.output


def test_an_unknown_baseline_label_is_one_line_listing_the_valid_ones(
    grid: Path, tiny_data: Path
) -> None:
    printed = CliRunner().invoke(app, ["compare", str(grid), "--baseline", "image"])
    assert printed.exit_code == 2
    assert printed.output.strip().splitlines() == [
        "error: unknown baseline 'image': valid labels are title, id, "
        "title/iisan_versa/minilm, id/id"
    ]
    spec = GridSpec(scenarios=("title", "id"), methods=("iisan_versa", "id"), baseline="nope")
    with pytest.raises(ValueError, match=r"^unknown baseline 'nope': valid labels are title, id"):
        run_grid(spec, out_dir=grid / "never", data=tiny_data, run_cell=_fake_run)
    assert not (grid / "never" / "runs").exists()  # nothing ran


def test_the_default_scenario_baseline_falls_back_to_its_only_configuration(grid: Path) -> None:
    import csv

    from scenarios.report.comparisons import significance
    from scenarios.run.rows import grid_run_dir

    with open(grid / "runs.csv", encoding="utf-8", newline="") as handle:
        rows = [{**r, "run_dir": grid_run_dir(grid, r["run_dir"])} for r in csv.DictReader(handle)]
    # `toolkit grid title id`: title (text-only) was never run with method id: its only one.
    [c] = significance(rows, "title")
    assert (c["method"], c["baseline"]) == ("id", "title/iisan_versa/minilm")
    assert c["diff"] == pytest.approx(-_expected(grid)["diff"])
    [same] = significance(rows, "title/iisan_versa/minilm")
    assert same["diff"] == pytest.approx(c["diff"])
