"""Column conversions for generic tables: time columns to epoch seconds, media path
columns to checked paths inside the table's folder (`recsys.data.tables`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from media.paths import UnresolvablePathError, resolve_path
from recsys.config import iso_datetime
from recsys.errors import DataFormatError


def _cell_seconds(value: Any, scale: float, path: Path, row: int) -> float:
    """One cell as seconds: a number (in the table's unit) or an ISO date-time."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise DataFormatError(path, "missing timestamp", row=row)
    try:
        return float(text) / scale
    except ValueError:
        pass
    try:
        return iso_datetime(text).timestamp()
    except ValueError:
        raise DataFormatError(
            path, f"timestamp {text!r} is neither a number nor an ISO date-time", row=row
        ) from None


def time_values(column: Any, unit: str, path: Path) -> np.ndarray:
    """[T] float64 seconds since the epoch; missing or unreadable cells name their row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if column.null_count:
        first = column.is_null().to_pylist().index(True)
        raise DataFormatError(path, "missing timestamp", row=first + 1)
    scale = 1000.0 if unit == "ms" else 1.0
    if pa.types.is_timestamp(column.type):
        micros = column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())
        seconds = micros.to_numpy(zero_copy_only=False).astype(np.float64) / 1e6
    elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        seconds = column.to_numpy(zero_copy_only=False).astype(np.float64) / scale
    else:
        try:
            seconds = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False) / scale
        except pa.ArrowInvalid:  # date-times, or a bad cell: read cell by cell (names the row)
            cells = enumerate(column.to_pylist(), start=1)
            seconds = np.asarray([_cell_seconds(v, scale, path, r) for r, v in cells])
    bad = np.flatnonzero(~np.isfinite(seconds))
    if len(bad):
        raise DataFormatError(path, "timestamp is not finite", row=int(bad[0]) + 1)
    return seconds.astype(np.float64)


def media_paths(
    table: Any, name: str | None, root: Path, ids: list[str], path: Path, what: str
) -> tuple[list[Path | None], int]:
    """Per-item media paths from a path column (relative to `root`), and how many name no file.

    Raises:
        DataFormatError: an absolute path or one resolving outside `root` (names the row).
    """
    if name is None:
        return [None] * len(ids), 0
    base = root.resolve()
    out: list[Path | None] = []
    missing = 0
    for row, value in enumerate(table.column(name).to_pylist(), start=1):
        text = "" if value is None else str(value).strip()
        if not text:
            out.append(None)
            continue
        try:
            target = resolve_path(base / text)
        except UnresolvablePathError:  # a symlink loop: no media, like a missing file
            out.append(None)
            missing += 1
            continue
        if (
            Path(text).is_absolute()
            or text.startswith(("/", "\\"))
            or not target.is_relative_to(base)
        ):
            raise DataFormatError(
                path,
                f"item {ids[row - 1]!r}: {what} path {text!r} leaves the table's folder {base}; "
                "media paths must be relative and stay inside it",
                row=row,
            )
        if target.is_file():
            out.append(target)
        else:
            out.append(None)
            missing += 1
    return out, missing
