"""`load_dataset`: find a dataset's files (`recsys.data.detect`) and load them in any of the
formats the toolkit reads, optionally k-core filtered."""

from __future__ import annotations

from pathlib import Path

from recsys.config import TableColumns
from recsys.data.amazon import load_amazon
from recsys.data.amazon2023 import load_amazon2023
from recsys.data.detect import (
    AMAZON,
    AMAZON2023,
    MICROLENS,
    RECBOLE,
    TABLES,
    DatasetFiles,
    check_format,
    resolve_files,
)
from recsys.data.kcore import kcore_filter
from recsys.data.microlens import load_microlens
from recsys.data.recbole import load_recbole
from recsys.data.tables import load_tables
from recsys.data.types import Dataset
from recsys.errors import ConfigError, DataFormatError

_NO_VIDEOS = (AMAZON, AMAZON2023, RECBOLE)
_NO_IMAGES = (RECBOLE,)
_WITH_COLUMNS = (TABLES, RECBOLE)


def _load(files: DatasetFiles, columns: TableColumns, on_unknown: str, name: str | None):
    common = {"on_unknown": on_unknown, "name": name}
    if files.format == AMAZON:
        return load_amazon(files.items, files.interactions, images=files.images, **common)
    if files.format == MICROLENS:
        return load_microlens(
            files.interactions, files.items, covers=files.images, videos=files.videos, **common
        )
    if files.format == TABLES:
        return load_tables(
            files.interactions,
            files.items,
            columns=columns,
            images=files.images,
            videos=files.videos,
            **common,
        )
    if files.format == AMAZON2023:
        return load_amazon2023(files.interactions, files.items, images=files.images, **common)
    return load_recbole(files.interactions, files.items, columns=columns, **common)


def _check_parts(files: DatasetFiles, columns: TableColumns | None) -> None:
    if files.videos is not None and files.format in _NO_VIDEOS:
        raise DataFormatError(files.videos, f"the {files.format} format has no videos")
    if files.images is not None and files.format in _NO_IMAGES:
        raise DataFormatError(files.images, f"the {files.format} format has no images")
    if columns not in (None, TableColumns()) and files.format not in _WITH_COLUMNS:
        raise ConfigError(
            f"column names apply to the {' and '.join(_WITH_COLUMNS)} formats only; this "
            f"dataset is {files.format!r}",
            field="dataset.columns",
        )


def check_options(fmt: str, kcore: int, columns: TableColumns) -> None:
    """Raise ConfigError (naming the `dataset.*` key and the valid values) for impossible
    load options: an unknown format ("auto" or one of DATASET_FORMATS), kcore < 0, bad
    column settings."""
    if fmt != "auto":
        check_format(fmt)
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
    """Load a dataset in any format the toolkit reads (`recsys.data.detect.DATASET_FORMATS`).

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
    dataset = _load(files, columns or TableColumns(), on_unknown, name)
    return kcore_filter(dataset, kcore) if kcore else dataset
