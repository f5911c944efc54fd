"""Helpers for the data tests: write small dataset files into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` (name -> text or bytes) under `folder`; folders in names are created."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def amazon_dir(tmp_path: Path) -> Path:
    """A well-formed Amazon folder with IISAN-style names and two cover images."""
    return write_files(
        tmp_path,
        {
            "Scientific_items.tsv": "A1\tCaliper &amp; Gauge\nB2\tThermometer &quot;Pro&quot;\n"
            "C3\tBeaker\nD4\tNever Used\n",
            "am_Industrial_and_Scientific_users.tsv": "u1\tA1 B2 C3\nu2\tC3 C3 A1 B2\n",
            "images/A1.jpg": b"jpg",
            "images/C3.png": b"png",
        },
    )
