"""What produced a cache or a caption: the model's files and the libraries that ran it.

Captioning and recsys key their stores with these, so a model folder whose weights were
saved again (a fine-tuned checkpoint written over the same folder), an open_clip checkpoint
file replaced under the same path, or an upgraded torch / transformers never silently reuses
states or captions computed before.

* `files_revision(path)`: a Hugging Face cache snapshot (`.../snapshots/<commit>/`) is its
  commit; any other folder is ``local-`` + a hash over every file's relative path and content;
  a single file (an open_clip checkpoint) is ``file-`` + its content hash. Content, not names
  or sizes or times: identical bytes give the same revision wherever they are copied, and any
  change of bytes gives another. Each file is hashed once per process (memoised by path,
  size, mtime and inode), so a 440 MB encoder costs ~1 s on first use, nothing after.
* `model_revision(ref, revision)`: the files revision of a local path, else the hub id with
  its requested revision (what loading it would fetch).
* `library_versions(names)`: installed versions of distributions, read from their metadata
  (nothing is imported).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from media.hashing import sha256_json

COMMIT_HASH = re.compile(r"[0-9a-f]{40}")  # a Hugging Face hub commit (snapshot folder name)
_CHUNK = 1 << 20
_FILE_HASHES: dict[tuple[str, int, int, int], str] = {}


def _content_sha256(path: Path) -> str:
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if memo not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        _FILE_HASHES[memo] = digest.hexdigest()
    return _FILE_HASHES[memo]


def files_revision(path: str | Path) -> str | None:
    """The revision of a local model folder or checkpoint file; None when `path` is neither.

    Raises:
        OSError: a file of the folder cannot be read.
    """
    path = Path(path).expanduser()
    if path.is_file():
        return "file-" + _content_sha256(path.resolve())[:16]
    if not path.is_dir():
        return None
    resolved = path.resolve()
    if COMMIT_HASH.fullmatch(resolved.name) and resolved.parent.name == "snapshots":
        return resolved.name
    files = [
        (str(file.relative_to(resolved)), _content_sha256(file))
        for file in sorted(p for p in resolved.rglob("*") if p.is_file())
    ]
    return "local-" + sha256_json(files)[:16]


def model_revision(ref: str | None, revision: str | None = None) -> str:
    """What identifies the model `ref` names without loading it: its files' revision when it
    is a local folder or file, else ``<hub id>@<revision or main>``; "none" for no model."""
    if ref is None:
        return "none"
    return files_revision(ref) or f"{ref}@{revision or 'main'}"


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Distribution name -> installed version ("not installed" when absent)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
