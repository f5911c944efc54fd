"""The item-tower contract every method (ID, frozen, IISAN-Versa, FFT, LoRA, ...) implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

Role = Literal["adapter", "recommender"]


@dataclass
class ParamGroup:
    """Parameters the optimiser trains, with the LR role they take.

    `adapter` groups use `TrainConfig.adapter_lr`; `recommender` groups use `TrainConfig.lr`.
    """

    name: str
    params: list[nn.Parameter]
    role: Role = "recommender"


class ItemTower(nn.Module):
    """Maps dense item indices (0 = padding) to item embeddings of width `out_dim`.

    Subclasses own their trainable parameters structurally: `param_groups()` lists exactly
    what trains, `frozen_modules()` lists backbones whose tensors must never change. The
    trainer freezes nothing by name; it trusts these two methods and checks them.
    """

    out_dim: int

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [...] -> [..., out_dim]
        raise NotImplementedError

    def param_groups(self) -> list[ParamGroup]:
        """Every trainable parameter, once, grouped by LR role."""
        raise NotImplementedError

    def frozen_modules(self) -> list[nn.Module]:
        """Modules whose parameters are frozen (backbones). Empty by default."""
        return []

    def head_parameters(self) -> list[nn.Parameter]:
        """The trainable parameters that map per-channel states to the item embedding
        (heads and fusion), counted apart in reports so head capacity is visible when
        methods are compared. Empty for towers without one (the `id` table)."""
        return []

    @torch.no_grad()
    def embed_all(self, num_items: int, batch_size: int = 4096) -> torch.Tensor:
        """[num_items + 1, out_dim] embeddings of every item, row 0 = padding, in chunks."""
        device = next(self.parameters()).device
        rows = []
        for start in range(0, num_items + 1, batch_size):
            idx = torch.arange(start, min(start + batch_size, num_items + 1), device=device)
            rows.append(self(idx).float())
        return torch.cat(rows)

    def describe(self) -> dict[str, Any]:
        """JSON-able facts recorded with results and checkpoints (encoders, fingerprints)."""
        return {}


@dataclass(frozen=True)
class MethodDefaults:
    """Protocol defaults a method brings (DESIGN.md's protocol table)."""

    batch_size: int = 64
    lr: float = 2e-4
    loss: str = "inbatch_logq"
    extra: dict[str, Any] = field(default_factory=dict)
