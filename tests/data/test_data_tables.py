"""Generic tables (CSV, TSV, Parquet, gzip): columns by name, times, text and list fields,
media paths that must stay in the table's folder, and errors that name file, row and id."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from recsys.config import TableColumns
from recsys.data import load_dataset, load_tables
from recsys.errors import DataFormatError, UnknownItemError
from tests.data.conftest import write_files

ITEMS = 'item_id,title,brand,image_path\n007,"Caliper, steel",Acme,img/007.jpg\nB,Beaker,,\n'
INTER = "user_id,item_id,timestamp\nu1,B,30\nu1,007,10\nu2,007,20\nu2,B,20\nu1,B,30\n"


def _tables(folder: Path, items: str = ITEMS, inter: str = INTER, **extra: str | bytes) -> Path:
    return write_files(folder, {"items.csv": items, "interactions.csv": inter, **extra})


def test_csv_tables_by_column_name(tmp_path: Path) -> None:
    _tables(tmp_path, **{"img/007.jpg": b"jpg"})
    ds = load_dataset(tmp_path)
    cat = ds.catalogue
    assert cat.item_ids == ("007", "B")  # ids stay text: 007 is not 7
    assert cat.titles == ("Caliper, steel", "Beaker")
    assert cat.field_names == ("brand",) and cat.field_values("brand") == ("Acme", "")
    assert cat.image_paths == ((tmp_path / "img" / "007.jpg").resolve(), None)
    # Ordered by time per user; the tie (u2, t=20) keeps row order; u1's exact repeat stays.
    assert ds.sequences == {"u1": ("007", "B", "B"), "u2": ("007", "B")}
    assert ds.timestamps == {"u1": (10.0, 30.0, 30.0), "u2": (20.0, 20.0)}
    assert ds.report.notes == (
        "1 duplicate (user, item, timestamp) rows kept as repeat interactions",
    )


def test_tsv_gzip_and_custom_columns_with_ms_and_iso_times(tmp_path: Path) -> None:
    inter = "uid\tiid\twhen\nu\tb\t2000\nu\ta\t1000\n"
    write_files(
        tmp_path,
        {
            "items.tsv": 'iid\tname\tnote\na\tA "quoted"\tx\nb\tB\ty\n',  # TSV: no quoting
            "interactions.tsv.gz": gzip.compress(inter.encode()),
        },
    )
    columns = TableColumns(
        user="uid", item="iid", timestamp="when", timestamp_unit="ms", title="name", text=("note",)
    )
    ds = load_dataset(tmp_path, columns=columns)
    assert ds.catalogue.titles == ('A "quoted"', "B")
    assert ds.sequences == {"u": ("a", "b")} and ds.timestamps == {"u": (1.0, 2.0)}
    write_files(tmp_path / "iso", {"items.csv": "item_id,title\na,A\nb,B\n"})
    write_files(
        tmp_path / "iso",
        {"interactions.csv": "user_id,item_id,timestamp\nu,b,2024-01-02\nu,a,2024-01-01T00:00Z\n"},
    )
    iso = load_dataset(tmp_path / "iso")
    assert iso.sequences == {"u": ("a", "b")}
    assert iso.timestamps == {"u": (1704067200.0, 1704153600.0)}


def test_parquet_tables_with_list_fields_and_timestamp_type(tmp_path: Path) -> None:
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    items = pa.table(
        {
            "item_id": ["a", "b"],
            "title": ["A", "B"],
            "categories": [["Lab", "Glass"], None],
            "price": [1.5, 2.0],  # not text: left out, and said so
        }
    )
    when = [
        dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    ]
    inter = pa.table({"user_id": ["u", "u"], "item_id": ["b", "a"], "timestamp": when})
    pq.write_table(items, tmp_path / "items.parquet")
    pq.write_table(inter, tmp_path / "interactions.parquet")
    ds = load_dataset(tmp_path)
    assert ds.catalogue.field_names == ("categories",)
    assert ds.catalogue.field_values("categories") == (("Lab", "Glass"), ())
    assert ds.sequences == {"u": ("a", "b")}
    assert ds.timestamps == {"u": (1704067200.0, 1704153600.0)}
    assert "items.parquet: columns not used as text fields: price" in ds.report.notes


def test_without_a_timestamp_column_rows_are_the_order(tmp_path: Path) -> None:
    _tables(tmp_path, inter="user_id,item_id\nu,B\nu,007\n")
    ds = load_dataset(tmp_path)
    assert ds.sequences == {"u": ("B", "007")} and ds.timestamps is None
    assert any("temporal split is unavailable" in n for n in ds.report.notes)
    # A time column the user names must exist.
    with pytest.raises(DataFormatError, match=r"no timestamp column 'ts' \(columns found: "):
        load_dataset(tmp_path, columns=TableColumns(timestamp="ts"))


@pytest.mark.parametrize(
    ("items", "inter", "bad", "words"),
    [
        (ITEMS, "user,item_id,timestamp\nu,B,1\n", "interactions.csv", "no user column 'user_id'"),
        ("item_id,name\nB,Beaker\n", INTER, "items.csv", "no title column 'title'"),
        (ITEMS, "user_id,item_id,timestamp\nu,B,1\nu,B,\n", "interactions.csv", "row 2: missing"),
        (ITEMS, "user_id,item_id,timestamp\nu,B,soon\n", "interactions.csv", "row 1: timestamp"),
        (ITEMS, "user_id,item_id,timestamp\nu,B,1\nu x,B,2\n", "interactions.csv", "row 2: user"),
        (
            ITEMS + "B,Again,,\n",
            INTER,
            "items.csv",
            r"row 3: duplicate item id 'B' \(first in row 2\)",
        ),
        (ITEMS, "user_id,item_id,timestamp\nu,B,1\nu,B\n", "interactions.csv", "cannot read"),
    ],
)
def test_malformed_tables_name_file_row_and_column(
    tmp_path: Path, items: str, inter: str, bad: str, words: str
) -> None:
    _tables(tmp_path, items=items, inter=inter)
    with pytest.raises(DataFormatError, match=words) as info:
        load_dataset(tmp_path)
    assert info.value.path == tmp_path / bad


def test_missing_column_lists_the_columns_found(tmp_path: Path) -> None:
    _tables(tmp_path)
    with pytest.raises(DataFormatError) as info:
        load_dataset(tmp_path, columns=TableColumns(text=("description",)))
    assert str(info.value) == (
        f"{tmp_path / 'items.csv'}: no text column 'description' (columns found: item_id, "
        "title, brand, image_path); name it in columns.*"
    )


def test_unknown_items_follow_the_policy_with_the_row(tmp_path: Path) -> None:
    _tables(tmp_path, inter="user_id,item_id,timestamp\nu,B,1\nu,zz,2\nu,007,3\n")
    with pytest.raises(UnknownItemError, match=r"interactions.csv: row 2: user 'u' .* 'zz'"):
        load_dataset(tmp_path)
    ds = load_dataset(tmp_path, on_unknown="drop")
    assert ds.sequences == {"u": ("B", "007")} and ds.report.dropped_unknown == 1


@pytest.mark.parametrize("path", ["../outside.jpg", "img/../../outside.jpg", "/etc/hostname"])
def test_media_paths_leaving_the_folder_are_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.jpg").write_bytes(b"secret")
    items = f"item_id,title,image_path\nA,Alpha,\nB,Beta,{path}\n"
    _tables(tmp_path / "data", items=items, inter="user_id,item_id,timestamp\nu,A,1\n")
    with pytest.raises(DataFormatError, match="row 2: item 'B': image path .* leaves"):
        load_dataset(tmp_path / "data")


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.jpg").write_bytes(b"secret")
    data = _tables(
        tmp_path / "data",
        items="item_id,title,image_path\nA,Alpha,link.jpg\n",
        inter="user_id,item_id,timestamp\nu,A,1\n",
    )
    (data / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    with pytest.raises(DataFormatError, match="leaves the table's folder"):
        load_tables(data / "interactions.csv", data / "items.csv")


def test_a_media_folder_by_item_id_replaces_the_path_column(tmp_path: Path) -> None:
    _tables(tmp_path, **{"covers/B.png": b"png"})
    ds = load_dataset(tmp_path, images=tmp_path / "covers")
    assert ds.catalogue.image_paths == (None, (tmp_path / "covers" / "B.png").resolve())
