"""Code identity (issue 26, item 1): a version setuptools-scm derives from git, the commit,
and a hash of the library's source, recorded in every results.json and checkpoint."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import provenance
from recsys.config import EvalConfig, SASRecConfig, TrainConfig
from recsys.run import run_experiment
from recsys.spec import RunSpec
from recsys.train import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the tomli backport below 3.11
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_version_is_setuptools_scms_from_git_not_a_constant() -> None:
    setuptools_scm = pytest.importorskip("setuptools_scm")
    import recsys

    project = _pyproject()
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    assert "setuptools-scm>=8" in project["build-system"]["requires"]
    fallback = project["tool"]["setuptools_scm"]["fallback_version"]
    assert fallback == provenance.FALLBACK_VERSION
    if provenance.commit() is None:
        pytest.skip("not a git checkout: the version is the installed one")
    expected = setuptools_scm.get_version(root=str(ROOT), fallback_version=fallback)
    assert provenance.version() == expected == recsys.__version__ != "0.1.0"
    assert len(provenance.commit()) == 40 and isinstance(provenance.dirty(), bool)


def test_without_git_or_metadata_the_version_is_the_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata

    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(provenance, "_is_checkout", lambda root: False)
    monkeypatch.setattr(importlib.metadata, "version", missing)
    provenance.version.cache_clear()
    try:
        assert provenance.version() == "0.0.0+unknown"
    finally:
        provenance.version.cache_clear()


def _library_copy(dst: Path) -> Path:
    for package in provenance.PACKAGES:
        shutil.copytree(ROOT / package, dst / package, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_the_source_hash_changes_when_a_library_file_changes(tmp_path: Path) -> None:
    copy = _library_copy(tmp_path / "tree")
    before = provenance.source_sha256(copy)
    assert before == provenance.source_sha256(ROOT)  # same files, same hash, other folder
    (copy / "tests_only.py").write_text("X = 1\n", encoding="utf-8")  # not in a package
    (copy / "recsys" / "notes.md").write_text("not Python", encoding="utf-8")
    assert provenance.source_sha256(copy) == before
    metrics = copy / "recsys" / "eval" / "metrics.py"
    metrics.write_text(metrics.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert provenance.source_sha256(copy) != before
    # ... and a new module counts as well as an edited one.
    metrics.write_text((ROOT / "recsys" / "eval" / "metrics.py").read_text(encoding="utf-8"))
    assert provenance.source_sha256(copy) == before
    (copy / "media" / "extra.py").write_text("X = 1\n", encoding="utf-8")
    assert provenance.source_sha256(copy) != before


def test_no_commit_is_claimed_outside_the_top_of_a_checkout(tmp_path: Path) -> None:
    # A wheel installed in a venv inside some checkout must not report that checkout's commit.
    assert provenance.commit(_library_copy(tmp_path / "tree")) is None
    assert provenance.commit(ROOT / "recsys") is None
    assert provenance.dirty(tmp_path / "tree") is None


def test_a_tiny_runs_results_and_checkpoint_record_the_code(make_toy_split, tmp_path) -> None:
    rng = np.random.default_rng(0)
    seqs = {f"u{u:02d}": [f"i{k:02d}" for k in rng.integers(0, 15, size=6)] for u in range(30)}
    run_experiment(
        RunSpec(
            split=make_toy_split(seqs, max_len=5),
            method="id",
            sasrec=SASRecConfig(dim=8, num_blocks=1, num_heads=2, ffn_dim=16),
            train=TrainConfig(epochs=1, batch_size=16, device="cpu"),
            evaluation=EvalConfig(ks=(5, 10)),
            cache_dir=tmp_path / "cache",
        ),
        out_dir=tmp_path / "run",
    )
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert results["code"] == {
        "version": provenance.version(),
        "commit": provenance.commit(),
        "dirty": provenance.dirty(),
        "source_sha256": provenance.source_sha256(),
    }
    assert results["toolkit_version"] == provenance.version() != "0.1.0"
    assert provenance.code_of(results) == provenance.source_sha256()
    [weights, *_] = sorted((tmp_path / "run" / "checkpoint").rglob("*.safetensors"))
    assert ckpt.load_weights(weights)[1]["toolkit_version"] == provenance.version()
