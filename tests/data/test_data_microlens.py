"""The MicroLens loader: time order with stable ties, quoted titles, media, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.data import load_dataset, load_microlens
from recsys.errors import DataFormatError, UnknownItemError
from tests.data.conftest import write_files

PAIRS = "MicroLens-100k_pairs.csv"
TITLES = "MicroLens-100k_title_en.csv"


def test_orders_by_timestamp_with_stable_ties_and_reads_quoted_titles(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            PAIRS: "user,item,timestamp\n"
            "7,30,1600000000300\n"
            "7,10,1600000000100\n"
            "8,20,5\n"
            "7,20,1600000000200\n"
            "7,40,1600000000200\n"  # tie with the row above: file order kept (20 then 40)
            "8,10,5\n",  # tie: 20 then 10
            TITLES: 'item,title\n10,"Red, white &amp; blue"\n20,plain title\n'
            '30,"a ""quoted"" word"\n40,"two\nlines"\n50,unused\n',
            "MicroLens-100k_covers/10.jpg": b"x",
            "MicroLens-100k_videos/20.mp4": b"x",
            "MicroLens-100k_videos/30.mp4": b"x",
        },
    )
    ds = load_dataset(tmp_path)
    assert ds.sequences == {"7": ("10", "20", "40", "30"), "8": ("20", "10")}
    assert list(ds.sequences) == ["7", "8"]  # users in order of first appearance
    assert ds.catalogue.item_ids == ("10", "20", "30", "40", "50")
    assert ds.catalogue.titles == (
        "Red, white & blue",
        "plain title",
        'a "quoted" word',
        "two\nlines",
        "unused",
    )
    cover_dir = (tmp_path / "MicroLens-100k_covers").resolve()
    video_dir = (tmp_path / "MicroLens-100k_videos").resolve()
    assert ds.catalogue.image_paths == (cover_dir / "10.jpg", None, None, None, None)
    assert ds.catalogue.video_paths == (
        None,
        video_dir / "20.mp4",
        video_dir / "30.mp4",
        None,
        None,
    )


def test_short_names_titles_csv_and_columns_by_header(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pairs.csv": "timestamp,user,item\n2,u,b\n1,u,a\n3,u,c\n",
            "titles.csv": "title,item\nA,a\nB,b\nC,c\n",
            "covers/a.jpg": b"x",
            "videos/c.mp4": b"x",
        },
    )
    ds = load_dataset(tmp_path)
    assert ds.sequences == {"u": ("a", "b", "c")}
    assert ds.catalogue.image_paths[0] is not None and ds.catalogue.video_paths[2] is not None
    explicit = load_microlens(tmp_path / "pairs.csv", tmp_path / "titles.csv")
    assert explicit.sequences == ds.sequences and explicit.catalogue.image_paths == (None,) * 3


def test_english_titles_preferred(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            PAIRS: "user,item,timestamp\nu,1,1\n",
            "MicroLens-100k_titles.csv": "item,title\n1,原标题\n",
            TITLES: "item,title\n1,English\n",
        },
    )
    assert load_dataset(tmp_path).catalogue.titles == ("English",)


@pytest.mark.parametrize(
    ("pairs", "titles", "bad_file", "line", "words"),
    [
        ("user,item,timestamp\nu,1,1\nu,2\n", "item,title\n1,A\n2,B\n", PAIRS, 3, "found 2"),
        ("user,item,timestamp\nu,1,x\n", "item,title\n1,A\n", PAIRS, 2, "'x' is not a number"),
        ("user,item,timestamp\nu,1,nan\n", "item,title\n1,A\n", PAIRS, 2, "not finite"),
        ("user,item,timestamp\n,1,1\n", "item,title\n1,A\n", PAIRS, 2, "empty user id"),
        ("user,item,ts\nu,1,1\n", "item,title\n1,A\n", PAIRS, 1, "header must name"),
        ("user,item,timestamp\nu,1,1\nu,9,2\n", "item,title\n1,A\n", PAIRS, 3, "item '9'"),
        ("user,item,timestamp\nu,1,1\n", "item,title\n1,A\n1,B\n", TITLES, 3, "duplicate item"),
        ("user,item,timestamp\nu,1,1\n", 'item,title\n1,A\n2,"  "\n', TITLES, 3, "empty title"),
        ("user,item,timestamp\nu,1,1\n", 'item,title\n1,A\n2,"B"x,y\n', TITLES, 3, "malformed"),
        ("user,item,timestamp\nu,1,1\n", "item,title\n1,A,extra\n", TITLES, 2, "found 3"),
        ("user,item,timestamp\nu,1,1\n", b"item,title\n1,A\n2,\xc3(\n", TITLES, 3, "not UTF-8"),
        ("user,item,timestamp\nu,1,1\n", "", TITLES, 1, "header must name"),
        ("user,item,timestamp\n", "item,title\n1,A\n", PAIRS, None, "no interactions"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, pairs: str, titles: str | bytes, bad_file: str, line: int | None, words: str
) -> None:
    write_files(tmp_path, {PAIRS: pairs, TITLES: titles})
    with pytest.raises(DataFormatError) as info:
        load_dataset(tmp_path)
    assert info.value.path == tmp_path / bad_file
    assert info.value.line == line
    assert words in str(info.value)


def test_unknown_items_error_at_their_line_or_are_dropped(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "pairs.csv": "user,item,timestamp\nu,1,1\nu,9,2\nv,9,1\nu,2,3\n",
            "titles.csv": "item,title\n1,A\n2,B\n",
        },
    )
    with pytest.raises(UnknownItemError) as info:
        load_dataset(tmp_path)
    assert info.value.line == 3
    ds = load_dataset(tmp_path, on_unknown="drop")
    assert ds.sequences == {"u": ("1", "2")}
    assert ds.report.dropped_unknown == 2
    assert "1 users had only unknown items and were dropped" in ds.report.notes
