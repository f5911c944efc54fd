"""The dataset-format registry: a format defined in this file alone (no edit anywhere else)
is detected, validated and loaded through the public paths; the built-in formats keep their
order, priorities and messages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from recsys.config import TableColumns
from recsys.data import Catalogue, Dataset, DatasetFiles, load_dataset, resolve_files
from recsys.data.detect import detect_files, format_of_file
from recsys.data.formats import (
    DatasetFormat,
    LoadOptions,
    format_names,
    one_file,
    register_format,
    unregister_format,
)
from recsys.data.loader import check_options
from recsys.errors import ConfigError, DataFormatError
from tests.data.conftest import write_files

BUILTINS = ("amazon", "microlens", "tables", "amazon2023", "recbole")


# --- a throwaway "pairs" format: one pairs.tsv of user<TAB>item<TAB>timestamp -------------


def _pairs_find(folder: Path, files: list[str]) -> DatasetFiles:
    pairs = one_file(folder, [n for n in files if n.lower() == "pairs.tsv"], "pairs.tsv")
    return DatasetFiles(format="pairs", items=pairs, interactions=pairs)


def _pairs_load(files: DatasetFiles, options: LoadOptions) -> Dataset:
    rows = [line.split("\t") for line in files.interactions.read_text().splitlines()]
    events: dict[str, list[tuple[float, str]]] = {}
    for user, item, stamp in rows:
        events.setdefault(user, []).append((float(stamp), item))
    items = tuple(dict.fromkeys(item for _, item, _ in rows))
    ordered = {u: sorted(e) for u, e in events.items()}
    return Dataset(
        name=options.name or files.interactions.parent.name,
        catalogue=Catalogue(items, items, (None,) * len(items), (None,) * len(items)),
        sequences={u: tuple(i for _, i in e) for u, e in ordered.items()},
        source=files.interactions.parent,
        timestamps={u: tuple(t for t, _ in e) for u, e in ordered.items()},
    )


PAIRS = DatasetFormat(
    name="pairs",
    label="pairs (pairs.tsv)",
    claims=lambda name, files: name.lower() == "pairs.tsv",
    find=_pairs_find,
    load=_pairs_load,
    names_file=lambda name: name == "pairs.tsv",
    file_hint="a pairs.tsv",
    part_names=("pairs", "pairs"),
    images=False,
    videos=False,
    priority=2,  # a lone pairs.tsv is ours, not an Amazon *.tsv
)


@pytest.fixture
def pairs_format() -> Iterator[DatasetFormat]:
    register_format(PAIRS)
    try:
        yield PAIRS
    finally:
        unregister_format("pairs")


def _pairs_folder(root: Path) -> Path:
    # u1 watched b then a (out of order in the file); u2 watched a.
    write_files(root, {"pairs.tsv": "u1\ta\t20\nu2\ta\t5\nu1\tb\t10\n"})
    return root


def test_a_registered_format_is_detected_and_loaded(tmp_path: Path, pairs_format) -> None:
    folder = _pairs_folder(tmp_path / "mine")
    assert format_names() == (*BUILTINS, "pairs")
    assert detect_files(folder) == DatasetFiles("pairs", folder / "pairs.tsv", folder / "pairs.tsv")
    data = load_dataset(folder)
    assert data.name == "mine" and data.catalogue.item_ids == ("a", "b")
    assert data.sequences == {"u1": ("b", "a"), "u2": ("a",)}
    assert data.timestamps == {"u1": (10.0, 20.0), "u2": (5.0,)}
    assert load_dataset(folder / "pairs.tsv", fmt="pairs", name="x").sequences == data.sequences
    assert resolve_files(folder / "pairs.tsv").format == "pairs"  # names_file, by priority


def test_a_registered_format_is_a_valid_dataset_format_until_unregistered(
    tmp_path: Path,
) -> None:
    register_format(PAIRS)
    try:
        check_options("pairs", 0, TableColumns())
        with pytest.raises(ValueError, match="'pairs' is already registered"):
            register_format(PAIRS)
        with pytest.raises(DataFormatError, match="the pairs format has no images"):
            load_dataset(_pairs_folder(tmp_path), images=tmp_path)
        with pytest.raises(ConfigError, match="tables and recbole formats only"):
            load_dataset(tmp_path, columns=TableColumns(user="u"))
    finally:
        unregister_format("pairs")
    assert format_names() == BUILTINS
    with pytest.raises(ConfigError, match="'recbole'$") as info:
        check_options("pairs", 0, TableColumns())
    assert info.value.field == "dataset.format"
    with pytest.raises(DataFormatError, match="no dataset found"):
        load_dataset(tmp_path)


def test_a_folder_of_a_registered_and_a_builtin_layout_is_ambiguous(
    tmp_path: Path, pairs_format
) -> None:
    write_files(_pairs_folder(tmp_path), {"x.inter": "user_id:token\n"})
    with pytest.raises(DataFormatError, match=r"layouts \(RecBole atomic files: x.inter; pairs"):
        detect_files(tmp_path)


def test_reserved_and_builtin_names_cannot_be_registered() -> None:
    with pytest.raises(ValueError, match="reserved"):
        register_format(replace(PAIRS, name="auto"))
    with pytest.raises(ValueError, match="'tables' is already registered"):
        register_format(replace(PAIRS, name="tables"))
    assert format_names() == BUILTINS


def test_builtin_messages_are_unchanged(tmp_path: Path) -> None:
    """The texts the registry now assembles, as they were written out by hand before it."""
    with pytest.raises(DataFormatError) as found:
        detect_files(tmp_path)
    assert found.value.message == (
        "no dataset found: expected one of IISAN/Amazon TSV (*items*.tsv + *users*.tsv); "
        "MicroLens (*pairs.csv + *titles.csv / *title_en.csv); generic tables "
        "(interactions.{csv,tsv,parquet} + items.{csv,tsv,parquet}); Amazon Reviews 2023 "
        "(<Category>.jsonl[.gz] + meta_<Category>.jsonl[.gz]); RecBole atomic files "
        "(<name>.inter + <name>.item)"
    )
    with pytest.raises(DataFormatError) as unknown:
        format_of_file(Path("x.bin"))
    assert unknown.value.message == (
        "unknown file type: expected a users *.tsv, a pairs *.csv, an interactions table, "
        "a reviews *.jsonl[.gz] or a RecBole *.inter (or set the format)"
    )
    with pytest.raises(ConfigError) as invalid:
        check_options("csv", 0, TableColumns())
    assert invalid.value.message == "invalid value 'csv'; " + (
        "valid choices: 'auto', 'amazon', 'microlens', 'tables', 'amazon2023', 'recbole'"
    )


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("items.tsv", "interactions.csv"), "tables"),  # tables claims items.tsv first
        (("items.tsv", "users.tsv"), "amazon"),
        (("pairs.csv", "titles.csv"), "microlens"),
    ],
)
def test_claim_priority_is_unchanged(tmp_path: Path, names: tuple[str, ...], expected) -> None:
    write_files(tmp_path, dict.fromkeys(names, ""))
    assert detect_files(tmp_path).format == expected
    assert format_of_file(Path("interactions.tsv")) == "tables"  # before amazon's *.tsv
