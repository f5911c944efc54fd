"""The registry of recommendation methods: name -> builder of an `ItemTower`.

A builder receives a `MethodContext` (split, channels, options, device, cache folder) and
returns a tower. Registration is explicit; unknown names list the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from recsys.channels import ChannelInput
from recsys.data.types import Split
from recsys.dist import DistContext
from recsys.errors import ConfigError
from recsys.models.base import ItemTower, MethodDefaults


@dataclass(frozen=True)
class MethodContext:
    """Everything a method builder may use."""

    split: Split
    channels: tuple[ChannelInput, ...]
    options: Mapping[str, Any]
    device: torch.device
    cache_dir: Path
    out_dim: int = 64
    init: str = "normal"  # SASRecConfig.init: learned recommender tables (the `id` table) follow it
    dist: DistContext = field(default_factory=DistContext)
    seed: int = 0
    progress: bool = True


Builder = Callable[[MethodContext], ItemTower]


@dataclass(frozen=True)
class MethodEntry:
    name: str
    builder: Builder
    defaults: MethodDefaults
    needs_channels: bool
    description: str


_REGISTRY: dict[str, MethodEntry] = {}


def register_method(
    name: str,
    builder: Builder,
    *,
    defaults: MethodDefaults | None = None,
    needs_channels: bool = True,
    description: str = "",
) -> None:
    """Register a method; raises on a duplicate name."""
    if name in _REGISTRY:
        raise ValueError(f"method {name!r} is already registered")
    _REGISTRY[name] = MethodEntry(
        name, builder, defaults or MethodDefaults(), needs_channels, description
    )


def get_method(name: str) -> MethodEntry:
    """Look a method up; the error lists the registered names."""
    _load_builtin_methods()
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown method {name!r}; valid methods: {valid}") from None


def method_names() -> list[str]:
    _load_builtin_methods()
    return sorted(_REGISTRY)


_BUILTIN_MODULES = (
    "recsys.models.id_tower",
    "recsys.adapters.iisan_versa",
    "recsys.adapters.frozen",
    "recsys.adapters.baselines",
)


def _load_builtin_methods() -> None:
    """Import the modules that register the built-in methods (explicit list, no discovery)."""
    import importlib

    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a family not built yet in this checkout
            if exc.name != module:
                raise
