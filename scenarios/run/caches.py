"""`toolkit cache list` / `toolkit cache clean`: what the cache folder holds, and removing it.

A cache folder (`output.cache_dir`, by default the user's: `plumbing.cachedir.user_cache_dir`)
holds three kinds of entries, each rebuilt on demand when removed:

* ``states/<channel>--<model>--<key>/``: hidden-state caches (`recsys.cache`); their
  manifest names the encoder, layers, pooling, modality and item count that built them;
* ``captions/``: caption stores (`captioning.store`), named by their captioners and
  counts (captions from a large captioner are the costliest entries to rebuild);
* ``models/<name>/``: generated or assembled models (the tiny ViT, all-mpnet-base-v2).

"Last used" is the newest modification or access time of an entry's files (file systems
mounted `noatime` record only modification, so there it is when the entry was built).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

KINDS = ("states", "captions", "models")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class CacheEntry:
    """One removable entry of a cache folder."""

    kind: str  # one of KINDS
    path: Path
    size: int  # bytes on disk (sum of file sizes)
    last_used: float  # POSIX time (see the module docstring)
    built_by: str  # what made it, in words
    differs: str = ""  # what sets it apart from the other caches of its channel and model


def parse_age(text: str) -> float:
    """ "30d" -> seconds; units s, m, h, d, w.

    Raises:
        ValueError: naming the accepted form.
    """
    match = _AGE.match(text)
    if not match:
        raise ValueError(f"--older-than {text!r}: give a number and a unit, e.g. 30d, 12h, 2w")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _files(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]


def _usage(path: Path) -> tuple[int, float]:
    size, newest = 0, 0.0
    for file in _files(path):
        try:
            stat = file.stat()
        except OSError:
            continue
        size += stat.st_size
        newest = max(newest, stat.st_mtime, stat.st_atime)
    return size, newest


def _manifest(folder: Path) -> dict | None:
    """A states cache's manifest; None when unreadable (an unfinished build)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (
        manifest
        if isinstance(manifest, dict) and isinstance(manifest.get("fields"), dict)
        else None
    )


def _states_built_by(manifest: dict | None) -> str:
    if manifest is None:
        return "unfinished or damaged build (no readable manifest)"
    f = manifest["fields"]
    layers, model = f.get("layers"), str(f.get("encoder"))
    if Path(model).is_absolute():  # a local folder: its last two parts name it
        model = "/".join(Path(model).parts[-2:])
    template = (manifest.get("inputs") or {}).get("template")
    tokens = f", max_tokens {f['max_tokens']}" if f.get("max_tokens") is not None else ""
    items = f.get("num_items")
    count = f"{items:,}" if isinstance(items, int) else str(items)
    return (
        f"{f.get('modality')} states of {model} "
        f"({f.get('encoder_kind')}, layers {layers}, {f.get('pooling')} pooling{tokens}), "
        f"{count} items" + (f", template {template!r}" if template else "")
    )


def _short(value: object) -> str:
    """A fingerprint value for the eye: hashes cut to 8 hex digits, lists joined."""
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32,}", value):
        return value[:8]
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def _flat(manifest: dict) -> dict[str, object]:
    """The fingerprint fields (library versions one by one) and the recorded template."""
    fields = dict(manifest["fields"])
    versions = fields.pop("versions", None)
    flat = {**fields, **{k: v for k, v in (versions or {}).items()}}
    template = (manifest.get("inputs") or {}).get("template")
    return flat | ({"template": template} if template else {})


def _differences(manifests: dict[Path, dict | None]) -> dict[Path, str]:
    """For caches sharing a channel and model (`<channel>--<model>--`), the fields whose
    values differ among them, with this cache's value: what tells the caches apart."""
    groups: dict[str, list[Path]] = {}
    for path, manifest in manifests.items():
        if manifest is not None:
            groups.setdefault(path.name.rsplit("--", 1)[0], []).append(path)
    out: dict[Path, str] = {}
    for paths in (g for g in groups.values() if len(g) > 1):
        flats = {p: _flat(manifests[p]) for p in paths}
        keys = sorted({k for f in flats.values() for k in f})
        differ = [k for k in keys if len({repr(f.get(k)) for f in flats.values()}) > 1]
        for p, flat in flats.items():
            out[p] = ", ".join(f"{k}={_short(flat.get(k))}" for k in differ)
    return out


