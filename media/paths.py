"""Item ids are data, never paths: map them to file names that cannot escape a folder."""

from __future__ import annotations

import re
from pathlib import Path

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


class UnsafePathError(ValueError):
    """An id or name would resolve outside the folder it must stay in."""


def is_safe_name(name: str) -> bool:
    """True when `name` is a plain file-name component (no separators, no `..`, no NUL)."""
    return bool(_SAFE.match(name)) and ".." not in name


def safe_child(root: str | Path, name: str) -> Path:
    """Return `root / name`, refusing any `name` that is not a plain file-name component.

    Raises:
        UnsafePathError: `name` contains a separator, `..`, a leading dot or odd characters.
    """
    if not is_safe_name(name):
        raise UnsafePathError(f"refusing to use {name!r} as a file name under {root}")
    root_path = Path(root).resolve()
    child = (root_path / name).resolve()
    if child.parent != root_path:
        raise UnsafePathError(f"{name!r} resolves outside {root_path}")
    return child
