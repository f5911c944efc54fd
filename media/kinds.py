"""What a media file is: the suffixes the toolkit looks for, and the kind its content shows.

A file's name can lie (a JPEG saved as `.mp4` decodes as a one-frame "video"), so the
loaders decide from the first bytes. The table covers the containers the toolkit meets;
Pillow and PyAV each recognise only their own formats and say nothing about the other
kind, which is why the signatures are listed here (libmagic would need a system library).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from media.errors import MediaError
from media.paths import open_regular

# Pillow reads every one of these; covers in any of them are found by the dataset loaders.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")

Kind = Literal["image", "video"]
_HEAD = 32
_HEIF_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1")
_BMP_HEADERS = (12, 40, 52, 56, 64, 108, 124)  # the DIB header sizes a real BMP carries


def _riff(head: bytes) -> tuple[Kind, str] | None:
    form = head[8:12]
    if form == b"WEBP":
        return "image", "WebP image data"
    if form == b"AVI ":
        return "video", "AVI video data"
    return None


def _iso_media(head: bytes) -> tuple[Kind, str]:
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        return "image", "HEIF/AVIF image data"
    if brand == b"qt  ":
        return "video", "QuickTime video data"
    return "video", "ISO media (MP4) video data"


def kind_from_bytes(head: bytes) -> tuple[Kind, str] | None:
    """(kind, description) of a file from its first bytes, or None when not recognised."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "JPEG image data"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "PNG image data"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image", "GIF image data"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image", "TIFF image data"
    if head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in _BMP_HEADERS:
        return "image", "BMP image data"
    if head.startswith(b"RIFF"):
        return _riff(head)
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video", "Matroska/WebM video data"
    if head.startswith(b"FLV\x01"):
        return "video", "Flash video data"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "video", "MPEG video data"
    return None


def kind_of_file(path: str | Path) -> tuple[Kind, str] | None:
    """(kind, description) of a regular file from its content; None when not recognised.

    Raises:
        OSError: unreadable, or not a regular file (never opened blocking).
    """
    with open_regular(path) as handle:
        return kind_from_bytes(handle.read(_HEAD))


def check_media_file(path: Path, kind: Kind) -> None:
    """Refuse, before any decoder opens it, a file that cannot be a `kind` file.

    Raises:
        MediaError: missing, not a regular file (a directory, pipe, socket or device: a
            decoder would block on a pipe for ever), empty, or its content is the other kind
            ("not a video: JPEG image data").
    """
    if not path.exists():
        raise MediaError(path, "file not found")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file")
    try:
        found = kind_of_file(path)
    except OSError as exc:
        raise MediaError(path, f"unreadable file: {exc.strerror or exc}") from None
    if found is not None and found[0] != kind:
        raise MediaError(path, f"not {'an image' if kind == 'image' else 'a video'}: {found[1]}")
