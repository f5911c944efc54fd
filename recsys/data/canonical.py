"""The toolkit's canonical layout: what `toolkit data convert SRC DST` writes.

`DST/items.parquet` holds `item_id`, `title`, every extra text field (strings, or lists of
strings for list fields), `image_path` / `video_path` (relative to DST; the media are
copied into `DST/images/` and `DST/videos/`) and `image_url` when the source recorded
cover URLs. `DST/interactions.parquet` holds `user_id`, `item_id` and `timestamp`
(float seconds since the epoch; left out when the source has no times), one row per
interaction, user by user, oldest first. `DST/conversion.json` says what was converted.

It is the generic `tables` format (`recsys.data.tables`), so `load_dataset(DST)` reads it
back as the same dataset (same content hash, sequences, times, fields and media bytes),
and Parquet reads much faster than re-parsing JSON lines or CSV.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.paths import is_safe_name
from plumbing.io import atomic_write_json, atomic_write_with
from recsys.data.tables import IMAGE_URL_COLUMN
from recsys.data.types import Catalogue, Dataset, TextField

ITEMS_FILE = "items.parquet"
INTERACTIONS_FILE = "interactions.parquet"
MANIFEST_FILE = "conversion.json"


@dataclass(frozen=True)
class Converted:
    """What `write_canonical` wrote.

    Attributes:
        folder: the destination.
        items: items written.
        interactions: interaction rows written.
        media: media files copied.
        notes: what could not be carried over (users without interactions).
    """

    folder: Path
    items: int
    interactions: int
    media: int
    notes: tuple[str, ...]


def _media_name(item_id: str, source: Path) -> str:
    """A file name for the item's media: its id when that is a safe name, else a hash."""
    stem = item_id if is_safe_name(item_id) else hashlib.sha256(item_id.encode()).hexdigest()[:24]
    return stem + source.suffix.lower()


def _copy_media(
    paths: tuple[Path | None, ...], ids: tuple[str, ...], dst: Path, folder: str
) -> list[str | None]:
    """Copy each item's media into `dst/folder/`; returns the relative paths (None = none)."""
    out: list[str | None] = []
    for item_id, source in zip(ids, paths, strict=True):
        if source is None:
            out.append(None)
            continue
        relative = f"{folder}/{_media_name(item_id, source)}"

        def copy(tmp: Path, source: Path = source) -> None:
            shutil.copyfile(source, tmp)

        atomic_write_with(dst / relative, copy)
        out.append(relative)
    return out


def _field_array(text_field: TextField) -> Any:
    import pyarrow as pa

    values = text_field.values
    if any(isinstance(v, tuple) for v in values):
        lists = [list(v) if isinstance(v, tuple) else ([v] if v else []) for v in values]
        return pa.array(lists, type=pa.list_(pa.string()))
    return pa.array(list(values), type=pa.string())


def items_table(catalogue: Catalogue, dst: Path) -> tuple[Any, int]:
    """The items table (media copied under `dst`) and the number of media files copied."""
    import pyarrow as pa

    columns: dict[str, Any] = {
        "item_id": pa.array(list(catalogue.item_ids), type=pa.string()),
        "title": pa.array(list(catalogue.titles), type=pa.string()),
    }
    for text_field in catalogue.text_fields:
        columns[text_field.name] = _field_array(text_field)
    copied = 0
    for name, paths, folder in (
        ("image_path", catalogue.image_paths, "images"),
        ("video_path", catalogue.video_paths, "videos"),
    ):
        if any(p is not None for p in paths):
            relative = _copy_media(paths, catalogue.item_ids, dst, folder)
            copied += sum(r is not None for r in relative)
            columns[name] = pa.array(relative, type=pa.string())
    if catalogue.image_urls:
        columns[IMAGE_URL_COLUMN] = pa.array(list(catalogue.image_urls), type=pa.string())
    return pa.table(columns), copied


def interactions_table(dataset: Dataset) -> Any:
    """One row per interaction, user by user, oldest first (with times when there are)."""
    import pyarrow as pa

    users = [u for u, seq in dataset.sequences.items() for _ in seq]
    items = [i for seq in dataset.sequences.values() for i in seq]
    columns: dict[str, Any] = {
        "user_id": pa.array(users, type=pa.string()),
        "item_id": pa.array(items, type=pa.string()),
    }
    if dataset.timestamps is not None:
        times = [t for u in dataset.sequences for t in dataset.timestamps[u]]
        columns["timestamp"] = pa.array(times, type=pa.float64())
    return pa.table(columns)


def write_canonical(dataset: Dataset, dst: str | Path) -> Converted:
    """Write `dataset` into folder `dst` in the canonical layout (module docstring).

    Every file is written atomically; media are copied (never linked), so DST stands alone.
    """
    import pyarrow.parquet as pq

    folder = Path(dst)
    items, copied = items_table(dataset.catalogue, folder)
    interactions = interactions_table(dataset)
    atomic_write_with(folder / ITEMS_FILE, lambda tmp: pq.write_table(items, tmp))
    atomic_write_with(folder / INTERACTIONS_FILE, lambda tmp: pq.write_table(interactions, tmp))
    empty = sum(not seq for seq in dataset.sequences.values())
    notes = (f"{empty} users without interactions are not carried over",) if empty else ()
    atomic_write_json(
        folder / MANIFEST_FILE,
        {
            "source": str(dataset.source),
            "name": dataset.name,
            "content_hash": dataset.content_hash,
            "items": items.num_rows,
            "interactions": interactions.num_rows,
            "media_files": copied,
            "load_notes": list(dataset.report.notes),
            "kcore": dataset.report.kcore,
            "notes": list(notes),
        },
    )
    return Converted(folder, items.num_rows, interactions.num_rows, copied, notes)
