"""Generic tables: interactions and items as CSV, TSV or Parquet (also the canonical layout
that `toolkit data convert` writes).

* interactions: one row per interaction with a user column, an item column and a time
  column (names in `TableColumns`, defaults `user_id`, `item_id`, `timestamp`); times are
  numbers in seconds (or ms, `columns.timestamp_unit`), ISO date-times, or Parquet
  timestamps. Without the (default-named) time column the rows are taken in time order.
* items: an item column, a title column and any number of text columns (strings; Parquet
  list-of-string columns are list fields), plus optional `image_path` / `video_path`
  columns holding paths relative to the items table's folder. A path that leaves that
  folder (absolute, `..`, a symlink out) is refused; one naming no file gives no media.

CSV is comma-separated with double-quote quoting; TSV is tab-separated without quoting; a
`.gz` suffix is read decompressed. Every cell is read as text (ids such as `007` stay
`007`). Errors name the file and the data row (1-based, header not counted).

Registered as the `tables` dataset format: `interactions.{csv,tsv,parquet}` with
`items.{csv,tsv,parquet}` (`.csv.gz` / `.tsv.gz` too). It claims file names before the other
formats: `items.tsv` beside `interactions.*` is a table, alone it is an IISAN items file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recsys.config import TableColumns
from recsys.data._build import (
    UnknownItems,
    folder_media,
    make_dataset,
    note_empty_titles,
    timed_sequences,
)
from recsys.data._read import IMAGE_SUFFIXES, VIDEO_SUFFIXES, check_item_id
from recsys.data._table_cells import media_paths, time_values
from recsys.data.formats import (
    DatasetFiles,
    DatasetFormat,
    LoadOptions,
    one_file,
    register_format,
)
from recsys.data.types import Catalogue, Dataset, FieldValue, TextField
from recsys.errors import DataFormatError

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".csv.gz", ".tsv.gz")
IMAGE_URL_COLUMN = "image_url"  # the canonical layout's record of remote cover URLs
CATALOGUE_FIELDS = ("item_id", "title")  # names the catalogue itself defines


def table_kind(path: Path) -> str:
    """ "csv", "tsv" or "parquet" by the file name; DataFormatError for anything else."""
    name = path.name.lower().removesuffix(".gz")
    for kind in ("csv", "tsv", "parquet"):
        if name.endswith(f".{kind}"):
            return kind
    raise DataFormatError(path, f"not a table: expected one of {', '.join(TABLE_SUFFIXES)}")


def read_table(path: Path, *, tsv: bool | None = None) -> Any:
    """The whole table as a pyarrow Table; CSV / TSV cells as strings (never null).

    Args:
        path: the file.
        tsv: force tab-separated, unquoted reading (RecBole files); None = by suffix.

    Raises:
        DataFormatError: a missing file or a table pyarrow cannot read (its reason quoted).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise DataFormatError(path, "no such file" if not path.exists() else "not a regular file")
    kind = "tsv" if tsv else table_kind(path)
    try:
        if kind == "parquet":
            return pq.read_table(path)
        parse = pacsv.ParseOptions(delimiter="\t", quote_char=False) if kind == "tsv" else None
        with pacsv.open_csv(path, parse_options=parse) as reader:
            names = reader.schema.names
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise DataFormatError(path, f"the header names column {dup!r} twice")
        convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        return pacsv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFormatError(path, f"cannot read the table: {reason}") from None


def require_column(table: Any, name: str, path: Path, what: str) -> Any:
    """The column `name`; DataFormatError naming it and the columns found when absent."""
    if name not in table.column_names:
        found = ", ".join(table.column_names) or "none"
        raise DataFormatError(
            path, f"no {what} column {name!r} (columns found: {found}); name it in columns.*"
        )
    return table.column(name)


def _optional_name(table: Any, name: str, default: str, path: Path, what: str) -> str | None:
    """`name` when the table has it; a non-default name that is missing is an error."""
    if name and name in table.column_names:
        return name
    if name and name != default:
        require_column(table, name, path, what)
    return None


# An id character that check_item_id refuses: whitespace (Unicode too) or a control character.
_BAD_ID_CHAR = r"[\s\p{Z}\x00-\x1f\x7f\x85]"


