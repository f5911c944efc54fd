"""RecBole atomic files read unchanged: typed headers, token_seq text, float fields left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.data import detect_files, load_dataset, load_recbole
from recsys.errors import DataFormatError
from tests.data.conftest import write_files

INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "1\t10\t4\t881250950\n1\t20\t3\t881250949\n2\t10\t5\t881250000\n"
)
ITEM = (
    "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\tprice:float\n"
    "10\tToy Story\t1995\tAnimation Comedy\t3.5\n20\tGoldenEye\t1995\tAction\t2\n"
)


def test_inter_and_item_files(tmp_path: Path) -> None:
    write_files(tmp_path, {"ml-mini.inter": INTER, "ml-mini.item": ITEM})
    files = detect_files(tmp_path)
    assert (files.format, files.items.name, files.interactions.name) == (
        "recbole",
        "ml-mini.item",
        "ml-mini.inter",
    )
    ds = load_dataset(tmp_path)
    assert ds.name == "ml-mini"
    cat = ds.catalogue
    assert cat.item_ids == ("10", "20")
    assert cat.titles == ("Toy Story", "GoldenEye")  # the one title-like column
    assert cat.field_names == ("release_year", "class")  # token fields; float ones left out
    assert cat.field_values("class") == ("Animation Comedy", "Action")
    assert ds.sequences == {"1": ("20", "10"), "2": ("10",)}
    assert ds.timestamps == {"1": (881250949.0, 881250950.0), "2": (881250000.0,)}


def test_without_an_item_file_items_come_from_the_interactions(tmp_path: Path) -> None:
    write_files(tmp_path, {"x.inter": INTER})
    ds = load_dataset(tmp_path / "x.inter")
    assert ds.catalogue.item_ids == ("10", "20") and ds.catalogue.titles == ("", "")
    assert any("no .item file" in note for note in ds.report.notes)


@pytest.mark.parametrize(
    ("inter", "words"),
    [
        ("user_id:token\titem_id:tok\n1\t10\n", "unknown type 'tok'"),
        ("uid:token\titem_id:token\n1\t10\n", "no user column 'user_id'"),
        ("user_id:token\titem_id:token\ttimestamp:float\n1\t10\tx\n", "row 1: timestamp 'x'"),
    ],
)
def test_malformed_atomic_files(tmp_path: Path, inter: str, words: str) -> None:
    write_files(tmp_path, {"x.inter": inter, "x.item": ITEM})
    with pytest.raises(DataFormatError, match=words) as info:
        load_recbole(tmp_path / "x.inter", tmp_path / "x.item")
    assert info.value.path == tmp_path / "x.inter"


@pytest.mark.parametrize(
    ("inter", "words"),
    [
        ("user_id:float\titem_id:token\n1\t10\n", "column 'user_id' is declared 'float'"),
        ("user_id:token\titem_id:float_seq\n1\t10\n", "column 'item_id' is declared 'float_seq'"),
        (
            "user_id:token\titem_id:token\ttimestamp:token\n1\t10\t5\n",
            "column 'timestamp' is declared 'token'; the timestamp must be 'float'",
        ),
    ],
)
def test_declared_types_that_change_the_meaning_are_refused(
    tmp_path: Path, inter: str, words: str
) -> None:
    write_files(tmp_path, {"x.inter": inter, "x.item": ITEM})
    with pytest.raises(DataFormatError, match=words) as info:
        load_recbole(tmp_path / "x.inter", tmp_path / "x.item")
    assert (info.value.path, info.value.line) == (tmp_path / "x.inter", 1)


def test_a_float_item_id_in_the_item_file_is_refused(tmp_path: Path) -> None:
    item = "item_id:float\tmovie_title:token_seq\n10\tToy Story\n20\tGoldenEye\n"
    write_files(tmp_path, {"x.inter": INTER, "x.item": item})
    with pytest.raises(DataFormatError, match="'item_id' is declared 'float'") as info:
        load_recbole(tmp_path / "x.inter", tmp_path / "x.item")
    assert (info.value.path, info.value.line) == (tmp_path / "x.item", 1)


def test_untyped_header_fields_are_taken_as_given(tmp_path: Path) -> None:
    write_files(tmp_path, {"x.inter": "user_id\titem_id\ttimestamp\n1\t10\t5\n1\t20\t6\n"})
    assert load_recbole(tmp_path / "x.inter").sequences == {"1": ("10", "20")}


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("1\t10\t5\n\n2\t20\n", 4, "too few fields: 2, the header has 3"),
        ("1\t10\t5\t9\n", 2, "too many fields: 4, the header has 3"),
    ],
)
def test_a_ragged_row_names_its_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    write_files(tmp_path, {"x.inter": "user_id:token\titem_id:token\ttimestamp:float\n" + body})
    with pytest.raises(DataFormatError, match=words) as info:
        load_recbole(tmp_path / "x.inter")
    assert info.value.line == line and str(info.value).startswith(f"{tmp_path / 'x.inter'}:{line}:")
