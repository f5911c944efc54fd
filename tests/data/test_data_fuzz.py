"""Parser fuzzing (issue 9): any bytes in any dataset file either load or raise
DataFormatError, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data import load_dataset
from recsys.data.types import Dataset
from recsys.errors import DataFormatError
from tests.data.conftest import write_files

# Bytes biased towards the separators and quoting the parsers care about.
ALPHABET = st.sampled_from(
    [b"a", b"1", b"\t", b" ", b"\n", b"\r", b",", b'"', b"&amp;", b"\xff", b"\xc3", b"\x00", b"."]
)
FUZZ = st.one_of(st.binary(max_size=200), st.lists(ALPHABET, max_size=60).map(b"".join))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_or_format_error(files: dict[str, bytes]) -> Dataset | None:
    with tempfile.TemporaryDirectory() as tmp:
        write_files(Path(tmp), files)
        try:
            ds = load_dataset(tmp, on_unknown="drop")
        except DataFormatError as exc:
            assert exc.path.name in files or exc.path == Path(tmp)
            return None
    assert len(ds.catalogue) > 0 and ds.sequences
    assert all(seq and all(i in ds.catalogue for i in seq) for seq in ds.sequences.values())
    return ds


@SETTINGS
@given(data=FUZZ)
def test_amazon_items_file(data: bytes) -> None:
    _load_or_format_error({"items.tsv": data, "users.tsv": b"u\ta 1\n"})


@SETTINGS
@given(data=FUZZ)
def test_amazon_users_file(data: bytes) -> None:
    _load_or_format_error({"items.tsv": b"a\tA\n1\tOne\n", "users.tsv": data})


@SETTINGS
@given(data=FUZZ)
def test_microlens_titles_file(data: bytes) -> None:
    _load_or_format_error(
        {"titles.csv": b"item,title\n" + data, "pairs.csv": b"user,item,timestamp\nu,a,1\n"}
    )


@SETTINGS
@given(data=FUZZ)
def test_microlens_pairs_file(data: bytes) -> None:
    _load_or_format_error(
        {"titles.csv": b"item,title\na,A\n1,One\n", "pairs.csv": b"user,item,timestamp\n" + data}
    )
