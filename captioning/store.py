"""The caption store: append-only JSON lines keyed by item, media hash, captioner and settings.

Layout of a store folder::

    <store>/captions.jsonl                  merged records (unsharded runs append here)
    <store>/parts/part-<i>-of-<n>.jsonl     one file per shard / rank, joined by `merge_parts`

One record per line: `item_id`, `media_sha256`, `captioner`, `revision`, `prompt`,
`generation`, `versions` (of the libraries the captioner ran on), `format` (the store's
record layout), `key` (sha256 of the key, for grouping), `caption` or `error`, `created`.
Readers see the main file and every part file, so a caller never needs a merge to use
finished work; a torn last line from a killed job is skipped by `plumbing.io.read_jsonl`.

A record counts for a key when its settings (captioner, revision, prompt, generation), its
library versions and its format all agree. Records made under other library versions are
reused only when the caller asks (`reuse_versions=True`); `version_drift` says what differs,
so a job can name it before captioning again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from media.hashing import canonical_json, sha256_json, sha256_lines
from plumbing.io import append_jsonl, atomic_write_with, read_jsonl

MAIN_FILE = "captions.jsonl"
PARTS_DIR = "parts"
_PART = re.compile(r"^part-(\d+)-of-(\d+)\.jsonl$")
KEY_FIELDS = ("captioner", "revision", "prompt", "generation")  # the settings
STORE_FORMAT = 1  # the record layout; records written before the field existed are format 1


@dataclass(frozen=True, eq=False)  # equality and hash go through the digest (dict field)
class CaptionKey:
    """Everything besides the item that decides a caption.

    Attributes:
        captioner: registry name ("baseline", "blip", ...).
        revision: model id or folder plus its revision ("Salesforce/blip-...@main").
        prompt: the resolved prompt text (not the preset name), so editing a preset re-keys.
        generation: generation settings (max_new_tokens, num_beams, do_sample, ...).
        versions: installed versions of the libraries the captioner's output depends on
            (torch and transformers for model captioners), `plumbing.revision.library_versions`.
    """

    captioner: str
    revision: str
    prompt: str
    generation: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """sha256 over the whole key; equal keys have equal digests."""
        return sha256_json(self.as_dict())

    @property
    def settings_digest(self) -> str:
        """sha256 over the settings alone (library versions and format left out)."""
        return sha256_json({name: self.as_dict()[name] for name in KEY_FIELDS})

    def as_dict(self) -> dict[str, Any]:
        """The key fields as they appear in each record."""
        return {
            "captioner": self.captioner,
            "revision": self.revision,
            "prompt": self.prompt,
            "generation": dict(self.generation),
            "versions": dict(self.versions),
            "format": STORE_FORMAT,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CaptionKey) and self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)


def _record_digest(record: dict[str, Any]) -> str | None:
    """sha256 over a record's settings; None for a record without them."""
    try:
        return sha256_json({name: record[name] for name in KEY_FIELDS})
    except KeyError:
        return None


def _matches(record: dict[str, Any], key: CaptionKey, reuse_versions: bool) -> bool:
    if _record_digest(record) != key.settings_digest:
        return False
    if record.get("format", 1) != STORE_FORMAT:
        return False
    return reuse_versions or record.get("versions", {}) == key.versions


STORE_KIND = "captions"  # the marker of a caption store: plumbing.folders.marker_path


def is_store_folder(folder: Path) -> bool:
    """A caption store written before stores had a marker: it holds captions.jsonl or parts/."""
    return (Path(folder) / MAIN_FILE).is_file() or (Path(folder) / PARTS_DIR).is_dir()


def claim_store(folder: Path) -> None:
    """Refuse a folder that holds files and is not a caption store; mark a caption store.

    Raises:
        OutputError: `folder` is not empty and not a caption store of this toolkit.
    """
    from plumbing.folders import claim_folder

    claim_folder(folder, STORE_KIND, is_store_folder, "caption store")


