"""The dataset-format registry: each format is one module that declares how its files are
found in a folder and how they load, and registers itself with `register_format`.

Detection (`recsys.data.detect`) and `load_dataset` (`recsys.data.loader`) only dispatch
through this registry. The built-in formats are imported once, on the first look-up, from
the explicit list `_BUILTIN_MODULES` (no discovery by file name); a format defined anywhere
else (a plug-in, a test) is available as soon as its `register_format` call has run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recsys.config import TableColumns
from recsys.data.types import Dataset
from recsys.errors import ConfigError, DataFormatError


@dataclass(frozen=True)
class DatasetFiles:
    """Where one dataset's parts are.

    Attributes:
        format: the name of a registered format (`format_names()`).
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


@dataclass(frozen=True)
class LoadOptions:
    """What `load_dataset` passes to every format's `load`, besides the files."""

    columns: TableColumns = TableColumns()  # column names (formats with `columns=True`)
    on_unknown: str = "error"  # "error" or "drop" for interactions with undefined items
    name: str | None = None  # dataset name; None: the format's default (folder name, ...)


@dataclass(frozen=True)
class DatasetFormat:
    """One dataset layout: how it is recognised, where its parts are, how it loads."""

    name: str  # the value of a scenario's `dataset.format`
    label: str  # "Short name (file patterns)", listed in detection errors
    claims: Callable[[str, list[str]], bool]  # (file name, all names in the folder) -> ours?
    find: Callable[[Path, list[str]], DatasetFiles]  # (folder, its file names) -> parts
    load: Callable[[DatasetFiles, LoadOptions], Dataset]
    names_file: Callable[[str], bool]  # does this single file name imply the format?
    file_hint: str  # the interactions file, for "unknown file type" ("a pairs *.csv")
    part_names: tuple[str, str]  # (items part, interactions part), for "no ... file found"
    items_optional: bool = False  # True: the items file may be absent (RecBole)
    images: bool = True  # False: an images folder is an error
    videos: bool = True  # False: a videos folder is an error
    columns: bool = False  # True: `dataset.columns` applies
    priority: int = 0  # higher claims a file name first (tables' items.* beside interactions.*)


_REGISTRY: dict[str, DatasetFormat] = {}

# Import order varies (recsys.data imports the modules alphabetically), so the order the
# formats are listed in is this list's, then the other formats as registered.
_BUILTIN_MODULES = (
    "recsys.data.amazon",
    "recsys.data.microlens",
    "recsys.data.tables",
    "recsys.data.amazon2023",
    "recsys.data.recbole",
)


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    """Register a dataset format (returned, so a module can keep it as `FORMAT`).

    Raises:
        ValueError: a format of that name is already registered, or the name is "auto".
    """
    if fmt.name == "auto":
        raise ValueError('"auto" is reserved: it means "detect the format"')
    if fmt.name in _REGISTRY:
        raise ValueError(f"dataset format {fmt.name!r} is already registered")
    _REGISTRY[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    """Remove a registered format (tests, plug-ins that register temporarily)."""
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    import importlib

    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def _rank(fmt: DatasetFormat) -> int:
    module = getattr(fmt.load, "__module__", "")
    return _BUILTIN_MODULES.index(module) if module in _BUILTIN_MODULES else len(_BUILTIN_MODULES)


def formats() -> tuple[DatasetFormat, ...]:
    """Every registered format, built-ins first in their documented order."""
    _load_builtins()
    return tuple(sorted(_REGISTRY.values(), key=_rank))


def format_names() -> tuple[str, ...]:
    """The names `dataset.format` accepts besides "auto"."""
    return tuple(f.name for f in formats())


def get_format(name: str) -> DatasetFormat:
    """The format named `name`.

    Raises:
        ConfigError: unknown name (key `dataset.format`, the valid names listed).
    """
    _load_builtins()
    if name not in _REGISTRY:
        valid = ", ".join(repr(f) for f in ("auto", *format_names()))
        raise ConfigError(f"invalid value {name!r}; valid choices: {valid}", field="dataset.format")
    return _REGISTRY[name]


def by_priority() -> tuple[DatasetFormat, ...]:
    """The formats in the order they claim file names (highest priority first)."""
    return tuple(sorted(formats(), key=lambda f: -f.priority))


def one_file(folder: Path, names: list[str], what: str) -> Path | None:
    """The only one of `names` in `folder`, None for none; several are an error."""
    if len(names) > 1:
        raise DataFormatError(
            folder,
            f"several {what} files ({', '.join(names)}); pass the one to use explicitly",
        )
    return folder / names[0] if names else None


def folder_if_exists(folder: Path, *names: str) -> Path | None:
    """The first of the sub-folders `names` (empty names skipped) that exists."""
    for name in names:
        if name and (folder / name).is_dir():
            return folder / name
    return None
