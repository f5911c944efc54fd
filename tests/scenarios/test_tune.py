"""`toolkit tune`: a 4-trial search on the embedded sample beats a deliberately bad start,
never evaluates on test before the choice, resumes after `kill -9` with the same trials plus
the remaining ones, and writes a scenario file that `run-scenario` accepts unchanged."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app

from .conftest import one_thread

optuna = pytest.importorskip("optuna")  # the dev extra installs it

# ID-SASRec on the sample: 12 steps an epoch, a second a trial. lr 1e-6 learns nothing.
BAD_START = ["train.epochs=4", "train.batch_size=32", "train.lr=1e-6", "train.device=cpu"]


def _overrides(cache: Path) -> list[str]:
    return [*BAD_START, f"output.cache_dir={json.dumps(str(cache))}"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory):
    """A 4-trial study, with every evaluation the process makes recorded."""
    import recsys.eval.evaluator as evaluator
    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec

    root = tmp_path_factory.mktemp("tune")
    calls: list[tuple[str, int]] = []
    real = evaluator.evaluate

    def spy(model, split, which, *args, **kwargs):
        calls.append((which, len(split.test_target)))
        return real(model, split, which, *args, **kwargs)

    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp, one_thread():
        mp.setattr("recsys.train.trainer.evaluate", spy)
        mp.setattr("recsys.run.evaluate", spy)
        result = tune_scenario(
            "id", _overrides(root / "cache"), spec=TuneSpec(trials=4), out_dir=root / "study",
            progress=False, echo=lines.append,
        )  # fmt: skip
    return result, calls, lines


def test_four_trials_beat_a_bad_starting_lr(tuned) -> None:
    result, _, lines = tuned
    start, *others = result.trials
    assert start["start"] is True and start["params"]["train.lr"] == 1e-6
    assert [t["state"] for t in result.trials] == ["COMPLETE"] * 4
    assert result.best_value > start["value"] + 0.05  # lr 1e-6 stays near the initial model
    assert result.best_value == max(t["value"] for t in result.trials)
    assert 1e-4 <= result.best_params["train.lr"] <= 1e-2  # the `id` method's declared range
    assert set(result.best_params) == {"train.lr", "train.weight_decay", "model.dropout"}
    # One line per finished trial: its value, the best so far, pruned or not.
    assert len(lines) == 4 and lines[-1].startswith("trial 3 [4/4]: valid ndcg@10 ")
    best = max(result.trials, key=lambda t: t["value"])
    assert f"best {best['value']:.4f} (trial {best['number']})" in lines[-1]
    summary = json.loads((result.out_dir / "tuning.json").read_text(encoding="utf-8"))
    assert summary["budget"]["trials"] == 4 and summary["budget"]["epochs"] == 4
    assert summary["best"]["params"] == result.best_params
    assert "never influenced" in summary["test_data"]
    # Each trial's cost is kept with it (reports sum it into the study's tuning time).
    assert all(t["seconds"] > 0 for t in summary["trials"])
    assert summary["budget"]["sampler"] == "TPE (seed 0, 5 random startup trials)"


def test_test_data_never_reaches_the_search(tuned) -> None:
    result, calls, _ = tuned
    searched = [c for c in calls if c[1] == 0]  # evaluations on the withheld split
    assert searched and all(which == "valid" for which, _ in searched)
    assert len(searched) == 4 * 4  # 4 trials x 4 epochs, validation only
    tests = [i for i, (which, _) in enumerate(calls) if which == "test"]
    assert len(tests) == 1  # once, for the chosen configuration's one seed...
    assert tests[0] > max(i for i, c in enumerate(calls) if c[1] == 0)  # ...after the search
    final = json.loads((result.out_dir / "best" / "results.json").read_text(encoding="utf-8"))
    assert final["config"]["train"]["lr"] == result.best_params["train.lr"]
    # The search's best validation score is the final run's: same configuration, same seed.
    assert final["valid"]["ndcg@10"] == pytest.approx(result.best_value, abs=1e-9)


def test_an_evaluation_on_the_withheld_split_fails_loudly(tmp_path: Path) -> None:
    from recsys.config import EvalConfig
    from recsys.data import load_dataset, make_split, sample_path
    from recsys.errors import RecsysError
    from recsys.eval.evaluator import evaluate
    from recsys.factory import build_model
    from recsys.spec import RunSpec
    from scenarios.tune.spec import withhold_test

    split = make_split(load_dataset(sample_path()))
    withheld = withhold_test(split)
    assert len(withheld.test_target) == 0 and (withheld.valid_target == split.valid_target).all()
    model = build_model(RunSpec(split=split, method="id", cache_dir=tmp_path)).eval()
    assert evaluate(model, withheld, "valid", EvalConfig()).num_users == split.num_users
    with pytest.raises((IndexError, ValueError, RuntimeError, RecsysError)):
        evaluate(model, withheld, "test", EvalConfig())


def test_the_tuned_scenario_round_trips_through_run_scenario(tuned, tmp_path: Path) -> None:
    from scenarios.schema.scenario import load_scenario

    result, _, _ = tuned
    scenario = load_scenario(result.best_file)
    assert scenario.train.lr == result.best_params["train.lr"]
    assert scenario.model.dropout == result.best_params["model.dropout"]
    assert scenario.train.epochs == 4 and scenario.train.batch_size == 32  # overrides kept
    final = json.loads((result.out_dir / "best" / "results.json").read_text(encoding="utf-8"))
    assert final["record"]["scenario_fingerprint"] == scenario.fingerprint()
    with one_thread():
        run = CliRunner().invoke(
            app, ["run-scenario", str(result.best_file), "--out", str(tmp_path)]
        )
    assert run.exit_code == 0, run.output
    again = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert again["test"] == final["test"] and again["valid"] == final["valid"]


def _stub_trials(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """`fit_trial` returns a made-up score and counts the call (no training)."""
    from types import SimpleNamespace

    calls: list[int] = []

    def fit(*args, **kwargs):
        calls.append(1)
        return SimpleNamespace(best_valid={"ndcg@10": 0.01 * len(calls)}, best_epoch=1)

    monkeypatch.setattr("scenarios.tune.study.fit_trial", fit)
    return calls


@pytest.mark.parametrize(
    ("extra", "trials", "change"),
    [
        ([], 1, "trials 4 → 1"),  # fewer trials: not the 4-trial study's choice
        ([], 5, "trials 4 → 5"),
        (["train.epochs=3"], 4, "epochs 4 → 3"),  # and the configuration
    ],
)
def test_a_folder_holding_another_study_is_set_aside_and_tuned_again(
    tuned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra, trials, change
) -> None:
    import shutil

    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec

    result, _, _ = tuned
    study = shutil.copytree(result.out_dir, tmp_path / "study")
    calls, lines = _stub_trials(monkeypatch), []
    again = tune_scenario(
        "id", [*_overrides(result.out_dir.parent / "cache"), *extra], spec=TuneSpec(trials=trials),
        out_dir=study, final_run=False, progress=False, echo=lines.append,
    )  # fmt: skip
    assert len(calls) == trials and len(again.trials) == trials  # a fresh study
    assert lines[0].startswith(f"{study}: another study (") and change in lines[0]
    assert lines[0].endswith("; tuning again (the old one set aside as study.stale-1)")
    old = json.loads((tmp_path / "study.stale-1" / "tuning.json").read_text(encoding="utf-8"))
    assert old["identity"]["trials"] == 4 and (tmp_path / "study.stale-1" / "best").is_dir()
    summary = json.loads((study / "tuning.json").read_text(encoding="utf-8"))
    assert summary["budget"]["trials"] == summary["identity"]["trials"] == trials


def test_the_same_study_is_reused_without_a_trial(
    tuned, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec

    result, _, _ = tuned
    study = shutil.copytree(result.out_dir, tmp_path / "study")
    calls, lines = _stub_trials(monkeypatch), []
    again = tune_scenario(
        "id", _overrides(result.out_dir.parent / "cache"), spec=TuneSpec(trials=4),
        out_dir=study, final_run=False, progress=False, echo=lines.append,
    )  # fmt: skip
    assert calls == [] and lines == [] and not (tmp_path / "study.stale-1").exists()
    assert again.best_params == result.best_params and again.trials == result.trials


def test_best_toml_names_the_dataset_the_study_used(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run-scenario best.toml` runs on the study's data, not the embedded sample."""
    from scenarios.schema.scenario import load_scenario
    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec

    from .conftest import FAST

    _stub_trials(monkeypatch)
    result = tune_scenario(
        "id", [*FAST, f"output.cache_dir={json.dumps(str(tmp_path / 'cache'))}"],
        spec=TuneSpec(trials=1), out_dir=tmp_path / "study", data=tiny_data,
        final_run=False, progress=False, echo=lambda line: None,
    )  # fmt: skip
    assert load_scenario(result.best_file).dataset.path == str(tiny_data.resolve())
    run = CliRunner().invoke(
        app, ["run-scenario", str(result.best_file), "--out", str(tmp_path / "run")]
    )
    assert run.exit_code == 0, run.output
    record = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert record["record"]["dataset"]["path"] == str(tiny_data.resolve())


