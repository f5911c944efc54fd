"""Finding the cache of a configuration, and deciding whether an existing one can be used.

Every configuration has its own folder (`recsys.cache.keys.cache_folder`: the full
fingerprint ends its name), so deciding is mostly looking: the folder of the wanted
fingerprint either holds a complete build or not. The other configurations of the same
channel, model and inputs (other pooling, layers, versions, code) are siblings: they are
named when `rebuild=False` refuses to build, and reused when only the library versions
differ and the caller asked for that.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from media.hashing import sha256_json
from plumbing.console import human_size, say
from plumbing.io import atomic_write_json
from recsys import distributed
from recsys.cache.keys import cache_folder, content_hash, folder_prefix, quick_key
from recsys.cache.lock import folder_lock
from recsys.cache.states import MANIFEST, SHARED, STATES, VALID, CachedStates, open_cache
from recsys.channels import ChannelInput
from recsys.errors import CacheMismatchError

STAMP = "quick_key.json"  # lets a current cache be opened without loading the encoder
PARTIAL = "partial"
SAME_SLOT = ("encoder", "content", "source_fingerprint")  # siblings: same model and inputs


def _siblings(cache_dir: Path, prefix: str) -> list[Path]:
    """Every cache folder under `cache_dir` whose name starts with `prefix` (a channel and
    model: `folder_prefix`), by name."""
    if not Path(cache_dir).is_dir():
        return []
    return sorted(p for p in Path(cache_dir).iterdir() if p.name.startswith(prefix) and p.is_dir())


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def open_current_cache(channel: ChannelInput, cache_dir: str | Path) -> CachedStates | None:
    """The channel's cache when it is provably current without loading the encoder: a stamp
    written beside the manifest by the last full check holds the same `quick_key` and the
    manifest's fingerprint, which the folder's name carries. None otherwise (then
    `build_or_load_cache` decides)."""
    siblings = _siblings(Path(cache_dir), folder_prefix(channel))
    stamped = [f for f in siblings if (f / STAMP).exists()]
    if not stamped:
        return None
    key = quick_key(channel, content_hash(channel))  # media channels read every file once
    if key is None:
        return None
    for folder in stamped:
        if (_read_json(folder / STAMP) or {}).get("key") != key:
            continue
        with folder_lock(folder):  # a concurrent rebuild never shows half its files
            stamp = _read_json(folder / STAMP) or {}
            try:
                cached = open_cache(folder)
            except (OSError, ValueError, KeyError):
                return None
        manifest = cached.manifest
        if stamp.get("key") != key or stamp.get("fingerprint") != manifest.get("fingerprint"):
            return None
        if sha256_json(manifest.get("fields")) != manifest["fingerprint"]:
            return None  # the manifest was edited after the build: let the full check name it
        if folder != cache_folder(Path(cache_dir), channel, manifest["fingerprint"]):
            return None  # an older layout's folder: the full check builds the named one
        return cached
    return None


def write_stamp(folder: Path, channel: ChannelInput, cached: CachedStates) -> None:
    key = quick_key(channel, cached.manifest["fields"]["content"])
    if key is not None and distributed.active_context().is_main:
        atomic_write_json(
            folder / STAMP, {"key": key, "fingerprint": cached.manifest["fingerprint"]}
        )


def cache_size(cached: CachedStates) -> str:
    return human_size(sum(p.stat().st_size for p in cached.folder.iterdir() if p.is_file()))


def say_reused(cached: CachedStates, report: bool) -> CachedStates:
    """Say which cache is reused, when it was built (local time) and how big it is."""
    if report:
        built = cached.manifest.get("build", {}).get("built_at")
        try:
            when = datetime.fromisoformat(built).astimezone()
        except (TypeError, ValueError):  # built before the date was recorded: the manifest's
            when = datetime.fromtimestamp((cached.folder / MANIFEST).stat().st_mtime)
        say(f"cache reused: {cached.folder} (built {when:%Y-%m-%d %H:%M}, {cache_size(cached)})")
    return cached


def _version_changes(stored: Any, wanted: dict[str, str]) -> str:
    held = stored if isinstance(stored, dict) else {}
    names = sorted(set(held) | set(wanted))
    return ", ".join(
        f"{n} {held.get(n, 'unrecorded')} -> {wanted.get(n)}"
        for n in names
        if held.get(n) != wanted.get(n)
    )


def _reason(stored: dict[str, Any], fields: dict[str, Any], differing: list[str]) -> str:
    return "; ".join(
        f"versions: {_version_changes(stored.get(k), fields[k])}"
        if k == "versions"
        else f"{k}: cached {stored.get(k)!r} != wanted {fields[k]!r}"
        for k in differing
    )


def _nearest_sibling(
    folder: Path, fields: dict[str, Any]
) -> tuple[Path, dict[str, Any], list[str]] | None:
    """The complete cache of the same channel, model and inputs whose fields differ least
    from `fields` (its folder, fields and the differing names), or None."""
    best: tuple[Path, dict[str, Any], list[str]] | None = None
    prefix = folder.name[: folder.name.rindex("--") + 2]  # `<channel>--<model>--`
    for other in _siblings(folder.parent, prefix):
        stored = (_read_json(other / MANIFEST) or {}).get("fields")
        if other == folder or not isinstance(stored, dict):
            continue
        if any(stored.get(k) != fields.get(k) for k in SAME_SLOT):
            continue
        differing = [k for k, v in fields.items() if stored.get(k) != v]
        if best is None or len(differing) < len(best[2]):
            best = (other, stored, differing)
    return best


def _refuse(folder: Path, reason: str, versions_only: bool) -> CacheMismatchError:
    hint = " or reuse it (reuse_across_versions=true)" if versions_only else ""
    return CacheMismatchError(
        f"hidden-state cache {folder} was built for other settings ({reason}); "
        f"rebuild it (rebuild_cache=true){hint} or delete the folder"
    )


def check_existing(
    folder: Path, fields: dict[str, Any], rebuild: bool, reuse_versions: bool, name: str
) -> CachedStates | None:
    """The usable cache for `fields` (`folder` is theirs), or None when one must be built.

    The folder's own build is used when its manifest holds `fields`; a damaged or edited
    one is rebuilt in place (or refused with `rebuild=False`). Without a build there, the
    nearest sibling is reused when only library versions differ and `reuse_versions`,
    refused with `rebuild=False`, and otherwise named while the new folder is built.

    Raises:
        CacheMismatchError: `rebuild` is False and a cache of other settings exists; the
            message names every differing field.
    """
    if not (folder / MANIFEST).exists():
        return _from_sibling(folder, fields, rebuild, reuse_versions, name)
    try:
        cached = open_cache(folder)
        stored = cached.manifest["fields"]
    except (OSError, ValueError, KeyError) as exc:
        stored, cached, differing, reason = {}, None, [], f"unreadable ({exc})"
    else:
        differing = [k for k, v in fields.items() if stored.get(k) != v]
        if not differing:
            shutil.rmtree(folder / PARTIAL, ignore_errors=True)  # a kill after the manifest
            return cached
        reason = _reason(stored, fields, differing)
    if not rebuild:
        raise _refuse(folder, reason, differing == ["versions"])
    if cached is not None:
        say(f"cache {name}: rebuilding, it was built for other settings ({reason})")
    for file in (MANIFEST, STAMP, STATES, SHARED, VALID):  # manifest first: never half-valid
        (folder / file).unlink(missing_ok=True)
    return None


def _from_sibling(
    folder: Path, fields: dict[str, Any], rebuild: bool, reuse_versions: bool, name: str
) -> CachedStates | None:
    nearest = _nearest_sibling(folder, fields)
    if nearest is None:
        return None
    other, stored, differing = nearest
    if reuse_versions and differing == ["versions"]:
        try:
            cached = open_cache(other)
        except (OSError, ValueError, KeyError):
            return None
        changes = _version_changes(stored.get("versions"), fields["versions"])
        say(f"cache {name}: reused across library versions ({changes})")
        return cached
    reason = _reason(stored, fields, differing)
    if not rebuild:
        raise _refuse(other, reason, differing == ["versions"])
    say(
        f"cache {name}: building {folder.name}; {other.name} was built for other settings "
        f"({reason})"
    )
    return None