def id_column(column: Any, path: Path, what: str) -> Any:
    """The column as trimmed id strings (a pyarrow array), checked in bulk; the first bad
    cell gets `check_item_id`'s message, naming its row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    strings = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
    trimmed = pc.utf8_trim_whitespace(strings.fill_null(""))
    bad = pc.or_(
        pc.equal(pc.utf8_length(trimmed), 0), pc.match_substring_regex(trimmed, _BAD_ID_CHAR)
    )
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        value = str(trimmed[row].as_py())
        try:
            check_item_id(value, path, 0, what)  # the usual message
        except DataFormatError as exc:
            raise DataFormatError(path, exc.message, row=row + 1) from None
        raise DataFormatError(path, f"{what} {value!r} is not a plain id", row=row + 1)
    return trimmed


def id_values(column: Any, path: Path, what: str) -> list[str]:
    """`id_column` as a Python list."""
    return id_column(column, path, what).to_pylist()


def read_interactions_table(
    table: Any,
    path: Path,
    columns: TableColumns,
    known: dict[str, int],
    on_unknown: str,
    notes: list[str],
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[float, ...]] | None, int]:
    """(user -> items oldest first, user -> times or None, dropped unknown interactions)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    users = id_column(require_column(table, columns.user, path, "user"), path, "user id")
    items = id_column(require_column(table, columns.item, path, "item"), path, "item id")
    if not len(users):
        raise DataFormatError(path, "no interactions")
    time_name = _optional_name(table, columns.timestamp, "timestamp", path, "timestamp")
    if time_name is None:
        notes.append(
            f"{path.name} has no {columns.timestamp!r} column: rows are taken in time order "
            "per user, and the temporal split is unavailable"
        )
        times = np.arange(len(users), dtype=np.float64)  # row order stands in for time
    else:
        times = time_values(table.column(time_name), columns.timestamp_unit, path)
    all_users = list(dict.fromkeys(users.to_pylist()))
    known_mask = pc.is_in(items, value_set=pa.array(list(known), type=pa.string()))
    dropped = len(items) - pc.sum(known_mask).as_py()
    if dropped:
        first = pc.index(known_mask, False).as_py()
        UnknownItems(path, known, on_unknown, rows=True).keep(
            items[first].as_py(), users[first].as_py(), first + 1
        )  # raises with on_unknown="error"; "drop" counts them below
        users, items = users.filter(known_mask), items.filter(known_mask)
        times = times[known_mask.to_numpy(zero_copy_only=False)]
    sequences, stamps = timed_sequences(
        users.to_pylist(), items.to_pylist(), times, all_users, path, notes
    )
    return sequences, (stamps if time_name is not None else None), dropped


def _text_cells(column: Any) -> list[FieldValue]:
    """Strings (None -> "") or, for list columns, tuples of strings (None -> ())."""
    import pyarrow as pa

    values = column.to_pylist()
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return [tuple("" if x is None else str(x) for x in v) if v else () for v in values]
    return ["" if v is None else str(v).strip() for v in values]


def _text_columns(table: Any, path: Path, columns: TableColumns, used: set[str], notes: list[str]):
    """Names of the text fields to keep: `columns.text`, else every usable remaining column."""
    import pyarrow as pa

    if columns.text is not None:
        for name in columns.text:
            require_column(table, name, path, "text")
            if name in CATALOGUE_FIELDS or not name.isidentifier():
                raise DataFormatError(
                    path,
                    f"text column {name!r}: use a Python-identifier name other than "
                    f"{' / '.join(CATALOGUE_FIELDS)} (templates read it as {{name}})",
                )
        return list(columns.text)
    names, skipped = [], []
    for name in table.column_names:
        if name in used:
            continue
        kind = table.schema.field(name).type
        textual = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        listed = (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and (
            pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)
        )
        if (textual or listed) and name.isidentifier() and name not in CATALOGUE_FIELDS:
            names.append(name)
        else:
            skipped.append(name)
    if skipped:
        notes.append(f"{path.name}: columns not used as text fields: {', '.join(skipped)}")
    return names


def read_items_table(
    table: Any,
    path: Path,
    columns: TableColumns,
    images: Path | None,
    videos: Path | None,
    notes: list[str],
) -> Catalogue:
    """The catalogue of an items table, in row order (see the module docstring)."""
    ids = id_values(require_column(table, columns.item, path, "item"), path, "item id")
    if not ids:
        raise DataFormatError(path, "no items defined")
    if len(set(ids)) != len(ids):
        first: dict[str, int] = {}
        for row, item in enumerate(ids, start=1):
            if item in first:
                raise DataFormatError(
                    path, f"duplicate item id {item!r} (first in row {first[item]})", row=row
                )
            first[item] = row
    title_name = title_column(table, columns.title)
    titles = [str(t) for t in _text_cells(require_column(table, title_name, path, "title"))]
    image_col = _optional_name(table, columns.image, "image_path", path, "image path")
    video_col = _optional_name(table, columns.video, "video_path", path, "video path")
    used = {columns.item, title_name, IMAGE_URL_COLUMN, image_col or "", video_col or ""}
    fields = tuple(
        TextField(n, tuple(_text_cells(table.column(n))))
        for n in _text_columns(table, path, columns, used, notes)
    )
    image_paths, no_image = media_paths(table, image_col, path.parent, ids, path, "image")
    video_paths, no_video = media_paths(table, video_col, path.parent, ids, path, "video")
    for count, what in ((no_image, "image"), (no_video, "video")):
        if count:
            notes.append(f"{count} {what} paths in {path.name} name no file; no {what} for those")
    if images is not None:  # a media folder given (or found) replaces the path column
        image_paths = folder_media(images, IMAGE_SUFFIXES, ids, notes)
    if videos is not None:
        video_paths = folder_media(videos, VIDEO_SUFFIXES, ids, notes)
    urls = ()
    if IMAGE_URL_COLUMN in table.column_names:
        urls = tuple(str(u) if u else None for u in table.column(IMAGE_URL_COLUMN).to_pylist())
    note_empty_titles(titles, notes)
    return Catalogue(
        item_ids=tuple(ids),
        titles=tuple(titles),
        image_paths=tuple(image_paths),
        video_paths=tuple(video_paths),
        text_fields=fields,
        image_urls=urls,
    )


