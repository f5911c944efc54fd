"""What `caption_items` captions: media items (an item id, a file, a kind), the media
folders they are listed from, and the media hash the caption store keys them by."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from captioning.base import CaptioningError
from media.hashing import media_sha256
from media.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES

NO_MEDIA = "none"  # media_sha256 of an item with no path or a missing/unreadable file


@dataclass(frozen=True)
class MediaItem:
    """One thing to caption.

    Attributes:
        item_id: the catalogue's item id.
        path: the media file (None when the item has none: recorded as an error).
        kind: "image" or "video".
    """

    item_id: str
    path: Path | None
    kind: Literal["image", "video"]


def list_media(folder: str | Path, kind: Literal["image", "video"]) -> list[MediaItem]:
    """Media entries directly in `folder`, item id = file stem, sorted by id.

    Every entry with a media suffix but sub-folders is listed, so one that is no regular
    file (a pipe, a socket, a device, a dangling link) becomes an error record rather than
    vanishing without a word; nothing is opened here.

    Raises:
        CaptioningError: missing folder, or two files with the same stem.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CaptioningError(f"{root}: not a folder")
    suffixes = IMAGE_SUFFIXES if kind == "image" else VIDEO_SUFFIXES
    items: dict[str, MediaItem] = {}
    for path in sorted(root.iterdir()):
        if path.suffix.lower() in suffixes and not path.is_dir():
            if path.stem in items:
                raise CaptioningError(f"{root}: two {kind}s for item {path.stem!r}")
            items[path.stem] = MediaItem(path.stem, path, kind)
    return [items[k] for k in sorted(items)]


def media_sha(path: Path | None) -> str:
    """The caption store's media hash of a file: its sha256 (`media.hashing.media_sha256`,
    memoised), or NO_MEDIA for no path or a file that is not a readable regular file (the
    decode step then records why)."""
    return (media_sha256(path) if path is not None else None) or NO_MEDIA
