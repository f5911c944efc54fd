"""An item tower that trains through its encoders: the shared body of the fine-tuning baselines.

Per channel: encoder (a `recsys.encoders.Encoder` built for training) -> pooled state of the
last block -> head Linear -> `out_dim`; several channels are concatenated and fused by one
Linear, as the `frozen` method does. The baselines differ only in which encoder parameters
train (`EncoderPlan`); the heads and fusion always train.

Item inputs are prepared once per catalogue: texts are tokenised into id/mask tensors, and
images or video frames are preprocessed into a tensor store when it fits `store_bytes`,
otherwise loaded and preprocessed on the fly for each batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recsys.models.base import ItemTower, ParamGroup

# An encoder plan turns a backbone (the HF / open_clip model inside an encoder) into the
# list of its parameters that train, inserting modules (adapters, LoRA) where it needs to.
EncoderPlan = Callable[[nn.Module, "Probe"], list[nn.Parameter]]


def backbone_of(encoder: nn.Module) -> nn.Module:
    """The foundation model inside an encoder wrapper (a video encoder wraps a vision one)."""
    inner = getattr(encoder, "vision", encoder)
    return inner.model


class ItemInputs:
    """Model-ready encoder inputs of every catalogue item for one channel.

    Args:
        encoder: the channel's encoder (`load` + `prepare`).
        raw: one raw item per catalogue item (text, or a media path / None), dense order.
        modality: "text", "image" or "video".
        store_bytes: precompute media inputs when their estimated size is at most this.
        chunk: items per `prepare` call while precomputing.
    """

    def __init__(
        self,
        encoder: Any,
        raw: Sequence[Any],
        modality: str,
        store_bytes: int = 1 << 30,
        chunk: int = 256,
    ) -> None:
        self.encoder = encoder
        self.raw = [None, *raw]  # dense index 0 is padding
        self.modality = modality
        self.missing = 0
        self.store: dict[str, torch.Tensor] | None = None
        self.per_item: dict[str, int] = {}
        if modality == "text":
            self.store = self._prepare_rows([str(t) for t in self.raw[1:]], pad_first=True)
        else:
            self._maybe_store_media(store_bytes, chunk)

    def _prepare_rows(self, loaded: list[Any], pad_first: bool) -> dict[str, torch.Tensor]:
        """`prepare` output reshaped to `[rows, per_item, ...]`, with a padding row first."""
        items = [""] + loaded if pad_first else loaded
        batch = self.encoder.prepare(items)
        out = {}
        for key, value in batch.items():
            per = value.shape[0] // len(items)
            self.per_item[key] = per
            out[key] = value.reshape(len(items), per, *value.shape[1:])
        return out

    def _load(self, index: int) -> Any | None:
        from media.errors import MediaError

        item = self.raw[index]
        if item is None:
            return None
        try:
            return self.encoder.load(item)
        except MediaError:
            return None

    def _media_rows(self, indices: Sequence[int]) -> tuple[dict[str, torch.Tensor], int]:
        """Prepared rows for `indices` and how many had unreadable media (all-zero inputs)."""
        loaded = [self._load(i) for i in indices]
        unreadable = sum(
            x is None and self.raw[i] is not None for i, x in zip(indices, loaded, strict=True)
        )
        present = [x for x in loaded if x is not None]
        if not present:  # a batch of only missing media: shape from the first real item
            present = [self._first_loadable()]
        rows = self._prepare_rows(present, pad_first=False)
        pos = torch.tensor([j for j, x in enumerate(loaded) if x is not None], dtype=torch.long)
        out = {}
        for key, value in rows.items():
            full = value.new_zeros((len(loaded), *value.shape[1:]))
            full[pos] = value[: len(pos)]
            out[key] = full
        return out, unreadable

    def _first_loadable(self) -> Any:
        for i in range(1, len(self.raw)):
            item = self._load(i)
            if item is not None:
                return item
        from recsys.errors import ConfigError

        raise ConfigError(f"no item of this {self.modality} channel has readable media")

    def _maybe_store_media(self, store_bytes: int, chunk: int) -> None:
        n = len(self.raw)
        self.missing = sum(item is None for item in self.raw[1:])
        sample, _ = self._media_rows([0])  # the padding row: zeros shaped like a real item
        per_row = sum(v[0].numel() * 2 for v in sample.values())  # stored as fp16
        if per_row * n > store_bytes:
            return
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in sample}
        for start in range(0, n, chunk):
            rows, unreadable = self._media_rows(range(start, min(start + chunk, n)))
            self.missing += unreadable
            for key, value in rows.items():
                parts[key].append(value.half() if value.is_floating_point() else value)
        self.store = {k: torch.cat(v) for k, v in parts.items()}

    def batch(self, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encoder inputs for dense indices `items` `[M]` (CPU tensors, float32 pixels)."""
        idx = items.detach().cpu()
        if self.store is not None:
            rows = {k: v[idx] for k, v in self.store.items()}
        else:
            rows, _ = self._media_rows(idx.tolist())
        if self.modality == "text" and "attention_mask" in rows:
            length = int(rows["attention_mask"].sum(dim=-1).max().clamp_min(1))
            rows = {k: v[..., :length] for k, v in rows.items()}  # trim batch padding
        out = {}
        for key, value in rows.items():
            flat = value.reshape(len(idx) * self.per_item[key], *value.shape[2:])
            out[key] = flat.float() if flat.is_floating_point() else flat
        return out


