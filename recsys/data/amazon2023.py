"""Amazon Reviews 2023 (McAuley lab), as released: one reviews file and one meta file per
category, JSON lines, gzipped or not (`Industrial_and_Scientific.jsonl.gz` and
`meta_Industrial_and_Scientific.jsonl.gz`).

* reviews: `user_id`, `parent_asin` (the item), `timestamp` (Unix ms), plus `rating`,
  `text`, ... (unused); each user's reviews are ordered by time, equal times in file order;
* meta: `parent_asin`, `title`, and the text fields `main_category`, `store` (strings) and
  `features`, `description`, `categories` (lists of strings) and `details` (an object, kept
  as a list of "key: value" strings); `images` is a list of objects with `hi_res` /
  `large` / `thumb` URLs and a `variant` ("MAIN" first).

Image URLs are recorded in the catalogue (`image_urls`, the MAIN image's largest URL) and
never fetched: to use covers, download them yourself as `<parent_asin>.jpg` into a folder
(`images/` beside the files is found on its own) and point the loader at it.

Registered as the `amazon2023` dataset format: `<Category>.jsonl[.gz]` with
`meta_<Category>.jsonl[.gz]` (the meta file of the same category when there are several).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recsys.data._build import Events, folder_media, make_dataset, note_empty_titles
from recsys.data._read import (
    IMAGE_SUFFIXES,
    check_item_id,
    check_on_unknown,
    jsonl_records,
)
from recsys.data.formats import (
    DatasetFiles,
    DatasetFormat,
    LoadOptions,
    folder_if_exists,
    one_file,
    register_format,
)
from recsys.data.types import Catalogue, Dataset, FieldValue, TextField
from recsys.errors import DataFormatError

STRING_FIELDS = ("main_category", "store")
LIST_FIELDS = ("features", "description", "categories", "details")
TEXT_FIELDS = ("main_category", "store", "features", "description", "categories", "details")
URL_KEYS = ("hi_res", "large", "thumb")


def _required(record: dict[str, Any], key: str, path: Path, line: int) -> Any:
    if key not in record or record[key] is None:
        raise DataFormatError(path, f"missing key {key!r}", line)
    return record[key]


def _as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _as_list(value: Any) -> tuple[str, ...]:
    """A list field as strings; an object becomes "key: value" strings, a scalar one string."""
    if value is None:
        return ()
    if isinstance(value, dict):
        return tuple(f"{k}: {_as_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return tuple(t for t in (_as_text(v) for v in value) if t)
    text = _as_text(value)
    return (text,) if text else ()


def image_url(images: Any) -> str | None:
    """The largest URL of the MAIN image (else the first image), or None."""
    if not isinstance(images, list):
        return None
    entries = [e for e in images if isinstance(e, dict)]
    main = [e for e in entries if e.get("variant") == "MAIN"] or entries
    for entry in main[:1]:
        for key in URL_KEYS:
            if isinstance(entry.get(key), str) and entry[key].strip():
                return entry[key].strip()
    return None


def read_meta(path: Path, images: Path | None, notes: list[str]) -> Catalogue:
    """The catalogue of a meta file, in file order."""
    ids: list[str] = []
    first: dict[str, int] = {}
    titles: list[str] = []
    urls: list[str | None] = []
    fields: dict[str, list[FieldValue]] = {name: [] for name in TEXT_FIELDS}
    for line, record in jsonl_records(path):
        item = check_item_id(str(_required(record, "parent_asin", path, line)), path, line)
        if item in first:
            raise DataFormatError(
                path, f"duplicate parent_asin {item!r} (first on line {first[item]})", line
            )
        first[item] = line
        ids.append(item)
        titles.append(_as_text(record.get("title")))
        urls.append(image_url(record.get("images")))
        for name in STRING_FIELDS:
            fields[name].append(_as_text(record.get(name)))
        for name in LIST_FIELDS:
            fields[name].append(_as_list(record.get(name)))
    if not ids:
        raise DataFormatError(path, "no items defined")
    note_empty_titles(titles, notes)
    return Catalogue(
        item_ids=tuple(ids),
        titles=tuple(titles),
        image_paths=tuple(folder_media(images, IMAGE_SUFFIXES, ids, notes)),
        video_paths=(None,) * len(ids),
        text_fields=tuple(TextField(n, tuple(fields[n])) for n in TEXT_FIELDS),
        image_urls=tuple(urls),
    )


def _timestamp_ms(value: Any, path: Path, line: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise DataFormatError(path, f"timestamp {value!r} is not a number of milliseconds", line)
    return float(value) / 1000.0


def read_reviews(
    path: Path, known: dict[str, int], on_unknown: str, notes: list[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[float, ...]], int]:
    """(user -> items by time, user -> times in seconds, dropped unknown reviews)."""
    events = Events(path, known, on_unknown)
    for line, record in jsonl_records(path):
        user = check_item_id(str(_required(record, "user_id", path, line)), path, line, "user id")
        item = check_item_id(str(_required(record, "parent_asin", path, line)), path, line)
        events.add(
            user, item, _timestamp_ms(_required(record, "timestamp", path, line), path, line), line
        )
    return events.finish(notes)


def load_amazon2023(
    reviews: str | Path,
    meta: str | Path,
    *,
    images: str | Path | None = None,
    on_unknown: str = "error",
    name: str | None = None,
) -> Dataset:
    """Load one Amazon Reviews 2023 category from its reviews and meta JSONL files.

    Args:
        reviews: `<Category>.jsonl` or `.jsonl.gz`.
        meta: `meta_<Category>.jsonl` or `.jsonl.gz`.
        images: optional folder of downloaded covers `<parent_asin>.jpg|.jpeg|.png`.
        on_unknown: "error" (default) or "drop" for reviews of items the meta file lacks.
        name: dataset name; defaults to the reviews file's category.

    Raises:
        DataFormatError: a malformed file (names file and line).
        UnknownItemError: a review of an undefined item with on_unknown="error".
    """
    check_on_unknown(on_unknown)
    reviews_path, meta_path = Path(reviews), Path(meta)
    notes: list[str] = []
    catalogue = read_meta(meta_path, Path(images) if images else None, notes)
    sequences, stamps, dropped = read_reviews(reviews_path, catalogue._index, on_unknown, notes)
    category = reviews_path.name.split(".")[0]
    source = reviews_path.resolve().parent
    return make_dataset(
        name or category, catalogue, sequences, source, dropped, notes, timestamps=stamps
    )


_JSONL_ENDINGS = (".jsonl", ".jsonl.gz")


def _claims(name: str, files: list[str]) -> bool:
    return name.lower().endswith(_JSONL_ENDINGS)


def _category(name: str) -> str:
    low = name.lower()
    for end in _JSONL_ENDINGS[::-1]:
        if low.endswith(end):
            return name[: -len(end)]
    return name


def _find(folder: Path, files: list[str]) -> DatasetFiles:
    jsonl = [n for n in files if n.lower().endswith(_JSONL_ENDINGS)]
    meta = [n for n in jsonl if n.lower().startswith("meta_")]
    reviews = [n for n in jsonl if n not in meta]
    review = one_file(folder, reviews, "reviews (<Category>.jsonl[.gz])")
    if review is not None:  # the meta file of the same category, when several are there
        paired = [n for n in meta if _category(n)[len("meta_") :] == _category(review.name)]
        meta = paired or meta
    return DatasetFiles(
        format="amazon2023",
        items=one_file(folder, meta, "meta (meta_<Category>.jsonl[.gz])"),
        interactions=review,
        images=folder_if_exists(folder, "images"),
    )


def _load(files: DatasetFiles, options: LoadOptions) -> Dataset:
    return load_amazon2023(
        files.interactions,
        files.items,
        images=files.images,
        on_unknown=options.on_unknown,
        name=options.name,
    )


FORMAT = register_format(
    DatasetFormat(
        name="amazon2023",
        label="Amazon Reviews 2023 (<Category>.jsonl[.gz] + meta_<Category>.jsonl[.gz])",
        claims=_claims,
        find=_find,
        load=_load,
        names_file=lambda name: name.endswith(_JSONL_ENDINGS),
        file_hint="a reviews *.jsonl[.gz]",
        part_names=("meta", "reviews"),
        videos=False,
    )
)
