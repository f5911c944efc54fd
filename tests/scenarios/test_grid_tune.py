"""A grid with `tune = { trials = N }`: every (scenario, method) is tuned at the same budget
before its seeded runs, the cells carry the chosen values, the report states budget, choice
and that test data never influenced it; with MLflow the grid is the parent of everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.grid.plan import grid_commands, load_grid
from scenarios.grid.run import run_grid
from scenarios.schema.errors import ScenarioError
from toolkit.cli import app

from .conftest import one_thread

pytest.importorskip("optuna")

OVERRIDES = ["train.epochs=3", "train.batch_size=64", "train.lr=1e-6", "train.device=cpu"]


def _grid_file(tmp_path: Path, extra: str = "") -> Path:
    sets = OVERRIDES + [f"output.cache_dir={json.dumps(str(tmp_path / 'cache'))}"]
    path = tmp_path / "grid.toml"
    path.write_text(
        f'name = "t"\nscenarios = ["id"]\nseeds = [0, 1]\noverrides = {json.dumps(sets)}\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def tuned_grid(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("grid_tune")
    spec = load_grid(_grid_file(root, "tune = { trials = 2 }\n"), ["output.tracking=mlflow"])
    lines: list[str] = []
    with one_thread():
        result = run_grid(spec, out_dir=root / "out", echo=lines.append)
    return spec, result, lines


def test_every_cell_runs_with_its_groups_tuned_values(tuned_grid) -> None:
    spec, result, lines = tuned_grid
    assert not result.failed and [o.status for o in result.outcomes] == ["done", "done"]
    assert lines[0] == "tuning id / id: 2 trials"
    summary = json.loads((result.out_dir / "tuning/id/id/tuning.json").read_text())
    assert summary["budget"]["trials"] == 2 and summary["budget"]["epochs"] == 3
    chosen = summary["best"]["params"]
    for outcome in result.outcomes:
        results = json.loads((outcome.cell.run_dir / "results.json").read_text())
        assert results["config"]["train"]["lr"] == chosen["train.lr"]
        assert results["config"]["sasrec"]["dropout"] == chosen["model.dropout"]
    assert summary["budget"]["training_seed"] == 0  # the grid's first seed trains the trials
    report = result.report.read_text(encoding="utf-8")
    section = report[report.index("## Tuning") :]
    assert "2 trials, each at most 3 epochs" in section and "never influenced" in section
    assert f"`train.lr={chosen['train.lr']:.3g}`" in section
    again = run_grid(spec, out_dir=result.out_dir, echo=lambda line: None)  # nothing to redo
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]


def test_commands_carry_the_tuned_values(tuned_grid) -> None:
    spec, result, _ = tuned_grid
    summary = json.loads((result.out_dir / "tuning/id/id/tuning.json").read_text())
    lines = grid_commands(spec, out_dir=result.out_dir)
    assert len(lines) == 2
    assert all(f"train.lr={json.dumps(summary['best']['params']['train.lr'])}" in x for x in lines)
    with pytest.raises(ScenarioError, match="no finished study"):
        grid_commands(spec, out_dir=result.out_dir / "elsewhere")


def test_mlflow_holds_the_grid_as_parent_of_the_study_and_the_cells(tuned_grid) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    _, result, _ = tuned_grid
    client = MlflowClient(tracking_uri=f"sqlite:///{result.out_dir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("grid-t").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    grid = by_name["grid t"].info.run_id
    assert "mlflow.parentRunId" not in by_name["grid t"].data.tags
    assert by_name["tune id/id"].data.tags["mlflow.parentRunId"] == grid
    assert by_name["id/id-s0"].data.tags["mlflow.parentRunId"] == grid
    assert by_name["id/id-s1"].data.tags["mlflow.parentRunId"] == grid
    study = by_name["tune id/id"].info.run_id
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == study]
    assert sorted(r.info.run_name for r in trials) == ["trial 0", "trial 1"]
    assert len(runs) == 6  # a second grid call logged nothing new
    assert {a.path for a in client.list_artifacts(grid)} == {"report.md", "quality_vs_cost.png"}
    assert by_name["grid t"].info.status == "FINISHED"


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ("tune = { trials = 0 }", "tune.trials", "must be >= 1"),
        ("tune = { trails = 3 }", "tune.trails", "unknown key"),
        ('tune = { trials = 2, pruner = "hyperband" }', "tune.pruner", "invalid value"),
    ],
)
def test_a_bad_tune_table_names_the_key(tmp_path: Path, table: str, key: str, message) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        load_grid(_grid_file(tmp_path, table + "\n"))
    assert info.value.key == key


def test_cli_tune_option_sets_the_budget(tuned_grid) -> None:
    _, result, _ = tuned_grid
    grid = result.out_dir.parent / "grid.toml"
    args = ["grid", str(grid), "--tune", "2", "--commands", "--out", str(result.out_dir)]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert len(out.output.splitlines()) == 2 and "train.lr=" in out.output.splitlines()[0]
    bad = CliRunner().invoke(app, ["grid", str(grid), "--tune", "0", "--commands"])
    assert bad.exit_code == 2 and "--tune" in bad.output


# A finished study is reused only for the very same study (issue 26, item 2). Trials are
# stubbed (`fit_trial` returns a made-up score and counts the call): these tests are about
# which study a folder holds, not about training.


@pytest.fixture
def stub_trials(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from types import SimpleNamespace

    calls: list[int] = []

    def fit(*args, **kwargs):
        calls.append(1)
        return SimpleNamespace(best_valid={"ndcg@10": 0.1 * len(calls)}, best_epoch=1)

    monkeypatch.setattr("scenarios.tune.study.fit_trial", fit)
    return calls


def _spec(tmp_path: Path, trials: int):
    from scenarios.grid.plan import with_tune

    return with_tune(load_grid(_grid_file(tmp_path)), trials)


def _tune(tmp_path: Path, trials: int, data: Path | None = None) -> tuple[list, list[str]]:
    from scenarios.grid.plan import plan_grid
    from scenarios.grid.tune import tune_cells

    spec, out, lines = _spec(tmp_path, trials), tmp_path / "out", []
    cells = tune_cells(spec, plan_grid(spec, out), out, data, search=True, echo=lines.append)
    return cells, lines


def _summary(folder: Path) -> dict:
    return json.loads((folder / "tuning.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("before", "after"), [(2, 1), (1, 2)])
def test_another_budget_is_another_study_tuned_again(
    tmp_path: Path, stub_trials: list[int], before: int, after: int
) -> None:
    from scenarios.report.tuning import tuning_section

    _tune(tmp_path, before)
    assert len(stub_trials) == before
    cells, lines = _tune(tmp_path, after)
    assert len(stub_trials) == before + after  # tuned again, from scratch
    assert lines[1] == (
        f"tuning/id/id: another study (trials {before} → {after}); tuning again "
        "(the old one set aside as id.stale-1)"
    )
    study = tmp_path / "out/tuning/id/id"
    assert _summary(study.with_name("id.stale-1"))["identity"]["trials"] == before  # kept
    summary = _summary(study)
    assert summary["budget"]["trials"] == summary["identity"]["trials"] == after
    assert len(summary["trials"]) == after
    assert all(c.scenario.train.lr == summary["best"]["params"]["train.lr"] for c in cells)
    section = tuning_section(tmp_path / "out", _spec(tmp_path, after))
    assert [r.split("|")[3].strip() for r in section.splitlines() if r.startswith("| id |")] == [
        str(after)
    ]  # the set-aside study is not reported


def test_another_dataset_is_another_study_tuned_again(
    tmp_path: Path, stub_trials: list[int]
) -> None:
    import shutil

    from recsys.data import sample_path

    _tune(tmp_path, 1)
    copy = shutil.copytree(sample_path(), tmp_path / "copy")  # same content, another dataset
    _, lines = _tune(tmp_path, 1, data=copy)
    assert len(stub_trials) == 2
    assert f"another study (dataset {sample_path().resolve()} → {copy.resolve()})" in lines[1]
    assert _summary(tmp_path / "out/tuning/id/id")["identity"]["dataset"] == str(copy.resolve())


def test_the_same_request_reuses_the_study_without_a_trial(
    tmp_path: Path, stub_trials: list[int]
) -> None:
    first, _ = _tune(tmp_path, 2)
    again, lines = _tune(tmp_path, 2)
    assert len(stub_trials) == 2 and lines == []  # nothing tuned, nothing said
    assert [c.overrides for c in again] == [c.overrides for c in first]
    assert not list((tmp_path / "out/tuning/id").glob("*.stale-*"))


def test_a_study_without_identity_is_another_study(tmp_path: Path, stub_trials: list[int]):
    _tune(tmp_path, 1)
    folder = tmp_path / "out/tuning/id/id"
    summary = _summary(folder)
    del summary["identity"]  # as older code wrote it
    (folder / "tuning.json").write_text(json.dumps(summary), encoding="utf-8")
    _, lines = _tune(tmp_path, 1)
    assert len(stub_trials) == 2
    assert "another study (no recorded study identity (older code))" in lines[1]


def test_commands_need_the_very_same_study(tmp_path: Path, stub_trials: list[int]) -> None:
    _tune(tmp_path, 2)
    assert len(grid_commands(_spec(tmp_path, 2), out_dir=tmp_path / "out")) == 2
    with pytest.raises(ScenarioError, match=r"another study: trials 2 → 1\)"):
        grid_commands(_spec(tmp_path, 1), out_dir=tmp_path / "out")
