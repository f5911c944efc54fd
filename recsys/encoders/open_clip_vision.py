"""open_clip visual towers, read block by block through forward hooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from media.hashing import sha256_json
from plumbing.revision import files_revision
from recsys.channels import EncoderSpec
from recsys.encoders.base import Encoder, check_pooling, torch_dtype
from recsys.encoders.hf_vision import load_rgb, pool_states
from recsys.encoders.layers import select_layers
from recsys.errors import ConfigError


class OpenClipVisionEncoder(Encoder):
    """Per-block pooled states of an open_clip `VisionTransformer`.

    `spec.model` is `ARCH` (random weights, for tests) or `ARCH::PRETRAINED` where PRETRAINED
    is an open_clip tag ("laion2b_s34b_b79k") or a checkpoint file. State 0 is the input of
    the first residual block (after `ln_pre`), state k the output of block k.

    Args:
        spec: the encoder spec.
        device: where the model runs.
        for_training: keep parameters trainable and the model in train mode.
    """

    modality = "image"

    def __init__(
        self, spec: EncoderSpec, device: torch.device | str | None, for_training: bool
    ) -> None:
        super().__init__(spec, for_training)
        import open_clip

        check_pooling(spec, ("auto", "cls", "mean"))
        arch, _, pretrained = spec.model.partition("::")
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=pretrained or None
        )
        visual = model.visual
        blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
        if blocks is None:
            raise ConfigError(
                f"open_clip model {arch!r} has no transformer visual tower; "
                "only VisionTransformer towers expose per-block states"
            )
        self.model = visual.to(torch_dtype(spec))
        self.preprocess = preprocess
        self._batch_first = bool(getattr(visual.transformer, "batch_first", True))
        self.num_blocks = len(blocks)
        self.width = int(visual.transformer.width)
        self.selected_layers = select_layers(self.num_blocks, spec.groups, spec.layers)
        self._has_cls = getattr(visual, "class_embedding", None) is not None
        self.pooling = (
            spec.pooling if spec.pooling != "auto" else ("cls" if self._has_cls else "mean")
        )
        if pretrained:  # a checkpoint file is identified by its content, a tag by its name
            self.revision = files_revision(pretrained) or pretrained
        else:  # random weights: only their values identify them
            self.revision = (
                "untrained-"
                + sha256_json({k: float(v.float().sum()) for k, v in visual.state_dict().items()})[
                    :16
                ]
            )
        self._captured: list[torch.Tensor] = []
        blocks[0].register_forward_pre_hook(self._capture_input)
        for block in blocks:
            block.register_forward_hook(self._capture_output)
        self._finish(self.model, device)

    def _capture_input(self, _module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        self._captured.append(args[0])

    def _capture_output(self, _module: torch.nn.Module, _args: Any, output: Any) -> None:
        self._captured.append(output[0] if isinstance(output, tuple) else output)

    def load(self, item: Any) -> Any:
        return load_rgb(item)

    def prepare(self, loaded: Sequence[Any]) -> dict[str, torch.Tensor]:
        return {"pixel_values": torch.stack([self.preprocess(img) for img in loaded])}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:  # -> [B, steps, width] fp32
        param = next(self.model.parameters())
        self._captured = []
        try:
            self.model(pixel_values.to(param.device, param.dtype))
            hidden = [h if self._batch_first else h.transpose(0, 1) for h in self._captured]
        finally:
            self._captured = []
        return pool_states(hidden, self.selected_layers, self.pooling, self._has_cls)
