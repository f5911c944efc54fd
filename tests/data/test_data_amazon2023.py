"""Amazon Reviews 2023 JSONL (gzipped or not): reviews ordered by time, meta text fields and
image URLs (recorded, never fetched), errors naming file and line, and the k-core filter."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from recsys.data import detect_files, kcore_filter, load_amazon2023, load_dataset
from recsys.errors import DataFormatError, UnknownItemError
from tests.data.conftest import write_files

META = [
    {
        "parent_asin": "B01",
        "title": "Beaker set",
        "main_category": "Industrial & Scientific",
        "store": "LabCo",
        "features": ["Borosilicate", "250 ml"],
        "description": ["Clear glass.", ""],
        "categories": ["Lab", "Glassware"],
        "details": {"Brand": "LabCo", "Material": "Glass"},
        "images": [
            {"thumb": "t1", "large": "l1", "hi_res": None, "variant": "PT01"},
            {"thumb": "t0", "large": "l0", "hi_res": "h0", "variant": "MAIN"},
        ],
        "average_rating": 4.5,
    },
    {"parent_asin": "B02", "title": "Caliper", "features": [], "images": []},
    {"parent_asin": "B03", "title": None},
]
REVIEWS = [
    {"user_id": "U1", "parent_asin": "B02", "timestamp": 1_700_000_002_000, "rating": 5.0},
    {"user_id": "U1", "parent_asin": "B01", "timestamp": 1_700_000_001_000, "rating": 4.0},
    {"user_id": "U2", "parent_asin": "B01", "timestamp": 1_700_000_000_500, "rating": 3.0},
]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize("zipped", [False, True])
def test_reviews_and_meta_with_fields_and_urls(tmp_path: Path, zipped: bool) -> None:
    suffix = ".jsonl.gz" if zipped else ".jsonl"

    def content(rows: list[dict]) -> str | bytes:
        return gzip.compress(_jsonl(rows).encode()) if zipped else _jsonl(rows)

    write_files(
        tmp_path,
        {
            f"Industrial_and_Scientific{suffix}": content(REVIEWS),
            f"meta_Industrial_and_Scientific{suffix}": content(META),
            "images/B02.jpg": b"jpg",
        },
    )
    files = detect_files(tmp_path)
    assert files.format == "amazon2023" and files.images == tmp_path / "images"
    ds = load_dataset(tmp_path)
    assert ds.name == "Industrial_and_Scientific"
    cat = ds.catalogue
    assert cat.item_ids == ("B01", "B02", "B03") and cat.titles == ("Beaker set", "Caliper", "")
    assert cat.field_values("features") == (("Borosilicate", "250 ml"), (), ())
    assert cat.field_values("description") == (("Clear glass.",), (), ())
    assert cat.field_values("details")[0] == ("Brand: LabCo", "Material: Glass")
    assert cat.field_values("store") == ("LabCo", "", "")
    assert cat.image_urls == ("h0", None, None)  # the MAIN image's largest URL
    assert cat.image_paths == (None, (tmp_path / "images" / "B02.jpg").resolve(), None)
    assert ds.sequences == {"U1": ("B01", "B02"), "U2": ("B01",)}
    assert ds.timestamps == {"U1": (1_700_000_001.0, 1_700_000_002.0), "U2": (1_700_000_000.5,)}
    assert "1 items have an empty title" in ds.report.notes


@pytest.mark.parametrize(
    ("reviews", "meta", "bad", "line", "words"),
    [
        ('{"user_id": "U1", "timestamp": 1}\n', _jsonl(META), "r", 1, "missing key 'parent_asin'"),
        (_jsonl(REVIEWS) + "{oops\n", _jsonl(META), "r", 4, "not JSON"),
        (_jsonl(REVIEWS) + "[1]\n", _jsonl(META), "r", 4, "a JSON object per line"),
        (
            '{"user_id": "U1", "parent_asin": "B01", "timestamp": "May"}\n',
            _jsonl(META),
            "r",
            1,
            "not a number of milliseconds",
        ),
        (_jsonl(REVIEWS), _jsonl(META) + '{"parent_asin": "B01"}\n', "m", 4, "duplicate"),
        (_jsonl(REVIEWS), b'{"parent_asin": "B\xff"}\n', "m", 1, "not UTF-8"),
    ],
)
def test_malformed_lines_name_file_and_line(
    tmp_path: Path, reviews: str, meta: str | bytes, bad: str, line: int, words: str
) -> None:
    write_files(tmp_path, {"Cat.jsonl": reviews, "meta_Cat.jsonl": meta})
    with pytest.raises(DataFormatError, match=words) as info:
        load_dataset(tmp_path)
    assert info.value.path == tmp_path / ("Cat.jsonl" if bad == "r" else "meta_Cat.jsonl")
    assert info.value.line == line


def test_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    whole = gzip.compress(_jsonl(REVIEWS * 50).encode())
    write_files(
        tmp_path, {"Cat.jsonl.gz": whole[: len(whole) // 2], "meta_Cat.jsonl": _jsonl(META)}
    )
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip"):
        load_dataset(tmp_path)


def test_reviews_of_items_without_meta_follow_the_policy(tmp_path: Path) -> None:
    extra = {"user_id": "U3", "parent_asin": "B99", "timestamp": 5}
    write_files(tmp_path, {"C.jsonl": _jsonl([*REVIEWS, extra]), "meta_C.jsonl": _jsonl(META)})
    with pytest.raises(UnknownItemError, match=r"C.jsonl:4: user 'U3' references item 'B99'"):
        load_amazon2023(tmp_path / "C.jsonl", tmp_path / "meta_C.jsonl")
    ds = load_amazon2023(tmp_path / "C.jsonl", tmp_path / "meta_C.jsonl", on_unknown="drop")
    assert ds.report.dropped_unknown == 1 and "U3" not in ds.sequences


def _review(user: str, item: str, t: int) -> dict:
    return {"user_id": user, "parent_asin": item, "timestamp": t}


def test_kcore_filter_cascades_and_is_reported(tmp_path: Path) -> None:
    # 2-core by hand: item c has one review, so it goes; then u3 has one review left (a),
    # so u3 goes; then a has 2 (u1, u2) and b has 2 (u1, u2): stable after 2 removing passes.
    rows = [
        _review("u1", "a", 1),
        _review("u1", "b", 2),
        _review("u2", "b", 3),
        _review("u2", "a", 4),
        _review("u3", "a", 5),
        _review("u3", "c", 6),
    ]
    meta = [{"parent_asin": i, "title": i.upper()} for i in ("a", "b", "c", "d")]
    write_files(tmp_path, {"C.jsonl": _jsonl(rows), "meta_C.jsonl": _jsonl(meta)})
    ds = load_dataset(tmp_path, kcore=2)
    assert ds.sequences == {"u1": ("a", "b"), "u2": ("b", "a")}
    assert ds.timestamps == {"u1": (0.001, 0.002), "u2": (0.003, 0.004)}
    assert ds.catalogue.item_ids == ("a", "b")
    assert ds.report.kcore == {
        "k": 2,
        "rounds": 2,
        "users_before": 3,
        "users_after": 2,
        "items_before": 4,
        "items_after": 2,
        "interactions_before": 6,
        "interactions_after": 4,
    }
    assert ds.report.notes[-1] == (
        "2-core filter (2 rounds): kept 2 of 3 users, 2 of 4 items, 4 of 6 interactions"
    )
    assert kcore_filter(ds, 2).sequences == ds.sequences  # already a 2-core
    with pytest.raises(DataFormatError, match="no user and item survive the 3-core"):
        load_dataset(tmp_path, kcore=3)
