"""Datasets: loaders for the IISAN/Amazon and MicroLens formats, the sample, and the split."""

from recsys.data.types import Catalogue, Dataset, LoadReport, Split

__all__ = ["Catalogue", "Dataset", "LoadReport", "Split"]
