"""Finding a dataset's files: the format from the names in a folder, or from one file.

Every layout is a registered `recsys.data.formats.DatasetFormat`, declared in its own module
(`amazon`, `microlens`, `tables`, `amazon2023`, `recbole`; their docstrings say which file
names make the layout); this module only dispatches. File names are compared
case-insensitively; each file name is claimed by one format (the highest `priority` first).

A folder matching more than one layout is an error that lists what was found. A file path
instead of a folder names the interactions file; the other files are then looked up
beside it unless given explicitly.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from recsys.data.formats import (
    DatasetFiles,
    by_priority,
    formats,
    get_format,
)
from recsys.errors import DataFormatError

__all__ = [
    "detect_files",
    "format_of_file",
    "resolve_files",
]


def _signals(files: list[str]) -> dict[str, list[str]]:
    """Format -> the files in the folder that point to it (each file claimed by one format)."""
    found: dict[str, list[str]] = {f.name: [] for f in formats()}
    claimers = by_priority()
    for name in files:
        owner = next((f for f in claimers if f.claims(name, files)), None)
        if owner is not None:
            found[owner.name].append(name)
    return {fmt: names for fmt, names in found.items() if names}


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
                f"{get_format(f).label.split(' (')[0]}: {', '.join(n)}" for f, n in signals.items()
            )
            raise DataFormatError(
                root,
                f"ambiguous folder, it holds files of several layouts ({found}); "
                "set dataset.format or pass explicit paths",
            )
        if not signals:
            expected = "; ".join(f.label for f in formats())
            raise DataFormatError(root, f"no dataset found: expected one of {expected}")
        fmt = next(iter(signals))
    return get_format(fmt).find(root, files)


def format_of_file(path: Path) -> str:
    """The format an interactions (or items) file's name implies."""
    claimers = by_priority()
    for fmt in claimers:
        if fmt.names_file(path.name.lower()):
            return fmt.name
    hints = [f.file_hint for f in formats()]
    raise DataFormatError(
        path,
        f"unknown file type: expected {', '.join(hints[:-1])} or {hints[-1]} (or set the format)",
    )


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
    fmt_spec = get_format(files.format)
    items_name, inter_name = fmt_spec.part_names
    parts = [(files.interactions, inter_name)]
    if not fmt_spec.items_optional:  # a format may do without items (RecBole)
        parts.insert(0, (files.items, items_name))
    for value, what in parts:
        if value is None:
            raise DataFormatError(root, f"no {what} file found; pass it explicitly")
    return files
