"""Structural checks of what trains: declared parameter groups, frozen backbones untouched.

Freezing is never by name: the tower's `param_groups()` lists what trains and
`frozen_modules()` what must not change; these helpers verify both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recsys.errors import ConfigError
from recsys.models.recommender import SequentialRecommender


def trainable_groups(model: SequentialRecommender) -> list[dict[str, Any]]:
    """Optimizer groups: the tower's declared groups plus SASRec (role "recommender").

    Raises:
        ConfigError: a parameter is listed twice, a listed parameter does not require
            grad, or a tower parameter that is not listed requires grad.
    """
    groups = [
        {"name": g.name, "params": list(g.params), "role": g.role}
        for g in model.item_tower.param_groups()
    ]
    groups.append(
        {"name": "sasrec", "params": list(model.sasrec.parameters()), "role": "recommender"}
    )
    seen: set[int] = set()
    for group in groups:
        if group["role"] not in ("adapter", "recommender"):
            raise ConfigError(
                f"parameter group {group['name']!r} has unknown role {group['role']!r}"
            )
        for p in group["params"]:
            if id(p) in seen:
                raise ConfigError(f"a parameter appears twice in the groups ({group['name']!r})")
            if not p.requires_grad:
                raise ConfigError(
                    f"group {group['name']!r} lists a parameter with requires_grad False"
                )
            seen.add(id(p))
    stray = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if stray:
        raise ConfigError(
            f"{len(stray)} parameter(s) require grad but are in no param_groups() group "
            f"(first: {stray[:3]}); freeze them or declare them"
        )
    return [g for g in groups if g["params"]]


def frozen_checksum(modules: list[nn.Module]) -> list[tuple[float, float]]:
    """A cheap fingerprint of every frozen tensor: (sum, sum of |x|), accumulated in float64.

    No full-precision copy of a backbone is made (one same-dtype temporary per tensor for
    the absolute values), so it is affordable before and after every run.
    """
    out: list[tuple[float, float]] = []
    seen: set[int] = set()
    with torch.no_grad():
        for module in modules:
            for t in [*module.parameters(), *module.buffers()]:
                if id(t) in seen or t.numel() == 0:
                    continue
                seen.add(id(t))
                x = t.detach()
                if x.dtype == torch.bool:
                    x = x.to(torch.uint8)
                out.append(
                    (float(x.sum(dtype=torch.float64)), float(x.abs().sum(dtype=torch.float64)))
                )
    return out


def assert_frozen_unchanged(before: list[tuple[float, float]], after: list[tuple[float, float]]):
    """Raise when a frozen tensor changed during training."""
    if before != after:
        changed = sum(1 for a, b in zip(before, after, strict=False) if a != b)
        raise ConfigError(
            f"{changed} frozen tensor(s) changed during training: a frozen module is being "
            "updated (check the tower's param_groups / frozen_modules)"
        )
