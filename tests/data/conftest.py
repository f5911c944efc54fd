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


# One tiny catalogue, written in each input format (`write_catalogue`): the loaders must
# agree on it exactly (same items, titles, sequences; the same split and metrics).
CATALOGUE = {
    "i1": "Caliper & gauge, steel",
    "i2": "Beaker set",
    "i3": "Digital thermometer",
    "i4": "Safety goggles",
    "i5": "Lab notebook",
    "i6": "Pipette pack",
    "i7": "Magnifier",
    "i8": "Test tubes",
}
SEQUENCES = {
    "u1": ["i1", "i2", "i3", "i1", "i4", "i5"],
    "u2": ["i2", "i3", "i4", "i6", "i7"],
    "u3": ["i5", "i6", "i7", "i8", "i1", "i2", "i3"],
    "u4": ["i3", "i3", "i8", "i2", "i6"],
    "u5": ["i7", "i1", "i4", "i5", "i8", "i6"],
    "u6": ["i4", "i2", "i8"],
}
FORMS = ("tables", "amazon2023", "recbole", "amazon")


def _events() -> list[tuple[str, str, int]]:
    """(user, item, unix seconds): per user strictly increasing, users interleaved in time."""
    events = [
        (user, item, 1_700_000_000 + 1000 * k + 7 * n)
        for n, (user, seq) in enumerate(SEQUENCES.items())
        for k, item in enumerate(seq)
    ]
    return sorted(events, key=lambda e: (e[2], e[0]))


def write_catalogue(folder: Path, form: str) -> Path:
    """Write CATALOGUE / SEQUENCES into `folder` in one of FORMS; returns the folder."""
    import json

    events = _events()
    if form == "tables":
        items = "item_id,title\n" + "".join(f'{i},"{t}"\n' for i, t in CATALOGUE.items())
        inter = "user_id,item_id,timestamp\n" + "".join(f"{u},{i},{t}\n" for u, i, t in events)
        files = {"items.csv": items, "interactions.csv": inter}
    elif form == "amazon2023":
        meta = "".join(
            json.dumps({"parent_asin": i, "title": t}) + "\n" for i, t in CATALOGUE.items()
        )
        reviews = "".join(
            json.dumps({"user_id": u, "parent_asin": i, "timestamp": t * 1000, "rating": 5}) + "\n"
            for u, i, t in events
        )
        files = {"Tiny.jsonl": reviews, "meta_Tiny.jsonl": meta}
    elif form == "recbole":
        item = "item_id:token\ttitle:token_seq\n" + "".join(
            f"{i}\t{t}\n" for i, t in CATALOGUE.items()
        )
        inter = "user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
            f"{u}\t{i}\t{t}\n" for u, i, t in events
        )
        files = {"tiny.inter": inter, "tiny.item": item}
    elif form == "amazon":
        files = {
            "items.tsv": "".join(f"{i}\t{t}\n" for i, t in CATALOGUE.items()),
            "users.tsv": "".join(f"{u}\t{' '.join(s)}\n" for u, s in SEQUENCES.items()),
        }
    else:
        raise ValueError(form)
    return write_files(folder, files)
