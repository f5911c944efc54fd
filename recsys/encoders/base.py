"""What every frozen encoder wrapper offers: pooled hidden states of the selected layers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from recsys.channels import DTYPES, EncoderSpec
from recsys.errors import ConfigError

TORCH_DTYPES = {name: getattr(torch, name) for name in DTYPES}  # the names: recsys.channels


class Encoder(nn.Module):
    """A foundation model that maps raw items to `[B, steps, width]` pooled hidden states.

    Subclasses set the attributes below in `__init__` and implement `load`, `prepare` and
    `forward`. `encode` strings the three together. `forward` does not disable gradients, so
    fine-tuning baselines can train through it; `encode` does, unless the encoder was built
    `for_training`.

    Attributes:
        spec: the spec it was built from.
        model_id: hub id or folder (open_clip: architecture[::pretrained]).
        revision: commit hash, pretrained tag, or a content hash of the local folder or
            checkpoint file (`plumbing.revision.files_revision`).
        num_blocks: transformer blocks L (hidden states 0..L exist).
        width: hidden width of the pooled states.
        selected_layers: hidden-state indices returned by `forward`, ascending.
        pooling: resolved token pooling ("cls", "mean" or "padded_mean").
        for_training: whether parameters require grad.
    """

    modality: str = "text"

    def __init__(self, spec: EncoderSpec, for_training: bool) -> None:
        super().__init__()
        self.spec = spec
        self.for_training = for_training
        self.model_id = spec.model
        self.revision = "unknown"
        self.num_blocks = 0
        self.width = 0
        self.selected_layers: tuple[int, ...] = ()
        self.pooling = "cls"

    @property
    def num_steps(self) -> int:
        return len(self.selected_layers)

    @property
    def constant_first_step(self) -> bool:
        """True when state 0 is the same for every item (CLS of the embedding output)."""
        return self.pooling == "cls" and self.selected_layers[0] == 0

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def load(self, item: Any) -> Any:
        """Turn one raw item (text, path, PIL image, frame array) into a model-ready object.

        Raises:
            media.errors.MediaError: the item's media is missing or unreadable.
        """
        raise NotImplementedError

    def prepare(self, loaded: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Tokenise / preprocess a batch of loaded items into CPU tensors."""
        raise NotImplementedError

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:  # -> [B, steps, width] fp32
        raise NotImplementedError

    def size_key(self, item: Any) -> int:
        """A cost proxy used to sort items so batches pad little (text length)."""
        return 0

    def truncated(self, items: Sequence[Any]) -> int | None:
        """How many of `items` the encoder cuts (a text over `max_tokens`); None: it cuts
        nothing (media encoders)."""
        return None

    def encode(self, items: Sequence[Any]) -> torch.Tensor:
        """Pooled states `[B, steps, width]` (fp32) of raw items, on the encoder's device."""
        inputs = self.prepare([self.load(item) for item in items])
        with torch.set_grad_enabled(self.for_training and torch.is_grad_enabled()):
            return self(**inputs)

    def describe(self) -> dict[str, Any]:
        """Everything that determines the states; recorded in cache manifests and results."""
        return {
            "model": self.model_id,
            "kind": type(self).__name__,
            "revision": self.revision,
            "modality": self.modality,
            "num_blocks": self.num_blocks,
            "width": self.width,
            "layers": list(self.selected_layers),
            "pooling": self.pooling,
            "dtype": self.spec.dtype,
            "quantization": self.spec.quantization,
        }

    def _finish(self, backbone: nn.Module, device: torch.device | str | None) -> None:
        """Freeze (or not) and place the backbone once the subclass has built it."""
        backbone.requires_grad_(self.for_training)
        self.train(self.for_training)  # reaches the backbone too
        if device is not None and self.spec.quantization is None:
            backbone.to(device)


@contextlib.contextmanager
def outside_autocast() -> Iterator[None]:
    """Run a frozen encoder at its own `dtype` setting only. Inside a trainer's autocast
    (bf16 / fp16 on CUDA, or a caller's CPU autocast) a live encoder would otherwise compute
    in low precision and training would see other states than the cache (fp32 computed,
    stored fp16) gives evaluation."""
    with contextlib.ExitStack() as stack:
        for device_type in ("cpu", "cuda"):
            if torch.is_autocast_enabled(device_type):
                stack.enter_context(torch.autocast(device_type, enabled=False))
        yield


def torch_dtype(spec: EncoderSpec) -> torch.dtype:
    spec.check()
    return TORCH_DTYPES[spec.dtype]


def check_pooling(spec: EncoderSpec, allowed: Sequence[str]) -> None:
    if spec.pooling not in allowed:
        raise ConfigError(
            f"encoder.pooling {spec.pooling!r} is not valid for {spec.model}; "
            f"choose one of {', '.join(allowed)}"
        )


def pool_tokens(
    hidden: torch.Tensor, pooling: str, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Pool one hidden state `[B, T, D]` to `[B, D]`.

    `cls` takes token 0, `padded_mean` averages every position (the reference LLM pooling),
    `mean` averages positions where `mask` is 1 (all positions when `mask` is None).
    """
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "padded_mean" or mask is None:
        return hidden.mean(dim=1)
    weights = mask.to(hidden.dtype).unsqueeze(-1)  # [B, T, 1]
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
