"""Fixtures of the reliability tests (helpers live in reliability_helpers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reliability_helpers import make_dataset, run_ok, scenario_text


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 2-layer BERT (width 32) and a 2-layer ViT (32x32 images), saved as HF folders."""
    from tests.support.tiny_models import write_tiny_bert, write_tiny_vit

    root = tmp_path_factory.mktemp("models")
    return {"text": write_tiny_bert(root / "bert"), "vision": write_tiny_vit(root / "vit")}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "tiny")


@pytest.fixture(scope="session")
def reference(tiny_models: dict[str, Path], tiny_data: Path, tmp_path_factory) -> dict:
    """One uninterrupted run of the scenario for seeds 0 and 1 (its own cache folder)."""
    root = tmp_path_factory.mktemp("reference")
    scenario = root / "pair.toml"
    scenario.write_text(scenario_text(tiny_models, root / "cache", seeds="[0, 1]"))
    run_ok(["run-scenario", str(scenario), "--data", str(tiny_data), "--out", "out"], root)
    runs = {seed: root / "out" / f"iisan_versa-s{seed}" for seed in (0, 1)}
    results = {s: json.loads((d / "results.json").read_text()) for s, d in runs.items()}
    return {"runs": runs, "results": results, "cache": root / "cache" / "states"}
