"""Turn parsed rows into a `Dataset`: media look-up, unknown-item policy, the load report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def _note_unresolved(media: MediaFolder, notes: list[str]) -> None:
    """One note for the items whose media file cannot be resolved (a symlink loop)."""
    if media.unresolved:
        shown = ", ".join(repr(i) for i in media.unresolved[:5])
        more = f" and {len(media.unresolved) - 5} more" if len(media.unresolved) > 5 else ""
        notes.append(
            f"{len(media.unresolved)} media files in {media.folder} cannot be resolved "
            f"(a symlink loop?): items {shown}{more} have no media there"
        )


def build_catalogue(
    rows: ItemRows, images: Path | None, videos: Path | None, notes: list[str]
) -> Catalogue:
    """A catalogue in file order with each item's media found in `images` / `videos`."""
    image_folder = MediaFolder(images, IMAGE_SUFFIXES)
    video_folder = MediaFolder(videos, VIDEO_SUFFIXES)
    image_paths = tuple(image_folder.find(i) for i in rows.ids)
    video_paths = tuple(video_folder.find(i) for i in rows.ids)
    refused = max(image_folder.refused, video_folder.refused)
    _note_unresolved(image_folder, notes)
    _note_unresolved(video_folder, notes)
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


def folder_media(
    folder: Path | None, suffixes: tuple[str, ...], ids: Sequence[str], notes: list[str]
) -> list[Path | None]:
    """Each item's file in `folder` by item id (None without a folder); refusals are noted."""
    media = MediaFolder(folder, suffixes)
    found = [media.find(i) for i in ids]
    _note_unresolved(media, notes)
    if media.refused:
        notes.append(
            f"{media.refused} item ids are not plain file names (or their files point outside "
            f"{folder}); those items have no media there"
        )
    return found


class UnknownItems:
    """The unknown-item policy, applied while the interactions file is parsed.

    Args:
        path: the interactions file (for error messages).
        known: the catalogue's ids (any container with fast membership).
        on_unknown: "error" raises UnknownItemError at the offending line; "drop" removes
            the interaction and counts it in `dropped`.
        rows: positions passed to `keep` are table rows, not file lines.
    """

    def __init__(
        self, path: Path, known: dict[str, int], on_unknown: str, *, rows: bool = False
    ) -> None:
        self.path = path
        self.known = known
        self.on_unknown = on_unknown
        self.rows = rows
        self.dropped = 0

    def keep(self, item_id: str, user: str, line: int) -> bool:
        """True when the interaction stays; raises or counts it otherwise."""
        if item_id in self.known:
            return True
        if self.on_unknown == "error":
            where = {"row": line} if self.rows else {"line": line}
            raise UnknownItemError(
                self.path,
                f"user {user!r} references item {item_id!r}, which the items file does not "
                "define (on_unknown='drop' / --drop-unknown drops such interactions)",
                **where,
            )
        self.dropped += 1
        return False


def finish_sequences(
    sequences: Mapping[str, Sequence[str]], path: Path, notes: list[str]
) -> dict[str, tuple[str, ...]]:
    """Freeze sequences; users left empty by dropped items are removed and noted."""
    out = {user: tuple(items) for user, items in sequences.items() if items}
    emptied = len(sequences) - len(out)
    if emptied:
        notes.append(f"{emptied} users had only unknown items and were dropped")
    if not out:
        raise DataFormatError(path, "no users with interactions")
    return out