def title_column(table: Any, name: str) -> str:
    """`name`, or, when only the default is asked for and absent, the one column whose name
    contains "title" (RecBole's `movie_title`); otherwise `name` (reported as missing)."""
    if name in table.column_names or name != "title":
        return name
    like = [n for n in table.column_names if "title" in n.lower()]
    return like[0] if len(like) == 1 else name


def load_tables(
    interactions: str | Path,
    items: str | Path,
    *,
    columns: TableColumns = TableColumns(),
    images: str | Path | None = None,
    videos: str | Path | None = None,
    on_unknown: str = "error",
    name: str | None = None,
) -> Dataset:
    """Load a dataset from an interactions table and an items table (CSV, TSV or Parquet).

    Args:
        interactions: user / item / time rows.
        items: item / title / text / media-path rows.
        columns: the column names (defaults `user_id`, `item_id`, `timestamp`, `title`,
            `image_path`, `video_path`).
        images: optional folder of `<item_id>.jpg|.jpeg|.png` covers (replaces the path column).
        videos: optional folder of `<item_id>.mp4` videos (replaces the path column).
        on_unknown: "error" (default) or "drop" for interactions with undefined items.
        name: dataset name; defaults to the interactions table's folder name.

    Raises:
        DataFormatError: a missing column (named, with the columns found), a malformed or
            missing cell (file and row), a media path leaving the table's folder.
        UnknownItemError: an undefined item with on_unknown="error".
    """
    from recsys.data._read import check_on_unknown

    check_on_unknown(on_unknown)
    columns.check()
    inter_path, items_path = Path(interactions), Path(items)
    notes: list[str] = []
    catalogue = read_items_table(
        read_table(items_path),
        items_path,
        columns,
        Path(images) if images else None,
        Path(videos) if videos else None,
        notes,
    )
    sequences, stamps, dropped = read_interactions_table(
        read_table(inter_path), inter_path, columns, catalogue._index, on_unknown, notes
    )
    source = inter_path.resolve().parent
    return make_dataset(
        name or source.name, catalogue, sequences, source, dropped, notes, timestamps=stamps
    )


def _table_named(name: str, stem: str) -> bool:
    return any(name.lower() == stem + end for end in TABLE_SUFFIXES)


def _claims(name: str, files: list[str]) -> bool:
    # items.tsv alone is the IISAN items file; beside interactions.* it is a table
    generic = any(_table_named(n, "interactions") for n in files)
    low = name.lower()
    items_table = _table_named(low, "items") and (generic or not low.endswith(".tsv"))
    return _table_named(low, "interactions") or items_table


def _find(folder: Path, files: list[str]) -> DatasetFiles:
    inter = [n for n in files if _table_named(n, "interactions")]
    items = [n for n in files if _table_named(n, "items")]
    return DatasetFiles(
        format="tables",
        items=one_file(folder, items, "items table (items.*)"),
        interactions=one_file(folder, inter, "interactions table (interactions.*)"),
    )


def _load(files: DatasetFiles, options: LoadOptions) -> Dataset:
    return load_tables(
        files.interactions,
        files.items,
        columns=options.columns,
        images=files.images,
        videos=files.videos,
        on_unknown=options.on_unknown,
        name=options.name,
    )


FORMAT = register_format(
    DatasetFormat(
        name="tables",
        label="generic tables (interactions.{csv,tsv,parquet} + items.{csv,tsv,parquet})",
        claims=_claims,
        find=_find,
        load=_load,
        names_file=lambda name: (
            _table_named(name, "interactions") or name.endswith((".parquet", ".parquet.gz"))
        ),
        file_hint="an interactions table",
        part_names=("items table", "interactions table"),
        columns=True,
        priority=1,  # items.tsv beside interactions.* is a table, not an IISAN items file
    )
)
