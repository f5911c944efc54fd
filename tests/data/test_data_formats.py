"""One tiny catalogue in every input format: detected from its folder, loaded to the same
dataset and split, converted to the canonical Parquet layout and read back unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.data import detect_files, load_dataset, make_split
from recsys.data.canonical import write_canonical
from recsys.errors import DataFormatError
from recsys.spec import split_fingerprint
from tests.data.conftest import CATALOGUE, FORMS, SEQUENCES, write_catalogue, write_files
from toolkit.cli import app


@pytest.mark.parametrize("form", FORMS)
def test_every_form_loads_the_same_dataset_and_split(tmp_path: Path, form: str) -> None:
    reference = load_dataset(write_catalogue(tmp_path / "ref", "amazon"))
    assert detect_files(write_catalogue(tmp_path / form, form)).format == form
    ds = load_dataset(tmp_path / form)
    assert ds.catalogue.item_ids == tuple(CATALOGUE) and ds.catalogue.titles == tuple(
        CATALOGUE.values()
    )
    assert ds.sequences == {u: tuple(s) for u, s in SEQUENCES.items()}
    assert ds.content_hash == reference.content_hash
    assert (ds.timestamps is None) == (form == "amazon")
    split, ref_split = make_split(ds), make_split(reference)
    assert split_fingerprint(split) == split_fingerprint(ref_split)
    assert split.user_ids == ref_split.user_ids and split.dropped_users == 0


@pytest.mark.parametrize("form", FORMS)
def test_canonical_round_trip(tmp_path: Path, form: str) -> None:
    source = load_dataset(write_catalogue(tmp_path / "src", form))
    done = write_canonical(source, tmp_path / "dst")
    assert (done.items, done.interactions, done.media) == (8, 32, 0)
    assert detect_files(tmp_path / "dst").format == "tables"
    again = load_dataset(tmp_path / "dst")
    assert again.content_hash == source.content_hash
    assert again.sequences == source.sequences and again.timestamps == source.timestamps
    manifest = json.loads((tmp_path / "dst" / "conversion.json").read_text())
    assert manifest["content_hash"] == source.content_hash and manifest["interactions"] == 32


def test_canonical_keeps_fields_urls_and_media(tmp_path: Path) -> None:
    items = "item_id,title,brand,image_path\na,Alpha,Acme,pics/a.jpg\nb/x,Beta,,pics/b.png\n"
    inter = "user_id,item_id,timestamp\nu,a,2\nu,b/x,1\n"
    write_files(
        tmp_path / "src",
        {"items.csv": items, "interactions.csv": inter, "pics/a.jpg": b"A", "pics/b.png": b"B"},
    )
    source = load_dataset(tmp_path / "src")
    done = write_canonical(source, tmp_path / "dst")
    again = load_dataset(tmp_path / "dst")
    assert done.media == 2 and again.content_hash == source.content_hash
    assert again.catalogue.field_values("brand") == ("Acme", "")
    first, second = again.catalogue.image_paths
    assert first == (tmp_path / "dst" / "images" / "a.jpg").resolve() and first.read_bytes() == b"A"
    assert second.parent.name == "images" and second.read_bytes() == b"B"  # unsafe id: hashed
    assert "/" not in second.name
    meta = {
        "parent_asin": "P1",
        "title": "T",
        "features": ["x", "y"],
        "images": [{"large": "http://img/P1.jpg", "variant": "MAIN"}],
    }
    review = {"user_id": "u", "parent_asin": "P1", "timestamp": 5}
    write_files(
        tmp_path / "amz",
        {"C.jsonl": json.dumps(review) + "\n", "meta_C.jsonl": json.dumps(meta) + "\n"},
    )
    amz = load_dataset(tmp_path / "amz")
    write_canonical(amz, tmp_path / "amz_dst")
    back = load_dataset(tmp_path / "amz_dst")
    assert back.catalogue.image_urls == ("http://img/P1.jpg",)
    assert back.catalogue.field_values("features") == (("x", "y"),)
    assert back.content_hash == amz.content_hash


def test_ambiguous_and_partial_folders(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {"items.tsv": "", "users.tsv": "", "x.inter": "", "Cat.jsonl": "", "meta_Cat.jsonl": ""},
    )
    with pytest.raises(DataFormatError) as info:
        detect_files(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: ambiguous folder, it holds files of several layouts (IISAN/Amazon TSV: "
        "items.tsv, users.tsv; Amazon Reviews 2023: Cat.jsonl, meta_Cat.jsonl; RecBole atomic "
        "files: x.inter); set dataset.format or pass explicit paths"
    )
    assert detect_files(tmp_path, "recbole").interactions == tmp_path / "x.inter"
    # items.tsv beside interactions.* is a generic table, not the IISAN items file.
    write_files(tmp_path / "g", {"items.tsv": "", "interactions.csv": ""})
    assert detect_files(tmp_path / "g").format == "tables"
    write_files(tmp_path / "m", {"meta_Cat.jsonl.gz": b""})
    with pytest.raises(DataFormatError, match="no reviews file found"):
        load_dataset(tmp_path / "m")


@pytest.mark.parametrize("form", FORMS)
def test_cli_stats_and_convert_on_every_form(tmp_path: Path, form: str) -> None:
    runner = CliRunner()
    src = write_catalogue(tmp_path / "src", form)
    stats = runner.invoke(app, ["data", "stats", str(src)])
    assert stats.exit_code == 0, stats.output
    assert "users          6" in stats.output and "interactions   32" in stats.output
    converted = runner.invoke(app, ["data", "convert", str(src), str(tmp_path / "dst")])
    assert converted.exit_code == 0, converted.output
    assert f"wrote 8 items, 32 interactions and 0 media files to {tmp_path / 'dst'}" in (
        converted.output
    )
    again = runner.invoke(app, ["data", "stats", str(tmp_path / "dst"), "--set", "kcore=3"])
    assert again.exit_code == 0, again.output
    assert "3-core filter (0 rounds): kept 6 of 6 users" in again.output
    bad = runner.invoke(app, ["data", "stats", str(src), "--set", "columns.usr=x"])
    assert bad.exit_code == 2 and "dataset.columns.usr: unknown key (did you mean 'user'?)" in (
        bad.output
    )