def _finished(study_dir: Path) -> list:
    study = optuna.load_study(study_name="tune", storage=f"sqlite:///{study_dir / 'study.db'}")
    return study.get_trials(deepcopy=True)


def _kill_mid_trial(study_dir: Path, cache: Path) -> None:
    """Start `toolkit tune` in a subprocess and SIGKILL it while its third trial trains."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "toolkit", "tune", "id", *_overrides(cache), "--trials", "4"]
    proc = subprocess.Popen(
        [*cmd, "--out", str(study_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            folders = sorted((study_dir / "trials").glob("*/metrics.jsonl"), key=os.path.getmtime)
            if len(folders) == 3 and 1 <= len(folders[-1].read_text().splitlines()) < 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_study_resumes_with_its_trials_plus_the_remaining_ones(tuned, tmp_path) -> None:
    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec

    study_dir = tmp_path / "study"
    _kill_mid_trial(study_dir, tmp_path / "cache")
    before = _finished(study_dir)
    done = {t.number: t for t in before if t.state.name == "COMPLETE"}
    running = [t for t in before if t.state.name == "RUNNING"]
    assert len(done) >= 2 and len(running) == 1  # killed while a trial trained

    with one_thread():
        result = tune_scenario(
            "id", _overrides(tmp_path / "cache"), spec=TuneSpec(trials=4), out_dir=study_dir,
            progress=False, echo=lambda line: None,
        )  # fmt: skip
    after = {t.number: t for t in _finished(study_dir)}
    for number, trial in done.items():  # the finished trials are kept as they were
        assert after[number].params == trial.params and after[number].value == trial.value
    rows = {r["number"]: r for r in result.trials}
    killed = running[0].number
    assert rows[killed]["state"] == "KILLED"
    retry = [r for r in result.trials if r.get("retry_of") == killed]
    assert len(retry) == 1 and retry[0]["params"] == running[0].params
    finished = [r for r in result.trials if r["state"] in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4  # the budget: killed trials do not count
    keys = [json.dumps(r["params"], sort_keys=True) for r in finished]
    assert len(set(keys)) == 4  # none repeated
    # Re-seeded proposals and the resumed trial's checkpoint: the same study as uninterrupted.
    straight, _, _ = tuned
    expected = [(t["params"], t["value"]) for t in straight.trials]
    for (params, value), row in zip(expected, finished, strict=True):
        assert row["params"] == params and row["value"] == pytest.approx(value, abs=1e-9)
    assert result.best_params == straight.best_params


def test_a_busy_study_folder_is_refused(tmp_path: Path) -> None:
    from filelock import FileLock

    from scenarios.schema.errors import ScenarioError
    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec

    (tmp_path / "study").mkdir()
    with FileLock(tmp_path / "study" / "study.lock"), pytest.raises(ScenarioError, match="running"):
        tune_scenario("id", BAD_START, spec=TuneSpec(trials=1), out_dir=tmp_path / "study")


def test_tune_cli_errors_are_one_clean_line(tmp_path: Path) -> None:
    args = ["tune", "id", "train.lrr=2", "--trials", "2", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and not list(tmp_path.iterdir())  # nothing ran
    assert re.search(r"error: .*train\.lrr: unknown key", result.output)
    assert "Traceback" not in result.output


def test_the_pruner_stops_trials_behind_the_median(tmp_path: Path) -> None:
    from plumbing.io import read_jsonl
    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec, trial_folder

    # A good start (lr 5e-3) that every epoch of a worse trial is compared against.
    good = ["train.epochs=4", "train.batch_size=32", "train.lr=5e-3", "train.device=cpu"]
    spec = TuneSpec(trials=3, startup_trials=1, warmup_epochs=0)
    lines: list[str] = []
    with one_thread():
        result = tune_scenario(
            "id", good, spec=spec, out_dir=tmp_path, final_run=False, progress=False,
            echo=lines.append,
        )  # fmt: skip
    states = [t["state"] for t in result.trials]
    assert states[0] == "COMPLETE" and "PRUNED" in states and len(states) == 3  # counted
    for trial, line in zip(result.trials, lines, strict=True):
        pruned = trial["state"] == "PRUNED"
        assert ("pruned after" in line) == pruned
        folder = trial_folder(tmp_path, trial["params"])
        epochs, _ = read_jsonl(folder / "metrics.jsonl")
        assert len(epochs) == trial["epochs"] and (len(epochs) < 4) == pruned
    assert not (tmp_path / "best").exists()  # final_run=False: no test evaluation at all
    budget = json.loads((tmp_path / "tuning.json").read_text(encoding="utf-8"))["budget"]
    assert budget["pruner"] == "median (after 1 trial and 0 epochs)"
    assert budget["sampler"].endswith(", 1 random startup trial)")
