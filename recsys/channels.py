"""What feeds an item tower: one `ChannelInput` per input channel (text, image or video)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Modality = Literal["text", "image", "video"]


@dataclass(frozen=True)
class EncoderSpec:
    """A frozen foundation encoder and how its hidden states are read."""

    model: str  # hub id ("bert-base-uncased") or local folder
    kind: str = "auto"  # "auto" | "hf_text" | "hf_vision" | "open_clip"
    revision: str | None = None  # hub revision; recorded in caches and results
    pooling: str = "auto"  # "auto" | "cls" | "mean" | "padded_mean" (reference LLM pooling)
    max_tokens: int = 30  # text truncation length
    layers: tuple[int, ...] | None = None  # explicit hidden-state indices (0 = embeddings)
    groups: int = 6  # group layer-dropping: number of kept blocks (plus index 0)
    dtype: str = "float32"  # "float32" | "float16" | "bfloat16"
    num_frames: int = 8  # frames sampled per video
    trust_remote_code: bool = False  # never on unless a scenario turns it on
    quantization: str | None = None  # None | "8bit" | "4bit" (GPU + bitsandbytes only)


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
        item_ids: the catalogue's item ids, in the same order (None: unnamed); the cache
            manifest lists the items that fell back to zero states by these ids.
    """

    name: str
    modality: Modality
    encoder: EncoderSpec
    texts: tuple[str, ...] | None = None
    paths: tuple[Path | None, ...] | None = None
    source_fingerprint: str = ""
    item_ids: tuple[str, ...] | None = None