def part_name(index: int, count: int) -> str:
    """File name of shard `index` (0-based) of `count`."""
    return f"part-{index:05d}-of-{count:05d}.jsonl"


class CaptionStore:
    """Read and append caption records in a store folder.

    Args:
        path: the store folder (created on first write).
        part: (index, count) to append to that shard's part file instead of the main file.
    """

    def __init__(self, path: str | Path, *, part: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix == ".jsonl":
            raise ValueError(f"{self.path}: a caption store is a folder, not a .jsonl file")
        self.part = part
        self.torn_lines = 0

    @property
    def write_file(self) -> Path:
        """The JSONL file this store appends to."""
        if self.part is None:
            return self.path / MAIN_FILE
        return self.path / PARTS_DIR / part_name(*self.part)

    def files(self) -> list[Path]:
        """Main file then part files, in a fixed order."""
        parts_dir = self.path / PARTS_DIR
        parts = sorted(p for p in parts_dir.glob("*.jsonl") if _PART.match(p.name))
        main = self.path / MAIN_FILE
        return ([main] if main.exists() else []) + parts

    def records(self) -> list[dict[str, Any]]:
        """Every well-formed record in the store (torn lines skipped and counted)."""
        rows: list[dict[str, Any]] = []
        self.torn_lines = 0
        for file in self.files():
            records, torn = read_jsonl(file)
            rows.extend(records)
            self.torn_lines += torn
        return rows

    def _latest(
        self, key: CaptionKey, reuse_versions: bool = False
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """(item_id, media_sha256) -> the record that counts: first caption, else last error."""
        chosen: dict[tuple[str, str], dict[str, Any]] = {}
        for record in self.records():
            if not _matches(record, key, reuse_versions):
                continue
            ident = (str(record.get("item_id")), str(record.get("media_sha256")))
            held = chosen.get(ident)
            if held is None or ("caption" not in held and "caption" in record):
                chosen[ident] = record
            elif "caption" not in held:
                chosen[ident] = record  # a later error replaces an earlier one (retry)
        return chosen

    def done(
        self, key: CaptionKey, *, include_errors: bool = True, reuse_versions: bool = False
    ) -> set[tuple[str, str]]:
        """(item_id, media_sha256) pairs that already have a record under `key`."""
        latest = self._latest(key, reuse_versions)
        return {ident for ident, rec in latest.items() if include_errors or "caption" in rec}

    def version_drift(self, key: CaptionKey) -> list[str]:
        """What differs in the records with `key`'s settings made under other library
        versions ("transformers 4.46.0 -> 5.1.0"), most frequent first; empty when none."""
        seen: dict[str, int] = {}
        for record in self.records():
            if not _matches(record, key, True) or _matches(record, key, False):
                continue
            held = record.get("versions", {})
            for name in sorted(set(held) | set(key.versions)):
                if held.get(name) != key.versions.get(name):
                    text = f"{name} {held.get(name, 'unrecorded')} -> {key.versions.get(name)}"
                    seen[text] = seen.get(text, 0) + 1
        return sorted(seen, key=lambda t: -seen[t])

    def captions(
        self, key: CaptionKey, items: Sequence[tuple[str, str]], *, reuse_versions: bool = False
    ) -> dict[str, str]:
        """item_id -> caption for the given (item_id, media_sha256) pairs that have one.

        Error records are never returned; items without a caption are absent from the result.
        """
        latest = self._latest(key, reuse_versions)
        found: dict[str, str] = {}
        for item_id, media_sha in items:
            record = latest.get((str(item_id), str(media_sha)))
            if record is not None and "caption" in record:
                found[str(item_id)] = str(record["caption"])
        return found

    def errors(
        self, key: CaptionKey, items: Sequence[tuple[str, str]], *, reuse_versions: bool = False
    ) -> dict[str, str]:
        """item_id -> error reason for the given pairs whose latest record is an error."""
        latest = self._latest(key, reuse_versions)
        found: dict[str, str] = {}
        for item_id, media_sha in items:
            record = latest.get((str(item_id), str(media_sha)))
            if record is not None and "caption" not in record:
                found[str(item_id)] = str(record.get("error", "unknown error"))
        return found

    def fingerprint(
        self, key: CaptionKey, items: Sequence[tuple[str, str]], *, reuse_versions: bool = False
    ) -> str:
        """sha256 over the store format, the library versions of the records used and the
        sorted (item_id, media_sha256, caption) triples this store supplies."""
        latest = self._latest(key, reuse_versions)
        wanted = {(str(i), str(s)) for i, s in items}
        used = sorted(
            (ident, rec) for ident, rec in latest.items() if ident in wanted and "caption" in rec
        )
        versions = sorted({canonical_json(rec.get("versions", {})) for _, rec in used})
        header = canonical_json({"format": STORE_FORMAT, "versions": versions})
        triples = (canonical_json([i, s, rec["caption"]]) for (i, s), rec in used)
        return sha256_lines([header, *triples])

    def append(self, key: CaptionKey, results: Iterable[dict[str, Any]]) -> int:
        """Append result rows (`item_id`, `media_sha256`, and `caption` or `error`).

        Returns:
            How many records were written (one fsynced append for the whole batch).
        """
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = []
        for result in results:
            record: dict[str, Any] = {
                "item_id": str(result["item_id"]),
                "media_sha256": str(result["media_sha256"]),
                **key.as_dict(),
                "key": key.digest,
            }
            if "caption" in result:
                record["caption"] = str(result["caption"])
            else:
                record["error"] = str(result["error"])
            record["created"] = created
            rows.append(record)
        append_jsonl(self.write_file, rows)
        return len(rows)

    def export_parquet(self, path: str | Path) -> int:
        """Write the de-duplicated records to a Parquet file (atomically).

        Returns:
            The number of rows written.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = _deduplicate(self.records())
        table = pa.table(
            {
                "item_id": [r["item_id"] for r in rows],
                "media_sha256": [r["media_sha256"] for r in rows],
                "captioner": [r["captioner"] for r in rows],
                "revision": [r["revision"] for r in rows],
                "prompt": [r["prompt"] for r in rows],
                "generation": [canonical_json(r["generation"]) for r in rows],
                "caption": [r.get("caption") for r in rows],
                "error": [r.get("error") for r in rows],
                "created": [r.get("created") for r in rows],
            }
        )
        atomic_write_with(path, lambda tmp: pq.write_table(table, tmp))
        return len(rows)


def _deduplicate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (key, item, media): the first caption, else the last error; stable order."""
    chosen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record in records:
        digest = _record_digest(record)
        if digest is None or "item_id" not in record or "media_sha256" not in record:
            continue
        digest += canonical_json([record.get("versions", {}), record.get("format", 1)])
        ident = (digest, str(record["item_id"]), str(record["media_sha256"]))
        held = chosen.get(ident)
        if held is None or "caption" not in held:
            chosen[ident] = record
    return sorted(chosen.values(), key=lambda r: (_record_digest(r), r["item_id"]))


def merge_parts(path: str | Path) -> int:
    """Join every part file into the main file and remove the parts.

    The main file is rewritten atomically with the de-duplicated union (sorted by key and item
    id), then the parts are deleted; a crash in between leaves duplicates that readers and the
    next merge de-duplicate.

    Returns:
        The number of records in the merged main file.
    """
    store = CaptionStore(path)
    if not store.path.is_dir():  # a mistyped path must not become a new, empty store
        from captioning.base import CaptioningError

        raise CaptioningError(f"{store.path}: no caption store here (no such folder)")
    parts = [f for f in store.files() if f.parent.name == PARTS_DIR]
    rows = _deduplicate(store.records())
    payload = "".join(canonical_json(r) + "\n" for r in rows)
    atomic_write_with(store.path / MAIN_FILE, lambda tmp: tmp.write_text(payload, "utf-8"))
    for part in parts:
        part.unlink()
    return len(rows)
