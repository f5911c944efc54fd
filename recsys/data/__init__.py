"""Datasets: loaders for the IISAN/Amazon TSV, MicroLens, generic table, Amazon Reviews 2023
and RecBole formats (each registered in `recsys.data.formats`), the embedded sample, the
k-core filter, the splits and the canonical Parquet layout."""

from recsys.data.amazon import load_amazon
from recsys.data.amazon2023 import load_amazon2023
from recsys.data.detect import detect_files, resolve_files
from recsys.data.embedded import sample_path
from recsys.data.formats import (
    DatasetFiles,
    DatasetFormat,
    LoadOptions,
    format_names,
    register_format,
)
from recsys.data.kcore import kcore_filter
from recsys.data.loader import load_dataset
from recsys.data.microlens import load_microlens
from recsys.data.recbole import load_recbole
from recsys.data.splitting import make_split
from recsys.data.tables import load_tables
from recsys.data.types import Catalogue, Dataset, LoadReport, Split, TextField

__all__ = [
    "Catalogue",
    "Dataset",
    "DatasetFiles",
    "DatasetFormat",
    "LoadOptions",
    "LoadReport",
    "Split",
    "TextField",
    "detect_files",
    "format_names",
    "kcore_filter",
    "load_amazon",
    "load_amazon2023",
    "load_dataset",
    "load_microlens",
    "load_recbole",
    "load_tables",
    "make_split",
    "register_format",
    "resolve_files",
    "sample_path",
]
