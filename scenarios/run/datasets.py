"""Datasets from the command line: `[dataset]` settings given as `key=value` strings (the
same keys, types and checks as a scenario's `[dataset]` table), for `toolkit data stats`
and `toolkit data convert`; `split.*` settings among them make the split `toolkit data
stats` previews (`split_settings`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from plumbing.typed import TypedLoadError, build
from recsys.config import SplitConfig
from recsys.data.canonical import Converted
from recsys.data.types import Dataset
from scenarios.schema.errors import ScenarioError
from scenarios.schema.overrides import apply_override
from scenarios.schema.specs import DatasetSpec


def dataset_spec(settings: Sequence[str] = (), *, source: str = "<command line>") -> DatasetSpec:
    """A DatasetSpec from `key=value` settings (`format=tables`, `columns.user=uid`,
    `kcore=5`; a leading `dataset.` is optional), validated like a scenario's.

    Raises:
        ScenarioError: an unknown key, a wrong type or an impossible value, naming the
            dotted key and the valid choices.
    """
    from recsys.data.loader import check_options
    from recsys.errors import ConfigError

    doc: dict = {}
    for item in settings:
        apply_override(doc, item.strip().removeprefix("dataset."), source=source)
    try:
        spec = build(DatasetSpec, doc, key="dataset")
        check_options(spec.format, spec.kcore, spec.columns)
        spec.users.check("dataset.users")
    except TypedLoadError as exc:
        raise ScenarioError(source, exc.key, exc.message) from None
    except ConfigError as exc:
        raise ScenarioError(source, exc.field, exc.message) from None
    return spec


def split_settings(
    settings: Sequence[str] = (), *, source: str = "<command line>"
) -> tuple[list[str], SplitConfig]:
    """The settings other than `split.*`, and the SplitConfig the `split.*` ones make
    (`split.kind=temporal`, `split.test_cut=0.9`), validated like a scenario's `[split]`.

    Raises:
        ScenarioError: an unknown key, a wrong type or an impossible protocol.
    """
    from recsys.errors import ConfigError

    doc: dict = {}
    others = []
    for item in settings:
        if item.strip().startswith("split."):
            apply_override(doc, item.strip(), source=source)
        else:
            others.append(item)
    try:
        config = build(SplitConfig, doc.get("split", {}), key="split")
        config.check("split")
    except TypedLoadError as exc:
        raise ScenarioError(source, exc.key, exc.message) from None
    except ConfigError as exc:
        raise ScenarioError(source, exc.field, exc.message) from None
    return others, config


def open_dataset(path: Path | None, settings: Sequence[str] = ()) -> Dataset:
    """Load the dataset at `path` (default: the settings' `path`, else the embedded sample)."""
    from recsys.data import sample_path
    from scenarios.run.prepared import load_data

    spec = dataset_spec(settings)
    where = path or (Path(spec.path).expanduser() if spec.path else sample_path())
    return load_data(Path(where), spec)


DATASET_KIND = "dataset"  # the marker of a folder `convert_dataset` wrote


def is_converted_folder(folder: Path) -> bool:
    """A converted dataset written before such folders had a marker (its conversion.json)."""
    from recsys.data.canonical import MANIFEST_FILE

    return (Path(folder) / MANIFEST_FILE).is_file()


def convert_dataset(src: Path | None, dst: Path, settings: Sequence[str] = ()) -> Converted:
    """Load `src` (as `open_dataset` does) and write it into `dst` in the canonical layout.

    Raises:
        ScenarioError: `dst` is the source folder itself.
        OutputError: `dst` holds files and is not a converted dataset of this toolkit.
    """
    from plumbing.folders import claim_folder
    from recsys.data.canonical import write_canonical

    dataset = open_dataset(src, settings)
    if Path(dst).resolve() == dataset.source.resolve():
        raise ScenarioError(dst, "", "the destination is the source folder; choose another")
    claim_folder(dst, DATASET_KIND, is_converted_folder, "converted dataset folder")
    return write_canonical(dataset, dst)
