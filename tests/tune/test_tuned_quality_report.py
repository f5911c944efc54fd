"""benchmarks/tuned_quality.py's report: each study's choice, trials and summed seconds, and the
paired line, read from the files a grid's tuning writes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "tuned_quality", ROOT / "benchmarks" / "tuned_quality.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _study(grid: Path, method: str, trials: list[dict]) -> None:
    folder = grid / "tuning" / "title" / method
    folder.mkdir(parents=True)
    best = max((t for t in trials if t["state"] == "COMPLETE"), key=lambda t: t["value"])
    summary = {
        "method": method,
        "budget": {
            "trials": len(trials),
            "sampler": "TPE (seed 7, 1 random startup trial)",
            "pruner": "median (after 1 trial and 2 epochs)",
        },  # fmt: skip
        "trials": trials,
        "best": {"number": best["number"], "value": best["value"], "params": best["params"]},
    }
    (folder / "tuning.json").write_text(json.dumps(summary), encoding="utf-8")


def test_the_report_lists_every_trial_and_sums_each_studys_seconds(tmp_path: Path) -> None:
    tq = _script()
    trial = {"state": "COMPLETE", "epochs": 5, "params": {"train.lr": 2e-4}}
    _study(tmp_path, "fft", [
        {**trial, "number": 0, "value": 0.1, "seconds": 100.0},
        {**trial, "number": 1, "value": 0.05, "state": "PRUNED", "epochs": 2, "seconds": 40.5},
    ])  # fmt: skip
    _study(tmp_path, "iisan_versa", [{**trial, "number": 0, "value": 0.09, "seconds": 3.0}])
    studies = tq.studies(tmp_path)
    assert studies["fft"]["seconds"] == 140.5 and studies["iisan_versa"]["seconds"] == 3.0
    assert studies["fft"]["best_trial"] == 0 and studies["fft"]["chosen"] == {"train.lr": 2e-4}
    paired = {"b_minus_a": "iisan_versa - fft", "diff": -0.01, "ci_low": -0.02, "ci_high": -0.005,
              "p_value": 0.001, "n": 50, "per_seed": [-0.01, -0.012], "agree": 2,
              "significant": True, "tested": "Crossed users x seeds test."}  # fmt: skip
    report = {
        "setup": {
            "methods": ["iisan_versa", "fft"],
            "users": 50,
            "trials": 2,
            "params": [],
            "epochs": 5,
            "patience": 5,
            "seeds": [1, 2],
            "command": "tq",
        },  # fmt: skip
        "studies": studies,
        "test_ndcg@10": {"iisan_versa": {1: 0.06, 2: 0.07}, "fft": {1: 0.08, 2: 0.07}},
        "seconds_per_epoch": {"iisan_versa": {1: 2.0, 2: 4.0}, "fft": {1: 400.0, 2: 440.0}},
        "paired": paired,
        "paired_with": paired | {"b_minus_a": "iisan_versa - fft (from elsewhere)", "diff": 0.002},
    }
    text = tq.markdown(report)
    assert (
        "| iisan_versa | train.lr=0.0002 (trial 0, 0.0900) | 0.0600, 0.0700 | 0.0650 | 3.0 | 3 |"
        in text
    )
    assert (
        "| fft | train.lr=0.0002 (trial 0, 0.1000) | 0.0800, 0.0700 | 0.0750 | 420.0 | 140 |"
        in text
    )
    assert "| fft | 1 | PRUNED | 0.0500 | 2 | train.lr=0.0002 | 40 |" in text
    assert "**iisan_versa - fft**: -0.0100 [-0.0200, -0.0050]" in text
    assert "per seed -0.0100, -0.0120, 2/2 agree; significant: True. Crossed users x seeds" in text
    assert "sign-flip" not in text and "bootstrap" not in text  # the old test's wording
    assert "searched: all" in text and "median (after 1 trial and 2 epochs)" in text
    assert "**iisan_versa - fft (from elsewhere)**: +0.0020 [-0.0200, -0.0050]" in text
