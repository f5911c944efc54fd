"""What a scenario resolves to before training: its dataset, split, captions and channel
inputs (`prepare`, memoised across a grid's cells by a `Workspace`), and the run
specification of one seed (`spec_for`), the only place a scenario becomes the settings that
`recsys.run` trains and scores with.

The steps of `prepare`: load the dataset (the embedded sample unless the scenario or `--data`
names one) as its `[dataset]` table says, check the text templates' fields against it, make
the split (leave-one-out or temporal), resolve the caption fields the text templates use
(captioning missing ones, or stopping with the command to run) and build one `ChannelInput`
per channel (templates filled, media paths listed, symbolic encoder names resolved).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media.hashing import sha256_json
from plumbing.typed import to_plain
from recsys.channels import ChannelInput
from recsys.config import SplitConfig
from recsys.data.types import Dataset, Split
from recsys.spec import RunSpec
from scenarios.schema.item_texts import check_templates, render_texts
from scenarios.schema.specs import DatasetSpec, Scenario


@dataclass
class Prepared:
    """What a scenario resolves to before training (shared by all its seeds)."""

    data_path: Path  # the dataset actually read
    dataset: Dataset
    split: Split
    channels: tuple[ChannelInput, ...]
    record: dict[str, Any]  # scenario, dataset and caption facts recorded with results


@dataclass
class Workspace:
    """Per-process memo of datasets, splits and captions, reused across the cells of a grid."""

    datasets: dict[tuple[str, str], Dataset] = field(default_factory=dict)
    splits: dict[tuple[str, SplitConfig], Split] = field(default_factory=dict)
    captions: dict[tuple[str, str], Any] = field(default_factory=dict)

    def dataset(self, path: Path, spec: DatasetSpec) -> Dataset:
        key = (str(path.resolve()), sha256_json(to_plain(spec)))
        if key not in self.datasets:
            self.datasets[key] = load_data(path, spec)
        return self.datasets[key]

    def split(self, dataset: Dataset, config: SplitConfig) -> Split:
        from recsys.data import make_split

        key = (dataset.content_hash, config)
        if key not in self.splits:
            self.splits[key] = make_split(dataset, config)
        return self.splits[key]


def load_data(path: Path, spec: DatasetSpec) -> Dataset:
    """Load a dataset as the scenario's `[dataset]` table says (format, explicit files,
    column names, k-core, user sample); `path` is the dataset actually read (`dataset_path`)."""
    from recsys.data import load_dataset
    from recsys.data.users_sample import sample_users

    dataset = load_dataset(
        path,
        items=spec.items,
        users=spec.interactions,
        images=spec.images,
        videos=spec.videos,
        on_unknown=spec.on_unknown,
        fmt=None if spec.format == "auto" else spec.format,
        columns=spec.columns,
        kcore=spec.kcore,
    )
    users = spec.users
    return sample_users(dataset, users.sample, users.sample_seed) if users.sample else dataset


def dataset_path(scenario: Scenario, data: Path | None) -> Path:
    """`--data`, else the scenario's dataset.path, else the embedded sample."""
    if data is not None:
        return Path(data)
    if scenario.dataset.path:
        return Path(scenario.dataset.path).expanduser()
    from recsys.data import sample_path

    return sample_path()


def prepare(
    scenario: Scenario,
    *,
    data: Path | None = None,
    workspace: Workspace | None = None,
    progress: bool = True,
) -> Prepared:
    """Dataset, split, captions and channel inputs for a scenario (no training)."""
    from scenarios.run.captions import resolve_captions

    ws = workspace or Workspace()
    path = dataset_path(scenario, data)
    dataset = ws.dataset(path, scenario.dataset)
    check_templates(scenario, dataset.catalogue, str(path))  # before any captioning
    split = ws.split(dataset, scenario.split)
    captions = {}
    if scenario.caption_fields:
        memo = (dataset.content_hash, sha256_json(_caption_settings(scenario)))
        if memo not in ws.captions:
            ws.captions[memo] = resolve_captions(
                scenario, split.catalogue, data=path, progress=progress
            )
        captions = ws.captions[memo]
    channels = tuple(_channel_input(scenario, ch, split, captions) for ch in scenario.channels)
    record = {
        "scenario": scenario.to_dict(),
        "scenario_fingerprint": scenario.fingerprint(),
        "dataset": {
            "path": str(path.resolve()),  # absolute: grids compare it across working folders
            "name": dataset.name,
            "content_hash": dataset.content_hash,
            "dropped_unknown": dataset.report.dropped_unknown,
            "users": split.num_users,
            "items": split.num_items,
            "dropped_users": split.dropped_users,
            "split": split.kind,
            **({"kcore": _kcore_facts(dataset, split)} if dataset.report.kcore else {}),
            **({"users_sample": sample} if (sample := dataset.report.users_sample) else {}),
        },
        "captions": {name: fc.record() for name, fc in captions.items()},
        "channels": [_channel_facts(c) for c in channels],
    }
    return Prepared(path, dataset, split, channels, record)


