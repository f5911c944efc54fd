"""Frozen encoders with a trainable projection (method `frozen`), the content baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from recsys.adapters.options import Option, parse_options
from recsys.adapters.sources import LiveSource, build_sources
from recsys.methods import MethodContext, register_method
from recsys.models.base import ItemTower, MethodDefaults, ParamGroup

OPTIONS = {
    "cached": Option(bool, True),  # read states from the cache (shared with iisan_versa)
    "rebuild_cache": Option(bool, True),  # False: a stale cache is an error, not a rebuild
    "encode_batch_size": Option(int, 64),  # items per encoder forward pass
}


class FrozenTower(ItemTower):
    """Last selected (pooled) state of each channel, concatenated, -> Linear -> out_dim.

    Args:
        sources: one state source per channel (as for IISAN-Versa).
        out_dim: item embedding width.
    """

    def __init__(self, sources: Sequence[nn.Module], out_dim: int) -> None:
        super().__init__()
        self.sources = nn.ModuleList(sources)
        self.out_dim = out_dim
        self.projection = nn.Linear(sum(s.width for s in sources), out_dim)

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [...] -> [..., out_dim]
        flat = items.reshape(-1)
        last = [source(flat)[:, -1] for source in self.sources]  # [M, width_c] each
        return self.projection(torch.cat(last, dim=-1)).reshape(*items.shape, self.out_dim)

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup("projection", list(self.projection.parameters()), role="recommender")]

    def frozen_modules(self) -> list[nn.Module]:
        return [s.encoder for s in self.sources if isinstance(s, LiveSource)]

    def describe(self) -> dict[str, Any]:
        return {"tower": "frozen", "channels": [s.info for s in self.sources]}


def build_frozen(ctx: MethodContext) -> FrozenTower:
    """Builder registered as method `frozen`."""
    opts = parse_options("frozen", ctx.options, OPTIONS)
    sources = build_sources(
        ctx,
        cached=opts["cached"],
        rebuild=opts["rebuild_cache"],
        batch_size=opts["encode_batch_size"],
    )
    return FrozenTower(sources, ctx.out_dim).to(ctx.device)


register_method(
    "frozen",
    build_frozen,
    defaults=MethodDefaults(batch_size=64, lr=2e-4, loss="inbatch_logq"),
    description="frozen encoders, last-layer pooled state -> trainable linear projection",
)
