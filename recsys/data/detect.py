"""Finding a dataset's files: the format from the names in a folder, or from one file.

Recognised folder layouts (file names compared case-insensitively):

* `amazon` (IISAN / Amazon TSV): exactly one `*items*.tsv` and one `*users*.tsv` (for
  example `Scientific_items.tsv` + `am_Industrial_and_Scientific_users.tsv`, or `items.tsv`
  + `users.tsv`); cover images, when present, in `images/<item_id>.jpg|.jpeg|.png` (or in
  the only sub-folder whose name contains "image", such as IISAN's `am_image_is/`).
* `microlens`: `<prefix>pairs.csv` with `<prefix>title_en.csv` or `<prefix>titles.csv`
  (`MicroLens-100k_pairs.csv`, ..., or the short `pairs.csv` / `titles.csv`); media in
  `<prefix>covers/` and `<prefix>videos/` (or `covers/`, `videos/`). When both an English
  `title_en.csv` and a `titles.csv` exist, the English one is used.
* `tables` (generic, and the canonical layout `toolkit data convert` writes):
  `interactions.{csv,tsv,parquet}` with `items.{csv,tsv,parquet}` (`.csv.gz` / `.tsv.gz`
  too); media come from the items table's path columns.
* `amazon2023` (Amazon Reviews 2023): `<Category>.jsonl[.gz]` with
  `meta_<Category>.jsonl[.gz]`; downloaded covers in `images/<parent_asin>.jpg`.
* `recbole`: `<name>.inter`, with `<name>.item` when there is one.

A folder matching more than one layout is an error that lists what was found. A file path
instead of a folder names the interactions file; the other files are then looked up
beside it unless given explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from recsys.errors import ConfigError, DataFormatError

AMAZON = "amazon"
MICROLENS = "microlens"
TABLES = "tables"
AMAZON2023 = "amazon2023"
RECBOLE = "recbole"
DATASET_FORMATS = (AMAZON, MICROLENS, TABLES, AMAZON2023, RECBOLE)
"""Every layout `load_dataset` reads (the choices of a scenario's `dataset.format`)."""

FORMAT_LABELS = {
    AMAZON: "IISAN/Amazon TSV (*items*.tsv + *users*.tsv)",
    MICROLENS: "MicroLens (*pairs.csv + *titles.csv / *title_en.csv)",
    TABLES: "generic tables (interactions.{csv,tsv,parquet} + items.{csv,tsv,parquet})",
    AMAZON2023: "Amazon Reviews 2023 (<Category>.jsonl[.gz] + meta_<Category>.jsonl[.gz])",
    RECBOLE: "RecBole atomic files (<name>.inter + <name>.item)",
}
_TABLE_ENDINGS = (".csv", ".tsv", ".parquet", ".csv.gz", ".tsv.gz")
_JSONL_ENDINGS = (".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class DatasetFiles:
    """Where one dataset's parts are.

    Attributes:
        format: one of DATASET_FORMATS.
        items: items file (Amazon), titles file (MicroLens), items table, meta file
            (Amazon 2023) or `.item` file (RecBole; None when there is none).
        interactions: users file, pairs file, interactions table, reviews file or `.inter`.
        images: cover image folder, if any.
        videos: video folder, if any.
    """

    format: str
    items: Path | None
    interactions: Path | None
    images: Path | None = None
    videos: Path | None = None


def _one(folder: Path, names: list[str], what: str) -> Path | None:
    if len(names) > 1:
        raise DataFormatError(
            folder,
            f"several {what} files ({', '.join(names)}); pass the one to use explicitly",
        )
    return folder / names[0] if names else None


def _folder_if_exists(folder: Path, *names: str) -> Path | None:
    for name in names:
        if name and (folder / name).is_dir():
            return folder / name
    return None


def _image_folder_like(folder: Path) -> Path | None:
    """The one sub-folder whose name contains "image" (IISAN's `am_image_is/`), if unique."""
    found = sorted(p for p in folder.iterdir() if p.is_dir() and "image" in p.name.lower())
    return found[0] if len(found) == 1 else None


def _table_named(name: str, stem: str) -> bool:
    return any(name.lower() == stem + end for end in _TABLE_ENDINGS)


def _signals(files: list[str]) -> dict[str, list[str]]:
    """Format -> the files in the folder that point to it."""
    generic = any(_table_named(n, "interactions") for n in files)
    found: dict[str, list[str]] = {fmt: [] for fmt in DATASET_FORMATS}
    for name in files:
        low = name.lower()
        # items.tsv alone is the IISAN items file; beside interactions.* it is a table
        items_table = _table_named(low, "items") and (generic or not low.endswith(".tsv"))
        if _table_named(low, "interactions") or items_table:
            found[TABLES].append(name)
        elif low.endswith(".tsv") and ("items" in low or "users" in low):
            found[AMAZON].append(name)
        elif low.endswith(("pairs.csv", "titles.csv", "title_en.csv")):
            found[MICROLENS].append(name)
        elif low.endswith(_JSONL_ENDINGS):
            found[AMAZON2023].append(name)
        elif low.endswith((".inter", ".item")):
            found[RECBOLE].append(name)
    return {fmt: names for fmt, names in found.items() if names}


def _microlens_files(folder: Path, files: list[str]) -> DatasetFiles:
    pairs_names = [n for n in files if n.lower().endswith("pairs.csv")]
    pairs = _one(folder, pairs_names, "pairs (*pairs.csv)")
    english = [n for n in files if n.lower().endswith("title_en.csv")]
    titles_names = english or [n for n in files if n.lower().endswith("titles.csv")]
    titles = _one(folder, titles_names, "titles (*title_en.csv / *titles.csv)")
    prefix = pairs.name[: -len("pairs.csv")] if pairs else ""
    return DatasetFiles(
        format=MICROLENS,
        items=titles,
        interactions=pairs,
        images=_folder_if_exists(folder, f"{prefix}covers" if prefix else "", "covers"),
        videos=_folder_if_exists(folder, f"{prefix}videos" if prefix else "", "videos"),
    )


def _amazon_files(folder: Path, files: list[str]) -> DatasetFiles:
    lower = {n: n.lower() for n in files}
    items = [n for n in files if lower[n].endswith(".tsv") and "items" in lower[n]]
    users = [n for n in files if lower[n].endswith(".tsv") and "users" in lower[n]]
    return DatasetFiles(
        format=AMAZON,
        items=_one(folder, items, "items (*items*.tsv)"),
        interactions=_one(folder, users, "users (*users*.tsv)"),
        images=_folder_if_exists(folder, "images") or _image_folder_like(folder),
    )


def _tables_files(folder: Path, files: list[str]) -> DatasetFiles:
    inter = [n for n in files if _table_named(n, "interactions")]
    items = [n for n in files if _table_named(n, "items")]
    return DatasetFiles(
        format=TABLES,
        items=_one(folder, items, "items table (items.*)"),
        interactions=_one(folder, inter, "interactions table (interactions.*)"),
    )


def _category(name: str) -> str:
    low = name.lower()
    for end in _JSONL_ENDINGS[::-1]:
        if low.endswith(end):
            return name[: -len(end)]
    return name


def _amazon2023_files(folder: Path, files: list[str]) -> DatasetFiles:
    jsonl = [n for n in files if n.lower().endswith(_JSONL_ENDINGS)]
    meta = [n for n in jsonl if n.lower().startswith("meta_")]
    reviews = [n for n in jsonl if n not in meta]
    review = _one(folder, reviews, "reviews (<Category>.jsonl[.gz])")
    if review is not None:  # the meta file of the same category, when several are there
        paired = [n for n in meta if _category(n)[len("meta_") :] == _category(review.name)]
        meta = paired or meta
    return DatasetFiles(
        format=AMAZON2023,
        items=_one(folder, meta, "meta (meta_<Category>.jsonl[.gz])"),
        interactions=review,
        images=_folder_if_exists(folder, "images"),
    )


def _recbole_files(folder: Path, files: list[str]) -> DatasetFiles:
    inter = _one(folder, [n for n in files if n.lower().endswith(".inter")], "RecBole .inter")
    items = [n for n in files if n.lower().endswith(".item")]
    if inter is not None:
        items = [n for n in items if Path(n).stem == inter.stem] or items
    return DatasetFiles(
        format=RECBOLE, items=_one(folder, items, "RecBole .item"), interactions=inter
    )


_BUILDERS = {
    AMAZON: _amazon_files,
    MICROLENS: _microlens_files,
    TABLES: _tables_files,
    AMAZON2023: _amazon2023_files,
    RECBOLE: _recbole_files,
}


def detect_files(folder: str | Path, fmt: str | None = None) -> DatasetFiles:
    """Find a dataset's files in `folder` (format by file names unless `fmt` is given).

    Raises:
        DataFormatError: no recognised layout, an ambiguous one (listing what was found),
            or several candidates for one part.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(root, "not a folder")
    files = sorted(p.name for p in root.iterdir() if p.is_file())
    if fmt is None:
        signals = _signals(files)
        if len(signals) > 1:
            found = "; ".join(
                f"{FORMAT_LABELS[f].split(' (')[0]}: {', '.join(n)}" for f, n in signals.items()
            )
            raise DataFormatError(
                root,
                f"ambiguous folder, it holds files of several layouts ({found}); "
                "set dataset.format or pass explicit paths",
            )
        if not signals:
            expected = "; ".join(FORMAT_LABELS.values())
            raise DataFormatError(root, f"no dataset found: expected one of {expected}")
        fmt = next(iter(signals))
    check_format(fmt)
    return _BUILDERS[fmt](root, files)


def check_format(fmt: str) -> None:
    """Raise ConfigError (key `dataset.format`, valid names listed) for an unknown format."""
    if fmt not in DATASET_FORMATS:
        valid = ", ".join(repr(f) for f in ("auto", *DATASET_FORMATS))
        raise ConfigError(f"invalid value {fmt!r}; valid choices: {valid}", field="dataset.format")


def format_of_file(path: Path) -> str:
    """The format an interactions (or items) file's name implies."""
    low = path.name.lower()
    if _table_named(low, "interactions") or low.endswith((".parquet", ".parquet.gz")):
        return TABLES
    if low.endswith((".inter", ".item")):
        return RECBOLE
    if low.endswith(_JSONL_ENDINGS):
        return AMAZON2023
    if low.endswith(".tsv"):
        return AMAZON
    if low.endswith(".csv"):
        return MICROLENS
    raise DataFormatError(
        path,
        "unknown file type: expected a users *.tsv, a pairs *.csv, an interactions table, "
        "a reviews *.jsonl[.gz] or a RecBole *.inter (or set the format)",
    )


_PART_NAMES = {
    AMAZON: ("items", "users"),
    MICROLENS: ("titles", "pairs"),
    TABLES: ("items table", "interactions table"),
    AMAZON2023: ("meta", "reviews"),
    RECBOLE: (".item", ".inter"),
}


def resolve_files(
    path: str | Path,
    *,
    items: str | Path | None = None,
    users: str | Path | None = None,
    images: str | Path | None = None,
    videos: str | Path | None = None,
    fmt: str | None = None,
) -> DatasetFiles:
    """Combine detection with explicit paths (explicit ones win). See `load_dataset`."""
    root = Path(path)
    if not root.exists():
        raise DataFormatError(root, "no such file or folder")
    if root.is_dir():
        if fmt is None and items is not None:
            fmt = format_of_file(Path(items))
        files = detect_files(root, fmt)
    else:
        fmt = fmt or format_of_file(root)
        try:
            files = detect_files(root.parent, fmt)
        except DataFormatError:
            files = DatasetFiles(format=fmt, items=None, interactions=None)
        files = replace(files, interactions=root)
    files = replace(
        files,
        items=Path(items) if items is not None else files.items,
        interactions=Path(users) if users is not None else files.interactions,
        images=Path(images) if images is not None else files.images,
        videos=Path(videos) if videos is not None else files.videos,
    )
    items_name, inter_name = _PART_NAMES[files.format]
    parts = [(files.interactions, inter_name)]
    if files.format != RECBOLE:  # a RecBole item file is optional
        parts.insert(0, (files.items, items_name))
    for value, what in parts:
        if value is None:
            raise DataFormatError(root, f"no {what} file found; pass it explicitly")
    return files
