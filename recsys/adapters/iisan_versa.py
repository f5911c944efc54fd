"""The IISAN-Versa item tower (method `iisan_versa`): side networks over frozen encoder states."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from recsys.adapters.options import Option, parse_options
from recsys.adapters.side import MODES, IISANVersa
from recsys.adapters.sources import LiveSource, build_sources
from recsys.methods import MethodContext, register_method
from recsys.models.base import ItemTower, MethodDefaults, ParamGroup

OPTIONS = {
    "rank": Option(int, 64),  # SANB bottleneck r
    "mode": Option(str, "intra_inter", MODES),  # ablations: intra only, inter only, both
    "cached": Option(bool, True),  # train from the hidden-state cache (False: live encoders)
    "fold_heads": Option(bool, False),  # one Linear(d -> 64) head instead of d -> d -> 64
    "gate_temperature": Option(float, 0.1),  # T in sigmoid(w / T) and softmax(u / T)
    "rebuild_cache": Option(bool, True),  # False: a stale cache is an error, not a rebuild
    "encode_batch_size": Option(int, 64),  # items per encoder forward pass (cache build, live)
}


class IISANVersaTower(ItemTower):
    """Item tower: per-channel state sources -> IISAN-Versa side networks -> [.., out_dim].

    Args:
        sources: one state source per channel (`CachedSource` or `LiveSource`); each maps
            dense item indices [M] to states [M, steps_c, width_c].
        adapter: the side networks, heads and fusion.
    """

    def __init__(self, sources: Sequence[nn.Module], adapter: IISANVersa) -> None:
        super().__init__()
        self.sources = nn.ModuleList(sources)
        self.adapter = adapter
        self.out_dim = adapter.out_dim

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [...] -> [..., out_dim]
        flat = items.reshape(-1)
        states = [source(flat) for source in self.sources]  # [M, steps_c, width_c] each
        return self.adapter(states).reshape(*items.shape, self.out_dim)

    def param_groups(self) -> list[ParamGroup]:
        # Side networks take the adapter LR, heads and fusion the recommender LR (DESIGN.md).
        return [
            ParamGroup("side_networks", self.adapter.side_parameters(), role="adapter"),
            ParamGroup("heads", self.adapter.head_parameters(), role="recommender"),
        ]

    def frozen_modules(self) -> list[nn.Module]:
        return [s.encoder for s in self.sources if isinstance(s, LiveSource)]

    def describe(self) -> dict[str, Any]:
        return {
            "tower": "iisan_versa",
            "channels": [s.info for s in self.sources],
            "widths": list(self.adapter.widths),
            "steps": list(self.adapter.steps),
            "inter_steps": self.adapter.inter_steps if self.adapter.inter is not None else 0,
        }


def build_iisan_versa(ctx: MethodContext) -> IISANVersaTower:
    """Builder registered as method `iisan_versa` (options: see `OPTIONS`)."""
    opts = parse_options("iisan_versa", ctx.options, OPTIONS)
    sources = build_sources(
        ctx,
        cached=opts["cached"],
        rebuild=opts["rebuild_cache"],
        batch_size=opts["encode_batch_size"],
    )
    adapter = IISANVersa(
        [s.width for s in sources],
        [s.num_steps for s in sources],
        rank=opts["rank"],
        mode=opts["mode"],
        fold_heads=opts["fold_heads"],
        temperature=opts["gate_temperature"],
        out_dim=ctx.out_dim,
    )
    return IISANVersaTower(sources, adapter).to(ctx.device)


register_method(
    "iisan_versa",
    build_iisan_versa,
    defaults=MethodDefaults(batch_size=64, lr=2e-4, loss="inbatch_logq"),
    description="IISAN-Versa: intra/inter-modal side networks over frozen encoder states",
)
