"""Hugging Face vision towers (ViT, CLIP, SigLIP, DINOv2, ...) and shared image loading."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from plumbing.revision import files_revision
from recsys.channels import EncoderSpec
from recsys.encoders.base import Encoder, check_pooling, pool_tokens, torch_dtype
from recsys.encoders.layers import select_layers

# Checkpoints that hold a text tower too: load only the vision half.
_VISION_CLASSES = {
    "clip": "CLIPVisionModel",
    "siglip": "SiglipVisionModel",
    "siglip2": "Siglip2VisionModel",
}
_NO_CLS = ("siglip", "siglip_vision_model", "siglip2", "siglip2_vision_model")


def load_rgb(item: Any) -> Any:
    """A PIL RGB image from a path, a PIL image or an `[H, W, 3]` uint8 array.

    Raises:
        media.errors.MediaError: the file is missing or unreadable.
    """
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, np.ndarray):
        return Image.fromarray(item.astype(np.uint8)).convert("RGB")
    if isinstance(item, (str, Path)):
        from media.images import load_image

        return load_image(item)
    from media.errors import MediaError

    raise MediaError(str(item), f"no image (got {type(item).__name__})")


class HFVisionEncoder(Encoder):
    """Per-layer pooled states of a Hugging Face vision tower, with its own image processor.

    Pooling "auto" takes the CLS token where the model has one and the mean over patches
    otherwise (SigLIP); "mean" on a CLS model averages the patch tokens only.

    Args:
        spec: the encoder spec (hub id or local folder in `spec.model`).
        device: where the model runs.
        for_training: keep parameters trainable and the model in train mode.
    """

    modality = "image"

    def __init__(
        self, spec: EncoderSpec, device: torch.device | str | None, for_training: bool
    ) -> None:
        super().__init__(spec, for_training)
        import transformers
        from transformers import AutoConfig, AutoImageProcessor, AutoModel

        check_pooling(spec, ("auto", "cls", "mean"))
        common = {"revision": spec.revision, "trust_remote_code": spec.trust_remote_code}
        config = AutoConfig.from_pretrained(spec.model, **common)
        model_type = config.model_type
        cls_name = _VISION_CLASSES.get(model_type)
        loader = getattr(transformers, cls_name) if cls_name else AutoModel
        model = loader.from_pretrained(spec.model, dtype=torch_dtype(spec), **common)
        self.model = model
        self.processor = AutoImageProcessor.from_pretrained(spec.model, **common)
        vconfig = model.config
        self.num_blocks = int(vconfig.num_hidden_layers)
        self.width = int(vconfig.hidden_size)
        self.selected_layers = select_layers(self.num_blocks, spec.groups, spec.layers)
        self._has_cls = model_type not in _NO_CLS and vconfig.model_type not in _NO_CLS
        if spec.pooling == "auto":
            self.pooling = "cls" if self._has_cls else "mean"
        elif spec.pooling == "cls" and not self._has_cls:
            from recsys.errors import ConfigError

            raise ConfigError(f"{spec.model} has no CLS token; use encoder.pooling = 'mean'")
        else:
            self.pooling = spec.pooling
        self.revision = (
            files_revision(spec.model)
            or getattr(config, "_commit_hash", None)
            or spec.revision
            or "unknown"
        )
        self._finish(model, device)

    def load(self, item: Any) -> Any:
        return load_rgb(item)

    def prepare(self, loaded: Sequence[Any]) -> dict[str, torch.Tensor]:
        return {
            "pixel_values": self.processor(images=list(loaded), return_tensors="pt")["pixel_values"]
        }

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:  # -> [B, steps, width] fp32
        param = next(self.model.parameters())
        pixels = pixel_values.to(param.device, param.dtype)
        hidden = self.model(pixel_values=pixels, output_hidden_states=True).hidden_states
        return pool_states(hidden, self.selected_layers, self.pooling, self._has_cls)


def pool_states(
    hidden: Sequence[torch.Tensor], layers: Sequence[int], pooling: str, has_cls: bool
) -> torch.Tensor:
    """Stack the pooled vision states `[B, steps, width]` of the selected layers (fp32)."""
    states = []
    for i in layers:
        tokens = hidden[i][:, 1:] if (pooling == "mean" and has_cls) else hidden[i]
        states.append(pool_tokens(tokens, pooling))
    return torch.stack(states, dim=1).float()
