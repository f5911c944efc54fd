"""Frozen foundation encoders: registry, builders and group layer-dropping.

`build_encoder(spec, device=..., modality=...)` returns an `Encoder` whose `encode(items)`
gives `[B, steps, width]` pooled states of the selected hidden layers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import get_args

import torch

from recsys.channels import EncoderSpec, Modality
from recsys.encoders.base import Encoder
from recsys.encoders.layers import select_layers
from recsys.errors import ConfigError

EncoderBuilder = Callable[[EncoderSpec, "torch.device | str | None", bool], Encoder]

_REGISTRY: dict[str, EncoderBuilder] = {}
_READS: dict[str, tuple[str, ...]] = {}  # kind -> modalities it can encode
_LIBRARIES: dict[str, tuple[str, ...]] = {}  # kind -> distributions its states depend on
_DECODERS = {"image": ("pillow",), "video": ("pillow", "decord", "av")}  # media -> pixels
_MODALITIES = get_args(Modality)


def register_encoder(
    kind: str,
    builder: EncoderBuilder,
    modalities: tuple[str, ...],
    libraries: tuple[str, ...] = ("torch", "transformers"),
) -> None:
    """Register an encoder family under `kind`, for the modalities it reads (a vision family
    reads "image" and "video": video is the vision model over sampled frames) and with the
    distributions whose versions its states depend on (caches record them); raises on a
    duplicate."""
    if kind in _REGISTRY:
        raise ValueError(f"encoder kind {kind!r} is already registered")
    _REGISTRY[kind] = builder
    _READS[kind] = tuple(modalities)
    _LIBRARIES[kind] = tuple(libraries)


def encoder_libraries(spec: EncoderSpec, modality: str) -> tuple[str, ...]:
    """Distributions whose versions a channel's states depend on: the family's, plus the
    media decoders for image and video channels. Known without loading the model."""
    kind = spec.kind if spec.kind != "auto" else ("hf_text" if modality == "text" else "hf_vision")
    return (*_LIBRARIES.get(kind, ("torch",)), *_DECODERS.get(modality, ()))


def encoder_kinds(modality: str | None = None) -> list[str]:
    """Registered kinds (that read `modality`, when given), sorted."""
    return sorted(k for k in _REGISTRY if modality is None or modality in _READS[k])


def _hf_text(spec: EncoderSpec, device: torch.device | str | None, train: bool) -> Encoder:
    from recsys.encoders.hf_text import HFTextEncoder

    return HFTextEncoder(spec, device, train)


def _hf_vision(spec: EncoderSpec, device: torch.device | str | None, train: bool) -> Encoder:
    from recsys.encoders.hf_vision import HFVisionEncoder

    return HFVisionEncoder(spec, device, train)


def _open_clip(spec: EncoderSpec, device: torch.device | str | None, train: bool) -> Encoder:
    from recsys.encoders.open_clip_vision import OpenClipVisionEncoder

    return OpenClipVisionEncoder(spec, device, train)


register_encoder("hf_text", _hf_text, ("text",))
register_encoder("hf_vision", _hf_vision, ("image", "video"))
register_encoder("open_clip", _open_clip, ("image", "video"), ("torch", "open_clip_torch"))


def _auto_kind(spec: EncoderSpec, modality: str | None) -> str:
    if modality in ("image", "video"):
        return "hf_vision"
    if modality == "text":
        return "hf_text"
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(
        spec.model, revision=spec.revision, trust_remote_code=spec.trust_remote_code
    )
    is_vision = hasattr(config, "image_size") or hasattr(config, "vision_config")
    return "hf_vision" if is_vision else "hf_text"


def build_encoder(
    spec: EncoderSpec,
    *,
    device: torch.device | str | None = "cpu",
    for_training: bool = False,
    modality: str | None = None,
) -> Encoder:
    """Build the encoder a spec names.

    Args:
        spec: model, kind, pooling, layers, dtype, ... (`recsys.channels.EncoderSpec`).
        device: where it runs.
        for_training: parameters require grad and the model is in train mode (fine-tuning
            baselines); otherwise frozen, eval mode, and `encode` runs without gradients.
        modality: "text", "image" or "video" (the channel's); picks the family when
            `spec.kind` is "auto" and wraps a vision encoder for video.

    Raises:
        ConfigError: unknown kind or modality, or an option the family rejects.
    """
    if modality is not None and modality not in _MODALITIES:
        raise ConfigError(f"unknown modality {modality!r}; valid: {', '.join(_MODALITIES)}")
    spec.check()
    try:
        kind = _auto_kind(spec, modality) if spec.kind == "auto" else spec.kind
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load encoder {spec.model!r}: {exc}") from None
    if kind not in _REGISTRY:
        raise ConfigError(
            f"unknown encoder kind {spec.kind!r}; valid: auto, {', '.join(encoder_kinds())}"
        )
    if modality is not None and modality not in _READS[kind]:
        raise ConfigError(f"encoder kind {kind!r} cannot encode {modality} channels")
    try:
        # Loading may draw random numbers (weights a checkpoint lacks); on a forked RNG the
        # caller's stream, hence the adapter's and SASRec's init, is the same whether or not
        # an encoder had to be loaded (a current cache skips it).
        with torch.random.fork_rng(devices=_initialised_cuda_devices()):
            encoder = _REGISTRY[kind](spec, device, for_training)
    except (OSError, ValueError) as exc:  # transformers' "no such folder / repo / file"
        offline = os.environ.get("HF_HUB_OFFLINE", "0")
        raise ConfigError(
            f"cannot load encoder {spec.model!r}: not a loadable local model folder, and no "
            f"hub copy is reachable (HF_HUB_OFFLINE={offline}): {exc}"
        ) from None
    if modality == "video":
        from recsys.encoders.video import VideoEncoder

        return VideoEncoder(encoder)
    return encoder


def _initialised_cuda_devices() -> list[int]:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    return []


__all__ = ["Encoder", "build_encoder", "encoder_kinds", "register_encoder", "select_layers"]
