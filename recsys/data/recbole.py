"""RecBole atomic files, unchanged: `<name>.inter` and, optionally, `<name>.item`.

Both are tab-separated with a typed header (`user_id:token<TAB>item_id:token<TAB>
timestamp:float`); the types are `token`, `token_seq`, `float` and `float_seq`. Columns are
matched by the name before the colon, through the same `TableColumns` as generic tables
(defaults `user_id`, `item_id`, `timestamp`, `title`; RecBole's own `movie_title` is found
when it is the only title-like column). Text fields are the item file's `token` and
`token_seq` columns (`token_seq` values are space-separated tokens, kept as one string);
`float` columns are not text. Without an item file the catalogue is the items the
interactions name, in first-seen order, with empty titles (a note says so).

Declared types are honoured where they change the meaning: the user and item id columns
must be `token` (a `float` id would be read as text that merely looks numeric) and the
timestamp column `float`; anything else is an error naming the file, line 1 and the column.
A header field without a type is taken as given. A row with too few or too many fields is
an error naming its line.

Registered as the `recbole` dataset format: `<name>.inter`, with `<name>.item` when there is
one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from recsys.config import TableColumns
from recsys.data._build import make_dataset
from recsys.data._read import check_on_unknown, read_text, text_lines
from recsys.data.formats import (
    DatasetFiles,
    DatasetFormat,
    LoadOptions,
    one_file,
    register_format,
)
from recsys.data.tables import (
    id_values,
    read_interactions_table,
    read_items_table,
    read_table,
    require_column,
    title_column,
)
from recsys.data.types import Catalogue, Dataset
from recsys.errors import DataFormatError

FIELD_TYPES = ("token", "token_seq", "float", "float_seq")
TEXT_TYPES = ("token", "token_seq")


def _short_row(path: Path) -> DataFormatError | None:
    """The first line whose field count differs from the header's, as an error; None if none.

    pyarrow reports a ragged row by its content only; this finds its line (blank lines,
    which pyarrow skips, are counted but not checked).
    """
    try:
        lines = text_lines(read_text(path))
        width = len(next(lines)[1].split("\t"))
    except (DataFormatError, StopIteration):
        return None
    for number, line in lines:
        got = len(line.split("\t")) if line else width
        if got != width:
            few = "too few" if got < width else "too many"
            return DataFormatError(path, f"{few} fields: {got}, the header has {width}", number)
    return None


def read_atomic(path: Path) -> tuple[Any, dict[str, str]]:
    """The file as a table with plain column names, and each column's RecBole type."""
    try:
        table = read_table(path, tsv=True)
    except DataFormatError as exc:
        raise (_short_row(path) or exc) from None
    names, types = [], {}
    for header in table.column_names:
        name, colon, kind = header.partition(":")
        if colon and kind not in FIELD_TYPES:
            valid = ", ".join(FIELD_TYPES)
            raise DataFormatError(
                path, f"header field {header!r}: unknown type {kind!r}; valid: {valid}", 1
            )
        names.append(name)
        types[name] = kind if colon else ""
    return table.rename_columns(names), types


def check_types(types: dict[str, str], path: Path, expected: dict[str, tuple[str, str]]) -> None:
    """Each column of `expected` ({name: (role, type)}) that the file declares has the type
    asked for, else an error naming the file, line 1 and the column; untyped ones pass."""
    for name, (role, want) in expected.items():
        kind = types.get(name, "")
        if kind and kind != want:
            raise DataFormatError(
                path, f"column {name!r} is declared {kind!r}; the {role} must be {want!r}", 1
            )


def _item_catalogue(
    item_path: Path | None, inter: Any, inter_path: Path, columns: TableColumns, notes: list[str]
) -> Catalogue:
    if item_path is None:
        ids = list(
            dict.fromkeys(
                id_values(
                    require_column(inter, columns.item, inter_path, "item"), inter_path, "item id"
                )
            )
        )
        notes.append(f"no .item file beside {inter_path.name}: items have no title or text")
        n = len(ids)
        return Catalogue(tuple(ids), ("",) * n, (None,) * n, (None,) * n)
    table, types = read_atomic(item_path)
    check_types(types, item_path, {columns.item: ("item id", "token")})
    types = {name: kind or "token" for name, kind in types.items()}
    if columns.text is None:
        skip = {columns.item, title_column(table, columns.title)}
        text = tuple(n for n in table.column_names if types[n] in TEXT_TYPES and n not in skip)
        columns = dataclasses.replace(columns, text=text)
    return read_items_table(table, item_path, columns, None, None, notes)


def load_recbole(
    inter: str | Path,
    item: str | Path | None = None,
    *,
    columns: TableColumns = TableColumns(),
    on_unknown: str = "error",
    name: str | None = None,
) -> Dataset:
    """Load a RecBole dataset from its atomic files.

    Args:
        inter: the `<name>.inter` file.
        item: the `<name>.item` file, if any.
        columns: column names (the part before `:type`).
        on_unknown: "error" (default) or "drop" for interactions with items the item file
            lacks (ignored without an item file).
        name: dataset name; defaults to `<name>` of the inter file.

    Raises:
        DataFormatError: a malformed file, a missing column (named), a bad cell (names the row).
        UnknownItemError: an undefined item with on_unknown="error".
    """
    check_on_unknown(on_unknown)
    columns.check()
    inter_path = Path(inter)
    item_path = Path(item) if item is not None else None
    notes: list[str] = []
    table, types = read_atomic(inter_path)
    expected = {
        columns.user: ("user id", "token"),
        columns.item: ("item id", "token"),
        columns.timestamp: ("timestamp", "float"),
    }
    check_types(types, inter_path, expected)
    catalogue = _item_catalogue(item_path, table, inter_path, columns, notes)
    sequences, stamps, dropped = read_interactions_table(
        table, inter_path, columns, catalogue._index, on_unknown, notes
    )
    source = inter_path.resolve().parent
    return make_dataset(
        name or inter_path.stem, catalogue, sequences, source, dropped, notes, timestamps=stamps
    )


def _claims(name: str, files: list[str]) -> bool:
    return name.lower().endswith((".inter", ".item"))


def _find(folder: Path, files: list[str]) -> DatasetFiles:
    inter = one_file(folder, [n for n in files if n.lower().endswith(".inter")], "RecBole .inter")
    items = [n for n in files if n.lower().endswith(".item")]
    if inter is not None:
        items = [n for n in items if Path(n).stem == inter.stem] or items
    return DatasetFiles(
        format="recbole", items=one_file(folder, items, "RecBole .item"), interactions=inter
    )


def _load(files: DatasetFiles, options: LoadOptions) -> Dataset:
    return load_recbole(
        files.interactions,
        files.items,
        columns=options.columns,
        on_unknown=options.on_unknown,
        name=options.name,
    )


FORMAT = register_format(
    DatasetFormat(
        name="recbole",
        label="RecBole atomic files (<name>.inter + <name>.item)",
        claims=_claims,
        find=_find,
        load=_load,
        names_file=lambda name: name.endswith((".inter", ".item")),
        file_hint="a RecBole *.inter",
        part_names=(".item", ".inter"),
        items_optional=True,
        images=False,
        videos=False,
        columns=True,
    )
)
