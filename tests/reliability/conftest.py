"""Fixtures of the reliability tests (helpers live in reliability_helpers.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from reliability_helpers import make_dataset, run_ok, scenario_text


@pytest.fixture(scope="session", autouse=True)
def _hf_logs_on_session_stderr(hf_log_handler: None) -> None:
    """See tests/conftest.py: model loads through the CLI must not log to a closed stream."""


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


@pytest.fixture
def small_disk(tmp_path: Path):
    """`small_disk(size)` mounts a tmpfs of `size` ("64k", "16m") and returns its folder; all
    are unmounted afterwards. Skips the test when this process may not mount one (not root,
    or no CAP_SYS_ADMIN, as in most CI containers): a full disk cannot be faked honestly."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a {size} tmpfs here ({done.stderr.strip()})")
        mounted.append(point)
        return point

    try:
        yield mount
    finally:
        for point in mounted:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


@pytest.fixture
def read_only_folder(tmp_path: Path):
    """An existing folder nobody can write into, holding `kept.txt` and a caption store with
    one part file (`store/`): by permissions when not root, else (root ignores permissions) a
    read-only bind mount; skips when neither is possible."""
    from plumbing.io import append_jsonl

    source = tmp_path / "ro-source"
    source.mkdir()
    (source / "kept.txt").write_text("already here\n")
    append_jsonl(source / "store" / "parts" / "part-00000-of-00002.jsonl", {"item_id": "a"})
    if os.geteuid() != 0:
        folders = [source, *(p for p in source.rglob("*") if p.is_dir())]
        for folder in folders:
            folder.chmod(0o555)
        yield source
        for folder in folders:
            folder.chmod(0o755)
        return
    point = tmp_path / "ro"
    point.mkdir()
    steps = [
        ["mount", "--bind", str(source), str(point)],
        ["mount", "-o", "remount,ro,bind", str(point)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
            pytest.skip(f"running as root without a read-only bind mount ({done.stderr.strip()})")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
