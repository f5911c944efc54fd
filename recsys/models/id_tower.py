"""ID-SASRec's item tower: one learned embedding per item id (method `id`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recsys.config import check_init
from recsys.methods import MethodContext, register_method
from recsys.models.base import ItemTower, MethodDefaults, ParamGroup
from recsys.models.sasrec import init_weights
from recsys.space import lr_space


class IdTower(ItemTower):
    """An embedding table over dense item indices; row 0 (padding) stays zero.

    Args:
        num_items: number of real items N (indices 1..N).
        dim: embedding width.
        init: "xavier" (the reference) or "normal" (N(0, 0.02), RecBole), as SASRec's.

    Raises:
        ConfigError: `init` is not a known scheme.
    """

    def __init__(self, num_items: int, dim: int, init: str = "normal") -> None:
        super().__init__()
        check_init(init)
        self.num_items = num_items
        self.out_dim = dim
        self.init = init
        self.embedding = nn.Embedding(num_items + 1, dim, padding_idx=0)
        init_weights(self.embedding, init)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [...] -> [..., d]
        return self.embedding(items)

    def param_groups(self) -> list[ParamGroup]:
        # The table is the recommender itself for this method, so it takes the main LR.
        return [ParamGroup("item_embedding", [self.embedding.weight], role="recommender")]

    def describe(self) -> dict[str, Any]:
        return {"tower": "id", "num_items": self.num_items, "dim": self.out_dim, "init": self.init}


def build_id_tower(ctx: MethodContext) -> IdTower:
    """Builder registered as method `id`; the table follows the user encoder's init."""
    return IdTower(ctx.split.num_items, ctx.out_dim, ctx.init)


register_method(
    "id",
    build_id_tower,
    defaults=MethodDefaults(batch_size=256, lr=1e-3, loss="full_softmax"),
    needs_channels=False,
    description="SASRec over learned item-id embeddings (no content)",
    # One parameter group: the table and SASRec share train.lr (default 1e-3), so no
    # adapter LR; the range is centred on the protocol default.
    space=lr_space(recommender=(1e-4, 1e-2), adapter=None),
)
