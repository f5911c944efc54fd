"""The user-level cache folder: $MMREC_TOOLKIT_CACHE, else $XDG_CACHE_HOME, else ~/.cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from plumbing.cachedir import user_cache_dir


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home folder and no cache variables set."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MMREC_TOOLKIT_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return tmp_path / "home"


def test_default_is_dot_cache_in_home(home: Path) -> None:
    assert user_cache_dir() == home / ".cache" / "mmrec-toolkit"
    assert not (home / ".cache").exists()  # naming the folder creates nothing


def test_xdg_cache_home_is_used_when_absolute(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "mmrec-toolkit"
    for ignored in ("", "relative/cache"):  # the XDG rule: empty or relative is invalid
        monkeypatch.setenv("XDG_CACHE_HOME", ignored)
        assert user_cache_dir() == home / ".cache" / "mmrec-toolkit"


def test_the_toolkit_variable_wins_and_a_relative_one_is_anchored(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MMREC_TOOLKIT_CACHE", str(tmp_path / "mine"))
    assert user_cache_dir() == tmp_path / "mine"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMREC_TOOLKIT_CACHE", "rel/cache")
    assert user_cache_dir() == tmp_path / "rel" / "cache"
    monkeypatch.setenv("MMREC_TOOLKIT_CACHE", "")  # empty: as if unset
    assert user_cache_dir() == tmp_path / "xdg" / "mmrec-toolkit"


def test_the_test_suite_never_uses_the_real_user_cache() -> None:
    from tests.conftest import SESSION_CACHE

    assert user_cache_dir() == SESSION_CACHE  # set for the session (subprocesses inherit it)
    assert Path.home() / ".cache" not in SESSION_CACHE.parents
