"""`RunSpec`: everything that decides what one run trains and how it is scored, in one
frozen value, and the configuration a run records and hashes from it (`RunSpec.run_config`).

Training (`recsys.run.run_experiment`, and a tuning trial through `recsys.run.fit_model`),
scoring a finished run (`recsys.run.evaluate_trained`) and rebuilding its model
(`recsys.factory.build_trained`) all take a spec, so they cannot see different settings. A
scenario makes one per seed (`scenarios.run.prepared.spec_for`); a variant is
`dataclasses.replace(spec, train=...)`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.channels import ChannelInput
from recsys.config import EvalConfig, SASRecConfig, TrainConfig, eval_record, sasrec_record
from recsys.data.types import Split
from recsys.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run's settings: the split, the method and its inputs, the model, optimisation,
    evaluation, seed and where hidden-state caches live (not part of any fingerprint)."""

    split: Split  # the split trained and scored on (its catalogue sizes the model)
    method: str  # a registered method (recsys.methods.method_names())
    channels: tuple[ChannelInput, ...] = ()  # input channels of content methods
    method_options: Mapping[str, Any] = field(default_factory=dict)  # raw [method_options]
    sasrec: SASRecConfig = SASRecConfig()  # user encoder
    train: TrainConfig = TrainConfig()  # optimisation; None / "auto" take the method's defaults
    evaluation: EvalConfig = EvalConfig()  # ranking protocol options
    seed: int = 0  # seeds initialisation, shuffling and dropout
    cache_dir: Path  # where methods keep hidden-state caches

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "method_options", dict(self.method_options or {}))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    def check(self) -> RunSpec:
        """Fail before any work on an unknown method, a content method without channels or
        an option typo; returns the spec with the method's training defaults filled in.

        Raises:
            ConfigError: naming the method, the option or the valid choices.
        """
        from recsys.methods import get_method, parse_method_options

        entry = get_method(self.method)
        if entry.needs_channels and not self.channels:
            raise ConfigError(f"method {self.method!r} needs at least one input channel")
        parse_method_options(self.method, self.method_options)
        return self.resolved()

    def resolved(self) -> RunSpec:
        """The spec with None / "auto" training fields taken from the method's defaults
        (idempotent)."""
        from recsys.methods import get_method
        from recsys.train.trainer import resolve_train_config

        train = resolve_train_config(self.train, get_method(self.method).defaults)
        return self if train == self.train else dataclasses.replace(self, train=train)

    def run_config(self) -> dict[str, Any]:
        """The resolved configuration a run records and hashes (`recsys.fingerprints`)."""
        return {
            "protocol": self.split.protocol,
            "method": self.method,
            "method_options": dict(self.method_options),
            "channels": [channel_record(c) for c in self.channels],
            "sasrec": sasrec_record(dataclasses.asdict(self.sasrec)),
            "train": dataclasses.asdict(self.resolved().train),
            "evaluation": eval_record(dataclasses.asdict(self.evaluation)),
            "seed": self.seed,
            "split": config_split(self.split),
        }


def channel_record(channel: ChannelInput) -> dict[str, Any]:
    """What the run configuration says about one input channel."""
    return {
        "name": channel.name,
        "modality": channel.modality,
        "encoder": dataclasses.asdict(channel.encoder),
        "source_fingerprint": channel.source_fingerprint,
    }


def split_fingerprint(split: Split) -> str:
    """sha256 over the catalogue and every array that defines the split; a split other than
    leave-one-out also hashes its kind, cut times and validation histories, and one under
    the new-item protocol its protocol name and withheld items (leave-one-out fingerprints
    stay what they were before either existed)."""
    digest = hashlib.sha256(split.catalogue.content_hash.encode())
    for array in (split.train_seqs, split.valid_target, split.test_target, *split.test_seen):
        digest.update(array.astype("int64").tobytes())
    digest.update("\n".join(split.user_ids).encode())
    if split.kind != "leave_one_out":
        digest.update(json.dumps([split.kind, split.cuts]).encode())
        for array in split.valid_seen:
            digest.update(array.astype("int64").tobytes())
    if split.withheld is not None:
        digest.update(f"\n{split.protocol}\n".encode())
        digest.update(split.withheld.items.astype("int64").tobytes())
    return digest.hexdigest()


def split_record(split: Split) -> dict[str, Any]:
    """What results.json says about the split under its `split` key: kind, protocol name,
    fingerprint, parameters and, for a temporal split, the cut times (epoch seconds and ISO);
    under the new-item protocol the withheld fraction, seed and item count."""
    record: dict[str, Any] = {
        "kind": split.kind,
        "protocol": split.protocol,
        "fingerprint": split_fingerprint(split),
        "keep_last": split.keep_last,
        "max_len": split.max_len,
        "min_len": split.min_len,
        **({"filtering": split.filtering} if split.filtering else {}),  # temporal
    }
    if split.cuts is not None:
        record["cuts"] = list(split.cuts)
        record["valid_start"], record["test_start"] = (_iso(t) for t in split.cuts)
    if split.withheld is not None:
        w = split.withheld
        record["new_items"] = {"fraction": w.fraction, "seed": w.seed, "items": len(w.items)}
    return record


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def config_split(split: Split) -> dict[str, Any]:
    """The split part of the run configuration; only a split other than leave-one-out adds
    its kind and cuts, and only the new-item protocol its `new_items`, so existing run
    folders keep their configuration hash."""
    record = split_record(split)
    keys = ["fingerprint", "keep_last", "max_len", "min_len"]
    if split.kind != "leave_one_out":
        keys += ["kind", "cuts"]
    if split.withheld is not None:
        keys.append("new_items")
    return {k: record[k] for k in keys}
