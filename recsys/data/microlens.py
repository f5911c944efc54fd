"""The MicroLens format, as its authors distribute it.

* pairs: `MicroLens-100k_pairs.csv` (or `pairs.csv`), header `user,item,timestamp`,
  timestamps in Unix milliseconds; rows in any order;
* titles: `MicroLens-100k_title_en.csv` / `MicroLens-100k_titles.csv` (or `titles.csv`),
  header `item,title`, quoted CSV (titles contain commas and may span lines);
* covers: `MicroLens-100k_covers/<item>.jpg` (or `covers/`);
* videos: `MicroLens-100k_videos/<item>.mp4` (or `videos/`).

Columns are found by header name, so extra columns are allowed, but every row must have as
many fields as the header. Each user's interactions are ordered by timestamp; equal
timestamps keep their file order (stable sort). The times are kept (in seconds) for the
temporal split.

Registered as the `microlens` dataset format: `<prefix>pairs.csv` with `<prefix>title_en.csv`
or `<prefix>titles.csv` (`MicroLens-100k_pairs.csv`, ..., or the short `pairs.csv` /
`titles.csv`); media in `<prefix>covers/` and `<prefix>videos/` (or `covers/`, `videos/`).
When both an English `title_en.csv` and a `titles.csv` exist, the English one is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from recsys.data._build import Events, ItemRows, build_catalogue, make_dataset
from recsys.data._read import (
    check_item_id,
    check_on_unknown,
    clean_title,
    csv_records,
    parse_timestamp,
    read_text,
)
from recsys.data.formats import (
    DatasetFiles,
    DatasetFormat,
    LoadOptions,
    folder_if_exists,
    one_file,
    register_format,
)
from recsys.data.types import Dataset
from recsys.errors import DataFormatError

PAIRS_COLUMNS = ("user", "item", "timestamp")
TITLES_COLUMNS = ("item", "title")


def _records(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """Yield (line, fields in `columns` order) after checking the header and field counts."""
    records = csv_records(path, read_text(path))
    header_line, header = next(records, (1, []))
    names = [h.strip().lower() for h in header]
    missing = [c for c in columns if c not in names]
    if missing:
        raise DataFormatError(
            path,
            f"header must name the columns {','.join(columns)}; "
            f"found {','.join(header) or 'nothing'}",
            header_line,
        )
    where = [names.index(c) for c in columns]
    width = len(header)
    for line, fields in records:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if len(fields) != width:
            raise DataFormatError(
                path, f"expected {width} comma-separated fields, found {len(fields)}", line
            )
        yield line, [fields[w] for w in where]


def read_microlens_titles(path: Path) -> ItemRows:
    """Parse a titles file into rows (file order), unescaping titles."""
    rows = ItemRows(path)
    for line, (raw_id, raw_title) in _records(path, TITLES_COLUMNS):
        item_id = check_item_id(raw_id, path, line)
        rows.add(item_id, clean_title(raw_title, path, line, item_id), line)
    if not rows.ids:
        raise DataFormatError(path, "no items defined")
    return rows


def read_microlens_pairs(
    path: Path, known: dict[str, int], on_unknown: str, notes: list[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[float, ...]], int]:
    """Parse a pairs file; returns (user -> items by time, stable ties; user -> times in
    seconds; dropped count)."""
    events = Events(path, known, on_unknown)
    for line, (raw_user, raw_item, raw_ts) in _records(path, PAIRS_COLUMNS):
        user = check_item_id(raw_user, path, line, "user id")
        item = check_item_id(raw_item, path, line)
        events.add(user, item, parse_timestamp(raw_ts, path, line) / 1000.0, line)  # ms -> s
    return events.finish(notes)


def load_microlens(
    pairs: str | Path,
    titles: str | Path,
    *,
    covers: str | Path | None = None,
    videos: str | Path | None = None,
    on_unknown: str = "error",
    name: str | None = None,
) -> Dataset:
    """Load a MicroLens dataset from explicit files.

    Args:
        pairs: the `user,item,timestamp` CSV.
        titles: the `item,title` CSV.
        covers: optional folder of `<item>.jpg` cover images.
        videos: optional folder of `<item>.mp4` videos.
        on_unknown: "error" (default) or "drop" for interactions with items without a title.
        name: dataset name; defaults to the pairs file's folder name.

    Raises:
        DataFormatError: a malformed file (names file and 1-based line).
        UnknownItemError: an item without a title row, with on_unknown="error".
    """
    check_on_unknown(on_unknown)
    pairs_path, titles_path = Path(pairs), Path(titles)
    notes: list[str] = []
    rows = read_microlens_titles(titles_path)
    sequences, stamps, dropped = read_microlens_pairs(pairs_path, rows.lines, on_unknown, notes)
    catalogue = build_catalogue(
        rows, Path(covers) if covers else None, Path(videos) if videos else None, notes
    )
    source = pairs_path.resolve().parent
    return make_dataset(
        name or source.name, catalogue, sequences, source, dropped, notes, timestamps=stamps
    )


def _claims(name: str, files: list[str]) -> bool:
    return name.lower().endswith(("pairs.csv", "titles.csv", "title_en.csv"))


def _find(folder: Path, files: list[str]) -> DatasetFiles:
    pairs_names = [n for n in files if n.lower().endswith("pairs.csv")]
    pairs = one_file(folder, pairs_names, "pairs (*pairs.csv)")
    english = [n for n in files if n.lower().endswith("title_en.csv")]
    titles_names = english or [n for n in files if n.lower().endswith("titles.csv")]
    titles = one_file(folder, titles_names, "titles (*title_en.csv / *titles.csv)")
    prefix = pairs.name[: -len("pairs.csv")] if pairs else ""
    return DatasetFiles(
        format="microlens",
        items=titles,
        interactions=pairs,
        images=folder_if_exists(folder, f"{prefix}covers" if prefix else "", "covers"),
        videos=folder_if_exists(folder, f"{prefix}videos" if prefix else "", "videos"),
    )


def _load(files: DatasetFiles, options: LoadOptions) -> Dataset:
    return load_microlens(
        files.interactions,
        files.items,
        covers=files.images,
        videos=files.videos,
        on_unknown=options.on_unknown,
        name=options.name,
    )


FORMAT = register_format(
    DatasetFormat(
        name="microlens",
        label="MicroLens (*pairs.csv + *titles.csv / *title_en.csv)",
        claims=_claims,
        find=_find,
        load=_load,
        names_file=lambda name: name.endswith(".csv"),
        file_hint="a pairs *.csv",
        part_names=("titles", "pairs"),
    )
)
