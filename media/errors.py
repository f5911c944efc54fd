"""The one error type for unreadable or unsafe media."""

from __future__ import annotations

from pathlib import Path


class MediaError(Exception):
    """A media file could not be used; says which file and why.

    Args:
        path: the file that failed.
        reason: a short human-readable reason ("truncated JPEG", "zero frames", ...).
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
