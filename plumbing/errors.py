"""The one error type for outputs that cannot be written."""

from __future__ import annotations

from pathlib import Path


class OutputError(Exception):
    """An output file or folder cannot be written; says which, why and what to do.

    Raised before a job starts (the folder is a file, read-only, or its disk is full) and
    by every write of `plumbing.io` (a disk that fills up mid-way); what was written before
    stays, so the same command resumes once the cause is removed.

    Args:
        path: the file or folder that cannot be written.
        reason: why, and what to do ("no space left on device; free some space ...").
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
