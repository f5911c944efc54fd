"""The IISAN / Amazon TSV loader: good files, media, and every kind of malformed file."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.data import load_amazon, load_dataset
from recsys.errors import ConfigError, DataFormatError, UnknownItemError
from tests.data.conftest import write_files

ITEMS = "Scientific_items.tsv"
USERS = "am_Industrial_and_Scientific_users.tsv"


def test_loads_items_users_and_images(amazon_dir: Path) -> None:
    ds = load_dataset(amazon_dir)
    assert ds.catalogue.item_ids == ("A1", "B2", "C3", "D4")
    assert ds.catalogue.titles == ("Caliper & Gauge", 'Thermometer "Pro"', "Beaker", "Never Used")
    assert ds.sequences == {"u1": ("A1", "B2", "C3"), "u2": ("C3", "C3", "A1", "B2")}
    images = ds.catalogue.image_paths
    assert images[0] == (amazon_dir / "images" / "A1.jpg").resolve()
    assert images[1] is None and images[3] is None
    assert images[2] == (amazon_dir / "images" / "C3.png").resolve()
    assert ds.catalogue.video_paths == (None,) * 4
    assert ds.name == amazon_dir.name
    assert ds.report.dropped_unknown == 0 and ds.report.notes == ()


def test_short_names_and_explicit_paths(tmp_path: Path) -> None:
    write_files(tmp_path, {"items.tsv": "x\tX\ny\tY\n", "users.tsv": "u\ty x y\n"})
    by_folder = load_dataset(tmp_path)
    by_file = load_dataset(tmp_path / "users.tsv")
    explicit = load_amazon(tmp_path / "items.tsv", tmp_path / "users.tsv", name="n")
    for ds in (by_folder, by_file, explicit):
        assert ds.sequences == {"u": ("y", "x", "y")}
        assert ds.catalogue.item_ids == ("x", "y")
    assert explicit.name == "n"


def test_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"items.tsv": b"\xef\xbb\xbfx\tX &gt; Y\r\n\r\ny\tY\r\n", "users.tsv": b"u\tx y\r\n\n"},
    )
    ds = load_dataset(tmp_path)
    assert ds.catalogue.item_ids == ("x", "y")
    assert ds.catalogue.titles == ("X > Y", "Y")


@pytest.mark.parametrize(
    ("items", "users", "bad_file", "line", "words"),
    [
        ("a\tA\nb\n", "u\ta\n", ITEMS, 2, "expected 2 tab-separated fields"),
        ("a\tA\nb\tB\textra\n", "u\ta\n", ITEMS, 2, "found 3"),
        (
            "a\tA\nb\tB\na\tAgain\n",
            "u\ta\n",
            ITEMS,
            3,
            "duplicate item id 'a' (first defined on line 1)",
        ),
        ("a\tA\nb\t  \n", "u\ta\n", ITEMS, 2, "empty title"),
        ("a\tA\n\tB\n", "u\ta\n", ITEMS, 2, "empty item id"),
        ("a\tA\n", "u\ta\nv a\n", USERS, 2, "expected 2 tab-separated fields"),
        ("a\tA\n", "v\t \n", USERS, 1, "user 'v' has no interactions, and no other"),
        ("a\tA\n", "u\ta\nu\ta\n", USERS, 2, "duplicate user id 'u'"),
        ("a\tA\n", "u\ta\nv\ta zz\n", USERS, 2, "references item 'zz'"),
        (b"a\tA\nb\tB\xff\n", "u\ta\n", ITEMS, 2, "not UTF-8"),
        ("a\tA\n", b"u\ta\n\nv\ta\x80\n", USERS, 3, "not UTF-8"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, items: str | bytes, users: str | bytes, bad_file: str, line: int, words: str
) -> None:
    write_files(tmp_path, {ITEMS: items, USERS: users})
    with pytest.raises(DataFormatError) as info:
        load_dataset(tmp_path)
    assert info.value.path == tmp_path / bad_file
    assert info.value.line == line
    assert words in str(info.value)
    assert f"{tmp_path / bad_file}:{line}:" in str(info.value)


def test_unknown_item_error_then_drop_counts(tmp_path: Path) -> None:
    write_files(tmp_path, {ITEMS: "a\tA\nb\tB\n", USERS: "u\ta zz b yy\nv\tqq\nw\tb a\n"})
    with pytest.raises(UnknownItemError) as info:
        load_dataset(tmp_path)
    assert info.value.line == 1 and "'zz'" in str(info.value)
    ds = load_dataset(tmp_path, on_unknown="drop")
    assert ds.sequences == {"u": ("a", "b"), "w": ("b", "a")}
    assert ds.report.dropped_unknown == 3
    assert ds.report.notes[0] == "dropped 3 interactions with unknown items"
    assert "1 users had only unknown items" in ds.report.notes[1]


def test_invalid_on_unknown_lists_choices(amazon_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"\['error', 'drop'\]"):
        load_dataset(amazon_dir, on_unknown="ignore")


def test_empty_files_are_errors(tmp_path: Path) -> None:
    write_files(tmp_path, {ITEMS: "", USERS: "u\ta\n"})
    with pytest.raises(DataFormatError, match="no items defined"):
        load_dataset(tmp_path)
    write_files(tmp_path, {ITEMS: "a\tA\n", USERS: "\n"})
    with pytest.raises(DataFormatError, match="no users defined"):
        load_dataset(tmp_path)


def test_unsafe_item_ids_never_reach_outside_the_image_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"x")
    root = tmp_path / "ds"
    write_files(
        root,
        {
            "items.tsv": "../secret\tEscape\n.hidden\tDot\nok\tFine\n",
            "users.tsv": "u\t../secret .hidden ok\n",
            "images/ok.jpg": b"x",
            "images/.hidden.jpg": b"x",
        },
    )
    ds = load_dataset(root)
    assert ds.catalogue.image_paths[:2] == (None, None)
    assert ds.catalogue.image_paths[2] == (root / "images" / "ok.jpg").resolve()
    assert any("2 item ids are not plain file names" in n for n in ds.report.notes)


def test_symlink_out_of_the_image_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"x")
    root = write_files(tmp_path / "ds", {"items.tsv": "a\tA\n", "users.tsv": "u\ta\n"})
    (root / "images").mkdir()
    (root / "images" / "a.jpg").symlink_to(outside)
    ds = load_dataset(root)
    assert ds.catalogue.image_paths == (None,)


def test_header_rows_are_skipped_and_noted(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "items.tsv": "item_id\ttitle\na\tA\nb\tB\n",
            "users.tsv": "user_id\titem_ids\nu\ta b a\n",
        },
    )
    ds = load_dataset(tmp_path)
    assert ds.catalogue.item_ids == ("a", "b")  # not an item called "item_id"
    assert ds.sequences == {"u": ("a", "b", "a")}
    assert ds.report.notes == (
        "items.tsv: skipped the header row on line 1 ('item_id\\ttitle')",
        "users.tsv: skipped the header row on line 1 ('user_id\\titem_ids')",
    )
    # Only the first line can be a header: an item spelled like one later is an item.
    write_files(tmp_path, {"items.tsv": "a\tA\nitem\tThe item\n", "users.tsv": "u\ta item a\n"})
    assert load_dataset(tmp_path).catalogue.item_ids == ("a", "item")


def test_user_lines_without_items_are_dropped_by_the_split_and_counted(tmp_path: Path) -> None:
    from recsys.data import make_split

    write_files(
        tmp_path,
        {"items.tsv": "a\tA\nb\tB\n", "users.tsv": "u1\ta b a b\nu2\t\nu3\t  \nu4\ta b\n"},
    )
    ds = load_dataset(tmp_path)
    assert ds.sequences == {"u1": ("a", "b", "a", "b"), "u2": (), "u3": (), "u4": ("a", "b")}
    assert "2 users have no items (the split drops them as too short)" in ds.report.notes
    split = make_split(ds)
    assert split.user_ids == ("u1",) and split.dropped_users == 3  # u2, u3 and the short u4
    # Empty users do not enter the content hash: same hash as the file without them.
    plain = {"items.tsv": "a\tA\nb\tB\n", "users.tsv": "u1\ta b a b\nu4\ta b\n"}
    write_files(tmp_path / "plain", plain)
    assert load_dataset(tmp_path / "plain").content_hash == ds.content_hash
