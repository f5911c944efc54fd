"""An item tower that trains through its encoders: the shared body of the fine-tuning baselines.

Per channel: encoder (a `recsys.encoders.Encoder` built for training) -> pooled state of the
last block; the channels' states are concatenated -> one Linear -> `out_dim`, exactly the
`frozen` method's head. The baselines differ only in which encoder parameters train (a plan
in `recsys.adapters.baselines`); the projection always trains.

Item inputs are prepared once per catalogue: texts are tokenised into id/mask tensors, and
images or video frames are preprocessed into a tensor store when it fits `store_bytes`,
otherwise loaded and preprocessed on the fly for each batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recsys.adapters.side import HeadOptions, apply_head, item_head
from recsys.models.base import ItemTower, ParamGroup


def backbone_of(encoder: nn.Module) -> nn.Module:
    """The foundation model inside an encoder wrapper (a video encoder wraps a vision one)."""
    inner = getattr(encoder, "vision", encoder)
    return inner.model


class ItemInputs:
    """Model-ready encoder inputs of every catalogue item for one channel.

    Texts are tokenised once. Media are loaded and preprocessed once into an fp16 store when
    it fits `store_bytes`, else per batch. Items without readable media are marked invalid
    (`valid`), and the tower gives them a zero state, as the `frozen` method's cache does.

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
        self.valid = torch.tensor([item is not None for item in self.raw])  # [N+1]
        self.store: dict[str, torch.Tensor] | None = None
        self.per_item: dict[str, int] = {}
        if modality == "text":
            self.valid[1:] = True
            self.store = self._prepare_rows(["", *map(str, self.raw[1:])])
        else:
            self._maybe_store_media(store_bytes, chunk)

    @property
    def missing(self) -> int:
        """Items (padding excluded) without readable media so far."""
        return int((~self.valid[1:]).sum())

    def _prepare_rows(self, loaded: list[Any]) -> dict[str, torch.Tensor]:
        """`prepare` output reshaped to `[rows, per_item, ...]` (video: frames per item)."""
        batch = self.encoder.prepare(loaded)
        out = {}
        for key, value in batch.items():
            per = value.shape[0] // len(loaded)
            self.per_item[key] = per
            out[key] = value.reshape(len(loaded), per, *value.shape[1:])
        return out

    def _load(self, index: int) -> Any | None:
        from media.errors import MediaError

        item = self.raw[index]
        if item is None:
            return None
        try:
            return self.encoder.load(item)
        except (MediaError, OSError, ValueError):
            self.valid[index] = False
            return None

    def _media_rows(self, indices: Sequence[int]) -> tuple[dict[str, torch.Tensor], list[int]]:
        """Prepared rows of the loadable items among `indices`, and their positions."""
        loaded = [self._load(i) for i in indices]
        kept = [j for j, x in enumerate(loaded) if x is not None]
        if not kept:
            return {}, []
        return self._prepare_rows([loaded[j] for j in kept]), kept

    def _maybe_store_media(self, store_bytes: int, chunk: int) -> None:
        n = len(self.raw)
        probe = next((i for i in range(1, n) if self.valid[i]), None)
        sample, kept = self._media_rows([probe]) if probe is not None else ({}, [])
        if not kept:
            return  # nothing readable at all: every item gets a zero state
        per_row = sum(v[0].numel() * 2 for v in sample.values())  # stored as fp16
        if per_row * n > store_bytes:
            return
        self.store = {
            k: torch.zeros(
                (n, *v.shape[1:]), dtype=torch.float16 if v.is_floating_point() else v.dtype
            )
            for k, v in sample.items()
        }
        for start in range(1, n, chunk):
            indices = list(range(start, min(start + chunk, n)))
            rows, kept = self._media_rows(indices)
            where = torch.tensor([indices[j] for j in kept], dtype=torch.long)
            for key, value in rows.items():
                self.store[key][where] = value.to(self.store[key].dtype)

    def batch(self, items: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Encoder inputs for valid dense indices `items` `[M]`, and which of them loaded.

        Returns:
            CPU tensors (float32 pixels) for the loaded items, and a `[M]` bool mask.
        """
        idx = items.detach().cpu()
        ok = torch.ones(len(idx), dtype=torch.bool)
        if self.store is not None:
            rows = {k: v[idx] for k, v in self.store.items()}
        else:
            rows, kept = self._media_rows(idx.tolist())
            ok = torch.zeros(len(idx), dtype=torch.bool)
            ok[kept] = True
            idx = idx[ok]
        if self.modality == "text" and "attention_mask" in rows:
            length = int(rows["attention_mask"].sum(dim=-1).max().clamp_min(1))
            rows = {k: v[..., :length] for k, v in rows.items()}  # trim batch padding
        out = {}
        for key, value in rows.items():
            flat = value.reshape(len(idx) * self.per_item[key], *value.shape[2:])
            out[key] = flat.float() if flat.is_floating_point() else flat
        return out, ok


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
        with torch.enable_grad():
            valid = self.inputs.valid.nonzero().squeeze(1)[:2]
            inputs, _ = self.inputs.batch(valid)
            out = self.encoder(**inputs)[:, -1]
            out.float().sum().backward()
        used = [p for p in params if p.grad is not None]
        for p, flag in zip(params, flags, strict=True):
            p.grad = None
            p.requires_grad_(flag)
        self.encoder.train(was_training)
        return used


class TunedChannel(nn.Module):
    """One channel: an encoder trained through, and its prepared item inputs."""

    def __init__(self, name: str, encoder: nn.Module, inputs: ItemInputs) -> None:
        super().__init__()
        self.name = name
        self.encoder = encoder
        self.inputs = inputs
        self.width = int(encoder.width)

    def forward(self, items: torch.Tensor, encode_batch: int) -> torch.Tensor:
        """Last-block pooled states `[M, width]`; zeros for padding and missing media."""
        out = torch.zeros(len(items), self.width, device=items.device)
        where = self.inputs.valid.to(items.device)[items].nonzero().squeeze(1)
        if len(where) == 0:
            return out
        chunks = [where] if torch.is_grad_enabled() else where.split(encode_batch)
        for chunk in chunks:  # training: one pass (the graph holds it all anyway)
            inputs, ok = self.inputs.batch(items[chunk])
            if ok.any():
                states = self.encoder(**inputs)[:, -1].float()  # [m, width], last block
                out = out.index_copy(0, chunk[ok.to(chunk.device)], states.to(out.dtype))
        return out


class TunedTower(ItemTower):
    """Item tower over live encoders trained through; `trainable` lists the encoder tensors
    that train. Like `frozen`: the last-block pooled state of each channel, concatenated,
    -> one Linear -> `out_dim` (padding and missing media give zero states).

    Args:
        channels: one `TunedChannel` per input channel.
        trainable: encoder parameters that train (adapter LR role), in a stable order.
        method: method name, recorded by `describe`.
        facts: method-specific facts for `describe` (adapter counts, LoRA config, ...).
        out_dim: item embedding width.
        encode_batch: items per encoder call when no gradient is needed (evaluation).
        seed: seed of the projection's initialisation (same seed, same projection).
    """

    def __init__(
        self,
        channels: Sequence[TunedChannel],
        trainable: Sequence[nn.Parameter],
        method: str,
        facts: dict[str, Any],
        out_dim: int = 64,
        encode_batch: int = 64,
        seed: int = 0,
        head_options: HeadOptions = HeadOptions(),
    ) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.method = method
        self.facts = {**facts, "head": dataclasses.asdict(head_options)}
        self.encode_batch = encode_batch
        self.channels = nn.ModuleList(channels)
        widths = [c.width for c in channels]
        if head_options.head == "linear":
            self.projection = nn.Linear(sum(widths), out_dim)
            gen = torch.Generator().manual_seed(seed)
            bound = 1.0 / self.projection.in_features**0.5  # nn.Linear's default range
            with torch.no_grad():
                self.projection.weight.uniform_(-bound, bound, generator=gen)
                self.projection.bias.uniform_(-bound, bound, generator=gen)
        else:  # seeded on a forked RNG: the same seed gives the same heads, whatever ran before
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self.projection = item_head(widths, out_dim, head_options)
        self._encoder_params = list(trainable)
        chosen = {id(p) for p in self._encoder_params}
        for channel in self.channels:
            for p in channel.encoder.parameters():
                p.requires_grad_(id(p) in chosen)

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [...] -> [..., out_dim]
        uniq, inverse = torch.unique(items.reshape(-1), return_inverse=True)  # encode once
        states = [channel(uniq, self.encode_batch) for channel in self.channels]
        emb = apply_head(self.projection, states)  # [U, out_dim]
        return emb[inverse].reshape(*items.shape, self.out_dim)

    def param_groups(self) -> list[ParamGroup]:
        groups = [ParamGroup("projection", list(self.projection.parameters()), "recommender")]
        if self._encoder_params:
            groups.append(ParamGroup(f"{self.method}_encoder", self._encoder_params, "adapter"))
        return groups

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.projection.parameters())

    def frozen_modules(self) -> list[nn.Module]:
        """Largest encoder sub-modules none of whose parameters train."""
        return [m for c in self.channels for m in frozen_subtrees(c.encoder)]

    def describe(self) -> dict[str, Any]:
        channels = []
        for c in self.channels:
            params = list(c.encoder.parameters())
            channels.append(
                {
                    "name": c.name,
                    "encoder": c.encoder.describe(),
                    "encoder_params": sum(p.numel() for p in params),
                    "encoder_trainable_params": sum(p.numel() for p in params if p.requires_grad),
                    "missing_media": c.inputs.missing,
                    "inputs": "precomputed" if c.inputs.store is not None else "on_the_fly",
                }
            )
        return {"tower": self.method, "channels": channels, **self.facts}


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
