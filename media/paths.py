"""Item ids are data, never paths: map them to file names that cannot escape a folder; and
media files are opened only when they are regular files."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


class UnsafePathError(ValueError):
    """An id or name would resolve outside the folder it must stay in."""


class UnresolvablePathError(UnsafePathError):
    """A path cannot be resolved at all (a symlink loop, a link chain too long)."""


def resolve_path(path: str | Path) -> Path:
    """`Path(path).resolve()`, with a symlink loop an `UnresolvablePathError` (pathlib raises
    `RuntimeError` before Python 3.13 and `OSError` from then on).

    Raises:
        UnresolvablePathError: the path cannot be resolved.
    """
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError) as exc:
        raise UnresolvablePathError(f"{path}: cannot be resolved ({exc})") from None


def is_safe_name(name: str) -> bool:
    """True when `name` is a plain file-name component (no separators, no `..`, no NUL)."""
    return bool(_SAFE.match(name)) and ".." not in name


def safe_child(root: str | Path, name: str) -> Path:
    """Return `root / name`, refusing any `name` that is not a plain file-name component.

    Raises:
        UnsafePathError: `name` contains a separator, `..`, a leading dot or odd characters.
        UnresolvablePathError: `root / name` cannot be resolved (a symlink loop).
    """
    if not is_safe_name(name):
        raise UnsafePathError(f"refusing to use {name!r} as a file name under {root}")
    root_path = Path(root).resolve()
    child = resolve_path(root_path / name)
    if child.parent != root_path:
        raise UnsafePathError(f"{name!r} resolves outside {root_path}")
    return child


def open_regular(path: str | Path) -> BinaryIO:
    """Open a file for binary reading, refusing anything but a regular file.

    Opened non-blocking, then checked on the descriptor: a named pipe would otherwise block
    the reader for ever, and a path swapped for one after a `stat` is caught here too.

    Raises:
        OSError: the file cannot be opened, or is not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path}: not a regular file")
    return os.fdopen(fd, "rb")