def spec_for(
    scenario: Scenario, prepared: Prepared, *, seed: int, split: Split | None = None
) -> RunSpec:
    """The run specification of one seed of `scenario`: its method, options, model, training
    and evaluation settings, the prepared channels and the cache folder under
    `output.cache_dir`. Every run of a scenario (run-scenario, a grid cell, a tuning trial,
    `toolkit evaluate`, `recommend`) is built from this.

    Args:
        scenario: a validated scenario.
        prepared: `prepare(scenario)`.
        seed: the run's seed.
        split: the split to train on instead of `prepared.split` (a tuning trial's, whose
            test targets are withheld).
    """
    return RunSpec(
        split=prepared.split if split is None else split,
        method=scenario.method,
        channels=prepared.channels,
        method_options=dict(scenario.method_options),
        sasrec=scenario.model,
        train=scenario.train,
        evaluation=scenario.eval,
        seed=seed,
        cache_dir=scenario.output.cache_path() / "states",
    )


def _kcore_facts(dataset: Any, split: Any) -> dict[str, Any]:
    """The load-time k-core's facts; a temporal split redoes the k-core on its training
    period (results.json `split.filtering`), which this record says instead of repeating
    the whole timeline's counts as if they applied."""
    if split.kind == "temporal":
        return {"k": dataset.report.kcore.get("k"), "applied": "training period (split.filtering)"}
    return dataset.report.kcore


def _channel_facts(channel: ChannelInput) -> dict[str, Any]:
    facts = {
        "name": channel.name,
        "modality": channel.modality,
        "model": channel.encoder.model,
        "source_fingerprint": channel.source_fingerprint,
    }
    if channel.paths is not None and channel.item_ids is not None:
        ids = zip(channel.item_ids, channel.paths, strict=True)
        facts["no_media_items"] = [item_id for item_id, path in ids if path is None]
    return facts


def _caption_settings(scenario: Scenario) -> dict[str, Any]:
    from scenarios.run.captions import caption_store_dir

    return {
        "store": str(caption_store_dir(scenario)),
        "fields": {f: dataclasses.asdict(scenario.captions[f]) for f in scenario.caption_fields},
    }


def _channel_input(
    scenario: Scenario, channel: Any, split: Split, captions: dict[str, Any]
) -> ChannelInput:
    from scenarios.schema.models import resolve_model

    encoder = dataclasses.replace(
        channel.encoder, model=resolve_model(channel.encoder.model, scenario.output.cache_path())
    )
    cat = split.catalogue
    if channel.modality == "text":
        from recsys.encoders.hf_text import load_tokenizer

        columns = {name: fc.captions for name, fc in captions.items()}
        texts = render_texts(channel.template, cat, columns, lambda: load_tokenizer(encoder))
        used = {name: captions[name].fingerprint for name in captions if name in channel.template}
        source = sha256_json({"template": channel.template, "captions": used})
        return ChannelInput(
            channel.name,
            "text",
            encoder,
            texts=texts,
            source_fingerprint=source,
            item_ids=cat.item_ids,
            source_label=channel.template,
        )
    paths = cat.image_paths if channel.modality == "image" else cat.video_paths
    return ChannelInput(channel.name, channel.modality, encoder, paths=paths, item_ids=cat.item_ids)
