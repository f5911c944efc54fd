"""Caption store: keys, torn lines, errors never returned as captions, fingerprint, merge."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from captioning.api import caption_key
from captioning.store import CaptionKey, CaptionStore, merge_parts
from media.hashing import sha256_text

KEY = CaptionKey("blip", "org/model@main", "short|Describe.|", {"max_new_tokens": 30})


def test_key_changes_with_every_field() -> None:
    base = caption_key("blip", "org/a", "short", 30, 1)
    assert base == caption_key("blip", "org/a", "short", 30, 1)
    others = [
        caption_key("git", "org/a", "short", 30, 1),
        caption_key("blip", "org/b", "short", 30, 1),
        caption_key("blip", "org/a", "detailed", 30, 1),
        caption_key("blip", "org/a", "short", 20, 1),
        caption_key("blip", "org/a", "short", 30, 3),
        caption_key("blip", "org/a", "short", 30, 1, dtype="bfloat16"),
        caption_key("blip", "org/a", "short", 30, 1, revision="abc123"),
    ]
    assert len({k.digest for k in [base, *others]}) == len(others) + 1


def test_key_of_a_local_folder_follows_its_content(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"a": 1}')
    first = caption_key("blip", str(tmp_path))
    assert first.revision.startswith(f"local:{tmp_path.name}@")
    (tmp_path / "config.json").write_text('{"a": 2}')
    assert caption_key("blip", str(tmp_path)) != first


def test_captions_skip_errors_and_other_keys(tmp_path: Path) -> None:
    store = CaptionStore(tmp_path / "store")
    other = CaptionKey("blip", "org/model@main", "detailed|x|", {"max_new_tokens": 30})
    store.append(KEY, [{"item_id": "a", "media_sha256": "h1", "caption": "a red circle"}])
    store.append(KEY, [{"item_id": "b", "media_sha256": "h2", "error": "truncated image"}])
    store.append(other, [{"item_id": "c", "media_sha256": "h3", "caption": "other key"}])
    wanted = [("a", "h1"), ("b", "h2"), ("c", "h3")]
    assert store.captions(KEY, wanted) == {"a": "a red circle"}
    assert store.errors(KEY, wanted) == {"b": "truncated image"}
    assert store.captions(KEY, [("a", "changed-media")]) == {}  # new media hash: not done
    assert store.done(KEY) == {("a", "h1"), ("b", "h2")}
    assert store.done(KEY, include_errors=False) == {("a", "h1")}


def test_record_format(tmp_path: Path) -> None:
    store = CaptionStore(tmp_path)
    store.append(KEY, [{"item_id": 7, "media_sha256": "h", "caption": "x"}])
    record = json.loads((tmp_path / "captions.jsonl").read_text())
    assert record["item_id"] == "7" and record["caption"] == "x" and "error" not in record
    assert {k: record[k] for k in ("captioner", "revision", "prompt", "generation")} == (
        KEY.as_dict()
    )
    assert record["key"] == KEY.digest and record["created"]


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    store = CaptionStore(tmp_path)
    store.append(KEY, [{"item_id": "a", "media_sha256": "h1", "caption": "one"}])
    with open(tmp_path / "captions.jsonl", "a") as handle:
        handle.write('{"item_id": "b", "media_sha256": "h2", "capt')  # killed mid-write
    assert store.captions(KEY, [("a", "h1"), ("b", "h2")]) == {"a": "one"}
    assert store.torn_lines == 1
    store.append(KEY, [{"item_id": "b", "media_sha256": "h2", "caption": "two"}])
    assert store.captions(KEY, [("a", "h1"), ("b", "h2")]) == {"a": "one", "b": "two"}


def test_fingerprint_is_sha256_of_sorted_triples(tmp_path: Path) -> None:
    store = CaptionStore(tmp_path)
    store.append(KEY, [{"item_id": "b", "media_sha256": "h2", "caption": "two"}])
    store.append(KEY, [{"item_id": "a", "media_sha256": "h1", "caption": "one"}])
    store.append(KEY, [{"item_id": "c", "media_sha256": "h3", "error": "bad"}])
    items = [("b", "h2"), ("a", "h1"), ("c", "h3")]
    by_hand = sha256_text('["a","h1","one"]\n["b","h2","two"]\n')
    assert store.fingerprint(KEY, items) == by_hand
    assert store.fingerprint(KEY, list(reversed(items))) == by_hand
    assert store.fingerprint(KEY, items[:1]) != by_hand


def test_merge_parts_deduplicates_and_removes_parts(tmp_path: Path) -> None:
    for index in range(2):
        part = CaptionStore(tmp_path, part=(index, 2))
        part.append(KEY, [{"item_id": f"i{index}", "media_sha256": "h", "caption": f"c{index}"}])
    dup = CaptionStore(tmp_path, part=(0, 2))
    dup.append(KEY, [{"item_id": "i0", "media_sha256": "h", "caption": "late duplicate"}])
    items = [("i0", "h"), ("i1", "h")]
    before = CaptionStore(tmp_path).captions(KEY, items)
    assert before == {"i0": "c0", "i1": "c1"}  # readers see parts before any merge
    assert merge_parts(tmp_path) == 2
    assert not list((tmp_path / "parts").glob("*.jsonl"))
    assert CaptionStore(tmp_path).captions(KEY, items) == before


def test_export_parquet(tmp_path: Path) -> None:
    store = CaptionStore(tmp_path / "s")
    store.append(KEY, [{"item_id": "a", "media_sha256": "h1", "caption": "one"}])
    store.append(KEY, [{"item_id": "b", "media_sha256": "h2", "error": "empty file"}])
    assert store.export_parquet(tmp_path / "out.parquet") == 2
    table = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [(r["item_id"], r["caption"], r["error"]) for r in table] == [
        ("a", "one", None),
        ("b", None, "empty file"),
    ]


def test_store_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folder"):
        CaptionStore(tmp_path / "captions.jsonl")
