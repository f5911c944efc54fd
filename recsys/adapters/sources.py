"""Where an adapter gets each channel's hidden states: the cache (fast) or a live encoder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recsys.cache import CachedStates, build_or_load_cache, open_current_cache
from recsys.cache.keys import channel_items
from recsys.channels import ChannelInput
from recsys.encoders import Encoder, build_encoder
from recsys.encoders.base import outside_autocast
from recsys.errors import ConfigError
from recsys.methods import MethodContext


@dataclass(frozen=True)
class SourceOptions:
    """Options of the methods that read frozen encoder states (`iisan_versa`, `frozen`)."""

    cached: bool = True  # train from the hidden-state cache (False: live encoders)
    rebuild_cache: bool = True  # False: a stale cache is an error, not a rebuild
    encode_batch_size: int = 64  # items per encoder forward pass (cache build, live)
    # Reuse a cache built under other torch / transformers versions (said, not silent)
    # instead of rebuilding it; everything else must still match.
    reuse_across_versions: bool = False

    def check(self, prefix: str) -> None:
        if self.encode_batch_size < 1:
            raise ConfigError("must be >= 1", field=f"{prefix}.encode_batch_size")


class CachedSource(nn.Module):
    """Cached states as (non-persistent) buffers: checkpoints never hold them.

    Args:
        states: [N+1, stored_steps, width] fp16 per-item states (row 0 padding).
        shared: [n, width] fp16 leading steps shared by every item, or None.
        valid: [N+1] bool; False rows (padding, failed media) read as zeros.
        info: what built them (manifest), for `describe`.
    """

    def __init__(
        self,
        states: torch.Tensor,
        shared: torch.Tensor | None,
        valid: torch.Tensor,
        info: dict[str, Any],
    ) -> None:
        super().__init__()
        self.register_buffer("states", states, persistent=False)
        self.register_buffer("shared", shared, persistent=False)
        self.register_buffer("valid", valid, persistent=False)
        self.info = info
        self.width = states.shape[2]
        self.num_steps = states.shape[1] + (0 if shared is None else shared.shape[0])

    @classmethod
    def from_cache(cls, cache: CachedStates) -> nn.Module:
        """In memory, or streamed from the memmap when larger than the RAM budget."""
        from recsys.cache.stream import StreamedSource, should_stream

        info = {
            "cache": str(cache.folder),
            "fingerprint": cache.fingerprint,
            "missing": cache.missing,
            "encoder": cache.manifest.get("encoder", {}),
        }
        if should_stream(cache):
            return StreamedSource(cache, info)
        states, shared, valid = cache.tensors()
        return cls(states, shared, valid, info)

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [M] -> [M, steps, width] fp32
        rows = self.states[items]  # [M, stored_steps, width] fp16
        if self.shared is not None:
            rows = torch.cat([self.shared.expand(len(items), -1, -1), rows], dim=1)
        return rows.float() * self.valid[items].to(torch.float32)[:, None, None]


class LiveSource(nn.Module):
    """A frozen encoder run on demand (the uncached path), matching the cache exactly:
    eval mode, no gradients, states rounded to fp16, zeros for padding and failed media.

    Args:
        encoder: the frozen encoder.
        raw: the channel's raw items in catalogue order (item i is `raw[i - 1]`).
        batch_size: items per forward pass.
    """

    def __init__(self, encoder: Encoder, raw: Sequence[Any], batch_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.raw = list(raw)
        self.batch_size = batch_size
        self.width = encoder.width
        self.num_steps = encoder.num_steps
        self.info = {"encoder": encoder.describe(), "cache": None}
        encoder.requires_grad_(False)
        encoder.eval()

    def train(self, mode: bool = True) -> LiveSource:
        super().train(mode)
        self.encoder.eval()  # frozen: its dropout stays off whatever the trainer does
        return self

    def _load(self, index: int) -> Any:
        from media.errors import MediaError

        item = self.raw[index - 1] if index > 0 else None
        if item is None:
            return None
        try:
            return self.encoder.load(item)
        except (MediaError, OSError, ValueError):
            return None

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [M] -> [M, steps, width] fp32
        out = torch.zeros(len(items), self.num_steps, self.width, device=items.device)
        indices = items.tolist()
        for start in range(0, len(indices), self.batch_size):
            loaded = [
                (j, self._load(i))
                for j, i in enumerate(indices[start : start + self.batch_size], start)
            ]
            present = [(j, x) for j, x in loaded if x is not None]
            if not present:
                continue
            with torch.no_grad(), outside_autocast():
                states = self.encoder(**self.encoder.prepare([x for _, x in present]))
            where = torch.tensor([j for j, _ in present], device=items.device)
            out[where] = states.to(torch.float16).float().to(items.device)  # cache dtype
        return out


def build_sources(ctx: MethodContext, options: SourceOptions) -> list[nn.Module]:
    """One state source per channel of `ctx`, cached or live (`options`)."""
    cached, batch_size = options.cached, options.encode_batch_size
    if not ctx.channels:
        raise ConfigError("this method needs at least one input channel")
    sources: list[nn.Module] = []
    for channel in ctx.channels:
        _check_channel(channel, ctx.split.num_items)
        current = open_current_cache(channel, ctx.cache_dir) if cached else None
        if current is not None:  # provably current: the backbone need not even be loaded
            sources.append(CachedSource.from_cache(current))
            continue
        encoder = build_encoder(channel.encoder, device=ctx.device, modality=channel.modality)
        if not cached:
            sources.append(LiveSource(encoder, channel_items(channel), batch_size))
            continue
        sources.append(CachedSource.from_cache(_cache_on_main(channel, encoder, ctx, options)))
        del encoder  # the backbone is not needed again: free it before training
    return sources


def _check_channel(channel: ChannelInput, num_items: int) -> None:
    n = len(channel_items(channel))
    if n != num_items:
        raise ConfigError(
            f"channel {channel.name!r} has {n} items but the split's catalogue has {num_items}"
        )


def _cache_on_main(
    channel: ChannelInput, encoder: Encoder, ctx: MethodContext, options: SourceOptions
) -> CachedStates:
    """Every rank calls the build: under torchrun each encodes a share of the chunks and
    rank 0 merges them (recsys.cache.build); all ranks then open the same files."""
    return build_or_load_cache(
        channel,
        rebuild=options.rebuild_cache,
        progress=ctx.progress and ctx.dist.is_main,
        encoder=encoder,
        cache_dir=ctx.cache_dir,
        device=ctx.device,
        batch_size=options.encode_batch_size,
        reuse_versions=options.reuse_across_versions,
    )
