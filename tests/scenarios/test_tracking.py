"""Experiment tracking read back from the stores: MLflow (SQLite store, nested runs,
parameters, per-epoch metric series, artifacts) and TensorBoard (scalars, hparams)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plumbing.io import read_jsonl
from toolkit.cli import app

from .conftest import one_thread

FAST_ID = ["train.epochs=2", "train.batch_size=64", "train.device=cpu", "eval.ks=[5, 10]"]


def _run_scenario(out: Path, *extra: str) -> dict:
    with one_thread():
        result = CliRunner().invoke(
            app, ["run-scenario", "id", *FAST_ID, *extra, "--out", str(out)]
        )
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def _series(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_mlflow_logs_one_run_with_params_epoch_series_and_results(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    out = tmp_path / "run"
    results = _run_scenario(out, "output.tracking=mlflow", "train.lr=3e-3")
    _run_scenario(out, "output.tracking=mlflow", "train.lr=3e-3")  # finished: not logged again
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("id")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "id/id-s0"
    params = run.data.params
    assert params["method"] == "id" and params["train.lr"] == "0.003"
    assert params["eval.ks"] == "[5, 10]" and params["train.epochs"] == "2"
    epochs, _ = read_jsonl(out / "metrics.jsonl")
    expected = [(r["epoch"], r["valid"]["ndcg@10"]) for r in epochs]
    assert _series(client, run.info.run_id, "valid/ndcg_at_10") == expected  # float64, exact
    assert [s for s, _ in _series(client, run.info.run_id, "train/loss")] == [1, 2]
    assert run.data.metrics["test/ndcg_at_10"] == pytest.approx(results["test"]["ndcg@10"])
    assert run.data.metrics["best_epoch"] == results["best_epoch"]
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert artifacts == ["results.json"]
    assert (out / "mlartifacts").is_dir()  # artifacts beside the store, in the job's folder


def test_mlflow_nests_a_studys_trials_and_final_run_under_its_parent(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from scenarios.tune.run import tune_scenario
    from scenarios.tune.spec import TuneSpec

    study = tmp_path / "study"
    with one_thread():
        result = tune_scenario(
            "id", [*FAST_ID, "output.tracking=mlflow"], spec=TuneSpec(trials=2), out_dir=study,
            progress=False, echo=lambda line: None,
        )  # fmt: skip
    client = MlflowClient(tracking_uri=f"sqlite:///{study / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tune-id-id")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and len(runs) == 4  # the study, 2 trials, the final run
    parent = parents[0].info.run_id
    children = {r.info.run_name: r for r in runs if r.info.run_id != parent}
    assert set(children) == {"trial 0", "trial 1", "id/id-s0"}
    assert all(r.data.tags["mlflow.parentRunId"] == parent for r in children.values())
    assert all(r.info.status == "FINISHED" for r in runs)
    for row in result.trials:
        trial = children[f"trial {row['number']}"]
        assert trial.data.metrics["best_valid/ndcg_at_10"] == pytest.approx(row["value"])
        assert float(trial.data.params["train.lr"]) == pytest.approx(row["params"]["train.lr"])
        assert "test/ndcg_at_10" not in trial.data.metrics  # trials never see test
    final = children["id/id-s0"]
    assert final.data.params["train.lr"] == str(result.best_params["train.lr"])
    assert "test/ndcg_at_10" in final.data.metrics
    assert parents[0].data.params["tune.trials"] == "2"
    names = {a.path for a in client.list_artifacts(parent)}
    assert names == {"tuning.md", "best.toml", "tuning.json"}


def test_tensorboard_writes_epoch_scalars_and_hparams(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    out = tmp_path / "run"
    results = _run_scenario(out, "output.tracking=tensorboard")
    events = EventAccumulator(str(out / "tensorboard")).Reload()
    epochs, _ = read_jsonl(out / "metrics.jsonl")
    ndcg = events.Scalars("valid/ndcg_at_10")
    assert [e.step for e in ndcg] == [r["epoch"] for r in epochs] == [1, 2]
    assert [e.value for e in ndcg] == pytest.approx([r["valid"]["ndcg@10"] for r in epochs])
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    hp = EventAccumulator(str(out / "tensorboard" / "hparams")).Reload()
    content = hp.PluginTagToContent("hparams")
    session = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = session.session_start_info.hparams
    assert hparams["method"].string_value == "id"
    assert hparams["train.epochs"].number_value == 2
    final = hp.Scalars("hparam/test/ndcg_at_10")
    assert final[0].value == pytest.approx(results["test"]["ndcg@10"])


def test_a_run_without_tracking_imports_no_tracking_or_tuning_library(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from scenarios.run.runner import run_scenario\n"
        "from scenarios.schema.scenario import load_scenario\n"
        f"s = load_scenario('id', {FAST_ID!r} + ['train.epochs=1'])\n"
        f"run_scenario(s, out={str(tmp_path / 'run')!r}, progress=False)\n"
        "print(','.join(m for m in ('optuna', 'mlflow', 'tensorboard') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"an untracked run imported {out.stdout.strip()}"
