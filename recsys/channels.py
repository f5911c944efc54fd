"""What feeds an item tower: one `ChannelInput` per input channel (text, image or video)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from plumbing.typed import invalid_choice
from recsys.errors import ConfigError

Modality = Literal["text", "image", "video"]
Pooling = Literal["auto", "cls", "mean", "padded_mean"]
DType = Literal["float32", "float16", "bfloat16"]
Quantization = Literal["8bit", "4bit"]
POOLINGS: tuple[str, ...] = get_args(Pooling)  # "auto": CLS for BERT-likes / ViT, mean for LLMs
DTYPES: tuple[str, ...] = get_args(DType)  # encoder compute dtypes (recsys.encoders maps them)
QUANTIZATIONS: tuple[str, ...] = get_args(Quantization)  # bitsandbytes modes (GPU, text only)


@dataclass(frozen=True)
class EncoderSpec:
    """A frozen foundation encoder and how its hidden states are read."""

    model: str  # hub id ("bert-base-uncased") or local folder
    kind: str = "auto"  # "auto" or a registered encoder kind (recsys.encoders.encoder_kinds)
    revision: str | None = None  # hub revision; recorded in caches and results
    pooling: Pooling = "auto"  # "padded_mean" is the reference code's LLM pooling
    max_tokens: int = 30  # text truncation length
    layers: tuple[int, ...] | None = None  # explicit hidden-state indices (0 = embeddings)
    groups: int = 6  # group layer-dropping: number of kept blocks (plus index 0)
    dtype: DType = "float32"  # compute dtype of the frozen encoder
    num_frames: int = 8  # frames sampled per video
    trust_remote_code: bool = False  # never on unless a scenario turns it on
    quantization: Quantization | None = None  # text encoders on a GPU, through bitsandbytes

    def check(self, prefix: str = "encoder") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on a value no encoder accepts."""
        for name, choices in (("pooling", POOLINGS), ("dtype", DTYPES)):
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(invalid_choice(value, choices), field=f"{prefix}.{name}")
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            choices = (*QUANTIZATIONS, None)
            raise ConfigError(
                invalid_choice(self.quantization, choices), field=f"{prefix}.quantization"
            )
        for name in ("max_tokens", "num_frames", "groups"):
            if getattr(self, name) < 1:
                raise ConfigError("must be >= 1", field=f"{prefix}.{name}")
        if self.layers is not None and (not self.layers or min(self.layers) < 0):
            raise ConfigError("a non-empty list of indices >= 0", field=f"{prefix}.layers")


@dataclass(frozen=True)
class ChannelInput:
    """One input channel, resolved to per-item data in catalogue order.

    Attributes:
        name: channel name from the scenario ("text", "image", ...).
        modality: "text", "image" or "video".
        encoder: the frozen encoder for this channel.
        texts: one string per catalogue item (text channels), else None.
        paths: one media path (or None when missing) per item (image/video), else None.
        source_fingerprint: hash of what produced the inputs (template, caption store),
            recorded in the cache manifest so stale captions force a rebuild.
        item_ids: the catalogue's item ids in the same order, when known (messages and
            manifests name items by id, not by dense row).
    """

    name: str
    modality: Modality
    encoder: EncoderSpec
    texts: tuple[str, ...] | None = None
    paths: tuple[Path | None, ...] | None = None
    source_fingerprint: str = ""
    item_ids: tuple[str, ...] | None = None
    source_label: str = ""  # what made the inputs, in words (a text channel's template)
