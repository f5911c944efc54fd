"""The IISAN / Amazon TSV format.

* items file: `item_id<TAB>title` per line, no header, titles with HTML entities;
* users file: `user_id<TAB>item item item ...` (space-separated, oldest first);
* optional image folder with `<item_id>.<ext>`, any format Pillow reads (jpg, png, webp,
  gif, bmp, tiff; the folder `images/` beside the items file when detected from a folder).

Blank lines are skipped; every other line must have exactly two tab-separated fields. A
header row (`item_id<TAB>title`, `user_id<TAB>items`, ...) as the first line is detected,
skipped and noted. A user line without items (`u7<TAB>`) keeps the user with an empty
sequence, which the split drops and counts like any other too-short user.

Registered as the `amazon` dataset format: a folder with exactly one `*items*.tsv` and one
`*users*.tsv` (for example `Scientific_items.tsv` + `am_Industrial_and_Scientific_users.tsv`,
or `items.tsv` + `users.tsv`); covers in `images/`, or in the only sub-folder whose name
contains "image" (IISAN's `am_image_is/`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from recsys.data._build import (
    ItemRows,
    UnknownItems,
    build_catalogue,
    finish_sequences,
    make_dataset,
)
from recsys.data._read import check_item_id, check_on_unknown, clean_title, read_text, text_lines
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


def _split_two(path: Path, number: int, line: str, what: str) -> tuple[str, str]:
    fields = line.split("\t")
    if len(fields) != 2:
        raise DataFormatError(
            path,
            f"expected 2 tab-separated fields ({what}), found {len(fields)}",
            number,
        )
    return fields[0], fields[1]


# First fields of a header row: a data row never has an id spelled like a column name.
ITEM_HEADERS = ("item_id", "item", "itemid", "item id", "id", "asin", "parent_asin")
USER_HEADERS = ("user_id", "user", "userid", "user id", "reviewer_id", "reviewerid")


def _lines(path: Path, headers: tuple[str, ...], notes: list[str]) -> Iterator[tuple[int, str]]:
    """Non-blank lines; a first line whose first field is a column name is skipped (noted)."""
    first = True
    for number, line in text_lines(read_text(path)):
        if not line.strip():
            continue
        if first and line.split("\t")[0].strip().lower() in headers:
            notes.append(f"{path.name}: skipped the header row on line {number} ({line[:60]!r})")
            first = False
            continue
        first = False
        yield number, line


def read_amazon_items(path: Path, notes: list[str] | None = None) -> ItemRows:
    """Parse an items file into rows (file order), unescaping titles."""
    rows = ItemRows(path)
    for number, line in _lines(path, ITEM_HEADERS, notes if notes is not None else []):
        raw_id, raw_title = _split_two(path, number, line, "item_id, title")
        item_id = check_item_id(raw_id, path, number)
        rows.add(item_id, clean_title(raw_title, path, number, item_id), number)
    if not rows.ids:
        raise DataFormatError(path, "no items defined")
    return rows


def read_amazon_users(
    path: Path, known: dict[str, int], on_unknown: str, notes: list[str]
) -> tuple[dict[str, tuple[str, ...]], int]:
    """Parse a users file; returns (user -> items oldest first, dropped interactions)."""
    policy = UnknownItems(path, known, on_unknown)
    sequences: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    empty: list[str] = []
    for number, line in _lines(path, USER_HEADERS, notes):
        raw_user, raw_items = _split_two(path, number, line, "user_id, items")
        user = check_item_id(raw_user, path, number, "user id")
        if user in first_line:
            raise DataFormatError(
                path, f"duplicate user id {user!r} (first on line {first_line[user]})", number
            )
        first_line[user] = number
        items = raw_items.split()
        if not items:
            empty.append(user)
        for item in items:
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in item):
                raise DataFormatError(path, f"item id {item!r} contains control characters", number)
        sequences[user] = [i for i in items if policy.keep(i, user, number)]
    if not sequences:
        raise DataFormatError(path, "no users defined")
    blank = set(empty)
    if len(blank) == len(sequences):
        user = empty[0]
        raise DataFormatError(
            path, f"user {user!r} has no interactions, and no other user has any", first_line[user]
        )
    kept = finish_sequences({u: s for u, s in sequences.items() if u not in blank}, path, notes)
    if blank:
        # Back in file order with no items: the split drops and counts them as too short.
        notes.append(f"{len(blank)} users have no items (the split drops them as too short)")
        kept = {u: kept.get(u, ()) for u in sequences if u in kept or u in blank}
    return kept, policy.dropped


def load_amazon(
    items: str | Path,
    users: str | Path,
    *,
    images: str | Path | None = None,
    on_unknown: str = "error",
    name: str | None = None,
) -> Dataset:
    """Load an IISAN / Amazon dataset from explicit files.

    Args:
        items: the `item_id<TAB>title` file.
        users: the `user_id<TAB>items` file.
        images: optional folder of `<item_id>.<ext>` covers (see `media.kinds.IMAGE_SUFFIXES`).
        on_unknown: "error" (default) or "drop" for interactions with undefined items.
        name: dataset name; defaults to the items file's folder name.

    Raises:
        DataFormatError: a malformed file (names file and 1-based line).
        UnknownItemError: an undefined item with on_unknown="error".
    """
    check_on_unknown(on_unknown)
    items_path, users_path = Path(items), Path(users)
    notes: list[str] = []
    rows = read_amazon_items(items_path, notes)
    sequences, dropped = read_amazon_users(users_path, rows.lines, on_unknown, notes)
    catalogue = build_catalogue(rows, Path(images) if images else None, None, notes)
    source = items_path.resolve().parent
    return make_dataset(name or source.name, catalogue, sequences, source, dropped, notes)


def _claims(name: str, files: list[str]) -> bool:
    low = name.lower()
    return low.endswith(".tsv") and ("items" in low or "users" in low)


def _image_folder_like(folder: Path) -> Path | None:
    """The one sub-folder whose name contains "image" (IISAN's `am_image_is/`), if unique."""
    found = sorted(p for p in folder.iterdir() if p.is_dir() and "image" in p.name.lower())
    return found[0] if len(found) == 1 else None


def _find(folder: Path, files: list[str]) -> DatasetFiles:
    lower = {n: n.lower() for n in files}
    items = [n for n in files if lower[n].endswith(".tsv") and "items" in lower[n]]
    users = [n for n in files if lower[n].endswith(".tsv") and "users" in lower[n]]
    return DatasetFiles(
        format="amazon",
        items=one_file(folder, items, "items (*items*.tsv)"),
        interactions=one_file(folder, users, "users (*users*.tsv)"),
        images=folder_if_exists(folder, "images") or _image_folder_like(folder),
    )


def _load(files: DatasetFiles, options: LoadOptions) -> Dataset:
    return load_amazon(
        files.items,
        files.interactions,
        images=files.images,
        on_unknown=options.on_unknown,
        name=options.name,
    )


FORMAT = register_format(
    DatasetFormat(
        name="amazon",
        label="IISAN/Amazon TSV (*items*.tsv + *users*.tsv)",
        claims=_claims,
        find=_find,
        load=_load,
        names_file=lambda name: name.endswith(".tsv"),
        file_hint="a users *.tsv",
        part_names=("items", "users"),
        videos=False,
    )
)
