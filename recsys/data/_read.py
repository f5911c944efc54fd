"""Shared reading helpers for the loaders: strict UTF-8 text, CSV records with line numbers,
and media look-up by item id that can never leave its folder."""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from media import kinds
from media.paths import UnresolvablePathError, UnsafePathError, is_safe_name, safe_child
from recsys.errors import ConfigError, DataFormatError

ON_UNKNOWN_CHOICES = ("error", "drop")
# every format Pillow reads (media.kinds), in either case: a .webp cover is a cover too
IMAGE_SUFFIXES = (*kinds.IMAGE_SUFFIXES, *(s.upper() for s in kinds.IMAGE_SUFFIXES))
VIDEO_SUFFIXES = (".mp4", ".MP4")


def check_on_unknown(on_unknown: str) -> None:
    """Raise ConfigError unless `on_unknown` is one of ON_UNKNOWN_CHOICES."""
    if on_unknown not in ON_UNKNOWN_CHOICES:
        raise ConfigError(
            f"on_unknown={on_unknown!r} is not valid; choose one of {list(ON_UNKNOWN_CHOICES)}"
        )


def read_text(path: Path) -> str:
    """Read a whole file as strict UTF-8 (a leading BOM is dropped).

    Raises:
        DataFormatError: the file is missing, unreadable, or not UTF-8 (with the line of
            the first bad byte).
    """
    if not path.is_file():
        raise DataFormatError(path, "no such file" if not path.exists() else "not a regular file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataFormatError(
            path, f"bytes that are not UTF-8 ({raw[exc.start : exc.start + 1]!r})", line
        ) from None
    return text.removeprefix("\ufeff")


def jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (1-based line, object) for each non-blank line of a JSON-lines file, streamed.

    A gzip file (detected by its magic bytes, whatever its name) is read decompressed.

    Raises:
        DataFormatError: a missing file, a line that is not UTF-8 or not a JSON object, or
            a truncated / corrupt gzip stream (names the line reached).
    """
    if not path.is_file():
        raise DataFormatError(path, "no such file" if not path.exists() else "not a regular file")
    with open(path, "rb") as probe:
        zipped = probe.read(2) == b"\x1f\x8b"
    number = 0
    try:
        with gzip.open(path, "rb") if zipped else open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8").strip().removeprefix("\ufeff")
                except UnicodeDecodeError as exc:
                    bad = raw[exc.start : exc.start + 1]
                    raise DataFormatError(
                        path, f"bytes that are not UTF-8 ({bad!r})", number
                    ) from None
                if not text:
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise DataFormatError(path, f"not JSON: {exc.msg}", number) from None
                if not isinstance(record, dict):
                    raise DataFormatError(path, "expected a JSON object per line", number)
                yield number, record
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(path, f"corrupt or truncated gzip ({exc})", number + 1) from None


def text_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) with `\\r\\n` or `\\n` endings removed.

    Only `\\n` separates lines (str.splitlines would also split on form feeds and the
    like inside titles). A final empty line after the last newline is not yielded.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line.removesuffix("\r")


def csv_records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based first line, fields) for each CSV record; quoted fields may span lines.

    Raises:
        DataFormatError: the CSV itself is malformed (names the line).
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataFormatError(path, f"malformed CSV: {exc}", reader.line_num or start) from None
        yield start, row
        start = reader.line_num + 1


def parse_timestamp(raw: str, path: Path, line: int | None, row: int | None = None) -> float:
    """A finite number; anything else is an error naming the line (or table row)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        message = "missing timestamp" if raw is None or not str(raw).strip() else None
        raise DataFormatError(
            path, message or f"timestamp {raw!r} is not a number", line, row=row
        ) from None
    if not math.isfinite(value):
        raise DataFormatError(path, f"timestamp {raw!r} is not finite", line, row=row)
    return value


def clean_title(raw: str, path: Path, line: int, item_id: str) -> str:
    """Unescape HTML entities and trim; an empty result is an error naming the line."""
    title = html.unescape(raw).strip()
    if not title:
        raise DataFormatError(path, f"item {item_id!r} has an empty title", line)
    return title


def check_item_id(item_id: str, path: Path, line: int, what: str = "item id") -> str:
    """Trimmed id; empty ids and ids with whitespace or control characters are errors."""
    value = item_id.strip()
    if not value:
        raise DataFormatError(path, f"empty {what}", line)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise DataFormatError(
            path, f"{what} {value!r} contains whitespace or control characters", line
        )
    return value


class MediaFolder:
    """Files of one media folder, indexed once, looked up by item id.

    Item ids are data, not paths: an id that is not a plain file-name component (for
    example `../../x`) never matches a file, so such an item simply has no media; a file
    that resolves outside the folder (a symlink out) is treated the same way. Both are
    counted in `refused`, which the loader reports. A file that cannot be resolved at all
    (a symlink loop) is no media either, counted in `unresolved` with its ids.
    """

    def __init__(self, folder: Path | None, suffixes: tuple[str, ...]) -> None:
        self.folder = folder
        self.suffixes = suffixes
        self.refused = 0
        self.unresolved: list[str] = []
        self._names: frozenset[str] = frozenset()
        if folder is not None:
            if not folder.is_dir():
                raise DataFormatError(folder, "media folder does not exist or is not a folder")
            with os.scandir(folder) as entries:
                self._names = frozenset(e.name for e in entries)

    def find(self, item_id: str) -> Path | None:
        """The item's media file, or None when it has none (or its id is not a safe name)."""
        if self.folder is None:
            return None
        if not is_safe_name(item_id):
            self.refused += 1
            return None
        for suffix in self.suffixes:
            name = item_id + suffix
            if name in self._names:
                try:
                    return safe_child(self.folder, name)
                except UnresolvablePathError:
                    self.unresolved.append(item_id)
                    return None
                except UnsafePathError:
                    self.refused += 1
                    return None
        return None
