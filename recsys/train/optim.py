"""The optimizer: AdamW (decoupled weight decay) with no decay on embedding tables.

Every trainable `nn.Embedding` weight is an embedding table: the `id` method's item ID
table and SASRec's position embeddings (and any embedding a tuned backbone trains). A row
that gets no gradient (a withheld item's ID row under the new-item protocol, an item no
training sequence holds) then never moves: AdamW's update of a zero gradient with zero
moments is zero, and its decay does not touch these tables. Every other trainable tensor
(projections, adapters, attention, feed-forward and LayerNorm weights, biases) decays by
`train.weight_decay`.

With `train.weight_decay = 0` (the default) the groups are the tower's declared groups plus
SASRec, as before, and the updates are bit-identical to `torch.optim.Adam`'s (AdamW with no
decay is Adam), so earlier results and checkpoints stand.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recsys.config import TrainConfig

NO_DECAY_SUFFIX = "/embeddings"  # the name of a group's embedding tables (weight decay 0)


def embedding_tables(model: nn.Module) -> set[int]:
    """ids of the weights of every `nn.Embedding` in `model` (trainable or not)."""
    return {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}


def build_optimizer(
    model: nn.Module, groups: list[dict[str, Any]], train: TrainConfig
) -> torch.optim.AdamW:
    """AdamW over `groups` (`recsys.train.structure.trainable_groups`: name, params, role).

    Adapter groups take `train.adapter_lr`, the others `train.lr`. With weight decay, each
    group's embedding tables go to a group of their own, named `<group>/embeddings`, with
    weight decay 0; empty groups are left out.
    """
    tables = embedding_tables(model) if train.weight_decay else set()
    param_groups = []
    for g in groups:
        lr = train.adapter_lr if g["role"] == "adapter" else train.lr
        decayed = [p for p in g["params"] if id(p) not in tables]
        kept = [p for p in g["params"] if id(p) in tables]
        for name, params, decay in (
            (g["name"], decayed, train.weight_decay),
            (g["name"] + NO_DECAY_SUFFIX, kept, 0.0),
        ):
            if params:
                param_groups.append(
                    {"params": params, "lr": lr, "name": name, "weight_decay": decay}
                )
    return torch.optim.AdamW(param_groups, weight_decay=train.weight_decay)
