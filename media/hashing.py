"""Content hashing: files, bytes and canonical JSON."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from media.paths import open_regular

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    with open(path, "rb") as handle:
        return _sha256_stream(handle)


def _sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


_MEDIA_HASHES: dict[tuple[str, int, int], str] = {}


def media_sha256(path: str | Path) -> str | None:
    """Hex sha256 of a media file, or None when it is not a readable regular file.

    Memoised for the whole process by (resolved path, size, mtime_ns), so the caption
    store, the caption resolution and the hidden-state cache read each file once. Nothing
    but a regular file is ever opened: a named pipe would block the reader for ever and a
    device may never end (`stat` first, then `media.paths.open_regular`).
    """
    try:
        resolved = Path(path).resolve()
        info = resolved.stat()
    except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    memo = (str(resolved), info.st_size, info.st_mtime_ns)
    if memo not in _MEDIA_HASHES:
        try:
            with open_regular(resolved) as handle:
                _MEDIA_HASHES[memo] = _sha256_stream(handle)
        except OSError:
            return None
    return _MEDIA_HASHES[memo]


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal objects hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_json(obj: Any) -> str:
    """Hex sha256 of an object's canonical JSON."""
    return sha256_text(canonical_json(obj))


def sha256_lines(lines: Iterable[str]) -> str:
    """Hex sha256 over lines, each terminated by a newline (order matters)."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
