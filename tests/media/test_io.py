"""Atomic writes and the torn-tail-tolerant JSON-lines log."""

import json
import os
from pathlib import Path

import pytest

from media.hashing import canonical_json, sha256_bytes, sha256_file, sha256_json, sha256_lines
from media.paths import UnsafePathError, is_safe_name, safe_child
from plumbing.io import append_jsonl, atomic_path, atomic_write_json, read_jsonl


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 2}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]  # no temp left behind


def test_failed_write_keeps_old_content_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_jsonl_skips_torn_tail_and_next_append_starts_clean(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    append_jsonl(log, [{"i": 0}, {"i": 1}])
    with open(log, "ab") as handle:  # what a kill -9 mid-write leaves
        handle.write(b'{"i": 2, "capt')
    records, torn = read_jsonl(log)
    assert [r["i"] for r in records] == [0, 1] and torn == 1
    append_jsonl(log, {"i": 3})
    records, torn = read_jsonl(log)
    assert [r["i"] for r in records] == [0, 1, 3] and torn == 1


def test_jsonl_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_jsonl(tmp_path / "none.jsonl") == ([], 0)


def test_hashes_match_known_values(tmp_path: Path) -> None:
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_bytes(b"") == empty
    (tmp_path / "f").write_bytes(b"")
    assert sha256_file(tmp_path / "f") == empty
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert sha256_json({"a": 1, "b": 2}) == sha256_json({"b": 2, "a": 1})
    assert sha256_lines(["a", "b"]) == sha256_bytes(b"a\nb\n")


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "", "a\x00b", "/etc/passwd"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    assert not is_safe_name(name)
    with pytest.raises(UnsafePathError):
        safe_child(tmp_path, name)


def test_safe_child_stays_inside(tmp_path: Path) -> None:
    assert safe_child(tmp_path, "B00ABC.jpg") == (tmp_path / "B00ABC.jpg").resolve()
    assert os.path.commonpath([safe_child(tmp_path, "x_1-2.mp4"), tmp_path.resolve()]) == str(
        tmp_path.resolve()
    )
