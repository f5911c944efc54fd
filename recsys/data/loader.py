"""`load_dataset`: find a dataset's files in a folder (or take them explicitly) and load it.

Recognised folder layouts:

* IISAN / Amazon: exactly one `*items*.tsv` and one `*users*.tsv` (for example
  `Scientific_items.tsv` + `am_Industrial_and_Scientific_users.tsv`, or `items.tsv` +
  `users.tsv`); cover images, when present, in `images/<item_id>.<ext>` (any format
  Pillow reads: jpg, png, webp, gif, bmp, tiff; or
  in the only sub-folder whose name contains "image", such as IISAN's `am_image_is/`).
* MicroLens: `<prefix>pairs.csv` with `<prefix>title_en.csv` or `<prefix>titles.csv`
  (`MicroLens-100k_pairs.csv`, ..., or the short `pairs.csv` / `titles.csv`); media in
  `<prefix>covers/` and `<prefix>videos/` (or `covers/`, `videos/`). When both an English
  `title_en.csv` and a `titles.csv` exist, the English one is used.

A file path instead of a folder names the interactions file (`*.tsv` users file or `*.csv`
pairs file); the other files are then looked up beside it unless given explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from recsys.data.amazon import load_amazon
from recsys.data.microlens import load_microlens
from recsys.data.types import Dataset
from recsys.errors import DataFormatError

AMAZON = "amazon"
MICROLENS = "microlens"


@dataclass(frozen=True)
class DatasetFiles:
    """Where one dataset's parts are.

    Attributes:
        format: "amazon" or "microlens".
        items: items file (Amazon) or titles file (MicroLens).
        interactions: users file (Amazon) or pairs file (MicroLens).
        images: cover image folder, if any.
        videos: video folder, if any (MicroLens only).
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


def detect_files(folder: str | Path, fmt: str | None = None) -> DatasetFiles:
    """Find a dataset's files in `folder` (format by file names unless `fmt` is given).

    Raises:
        DataFormatError: no recognised layout, an ambiguous one, or several candidates.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataFormatError(root, "not a folder")
    files = sorted(p.name for p in root.iterdir() if p.is_file())
    lower = [n.lower() for n in files]
    has_amazon = any(n.endswith(".tsv") and ("items" in n or "users" in n) for n in lower)
    has_microlens = any(n.endswith(("pairs.csv", "titles.csv", "title_en.csv")) for n in lower)
    if fmt is None:
        if has_amazon and has_microlens:
            raise DataFormatError(
                root, "holds both Amazon (*.tsv) and MicroLens (*.csv) files; pass explicit paths"
            )
        if not (has_amazon or has_microlens):
            raise DataFormatError(
                root,
                "no dataset found: expected *items*.tsv + *users*.tsv (IISAN/Amazon) or "
                "*pairs.csv + *title_en.csv / *titles.csv (MicroLens)",
            )
        fmt = AMAZON if has_amazon else MICROLENS
    return _amazon_files(root, files) if fmt == AMAZON else _microlens_files(root, files)


def _format_of_file(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return AMAZON
    if suffix == ".csv":
        return MICROLENS
    raise DataFormatError(path, "unknown file type: expected a users *.tsv or a pairs *.csv")


def resolve_files(
    path: str | Path,
    *,
    items: str | Path | None = None,
    users: str | Path | None = None,
    images: str | Path | None = None,
    videos: str | Path | None = None,
) -> DatasetFiles:
    """Combine detection with explicit paths (explicit ones win). See `load_dataset`."""
    root = Path(path)
    if not root.exists():
        raise DataFormatError(root, "no such file or folder")
    if root.is_dir():
        fmt = _format_of_file(Path(items)) if items is not None else None
        files = detect_files(root, fmt)
    else:
        fmt = _format_of_file(root)
        beside = root.parent
        try:
            files = detect_files(beside, fmt)
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
    names = ("items", "users") if files.format == AMAZON else ("titles", "pairs")
    for value, what in ((files.items, names[0]), (files.interactions, names[1])):
        if value is None:
            raise DataFormatError(root, f"no {what} file found; pass it explicitly")
    return files


def load_dataset(
    path: str | Path,
    *,
    items: str | Path | None = None,
    users: str | Path | None = None,
    images: str | Path | None = None,
    videos: str | Path | None = None,
    on_unknown: str = "error",
    name: str | None = None,
) -> Dataset:
    """Load a dataset in the IISAN/Amazon TSV or MicroLens CSV format.

    Args:
        path: a dataset folder (layout detected, see the module docstring) or the
            interactions file itself (Amazon users `*.tsv` or MicroLens pairs `*.csv`).
        items: explicit items file (Amazon) or titles file (MicroLens).
        users: explicit users file (Amazon) or pairs file (MicroLens).
        images: explicit cover-image folder.
        videos: explicit video folder (MicroLens).
        on_unknown: "error" (default): an interaction with an undefined item raises
            UnknownItemError naming file and line; "drop": such interactions are dropped
            and counted in `Dataset.report.dropped_unknown`.
        name: dataset name (default: the folder name).

    Returns:
        The Dataset: catalogue in items-file order, sequences oldest first.

    Raises:
        DataFormatError: missing, ambiguous or malformed files (file and 1-based line).
        UnknownItemError: an undefined item, with on_unknown="error".
        ConfigError: an invalid `on_unknown`.
    """
    files = resolve_files(path, items=items, users=users, images=images, videos=videos)
    if files.format == AMAZON:
        if files.videos is not None:
            raise DataFormatError(files.videos, "the Amazon format has no videos")
        return load_amazon(
            files.items, files.interactions, images=files.images, on_unknown=on_unknown, name=name
        )
    return load_microlens(
        files.interactions,
        files.items,
        covers=files.images,
        videos=files.videos,
        on_unknown=on_unknown,
        name=name,
    )
