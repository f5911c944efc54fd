"""`load_dataset`: find a dataset's files (`recsys.data.detect`) and load them with their
registered format (`recsys.data.formats`), optionally k-core filtered."""

from __future__ import annotations

from pathlib import Path

from recsys.config import TableColumns
from recsys.data.detect import resolve_files
from recsys.data.formats import DatasetFiles, LoadOptions, formats, get_format
from recsys.data.kcore import kcore_filter
from recsys.data.types import Dataset
from recsys.errors import ConfigError, DataFormatError


def _check_parts(files: DatasetFiles, columns: TableColumns | None) -> None:
    fmt = get_format(files.format)
    if files.videos is not None and not fmt.videos:
        raise DataFormatError(files.videos, f"the {files.format} format has no videos")
    if files.images is not None and not fmt.images:
        raise DataFormatError(files.images, f"the {files.format} format has no images")
    if columns not in (None, TableColumns()) and not fmt.columns:
        with_columns = [f.name for f in formats() if f.columns]
        raise ConfigError(
            f"column names apply to the {' and '.join(with_columns)} formats only; this "
            f"dataset is {files.format!r}",
            field="dataset.columns",
        )


def check_options(fmt: str, kcore: int, columns: TableColumns) -> None:
    """Raise ConfigError (naming the `dataset.*` key and the valid values) for impossible
    load options: an unknown format ("auto" or a registered one), kcore < 0, bad
    column settings."""
    if fmt != "auto":
        get_format(fmt)  # ConfigError naming dataset.format and the valid names
    if kcore < 0:
        raise ConfigError(f"is {kcore}; must be >= 0 (0: no filter)", field="dataset.kcore")
    columns.check()


def load_dataset(
    path: str | Path,
    *,
    items: str | Path | None = None,
    users: str | Path | None = None,
    images: str | Path | None = None,
    videos: str | Path | None = None,
    on_unknown: str = "error",
    name: str | None = None,
    fmt: str | None = None,
    columns: TableColumns | None = None,
    kcore: int = 0,
) -> Dataset:
    """Load a dataset in any registered format (`recsys.data.formats.format_names()`).

    Args:
        path: a dataset folder (layout detected, see `recsys.data.detect`) or the
            interactions file itself (users `*.tsv`, pairs `*.csv`, `interactions.*`,
            reviews `*.jsonl[.gz]`, `*.inter`).
        items: explicit items file (items TSV, titles CSV, items table, meta JSONL, `.item`).
        users: explicit interactions file (users TSV, pairs CSV, interactions table,
            reviews JSONL, `.inter`).
        images: explicit cover-image folder of `<item_id>.jpg|.jpeg|.png`.
        videos: explicit video folder of `<item_id>.mp4` (MicroLens, tables).
        on_unknown: "error" (default): an interaction with an undefined item raises
            UnknownItemError naming file and line (or row); "drop": such interactions are
            dropped and counted in `Dataset.report.dropped_unknown`.
        name: dataset name (default: the folder name; Amazon 2023: the category).
        fmt: force a format instead of detecting it by file names.
        columns: column names of generic tables and RecBole files.
        kcore: when >= 1, keep only users and items with at least this many interactions
            (applied repeatedly; recorded in `Dataset.report.kcore` and the notes).

    Returns:
        The Dataset: catalogue in items-file order, sequences oldest first.

    Raises:
        DataFormatError: missing, ambiguous or malformed files (file and 1-based line or row).
        UnknownItemError: an undefined item, with on_unknown="error".
        ConfigError: an invalid `on_unknown`, format, column setting or `kcore`.
    """
    check_options(fmt or "auto", kcore, columns or TableColumns())
    files = resolve_files(path, items=items, users=users, images=images, videos=videos, fmt=fmt)
    _check_parts(files, columns)
    options = LoadOptions(columns=columns or TableColumns(), on_unknown=on_unknown, name=name)
    dataset = get_format(files.format).load(files, options)
    return kcore_filter(dataset, kcore) if kcore else dataset
