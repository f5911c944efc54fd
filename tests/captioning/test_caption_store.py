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
    (tmp_path / "model.safetensors").write_bytes(b"a" * 100)
    first = caption_key("blip", str(tmp_path))
    assert first.revision.startswith("local-")
    (tmp_path / "config.json").write_text('{"a": 2}')
    assert caption_key("blip", str(tmp_path)) != first
    # Fine-tuned weights saved over the same folder, same file names and sizes: a new key
    # (the old key covered names and sizes only, and reused the stale captions).
    (tmp_path / "config.json").write_text('{"a": 1}')
    assert caption_key("blip", str(tmp_path)) == first
    (tmp_path / "model.safetensors").write_bytes(b"b" * 100)
    assert caption_key("blip", str(tmp_path)) != first
    # The same bytes elsewhere are the same model.
    copy = tmp_path.parent / f"{tmp_path.name}-copy"
    copy.mkdir()
    for f in tmp_path.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert caption_key("blip", str(copy)).revision == caption_key("blip", str(tmp_path)).revision


def test_key_records_library_versions_and_reuse_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import captioning.api as api

    store = CaptionStore(tmp_path / "store")
    old = caption_key("blip", "org/a")
    assert set(old.versions) == {"torch", "transformers"}
    assert set(caption_key("baseline").versions) == {"numpy", "pillow"}
    store.append(old, [{"item_id": "a", "media_sha256": "h", "caption": "a red circle"}])
    bumped = {**old.versions, "transformers": "99.0"}
    monkeypatch.setattr(api, "library_versions", lambda names: {n: bumped[n] for n in names})
    new = caption_key("blip", "org/a")
    assert new != old and new.settings_digest == old.settings_digest
    assert store.done(new) == set()  # captions of another transformers: not reused silently
    assert store.version_drift(new) == [f"transformers {old.versions['transformers']} -> 99.0"]
    assert store.captions(new, [("a", "h")], reuse_versions=True) == {"a": "a red circle"}
    assert store.version_drift(old) == []
    fp_old = store.fingerprint(old, [("a", "h")])
    store.append(new, [{"item_id": "a", "media_sha256": "h", "caption": "a red circle"}])
    # Same caption text, other library versions: another store fingerprint.
    assert store.fingerprint(new, [("a", "h")]) != fp_old


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
    fields = ("captioner", "revision", "prompt", "generation", "versions", "format")
    assert {k: record[k] for k in fields} == KEY.as_dict()
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


def test_fingerprint_is_sha256_of_format_versions_and_sorted_triples(tmp_path: Path) -> None:
    store = CaptionStore(tmp_path)
    store.append(KEY, [{"item_id": "b", "media_sha256": "h2", "caption": "two"}])
    store.append(KEY, [{"item_id": "a", "media_sha256": "h1", "caption": "one"}])
    store.append(KEY, [{"item_id": "c", "media_sha256": "h3", "error": "bad"}])
    items = [("b", "h2"), ("a", "h1"), ("c", "h3")]
    header = '{"format":1,"versions":["{}"]}'  # KEY records no library versions
    by_hand = sha256_text(header + '\n["a","h1","one"]\n["b","h2","two"]\n')
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
