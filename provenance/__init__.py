"""Code identity: which toolkit made a result (version, git commit, hash of its source).

A foundation package (stdlib only): `recsys` records `code_identity()` in every
results.json, and a grid compares cells by `source_sha256`, since neither the version nor
the commit changes when someone edits a file without committing.

- `version()`: setuptools-scm's version from git (`[tool.setuptools_scm]` in
  pyproject.toml): computed from the checkout when running from one, else the installed
  distribution's, else `FALLBACK_VERSION` (a tree without git that was never installed).
- `commit()` / `dirty()`: read from git at run time when the library's folder is the top of
  a git checkout (an installed wheel inside some other checkout is not), else None.
- `source_sha256()`: sha256 over the library's own .py files (`PACKAGES`), so two runs
  with the same hash ran the same library code whatever git says.

The three are computed once per process: the code a process runs is the code it loaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import subprocess
from pathlib import Path
from typing import Any

DISTRIBUTION = "mmrec-toolkit"
FALLBACK_VERSION = "0.0.0+unknown"  # pyproject.toml's [tool.setuptools_scm] fallback_version
PACKAGES = ("media", "plumbing", "captioning", "recsys", "scenarios", "provenance")
"""The library's packages whose .py files make `source_sha256` (not the CLI, tests or
benchmarks: they do not change what a run computes)."""
UNRECORDED = "unrecorded"  # the code identity of a result written before it was recorded
GIT_TIMEOUT_S = 5.0

_ROOT = Path(__file__).resolve().parent.parent  # the folder holding the packages

__all__ = [
    "FALLBACK_VERSION",
    "PACKAGES",
    "UNRECORDED",
    "code_identity",
    "code_of",
    "commit",
    "dirty",
    "source_sha256",
    "version",
]


@functools.cache
def version() -> str:
    """The toolkit's version: setuptools-scm's, from git.

    In a git checkout with setuptools-scm importable (the dev extra), computed now from the
    checkout: an editable install's metadata keeps the version it was installed with, and a
    stale `*.egg-info` in the tree would shadow it. Otherwise the installed distribution's
    (a wheel's, which setuptools-scm wrote at build time), else `FALLBACK_VERSION`.
    """
    if _is_checkout(_ROOT):
        try:
            import setuptools_scm

            return str(
                setuptools_scm.get_version(root=str(_ROOT), fallback_version=FALLBACK_VERSION)
            )
        except Exception:  # not installed, or git says something it cannot read
            pass  # the installed metadata below is the next best answer
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return FALLBACK_VERSION


def _git(root: Path, *args: str) -> str | None:
    """A git command's stripped stdout in `root`, or None when git is missing, fails or
    hangs (a result must never fail because its provenance could not be read)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _is_checkout(root: Path) -> bool:
    """Whether `root` is the top of a git work tree: an installed copy under site-packages
    of a venv inside some checkout must not report that checkout's commit."""
    top = _git(root, "rev-parse", "--show-toplevel")
    return top is not None and Path(top).resolve() == root.resolve()


@functools.cache
def commit(root: Path | None = None) -> str | None:
    """The git commit (full sha) the library runs from, or None outside a git checkout.

    Args:
        root: the folder holding the packages (default: this installation's).
    """
    root = Path(root or _ROOT)
    return _git(root, "rev-parse", "HEAD") if _is_checkout(root) else None


@functools.cache
def dirty(root: Path | None = None) -> bool | None:
    """Whether the checkout has changes git has not committed (untracked files it does not
    ignore included), or None outside a git checkout.

    Args:
        root: the folder holding the packages (default: this installation's).
    """
    root = Path(root or _ROOT)
    if not _is_checkout(root):
        return None
    status = _git(root, "status", "--porcelain")
    return None if status is None else bool(status)


def _hash_tree(root: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(
        (path.relative_to(root).as_posix(), path)
        for package in PACKAGES
        if (root / package).is_dir()
        for path in (root / package).rglob("*.py")
    )
    for name, path in files:
        # name and content length delimit each file: no two trees share a byte stream
        content = path.read_bytes()
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


@functools.cache
def _own_source_sha256() -> str:
    return _hash_tree(_ROOT)


def source_sha256(root: Path | None = None) -> str:
    """sha256 over the sorted (relative path, bytes) of the library's .py files.

    Args:
        root: hash the packages under this folder instead (not cached); default: this
            installation's, computed once per process.
    """
    return _own_source_sha256() if root is None else _hash_tree(Path(root))


def code_identity() -> dict[str, Any]:
    """What results.json records as `code`: version, commit, dirty, source_sha256."""
    return {
        "version": version(),
        "commit": commit(),
        "dirty": dirty(),
        "source_sha256": source_sha256(),
    }


def code_of(results: dict[str, Any]) -> str:
    """The code identity (`source_sha256`) a results.json records, or `UNRECORDED`."""
    code = results.get("code") if isinstance(results, dict) else None
    found = code.get("source_sha256") if isinstance(code, dict) else None
    return found if isinstance(found, str) and found else UNRECORDED