def _captions_built_by(store: Path) -> str:
    from plumbing.io import read_jsonl

    counts: Counter[str] = Counter()
    for file in sorted(store.rglob("*.jsonl")):
        for record in read_jsonl(file)[0]:
            if "caption" in record:
                counts[f"{record.get('captioner')} ({record.get('revision')})"] += 1
    if not counts:
        return "caption store without captions"
    return "captions: " + ", ".join(f"{n:,} by {who}" for who, n in counts.most_common())


def _model_built_by(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "model folder"
    return f"{config.get('model_type', 'model')} model ({folder.name})"


def cache_entries(root: Path) -> list[CacheEntry]:
    """The entries of a cache folder, by kind then name; an absent folder has none."""
    root = Path(root)
    found: list[tuple[str, Path, str]] = []
    manifests: dict[Path, dict | None] = {}
    if (root / "states").is_dir():
        manifests = {p: _manifest(p) for p in sorted((root / "states").iterdir()) if p.is_dir()}
        found += [("states", p, _states_built_by(m)) for p, m in manifests.items()]
    if (root / "captions").is_dir():
        found.append(("captions", root / "captions", _captions_built_by(root / "captions")))
    if (root / "models").is_dir():
        found += [
            ("models", p, _model_built_by(p))
            for p in sorted((root / "models").iterdir())
            if p.is_dir() and not p.name.startswith(".")
        ]
    differs = _differences(manifests)
    return [
        CacheEntry(kind, path, *_usage(path), built_by, differs.get(path, ""))
        for kind, path, built_by in found
    ]


def clean_caches(
    root: Path,
    *,
    older_than: float | None = None,
    kinds: tuple[str, ...] = KINDS,
    dry_run: bool = False,
    now: float | None = None,
) -> list[CacheEntry]:
    """Remove the entries of `kinds` not used for `older_than` seconds (None: all of them);
    returns what was (or, with `dry_run`, would be) removed. A hidden-state cache is removed
    under its build lock, so a build in progress is waited for, never cut in half."""
    from recsys.cache.lock import folder_lock

    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown cache kind {unknown[0]!r}; valid: {', '.join(KINDS)}")
    cutoff = (now if now is not None else time.time()) - (older_than or 0.0)
    chosen = [
        e
        for e in cache_entries(root)
        if e.kind in kinds and (older_than is None or e.last_used < cutoff)
    ]
    for entry in [] if dry_run else chosen:
        if entry.kind == "states":
            with folder_lock(entry.path):  # its lock file stays: a waiting builder holds it
                shutil.rmtree(entry.path, ignore_errors=True)
        else:
            shutil.rmtree(entry.path, ignore_errors=True)
    return chosen


def entries_table(entries: list[CacheEntry], root: Path, *, width: int = 120) -> str:
    """The entries as a table (kind, size, last used, built by, folder) and their total."""
    import io

    from rich.console import Console
    from rich.table import Table

    from plumbing.console import human_size

    table = Table(title=f"caches in {root}", title_justify="left")
    for name in ("kind", "size", "last used", "built by", "folder"):
        table.add_column(name, justify="right" if name == "size" else "left")
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used))
        built_by = f"{e.built_by}; differs in {e.differs}" if e.differs else e.built_by
        table.add_row(e.kind, human_size(e.size), used, built_by, e.path.name)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    console.print(table)
    total = sum(e.size for e in entries)
    console.print(f"{len(entries)} entries, {human_size(total)}", highlight=False)
    return buffer.getvalue().rstrip("\n")