@dataclass
class Probe:
    """Runs the encoder on a couple of real items, so a plan can see which tensors are used."""

    encoder: nn.Module
    inputs: ItemInputs

    def used_parameters(self, backbone: nn.Module) -> list[nn.Parameter]:
        """Backbone parameters that receive a gradient from the last-block pooled state.

        Heads the pooled state never touches (BERT's pooler, CLIP's post-LayerNorm) are
        excluded, so they are neither trained nor counted as trainable.
        """
        params = list(backbone.parameters())
        was_training = self.encoder.training
        flags = [p.requires_grad for p in params]
        self.encoder.eval()
        for p in params:
            p.requires_grad_(True)
            p.grad = None
        n = min(2, len(self.inputs.raw) - 1)
        with torch.enable_grad():
            out = self.encoder(**self.inputs.batch(torch.arange(1, n + 1)))[:, -1]
            out.float().sum().backward()
        used = [p for p in params if p.grad is not None]
        for p, flag in zip(params, flags, strict=True):
            p.grad = None
            p.requires_grad_(flag)
        self.encoder.train(was_training)
        return used


class TunedChannel(nn.Module):
    """One channel: encoder, its prepared inputs, and the head to `out_dim`."""

    def __init__(self, name: str, encoder: nn.Module, inputs: ItemInputs, out_dim: int) -> None:
        super().__init__()
        self.name = name
        self.encoder = encoder
        self.inputs = inputs
        self.head = nn.Linear(int(encoder.width), out_dim)

    def forward(self, items: torch.Tensor, encode_batch: int) -> torch.Tensor:  # [M] -> [M, D]
        if torch.is_grad_enabled() or len(items) <= encode_batch:
            return self.head(self._last_state(items))
        parts = [self._last_state(chunk) for chunk in items.split(encode_batch)]
        return self.head(torch.cat(parts))

    def _last_state(self, items: torch.Tensor) -> torch.Tensor:  # [M] -> [M, width]
        states = self.encoder(**self.inputs.batch(items))  # [M, steps, width]
        return states[:, -1].float()


class TunedTower(ItemTower):
    """Item tower over live encoders; `trainable` lists the encoder tensors that train.

    Args:
        channels: one `TunedChannel` per input channel.
        trainable: encoder parameters that train (adapter LR role), in a stable order.
        method: method name, recorded by `describe`.
        facts: method-specific facts for `describe` (adapter counts, LoRA config, ...).
        out_dim: item embedding width.
        encode_batch: items per encoder call when no gradient is needed (evaluation).
        seed: seed of the head / fusion initialisation (same seed, same heads, any method).
    """

    def __init__(
        self,
        channels: Sequence[TunedChannel],
        trainable: Sequence[nn.Parameter],
        method: str,
        facts: dict[str, Any],
        out_dim: int = 64,
        encode_batch: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.method = method
        self.facts = facts
        self.encode_batch = encode_batch
        self.channels = nn.ModuleList(channels)
        self.fusion = nn.Linear(out_dim * len(channels), out_dim) if len(channels) > 1 else None
        self._init_heads(seed)
        self._encoder_params = list(trainable)
        chosen = {id(p) for p in self._encoder_params}
        for channel in self.channels:
            for p in channel.encoder.parameters():
                p.requires_grad_(id(p) in chosen)

    def _init_heads(self, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        heads = [c.head for c in self.channels] + ([self.fusion] if self.fusion else [])
        with torch.no_grad():
            for layer in heads:
                bound = 1.0 / layer.in_features**0.5
                layer.weight.copy_(
                    torch.empty_like(layer.weight).uniform_(-bound, bound, generator=gen)
                )
                layer.bias.copy_(
                    torch.empty_like(layer.bias).uniform_(-bound, bound, generator=gen)
                )

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [...] -> [..., out_dim]
        flat = items.reshape(-1)
        uniq, inverse = torch.unique(flat, return_inverse=True)  # encode each item once
        real = uniq[uniq > 0]
        parts = [channel(real, self.encode_batch) for channel in self.channels]  # [R, D] each
        emb = self.fusion(torch.cat(parts, dim=-1)) if self.fusion is not None else parts[0]
        table = emb.new_zeros((len(uniq), self.out_dim))  # padding rows stay zero
        table[uniq > 0] = emb
        return table[inverse].reshape(*items.shape, self.out_dim)

    def param_groups(self) -> list[ParamGroup]:
        heads = [p for c in self.channels for p in c.head.parameters()]
        heads += list(self.fusion.parameters()) if self.fusion is not None else []
        groups = [ParamGroup("heads", heads, role="adapter")]
        if self._encoder_params:
            groups.append(ParamGroup(f"{self.method}_encoder", self._encoder_params, "adapter"))
        return groups

    def frozen_modules(self) -> list[nn.Module]:
        """Largest encoder sub-modules none of whose parameters train."""
        return [m for c in self.channels for m in frozen_subtrees(c.encoder)]

    def describe(self) -> dict[str, Any]:
        channels = []
        for c in self.channels:
            encoder_total = sum(p.numel() for p in c.encoder.parameters())
            encoder_trainable = sum(p.numel() for p in c.encoder.parameters() if p.requires_grad)
            channels.append(
                {
                    "name": c.name,
                    "encoder": c.encoder.describe(),
                    "encoder_params": encoder_total,
                    "encoder_trainable_params": encoder_trainable,
                    "missing_media": c.inputs.missing,
                    "inputs": "precomputed" if c.inputs.store is not None else "on_the_fly",
                }
            )
        return {"method": self.method, "channels": channels, **self.facts}


def frozen_subtrees(root: nn.Module) -> list[nn.Module]:
    """Maximal sub-modules of `root` that hold parameters, none of them trainable.

    A module with both kinds among its own tensors (BitFit's Linear: frozen weight, trained
    bias) is not listed; callers that need every frozen tensor compare parameters directly.
    """
    params = list(root.parameters())
    if not params:
        return []
    if not any(p.requires_grad for p in params):
        return [root]
    return [m for child in root.children() for m in frozen_subtrees(child)]
