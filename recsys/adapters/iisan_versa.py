"""The IISAN-Versa item tower (method `iisan_versa`): side networks over frozen encoder states."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recsys.adapters.side import IISANVersa, Mode
from recsys.adapters.sources import LiveSource, SourceOptions, build_sources
from recsys.errors import ConfigError
from recsys.methods import MethodContext, register_method
from recsys.models.base import ItemTower, MethodDefaults, ParamGroup
from recsys.space import lr_space


@dataclass(frozen=True)
class IISANVersaOptions(SourceOptions):
    """`method_options` of `iisan_versa` (plus `cached`, `rebuild_cache`, `encode_batch_size`)."""

    rank: int = 64  # SANB bottleneck r
    mode: Mode = "intra_inter"  # ablations: intra only, inter only, both
    fold_heads: bool = False  # one Linear(d -> 64) head instead of d -> d -> 64
    gate_temperature: float = 0.1  # T in sigmoid(w / T) and softmax(u / T)

    def check(self, prefix: str) -> None:
        super().check(prefix)
        if self.rank < 1:
            raise ConfigError("must be >= 1", field=f"{prefix}.rank")
        if self.gate_temperature <= 0:
            raise ConfigError("must be > 0", field=f"{prefix}.gate_temperature")


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

    def head_parameters(self) -> list[nn.Parameter]:
        return self.adapter.head_parameters()

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
    """Builder registered as method `iisan_versa` (options: `IISANVersaOptions`)."""
    opts: IISANVersaOptions = ctx.options
    sources = build_sources(ctx, opts)
    adapter = IISANVersa(
        [s.width for s in sources],
        [s.num_steps for s in sources],
        rank=opts.rank,
        mode=opts.mode,
        fold_heads=opts.fold_heads,
        temperature=opts.gate_temperature,
        out_dim=ctx.out_dim,
    )
    return IISANVersaTower(sources, adapter).to(ctx.device)


register_method(
    "iisan_versa",
    build_iisan_versa,
    options=IISANVersaOptions,
    defaults=MethodDefaults(batch_size=64, lr=2e-4, loss="inbatch_logq"),
    description="IISAN-Versa: intra/inter-modal side networks over frozen encoder states",
    # Side networks (adapter LR, default 1e-4) and heads + SASRec (train.lr, 2e-4) are
    # searched as separate groups; both train from scratch, so both ranges are wide.
    space=lr_space(recommender=(1e-5, 1e-2), adapter=(1e-5, 1e-2)),
)