class Events:
    """Timed interactions as parsed, in file order, with the unknown-item policy applied.

    Args:
        path: the interactions file (error messages).
        known: the catalogue's ids.
        on_unknown: "error" or "drop" (see UnknownItems).
        rows: positions are table rows, not file lines.
    """

    def __init__(
        self, path: Path, known: dict[str, int], on_unknown: str, *, rows: bool = False
    ) -> None:
        self.path = path
        self.policy = UnknownItems(path, known, on_unknown, rows=rows)
        self.all_users: dict[str, None] = {}  # every user named, first-seen order
        self.users: list[str] = []
        self.items: list[str] = []
        self.times: list[float] = []

    def add(self, user: str, item: str, seconds: float, where: int) -> None:
        """One interaction at line (or row) `where`; an unknown item raises or is dropped."""
        self.all_users.setdefault(user)
        if self.policy.keep(item, user, where):
            self.users.append(user)
            self.items.append(item)
            self.times.append(seconds)

    def finish(
        self, notes: list[str]
    ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[float, ...]], int]:
        """(user -> items by time, equal times in file order; user -> times; dropped)."""
        if not self.all_users:
            raise DataFormatError(self.path, "no interactions")
        times = np.asarray(self.times, dtype=np.float64)
        sequences, stamps = timed_sequences(
            self.users, self.items, times, list(self.all_users), self.path, notes
        )
        return sequences, stamps, self.policy.dropped


def note_empty_titles(titles: Sequence[str], notes: list[str]) -> None:
    """Formats whose items may lack a title (tables, Amazon 2023, RecBole) say how many do."""
    empty = sum(not t for t in titles)
    if empty:
        notes.append(f"{empty} items have an empty title")


def timed_sequences(
    users: Sequence[str],
    items: Sequence[str],
    times: np.ndarray,
    all_users: Sequence[str],
    path: Path,
    notes: list[str],
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[float, ...]]]:
    """Per-user sequences ordered by time, equal times in row order, with their times.

    Args:
        users, items: one entry per kept interaction, in file order.
        times: [T] float64 seconds since the epoch, parallel to `users`.
        all_users: every user the file names, first-seen order (users whose interactions
            were all dropped are noted and removed, as `finish_sequences` does).
        path: the interactions file (error messages).
        notes: the load notes, extended here.
    """
    code_of = {user: code for code, user in enumerate(all_users)}
    codes = np.fromiter((code_of[u] for u in users), dtype=np.int64, count=len(users))
    order = np.lexsort((times, codes))  # stable: equal (user, time) keep their row order
    codes, times = codes[order], times[order]
    ordered = [items[i] for i in order.tolist()]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), len(ordered)]
    stamps = times.tolist()
    heads = codes[starts].tolist() if ordered else []
    grouped = {
        code: (tuple(ordered[a:b]), tuple(stamps[a:b]))
        for code, a, b in zip(heads, starts[: len(heads)], stops[: len(heads)], strict=True)
    }
    duplicates = _count_duplicates(codes, times, ordered)
    if duplicates:
        notes.append(
            f"{duplicates} duplicate (user, item, timestamp) rows kept as repeat interactions"
        )
    none: tuple[tuple[str, ...], tuple[float, ...]] = ((), ())
    sequences = {u: grouped.get(c, none)[0] for c, u in enumerate(all_users)}
    kept = finish_sequences(sequences, path, notes)
    return kept, {u: grouped[code_of[u]][1] for u in kept}


def _count_duplicates(codes: np.ndarray, times: np.ndarray, items: list[str]) -> int:
    """Rows repeating an earlier row's (user, item, time), in sorted arrays."""
    same = np.flatnonzero((np.diff(codes) == 0) & (np.diff(times) == 0))  # row i+1 ties row i
    duplicates = 0
    run_start = -1
    seen: set[str] = set()
    for i in same.tolist():
        if i != run_start:  # a new run of equal (user, time) starts at row i
            seen = {items[i]}
        if items[i + 1] in seen:
            duplicates += 1
        seen.add(items[i + 1])
        run_start = i + 1
    return duplicates


def make_dataset(
    name: str,
    catalogue: Catalogue,
    sequences: dict[str, tuple[str, ...]],
    source: Path,
    dropped: int,
    notes: list[str],
    timestamps: dict[str, tuple[float, ...]] | None = None,
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
        timestamps=timestamps,
    )
