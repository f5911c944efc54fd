"""Errors raised by `recsys`; every one says what was wrong and where."""

from __future__ import annotations

from pathlib import Path


class RecsysError(Exception):
    """Base class of every error `recsys` raises on purpose."""


class DataFormatError(RecsysError):
    """A dataset file is malformed. Names the file and, where known, the 1-based line.

    Args:
        path: the offending file.
        message: what is wrong.
        line: 1-based line number, when the problem is on one line.
        row: 1-based data row of a table (header not counted; CSV, TSV, Parquet), when the
            problem is in one row and lines are not what the reader counts.
    """

    def __init__(
        self, path: str | Path, message: str, line: int | None = None, *, row: int | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.row = row
        self.message = message
        if line is not None:
            where = f"{self.path}:{line}"
        elif row is not None:
            where = f"{self.path}: row {row}"
        else:
            where = str(self.path)
        super().__init__(f"{where}: {message}")


class UnknownItemError(DataFormatError):
    """An interaction references an item id the items file does not define."""


class CacheMismatchError(RecsysError):
    """A hidden-state cache was built for other inputs; says which fields differ."""


class CacheOverflowError(RecsysError):
    """An encoder's states do not fit the cache's float16; names channel, layer and item."""


class CheckpointError(RecsysError):
    """A checkpoint cannot be loaded into this run (other config, encoder or dataset)."""


class ConfigError(RecsysError):
    """A configuration value is invalid; names the key and the valid choices.

    Args:
        message: what is wrong and what would be valid.
        field: dotted key of the offending value ("train.lr", "method_options.rank") when
            one value is at fault; the message then reads "<field>: <message>".
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class DiskSpaceError(RecsysError):
    """The output disk lacks the room a file needs; says how much is needed and free."""
