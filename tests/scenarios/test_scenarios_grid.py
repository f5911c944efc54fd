"""The grid: a tiny real grid on synthetic data, resume after an interruption, failures,
stale folders, and the report built from run folders."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import pytest

from scenarios.grid.plan import GridCell, GridSpec, load_grid, plan_grid, with_axes
from scenarios.grid.run import run_grid
from scenarios.report.stats import compare_seeded  # the real one, whatever a test patches
from scenarios.run.rows import grid_run_dir
from scenarios.run.runner import run_one
from scenarios.schema.errors import ScenarioError

from .conftest import FAST, one_thread


def _overrides(cache: Path) -> tuple[str, ...]:
    return (*FAST, f"output.cache_dir={json.dumps(str(cache))}")


def _rows(out: Path) -> list[dict[str, str]]:
    """runs.csv's rows, each run_dir as a path from here (recorded relative to `out`)."""
    with open(out / "runs.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{**r, "run_dir": str(grid_run_dir(out, r["run_dir"]))} for r in rows]


@pytest.fixture(scope="module")
def tiny_grid(tiny_data: Path, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("grid")
    spec = GridSpec(
        scenarios=("title", "title+image"),
        methods=("iisan_versa", "frozen"),
        seeds=(0, 1),
        overrides=_overrides(shared_cache),
        baseline="title",
    )
    lines: list[str] = []
    with one_thread():  # module fixtures start before the per-test autouse fixture
        result = run_grid(spec, out_dir=out, data=tiny_data, echo=lines.append)
    return spec, result, lines


def test_tiny_grid_writes_csv_report_and_plot(tiny_grid) -> None:
    spec, result, lines = tiny_grid
    out = result.out_dir
    rows = _rows(out)
    expected = {
        (s, m, str(seed))
        for s in ("title", "title+image")
        for m in ("iisan_versa", "frozen")
        for seed in (0, 1)
    }
    assert {(r["scenario"], r["method"], r["seed"]) for r in rows} == expected
    assert len(rows) == 8 and all(r["status"] == "done" for r in rows), rows
    for row in rows:
        assert 0.0 <= float(row["test_ndcg@10"]) <= float(row["test_hr@10"]) <= 1.0
        assert int(row["trainable_params"]) > 0 and float(row["seconds_per_epoch"]) > 0
    as_json = json.loads((out / "runs.json").read_text(encoding="utf-8"))
    assert [(r["scenario"], r["method"], r["seed"]) for r in as_json] == [
        (r["scenario"], r["method"], int(r["seed"])) for r in rows
    ]
    assert len(lines) == 8 and lines[0].startswith("[1/8] title / iisan_versa / seed 0: done")
    report = (out / "report.md").read_text(encoding="utf-8")
    overall = report.split("## Against")[0]  # the quality table (buckets come later)
    table_rows = [line for line in overall.splitlines() if line.startswith("| title")]
    # 4 configurations in the quality table + 2 comparisons (title+image vs title, per method).
    quality = [r for r in table_rows if "±" in r]
    assert len(quality) == 4
    comparisons = json.loads((out / "comparisons.json").read_text(encoding="utf-8"))
    assert {(c["scenario"], c["method"]) for c in comparisons} == {
        ("title+image", "iisan_versa"),
        ("title+image", "frozen"),
    }
    for c in comparisons:
        assert c["baseline"] == "title" and c["seeds"] == [0, 1] and c["n"] == 40
        assert 0.0 < c["p_value"] <= 1.0 and c["ci_low"] <= c["diff"] <= c["ci_high"]
        # the table is one family of 2 (Holm by default): the adjusted p beside the raw one
        assert c["correction"] == "holm" and c["family_size"] == 2
        assert c["p_value"] <= c["p_adjusted"] <= min(1.0, 2 * c["p_value"])
        assert c["diff"] == pytest.approx(c["mean_b"] - c["mean_a"])
        assert c["diff"] == pytest.approx(sum(c["per_seed"]) / 2)
        assert c["text_encoder"] == "minilm" and c["vision_encoder"] == "tiny-vit"
    assert "## Against the baseline `title`" in report
    assert "![quality vs cost](quality_vs_cost.png)" in report
    assert (out / "quality_vs_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_second_call_skips_every_complete_cell(tiny_grid, tiny_data: Path) -> None:
    spec, result, _ = tiny_grid
    calls: list[GridCell] = []
    again = run_grid(
        spec,
        out_dir=result.out_dir,
        data=tiny_data,
        echo=lambda _: None,
        run_cell=lambda cell, *_: calls.append(cell),
    )
    assert calls == []
    assert [o.status for o in again.outcomes] == ["skipped"] * 8
    assert len(_rows(result.out_dir)) == 8  # the report is rebuilt from the run folders


def test_interrupted_grid_resumes_without_redoing_finished_runs(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    spec = GridSpec(scenarios=("title",), seeds=(0, 1, 2), overrides=_overrides(shared_cache))
    trained: list[int] = []

    def interrupt_after_one(cell: GridCell, data, workspace, progress) -> None:
        if trained:
            raise KeyboardInterrupt  # Ctrl-C during the second run
        run_one(cell.scenario, seed=cell.seed, run_dir=cell.run_dir, data=data, progress=False)
        trained.append(cell.seed)

    with pytest.raises(KeyboardInterrupt):
        run_grid(spec, out_dir=tmp_path, data=tiny_data, run_cell=interrupt_after_one)
    first = tmp_path / "runs" / "title" / "iisan_versa-s0" / "results.json"
    stamp = first.stat().st_mtime_ns

    def count(cell: GridCell, data, workspace, progress) -> None:
        run_one(cell.scenario, seed=cell.seed, run_dir=cell.run_dir, data=data, progress=False)
        trained.append(cell.seed)

    result = run_grid(spec, out_dir=tmp_path, data=tiny_data, run_cell=count)
    assert trained == [0, 1, 2]  # seed 0 once, before the interruption
    assert [o.status for o in result.outcomes] == ["skipped", "done", "done"]
    assert first.stat().st_mtime_ns == stamp
    assert [r["status"] for r in _rows(tmp_path)] == ["skipped", "done", "done"]


def _fake_run(fail: str):
    """A run_cell that writes a results.json and per-user file without training (recording
    what a real run records about the cell: scenario fingerprint, seed, dataset)."""

    def run(cell: GridCell, data, workspace, progress) -> None:
        from scenarios.run.prepared import dataset_path

        if cell.scenario.name == fail and cell.seed == 1:
            raise RuntimeError("the encoder ran out of memory")
        better = 0.1 if cell.scenario.name == "title" else 0.3
        folder = cell.run_dir
        per_user = [0.0 if u % 10 == 0 else better + 0.01 * (u % 3) for u in range(30)]
        lines = ["user_id,ndcg@10"] + [f"u{u},{v}" for u, v in enumerate(per_user)]
        (folder / "test_per_user.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        results = {
            "test": {"hr@10": 0.5, "ndcg@10": sum(per_user) / 30, "mrr": 0.2},
            "valid": {"ndcg@10": 0.2},
            "epochs_run": 3,
            "efficiency": {
                "seconds_per_epoch": 1.0 + cell.seed,
                "memory_mb": 10.0,
                "memory_kind": "cpu_rss_growth",
                "trainable_params": 100 if cell.scenario.name == "title" else 200,
                "total_params": 1000,
            },
            "seed": cell.seed,
            "record": {
                "captions": {},
                "scenario_fingerprint": cell.scenario.fingerprint(),
                "dataset": {"path": str(dataset_path(cell.scenario, data))},
            },
        }
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")

    return run


def test_failed_cell_is_reported_and_the_grid_goes_on(tiny_data: Path, tmp_path: Path) -> None:
    spec = GridSpec(scenarios=("title", "title+video"), seeds=(0, 1))
    result = run_grid(
        spec,
        out_dir=tmp_path,
        data=tiny_data,
        echo=lambda _: None,
        run_cell=_fake_run("title+video"),
    )
    statuses = [(o.cell.scenario.name, o.cell.seed, o.status) for o in result.outcomes]
    assert statuses == [
        ("title", 0, "done"),
        ("title", 1, "done"),
        ("title+video", 0, "done"),
        ("title+video", 1, "failed"),
    ]
    assert "ran out of memory" in result.failed[0].error
    error_file = tmp_path / "runs" / "title+video" / "iisan_versa-s1" / "error.txt"
    assert "Traceback" in error_file.read_text(encoding="utf-8")
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Failed runs" in report and "title+video / iisan_versa / seed 1" in report
    assert "| 1 (1 failed) |" in report
    [comparison] = json.loads((tmp_path / "comparisons.json").read_text(encoding="utf-8"))
    # Only seed 0 finished on both sides: 30 users, every non-zero user gains exactly 0.2.
    assert comparison["seeds"] == [0] and comparison["n"] == 30
    assert comparison["diff"] == pytest.approx(0.2 * 27 / 30)
    assert comparison["p_value"] < 1e-3  # users: a consistent gain ...
    assert comparison["single_seed"] and not comparison["significant"]  # ... but one seed
    assert comparison["p_adjusted"] is None  # no verdict: not in the table's family
    assert "one seed: no verdict" in report
    # TPME over the two configurations: title is cheaper on every axis -> 0; title+video 1 * 0.1
    # for params plus 0 for memory (equal) and 0.45 * time normalised (seed 0 only: equal) = 0.1.
    rows = _rows(tmp_path)
    assert [r["status"] for r in rows] == ["done", "done", "done", "failed"]
    # A second call retries only the failed cell (and clears its error file when it passes).
    result = run_grid(
        spec, out_dir=tmp_path, data=tiny_data, echo=lambda _: None, run_cell=_fake_run("none")
    )
    assert [o.status for o in result.outcomes] == ["skipped", "skipped", "skipped", "done"]
    assert not error_file.exists()


def test_a_folder_of_another_configuration_is_set_aside_and_rerun(
    tiny_data: Path, tmp_path: Path
) -> None:
    spec = GridSpec(scenarios=("title",), seeds=(0,))
    run_grid(spec, out_dir=tmp_path, data=tiny_data, echo=lambda _: None, run_cell=_fake_run(""))
    changed = GridSpec(scenarios=("title",), seeds=(0,), overrides=("train.lr=0.5",))
    listed = run_grid(changed, out_dir=tmp_path, data=tiny_data, echo=lambda _: None, run=False)
    assert [(o.status, o.error) for o in listed.outcomes] == [
        ("stale", "finished run of another configuration")
    ]
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Stale runs (not in the tables)" in report
    assert not [line for line in report.splitlines() if line.startswith("| title |")]
    lines: list[str] = []
    result = run_grid(
        changed, out_dir=tmp_path, data=tiny_data, echo=lines.append, run_cell=_fake_run("")
    )
    assert result.outcomes[0].status == "done"
    moved = tmp_path / "runs" / "title" / "iisan_versa-s0.stale-1"
    assert (moved / "results.json").exists()  # the old run is kept, never deleted
    assert lines[0].startswith("title / iisan_versa / seed 0: finished run of another")
    assert len(_rows(tmp_path)) == 1


def test_cells_run_by_their_printed_commands_are_rerun_after_an_override_changes(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    """The issue's case: a cell run through `toolkit grid --commands`, then the grid's
    override changes; the grid must rerun that cell, and the report lists one configuration."""
    import shlex

    from typer.testing import CliRunner

    from scenarios.grid.plan import grid_commands
    from toolkit.cli import app

    first = GridSpec(scenarios=("title",), seeds=(0,), overrides=_overrides(shared_cache))
    [line] = grid_commands(first, out_dir=tmp_path, data=tiny_data)
    with one_thread():
        done = CliRunner().invoke(app, shlex.split(line)[1:])
    assert done.exit_code == 0, done.output
    assert (
        run_grid(first, out_dir=tmp_path, data=tiny_data, echo=lambda _: None).outcomes[0].status
        == "skipped"
    )
    changed = GridSpec(
        scenarios=("title",), seeds=(0,), overrides=(*_overrides(shared_cache), "train.lr=1e-3")
    )
    with one_thread():
        result = run_grid(changed, out_dir=tmp_path, data=tiny_data, echo=lambda _: None)
    assert result.outcomes[0].status == "done"
    rows = _rows(tmp_path)
    assert len(rows) == 1 and rows[0]["status"] == "done"
    recorded = json.loads(
        (tmp_path / "runs" / "title" / "iisan_versa-s0" / "results.json").read_text(
            encoding="utf-8"
        )
    )
    assert recorded["config"]["train"]["lr"] == 1e-3
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    overall, buckets = report.split("\n## NDCG@10 by popularity bucket")
    buckets, beyond = buckets.split("\n## Beyond accuracy")
    for table in (overall, buckets, beyond):  # the stale run is in no table
        assert len([line for line in table.splitlines() if line.startswith("| title |")]) == 1


def test_grid_file_axes_and_cells(tmp_path: Path) -> None:
    grid = tmp_path / "g.toml"
    (tmp_path / "mine.toml").write_text(
        'method = "iisan_versa"\n[[channels]]\nname = "text"\nmodality = "text"\n'
        'template = "{title}"\n[[channels]]\nname = "img"\nmodality = "image"\n',
        encoding="utf-8",
    )
    grid.write_text(
        'name = "g"\nscenarios = ["title", "mine.toml", "id"]\nmethods = ["iisan_versa", "id"]\n'
        'seeds = [3]\n[encoders]\ntext = ["minilm", "other/bert"]\n',
        encoding="utf-8",
    )
    spec = load_grid(grid)
    cells = plan_grid(spec, tmp_path / "out")
    labels = [(c.scenario.name, c.scenario.method, c.text_encoder, c.run_dir.name) for c in cells]
    assert labels == [
        ("title", "iisan_versa", "minilm", "iisan_versa__minilm-s3"),
        ("title", "iisan_versa", "other/bert", "iisan_versa__bert-s3"),
        ("mine", "iisan_versa", "minilm", "iisan_versa__minilm-s3"),
        ("mine", "iisan_versa", "other/bert", "iisan_versa__bert-s3"),
        ("id", "id", "", "id-s3"),
    ]
    assert cells[1].scenario.channels[0].encoder.model == "other/bert"
    assert cells[1].label == "title / iisan_versa [other/bert] / seed 3"  # axes are named
    assert cells[4].label == "id / id / seed 3"
    # Cells are self-contained values: they pickle (for worker processes) unchanged.
    assert pickle.loads(pickle.dumps(cells)) == cells
    bad = tmp_path / "bad.toml"
    bad.write_text('scenarios = ["title"]\nmethod = ["id"]\n', encoding="utf-8")
    from scenarios.schema.errors import ScenarioError

    with pytest.raises(ScenarioError, match="method: unknown key.*did you mean 'methods'"):
        load_grid(bad)


def _report_with_p_values(
    monkeypatch: pytest.MonkeyPatch, data: Path, out: Path, correction: str, p_values: list[float]
) -> tuple[str, list[dict]]:
    """A grid of text-only `title` and four other scenarios (fake runs) whose comparisons get
    these raw p-values, in order (everything else as computed); its report.md and
    comparisons.json."""
    import dataclasses

    import scenarios.report.stats as stats

    left = list(p_values)

    def fixed(a, b, *, alpha: float = stats.ALPHA):
        p = left.pop(0)
        real = compare_seeded(a, b, alpha=alpha)
        return dataclasses.replace(real, p_value=p, significant=p < alpha)

    monkeypatch.setattr(stats, "compare_seeded", fixed)
    scenarios = ("title", "title+image", "title+video", "title+image+video", "title+captions")
    spec = GridSpec(scenarios=scenarios, seeds=(0, 1), correction=correction)
    run_grid(spec, out_dir=out, data=data, echo=lambda _: None, run_cell=_fake_run(""))
    report = (out / "report.md").read_text(encoding="utf-8")
    return report, json.loads((out / "comparisons.json").read_text(encoding="utf-8"))


def test_a_raw_p_of_003_among_four_comparisons_is_no_verdict_under_holm_but_is_under_none(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for correction, adjusted, verdict in (
        ("holm", "| 0.12 ", "no significant difference after the Holm adjustment"),
        ("none", "", "better"),
    ):
        report, comparisons = _report_with_p_values(
            monkeypatch, tiny_data, tmp_path, correction, [0.03, 0.2, 0.3, 0.4]
        )
        table = report.split("## Against the baseline")[1].splitlines()
        head = next(line for line in table if line.startswith("| scenario |"))
        row = next(line for line in table if line.startswith("| title+image |"))
        columns = "| p | p (Holm) | verdict |" if adjusted else "| p | verdict |"
        assert head.endswith(columns), head
        assert row.endswith(f"| 0.03 {adjusted}| {verdict} |"), row
        first = comparisons[0]
        assert (first["scenario"], first["p_value"]) == ("title+image", 0.03)
        assert (first["correction"], first["family_size"]) == (correction, 4)
        assert "the 4 comparisons with at least two seeds" in report or correction == "none"


def test_the_correction_is_a_strict_grid_file_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toolkit.cli import app

    grid = tmp_path / "g.toml"
    grid.write_text('scenarios = ["title"]\ncorrection = "bh"\n', encoding="utf-8")
    assert load_grid(grid).correction == "bh"
    assert GridSpec(scenarios=("title",)).correction == "holm"  # the default
    grid.write_text('scenarios = ["title"]\ncorrection = "bogus"\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_grid(grid)
    assert str(caught.value) == (
        f"{grid}: correction: invalid value 'bogus'; valid choices: 'holm', 'bh', 'none'"
    )
    result = CliRunner().invoke(app, ["grid", str(grid), "--commands"])
    assert result.exit_code == 2 and result.output.strip() == f"error: {caught.value}"
    # a key of older grid files: refused with the reason, not just as unknown
    grid.write_text('scenarios = ["title"]\nbootstrap_samples = 500\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="bootstrap_samples: no longer used: .* analytic"):
        load_grid(grid)


def test_the_shipped_grid_gives_every_baseline_iisan_versas_head() -> None:
    from scenarios.grid.plan import with_axes
    from scenarios.schema.shipped import SHIPPED_DIR

    spec = load_grid(SHIPPED_DIR / "grids" / "text_vs_multimodal.toml")
    spec = with_axes(spec, methods=("iisan_versa", "frozen", "lora"), seeds=(0,))
    cells = [c for c in plan_grid(spec, Path("/tmp/unused")) if c.scenario.name == "title+image"]
    options = {c.scenario.method: dict(c.scenario.method_options) for c in cells}
    assert options == {"iisan_versa": {}, "frozen": {"head": "iisan"}, "lora": {"head": "iisan"}}
    frozen = next(c for c in cells if c.scenario.method == "frozen")
    assert 'method_options.head="iisan"' in frozen.overrides  # so --commands lines carry it


def test_report_eval_scores_every_finished_cell_without_training(
    tiny_grid, tiny_data: Path, tmp_path: Path
) -> None:
    import dataclasses
    import shutil

    spec, result, _ = tiny_grid
    out = tmp_path / "grid"
    shutil.copytree(result.out_dir, out)  # leave the module's grid as it is
    own = {p: p.read_bytes() for p in out.glob("runs/*/*/results.json")}
    as_trained = {n: (out / n).read_bytes() for n in ("report.md", "runs.csv", "runs.json")}
    scored_spec = dataclasses.replace(spec, report_eval=("eval.history=unmasked",))
    lines: list[str] = []
    trained: list[GridCell] = []
    again = run_grid(
        scored_spec,
        out_dir=out,
        data=tiny_data,
        echo=lines.append,
        run_cell=lambda cell, *_: trained.append(cell),
    )
    assert trained == [] and [o.status for o in again.outcomes] == ["skipped"] * 8
    scored_dir = out / "report_eval-history=unmasked"  # its report, rows and figures
    rows = _rows(scored_dir)
    assert all(Path(r["run_dir"]).name.startswith("eval-") for r in rows), rows
    assert {r["protocol"] for r in rows} == {"leave_one_out_full_ranking/history=unmasked"}
    for row in rows:  # the row's numbers are its evaluation's
        scored = json.loads((Path(row["run_dir"]) / "results.json").read_text())
        assert float(row["test_ndcg@10"]) == pytest.approx(scored["test"]["ndcg@10"])
        assert scored["masking"]["convention"] == "unmasked"
    assert {p: p.read_bytes() for p in own} == own  # the runs' own results are untouched
    assert again.report == scored_dir / "report.md"  # a report of its own
    assert (scored_dir / "quality_vs_cost.png").is_file()
    # the grid's own report and rows (the runs as trained) stay byte for byte
    assert {n: (out / n).read_bytes() for n in as_trained} == as_trained
    report = again.report.read_text(encoding="utf-8")
    assert "Scored under `eval.history=unmasked`" in report
    assert "ranked among the other history items (nothing is masked)" in report
    assert sum("scored under eval.history=unmasked" in line for line in lines) == 8
    with pytest.raises(ScenarioError, match="train.epochs: only evaluation settings"):
        with_axes(spec, report_eval=["train.epochs=3"])


def test_a_cell_of_the_withdrawn_evaluation_convention_is_set_aside_and_says_why(
    tiny_data: Path, tmp_path: Path
) -> None:
    spec = GridSpec(scenarios=("title",), seeds=(0,))
    run_grid(spec, out_dir=tmp_path, data=tiny_data, echo=lambda _: None, run_cell=_fake_run(""))
    results_file = tmp_path / "runs" / "title" / "iisan_versa-s0" / "results.json"
    results = json.loads(results_file.read_text())
    # As a release before eval.history recorded it: another scenario fingerprint (its eval
    # table had mask_repeat_targets), the split's protocol name alone, no convention.
    results["record"]["scenario_fingerprint"] = "0" * 64
    results["protocol"] = "leave_one_out_full_ranking"
    results["masking"] = {"history": "seq[:-1]", "mask_repeat_targets": False}
    results_file.write_text(json.dumps(results))
    listed = run_grid(spec, out_dir=tmp_path, data=tiny_data, echo=lambda _: None, run=False)
    assert [(o.status, o.error) for o in listed.outcomes] == [
        ("stale", "finished under the withdrawn evaluation convention (eval.history)")
    ]
