"""Frozen encoders with a trainable projection (method `frozen`), the content baseline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recsys.adapters.side import HeadOptions, apply_head, item_head
from recsys.adapters.sources import LiveSource, SourceOptions, build_sources
from recsys.methods import MethodContext, options_record, register_method
from recsys.models.base import ItemTower, MethodDefaults, ParamGroup
from recsys.space import lr_space


@dataclass(frozen=True)
class FrozenOptions(SourceOptions, HeadOptions):
    """`method_options` of `frozen`: the state sources' options and the head's."""


class FrozenTower(ItemTower):
    """Last selected (pooled) state of each channel -> head -> out_dim.

    Args:
        sources: one state source per channel (as for IISAN-Versa).
        out_dim: item embedding width.
        head_options: one Linear over the concatenated states, or IISAN-Versa's heads.
    """

    def __init__(
        self, sources: Sequence[nn.Module], out_dim: int, head_options: HeadOptions = HeadOptions()
    ) -> None:
        super().__init__()
        self.sources = nn.ModuleList(sources)
        self.out_dim = out_dim
        self.head_options = head_options
        self.projection = item_head([s.width for s in sources], out_dim, head_options)

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [...] -> [..., out_dim]
        flat = items.reshape(-1)
        last = [source(flat)[:, -1] for source in self.sources]  # [M, width_c] each
        return apply_head(self.projection, last).reshape(*items.shape, self.out_dim)

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup("projection", list(self.projection.parameters()), role="recommender")]

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.projection.parameters())

    def frozen_modules(self) -> list[nn.Module]:
        return [s.encoder for s in self.sources if isinstance(s, LiveSource)]

    def describe(self) -> dict[str, Any]:
        return {
            "tower": "frozen",
            "channels": [s.info for s in self.sources],
            "head": options_record(self.head_options),
        }


def build_frozen(ctx: MethodContext) -> FrozenTower:
    """Builder registered as method `frozen` (options: `FrozenOptions`)."""
    opts: FrozenOptions = ctx.options
    sources = build_sources(ctx, opts)
    head = HeadOptions(opts.head, opts.fold_heads)
    return FrozenTower(sources, ctx.out_dim, head).to(ctx.device)


register_method(
    "frozen",
    build_frozen,
    options=FrozenOptions,
    defaults=MethodDefaults(batch_size=64, lr=2e-4, loss="inbatch_logq"),
    description="frozen encoders, last-layer pooled state -> trainable linear projection",
    # Only the projection and SASRec train, both under train.lr: no adapter LR to search.
    space=lr_space(recommender=(1e-5, 1e-2), adapter=None),
)
