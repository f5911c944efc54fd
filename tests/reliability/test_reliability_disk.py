"""Disk (issue 9): the hidden-state cache says how much room it needs before writing, and a
disk without that room stops the build at once with a clear message, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recsys.channels import ChannelInput, EncoderSpec


def _channel(tiny_models: dict[str, Path], n: int = 9) -> ChannelInput:
    texts = tuple(f"lab kit number {i}" for i in range(n))
    return ChannelInput("text", "text", EncoderSpec(str(tiny_models["text"])), texts=texts)


def _free(monkeypatch: pytest.MonkeyPatch, free: int) -> list[str]:
    """Make the disk report `free` bytes; returns the paths asked about."""
    real = shutil.disk_usage
    asked: list[str] = []

    def fake(path):  # noqa: ANN001, ANN202 - mirrors shutil.disk_usage
        asked.append(str(path))
        return real(path)._replace(free=free)

    monkeypatch.setattr(shutil, "disk_usage", fake)
    return asked


def test_full_disk_stops_the_build_before_anything_is_written(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recsys.cache import build_or_load_cache
    from recsys.errors import RecsysError

    asked = _free(monkeypatch, 1000)
    with pytest.raises(RecsysError) as info:
        build_or_load_cache(_channel(tiny_models), cache_dir=tmp_path / "c", progress=False)
    message = str(info.value)
    assert "MB" in message and "free" in message and str(tmp_path / "c") in message
    assert asked and not list((tmp_path / "c").rglob("*.np*"))  # no chunk, no array


def test_the_build_reports_its_size_and_proceeds_when_there_is_room(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from recsys.cache import build_or_load_cache

    _free(monkeypatch, 10**12)
    cache = build_or_load_cache(_channel(tiny_models), cache_dir=tmp_path / "c", progress=True)
    report = capsys.readouterr().err
    assert "cache text: needs" in report and "MB free" in report
    assert cache.manifest["build"]["bytes"] == cache.states.nbytes
