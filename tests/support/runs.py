"""Helpers for tests of run folders: what a folder holds, and a crash at a chosen epoch."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under a run folder except its `eval-*` folders: mtime and content hash
    (equal snapshots: nothing was written, not even the same bytes again)."""
    return {
        str(p.relative_to(folder)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and not p.relative_to(folder).parts[0].startswith("eval-")
    }


def crash_after_checkpoints(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Make training raise KeyboardInterrupt right after its `count`-th checkpoint, as if
    killed there (undo with `monkeypatch.undo()` or by restoring `write_pointer`)."""
    from recsys.train import checkpoint as ckpt

    calls = {"n": 0}
    real_write_pointer = ckpt.write_pointer

    def crash(folder: Path, state: dict) -> None:
        real_write_pointer(folder, state)
        calls["n"] += 1
        if calls["n"] == count:
            raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "write_pointer", crash)
