"""Turn parsed rows into a `Dataset`: media look-up, unknown-item policy, the load report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recsys.data._read import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaFolder
from recsys.data.types import Catalogue, Dataset, LoadReport
from recsys.errors import DataFormatError, UnknownItemError


@dataclass
class ItemRows:
    """Items as parsed, in file order; `lines` remembers where each id was defined."""

    path: Path
    ids: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)

    def add(self, item_id: str, title: str, line: int) -> None:
        """Append an item; a second definition of the same id is an error."""
        first = self.lines.get(item_id)
        if first is not None:
            raise DataFormatError(
                self.path, f"duplicate item id {item_id!r} (first defined on line {first})", line
            )
        self.lines[item_id] = line
        self.ids.append(item_id)
        self.titles.append(title)


def build_catalogue(
    rows: ItemRows, images: Path | None, videos: Path | None, notes: list[str]
) -> Catalogue:
    """A catalogue in file order with each item's media found in `images` / `videos`."""
    image_folder = MediaFolder(images, IMAGE_SUFFIXES)
    video_folder = MediaFolder(videos, VIDEO_SUFFIXES)
    image_paths = tuple(image_folder.find(i) for i in rows.ids)
    video_paths = tuple(video_folder.find(i) for i in rows.ids)
    refused = max(image_folder.refused, video_folder.refused)
    if refused:
        notes.append(
            f"{refused} item ids are not plain file names (or their files point outside the "
            "media folder); those items have no media"
        )
    return Catalogue(
        item_ids=tuple(rows.ids),
        titles=tuple(rows.titles),
        image_paths=image_paths,
        video_paths=video_paths,
    )


class UnknownItems:
    """The unknown-item policy, applied while the interactions file is parsed.

    Args:
        path: the interactions file (for error messages).
        known: the catalogue's ids (any container with fast membership).
        on_unknown: "error" raises UnknownItemError at the offending line; "drop" removes
            the interaction and counts it in `dropped`.
    """

    def __init__(self, path: Path, known: dict[str, int], on_unknown: str) -> None:
        self.path = path
        self.known = known
        self.on_unknown = on_unknown
        self.dropped = 0

    def keep(self, item_id: str, user: str, line: int) -> bool:
        """True when the interaction stays; raises or counts it otherwise."""
        if item_id in self.known:
            return True
        if self.on_unknown == "error":
            raise UnknownItemError(
                self.path,
                f"user {user!r} references item {item_id!r}, which the items file does not "
                "define (on_unknown='drop' / --drop-unknown drops such interactions)",
                line,
            )
        self.dropped += 1
        return False


def finish_sequences(
    sequences: dict[str, list[str]], path: Path, notes: list[str]
) -> dict[str, tuple[str, ...]]:
    """Freeze sequences; users left empty by dropped items are removed and noted."""
    out = {user: tuple(items) for user, items in sequences.items() if items}
    emptied = len(sequences) - len(out)
    if emptied:
        notes.append(f"{emptied} users had only unknown items and were dropped")
    if not out:
        raise DataFormatError(path, "no users with interactions")
    return out


def make_dataset(
    name: str,
    catalogue: Catalogue,
    sequences: dict[str, tuple[str, ...]],
    source: Path,
    dropped: int,
    notes: list[str],
) -> Dataset:
    """Assemble the Dataset with its LoadReport."""
    if dropped:
        notes.insert(0, f"dropped {dropped} interactions with unknown items")
    return Dataset(
        name=name,
        catalogue=catalogue,
        sequences=sequences,
        source=source,
        report=LoadReport(dropped_unknown=dropped, notes=tuple(notes)),
    )
