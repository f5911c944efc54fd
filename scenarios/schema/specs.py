"""The scenario's typed configuration: frozen dataclasses with a comment on every field,
and the field names templates and captions use. Built by `scenarios.schema.scenario`
(`load_scenario`), checked by `scenarios.schema.checks`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from media.hashing import sha256_json
from plumbing.cachedir import user_cache_dir
from plumbing.typed import to_plain
from recsys.channels import EncoderSpec
from recsys.config import (
    EvalConfig,
    SASRecConfig,
    SplitConfig,
    TableColumns,
    TrainConfig,
    drop_defaults,
    hashed_sections,
)
from recsys.data.users_sample import UsersSample
from scenarios.schema.templates import template_fields

TEMPLATE_FIELDS = ("title", "item_id", "image_caption", "video_caption")
"""Fields every dataset offers templates; its own text fields come on top
(scenarios.schema.item_texts)."""

CAPTION_MEDIA = {"image_caption": "image", "video_caption": "video"}
"""Caption field -> the media it describes."""

DEFAULT_ENCODERS = {"text": "minilm", "image": "tiny-vit", "video": "tiny-vit"}
"""Encoder model used when a channel names none (symbolic names, see scenarios.schema.models)."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where the interactions and items come from, and how to read them."""

    path: str | None = None  # dataset folder or file; None = the embedded sample
    format: str = (
        "auto"  # "auto" detects by file names, or a registered format (recsys.data.format_names())
    )
    on_unknown: Literal["error", "drop"] = "error"  # interactions naming an unknown item
    items: str | None = None  # explicit items / titles / meta / .item file (else found)
    interactions: str | None = None  # explicit interactions file (else found)
    images: str | None = None  # explicit cover folder of <item_id>.jpg (else found)
    videos: str | None = None  # explicit video folder of <item_id>.mp4 (else found)
    columns: TableColumns = field(default_factory=TableColumns)  # tables / RecBole columns
    kcore: int = 0  # keep users and items with >= kcore interactions (0: no filter)
    users: UsersSample = field(default_factory=UsersSample)  # a user subsample, before the split


# Keys added after scenario fingerprints were first recorded: left out while at their default.
DATASET_UNRECORDED = ("items", "interactions", "images", "videos", "columns", "kcore", "users")


@dataclass(frozen=True)
class ChannelSpec:
    """One input channel of the item tower."""

    name: str  # unique within the scenario; names the cache and the adapter branch
    modality: Literal["text", "image", "video"]  # what the encoder reads
    encoder: EncoderSpec  # frozen encoder; `model` may be symbolic ("minilm", "tiny-vit")
    template: str | None = None  # text only: e.g. "{title}. {image_caption}"


@dataclass(frozen=True)
class CaptionSpec:
    """How one caption field (`image_caption`, `video_caption`) is produced."""

    captioner: str = "baseline"  # captioner registry name ("baseline" needs no model)
    model: str | None = None  # hub id or local folder for model-based captioners
    prompt: str = "short"  # prompt preset name or literal prompt
    generate: bool = True  # False: never caption here; stop and print the command instead
    max_new_tokens: int = 30  # generation length limit (part of the caption key)
    num_beams: int = 1  # beams; 1 = greedy (part of the caption key)
    num_frames: int = 8  # frames per video for video captions (part of the caption key)
    dtype: str = "float32"  # captioner compute dtype (part of the caption key)
    device: str = "auto"  # where the captioner runs; not part of the key
    batch_size: int = 8  # media per generate() call; not part of the key
    # Use captions of the same model and settings made under other torch / transformers
    # versions (the key records them) instead of captioning again; not part of the key.
    reuse_across_versions: bool = False


CAPTION_RUNTIME = ("device", "batch_size", "reuse_across_versions")
"""CaptionSpec fields that say how captions are made or looked up, not which: left out of the
scenario fingerprint (the caption key and the store's fingerprint record what was used)."""


@dataclass(frozen=True)
class OutputSpec:
    """Where runs, caches and captions go."""

    dir: str = "runs"  # runs land in <dir>/<scenario>/<method>-s<seed>
    # Hidden-state caches, generated tiny models and captions. None: the user's cache folder
    # ($MMREC_TOOLKIT_CACHE, else $XDG_CACHE_HOME/mmrec-toolkit, else ~/.cache/mmrec-toolkit).
    cache_dir: str | None = None
    caption_store: str | None = None  # caption store folder; None = <cache_dir>/captions

    def cache_path(self) -> Path:
        """`cache_dir`, or the user's cache folder (`plumbing.cachedir.user_cache_dir`)."""
        return Path(self.cache_dir).expanduser() if self.cache_dir else user_cache_dir()

    # Experiment tracking (scenarios.run.tracking): "mlflow" or "tensorboard"; off by default.
    tracking: Literal["off", "mlflow", "tensorboard"] = "off"
    tracking_uri: str | None = None  # MLflow store; None = sqlite <job folder>/mlflow.db


@dataclass(frozen=True)
class Scenario:
    """One fully validated scenario."""

    name: str  # short name; used in run folders and reports
    description: str = ""  # what the scenario tests, one sentence
    dataset: DatasetSpec = field(default_factory=DatasetSpec)  # data source
    split: SplitConfig = field(default_factory=SplitConfig)  # leave-one-out or temporal
    channels: tuple[ChannelSpec, ...] = ()  # input channels; empty only for `id`
    captions: Mapping[str, CaptionSpec] = field(default_factory=dict)  # per caption field
    method: str = "iisan_versa"  # registered method (recsys.methods)
    method_options: Mapping[str, Any] = field(default_factory=dict)  # passed to the method
    model: SASRecConfig = field(default_factory=SASRecConfig)  # user encoder
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation
    eval: EvalConfig = field(default_factory=EvalConfig)  # ranking and metrics
    seeds: tuple[int, ...] = (0,)  # one run per seed
    output: OutputSpec = field(default_factory=OutputSpec)  # output folders
    source: str = field(default="", init=False)  # file it was loaded from (set by the loader)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able form (what results record)."""
        return to_plain(self)

    def fingerprint(self) -> str:
        """sha256 over everything that changes results: not the description, output folders
        or seeds, nor where and in what batches captions are generated (`CAPTION_RUNTIME`)."""
        plain = self.to_dict()
        for key in ("description", "source", "output", "seeds"):
            plain.pop(key, None)
        plain = hashed_sections(plain)  # model, split, eval: older grids keep fingerprints
        for table in plain["captions"].values():
            for key in CAPTION_RUNTIME:
                table.pop(key, None)
        plain["dataset"] = drop_defaults(
            plain["dataset"], to_plain(DatasetSpec()), DATASET_UNRECORDED
        )
        return sha256_json(plain)

    @property
    def caption_fields(self) -> tuple[str, ...]:
        """Caption fields used by any text template, in first-use order."""
        used: list[str] = []
        for channel in self.channels:
            for name in template_fields(channel.template or ""):
                if name in CAPTION_MEDIA and name not in used:
                    used.append(name)
        return tuple(used)


def scenario_summary(s: Scenario) -> dict[str, Any]:
    """Short facts for reports: channels by modality and whether captions feed text."""
    modalities = tuple(ch.modality for ch in s.channels)
    return {
        "name": s.name,
        "method": s.method,
        "modalities": "+".join(modalities) or "id",
        "captions": list(s.caption_fields),
        "text_only": bool(s.channels) and set(modalities) == {"text"} and not s.caption_fields,
    }
