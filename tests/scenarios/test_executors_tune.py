"""One Optuna study, several workers (scenarios.tune.workers): with a GridSampler over 4
points, 1 worker (journal file storage) and 2 worker processes (SQLite) evaluate the same
trials and choose the same values; an interrupted study resumes without losing or repeating
a finished trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.tune.spec import TuneSpec
from scenarios.tune.workers import storage_url, tune_in_workers

from .conftest import FAST

pytest.importorskip("optuna")

POINTS = [0.0, 0.1, 0.2, 0.3]
SPEC = TuneSpec(trials=4, params=("model.dropout",), pruner="none", include_start=False)


def _overrides(cache: Path) -> list[str]:
    return [*FAST, f"output.cache_dir={json.dumps(str(cache))}"]


def _evaluated(trials: list[dict]) -> list[tuple[float, float]]:
    """(dropout, valid NDCG@10) of every complete trial, by dropout."""
    return sorted(
        (t["params"]["model.dropout"], t["value"]) for t in trials if t["state"] == "COMPLETE"
    )


def test_one_and_two_workers_evaluate_the_same_points_and_choose_the_same_values(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    common = {
        "spec": SPEC,
        "data": tiny_data,
        "grid": {"model.dropout": POINTS},
        "final_run": False,
    }
    lines: list[str] = []
    journal = tmp_path / "shared" / "study.journal"
    one = tune_in_workers(
        "title", _overrides(shared_cache), out_dir=tmp_path / "one", workers=1,
        storage=str(journal), echo=lines.append, **common,
    )  # fmt: skip
    two = tune_in_workers(
        "title", _overrides(shared_cache), out_dir=tmp_path / "two", workers=2,
        echo=lines.append, **common,
    )  # fmt: skip
    assert journal.is_file() and not (tmp_path / "one" / "study.db").exists()
    assert (tmp_path / "two" / "study.db").is_file()
    assert [p for p, _ in _evaluated(one.trials)] == POINTS  # each point once
    assert _evaluated(two.trials) == _evaluated(one.trials)
    assert len(two.trials) == 4  # the budget, not overshot by the second worker
    assert one.best_params == two.best_params
    best = max(_evaluated(one.trials), key=lambda pv: pv[1])
    assert one.best_params == {"model.dropout": best[0]}
    summary = json.loads((tmp_path / "two" / "tuning.json").read_text(encoding="utf-8"))
    assert summary["best"]["params"] == two.best_params
    where = storage_url(tmp_path / "two", None)
    assert lines[1] == f"tuning with 2 workers: 2 local processes; study in {where}"


def test_an_interrupted_shared_study_resumes_without_losing_or_repeating_a_trial(
    tiny_data: Path, shared_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scenarios.tune.study as tune_study

    real = tune_study._run_trial
    trained: list[float] = []

    def interrupt_third(trial, scenario, *args):
        if len(trained) == 2:
            raise KeyboardInterrupt  # Ctrl-C (or a lost worker) during the third trial
        trained.append(trial.params["model.dropout"])
        return real(trial, scenario, *args)

    monkeypatch.setattr(tune_study, "_run_trial", interrupt_third)
    args = ("title", _overrides(shared_cache))
    common = {
        "spec": SPEC,
        "data": tiny_data,
        "grid": {"model.dropout": POINTS},
        "final_run": False,
    }
    journal = str(tmp_path / "study.journal")
    with pytest.raises(KeyboardInterrupt):
        tune_in_workers(*args, out_dir=tmp_path / "study", storage=journal, echo=print, **common)
    assert len(trained) == 2

    def count(trial, *args):
        trained.append(trial.params["model.dropout"])
        return real(trial, *args)

    monkeypatch.setattr(tune_study, "_run_trial", count)
    result = tune_in_workers(
        *args, out_dir=tmp_path / "study", storage=journal, echo=print, **common
    )
    assert sorted(trained) == POINTS  # 2 before, the killed one again and the last: 4 in all
    states = [t["state"] for t in result.trials]
    assert states.count("KILLED") == 1 and states.count("COMPLETE") == 4
    assert [p for p, _ in _evaluated(result.trials)] == POINTS


def test_toolkit_tune_with_two_workers_and_a_journal_file(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from toolkit.cli import app

    journal = tmp_path / "study.journal"
    args = ["tune", "title", *_overrides(shared_cache), "seeds=[0]", "--trials", "2"]
    args += ["--workers", "2", "--storage", str(journal), "--data", str(tiny_data)]
    run = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "study")])
    assert run.exit_code == 0, run.output
    assert f"tuning with 2 workers: 2 local processes; study in {journal}" in run.output
    summary = json.loads((tmp_path / "study" / "tuning.json").read_text(encoding="utf-8"))
    assert [t["state"] for t in summary["trials"]] == ["COMPLETE", "COMPLETE"]
    assert summary["trials"][0].get("start") is True  # trial 0: the scenario's own values
    assert list(summary["final_runs"]) == ["0"]  # best.toml's one seed, tested once
    bad = CliRunner().invoke(app, [*args, "--executor", "cloud", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines()[-1] == (
        "error: --executor must be one of local, ray, slurm, got 'cloud'"
    )


def test_a_grids_tune_stage_on_two_workers_gives_its_cells_the_shared_studys_choice(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    from scenarios.grid.plan import GridSpec
    from scenarios.grid.run import run_grid

    spec = GridSpec(
        scenarios=("title",), seeds=(0,), overrides=tuple(_overrides(shared_cache)),
        tune=TuneSpec(trials=2),
    )  # fmt: skip
    lines: list[str] = []
    result = run_grid(spec, out_dir=tmp_path, data=tiny_data, echo=lines.append, tune_workers=2)
    assert [o.status for o in result.outcomes] == ["done"]
    study = tmp_path / "tuning" / "title" / "iisan_versa"
    assert lines[1].startswith("tuning with 2 workers: 2 local processes; study in sqlite:///")
    summary = json.loads((study / "tuning.json").read_text(encoding="utf-8"))
    assert [t["state"] for t in summary["trials"]] == ["COMPLETE", "COMPLETE"]
    results = json.loads((result.outcomes[0].cell.run_dir / "results.json").read_text())
    assert results["config"]["sasrec"]["dropout"] == summary["best"]["params"]["model.dropout"]
