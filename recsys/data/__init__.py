"""Datasets: loaders for the IISAN/Amazon and MicroLens formats, the sample, and the split."""

from recsys.data.amazon import load_amazon
from recsys.data.loader import DatasetFiles, detect_files, load_dataset
from recsys.data.microlens import load_microlens
from recsys.data.sample import sample_path
from recsys.data.split import make_split
from recsys.data.types import Catalogue, Dataset, LoadReport, Split

__all__ = [
    "Catalogue",
    "Dataset",
    "DatasetFiles",
    "LoadReport",
    "Split",
    "detect_files",
    "load_amazon",
    "load_dataset",
    "load_microlens",
    "make_split",
    "sample_path",
]
