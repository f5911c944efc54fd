"""Finding a dataset's files in a folder, and the errors when that is impossible."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.data import detect_files, load_dataset
from recsys.errors import DataFormatError
from tests.data.conftest import write_files


def test_detects_amazon_iisan_names(amazon_dir: Path) -> None:
    files = detect_files(amazon_dir)
    assert files.format == "amazon"
    assert files.items == amazon_dir / "Scientific_items.tsv"
    assert files.interactions == amazon_dir / "am_Industrial_and_Scientific_users.tsv"
    assert files.images == amazon_dir / "images" and files.videos is None


def test_detects_microlens_with_prefix_media(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "MicroLens-1M_pairs.csv": "user,item,timestamp\n",
            "MicroLens-1M_titles.csv": "item,title\n",
            "MicroLens-1M_covers/1.jpg": b"",
            "MicroLens-1M_videos/1.mp4": b"",
        },
    )
    files = detect_files(tmp_path)
    assert files.format == "microlens"
    assert files.images == tmp_path / "MicroLens-1M_covers"
    assert files.videos == tmp_path / "MicroLens-1M_videos"


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"readme.txt": "hi"}, "no dataset found"),
        ({"a_items.tsv": "", "b_items.tsv": "", "users.tsv": ""}, "several items"),
        (
            {"items.tsv": "", "users.tsv": "", "pairs.csv": ""},
            r"ambiguous folder.*IISAN/Amazon TSV: items.tsv, users.tsv; MicroLens: pairs.csv",
        ),
        ({"items.tsv": "a\tA\n"}, "no users file found"),
    ],
)
def test_detection_errors(tmp_path: Path, files: dict[str, str], words: str) -> None:
    write_files(tmp_path, files)
    with pytest.raises(DataFormatError, match=words):
        load_dataset(tmp_path)


def test_missing_path_and_unknown_file_type(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file or folder"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(DataFormatError, match="unknown file type"):
        load_dataset(tmp_path / "data.json")


def test_explicit_paths_override_detection(amazon_dir: Path, tmp_path: Path) -> None:
    other = write_files(tmp_path / "other", {"mine.tsv": "u9\tD4 A1\n"})
    ds = load_dataset(amazon_dir, users=other / "mine.tsv")
    assert ds.sequences == {"u9": ("D4", "A1")}
    assert ds.catalogue.image_paths[0] == (amazon_dir / "images" / "A1.jpg").resolve()
    no_images = load_dataset(amazon_dir, images=other)
    assert no_images.catalogue.image_paths == (None,) * 4


def test_missing_media_folder_is_an_error(amazon_dir: Path) -> None:
    with pytest.raises(DataFormatError, match="media folder does not exist"):
        load_dataset(amazon_dir, images=amazon_dir / "missing")


def test_iisan_image_folder_name_is_found(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"items.tsv": "a\tA\n", "users.tsv": "u\ta\n", "am_image_is/a.jpg": b"x"},
    )
    assert detect_files(tmp_path).images == tmp_path / "am_image_is"
    assert load_dataset(tmp_path).catalogue.image_paths[0] is not None
