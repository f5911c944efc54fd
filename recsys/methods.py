"""The registry of recommendation methods: name -> builder of an `ItemTower`.

A builder receives a `MethodContext` (split, channels, options, device, cache folder) and
returns a tower. Each method declares its options as a frozen dataclass next to its builder;
`parse_method_options` turns a scenario's `[method_options]` table into it with the strict
loader (unknown keys, wrong types and impossible values name `method_options.<key>`), at
scenario load, long before any data is read. Registration is explicit; unknown names list
the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from plumbing.typed import TypedLoadError, build
from recsys.channels import ChannelInput
from recsys.data.types import Split
from recsys.distributed import DistContext
from recsys.errors import ConfigError
from recsys.models.base import ItemTower, MethodDefaults
from recsys.space import SearchParam, check_space


@dataclass(frozen=True)
class NoOptions:
    """The options of a method that takes none."""


@dataclass(frozen=True)
class MethodContext:
    """Everything a method builder may use."""

    split: Split
    channels: tuple[ChannelInput, ...]
    options: Any  # the method's options dataclass (`parse_method_options`)
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
    options: type = NoOptions  # frozen dataclass of the method's options, all defaulted
    space: tuple[SearchParam, ...] = ()  # what `toolkit tune` searches (recsys.space)


_REGISTRY: dict[str, MethodEntry] = {}


def register_method(
    name: str,
    builder: Builder,
    *,
    options: type = NoOptions,
    defaults: MethodDefaults | None = None,
    needs_channels: bool = True,
    description: str = "",
    space: tuple[SearchParam, ...] = (),
) -> None:
    """Register a method; raises on a duplicate name.

    Args:
        name: the method's name in scenarios.
        builder: context -> item tower.
        options: a frozen dataclass whose fields (all with defaults) are the method's
            options; an optional `check(prefix)` method raises ConfigError on impossible
            values.
        defaults: protocol defaults (batch size, LR, loss).
        needs_channels: False for methods that read no content (`id`).
        description: one line for listings.
        space: the hyper-parameters `toolkit tune` searches, as `recsys.space.SearchParam`s
            named by scenario keys; checked here (known keys, sane ranges, no duplicates).
    """
    if name in _REGISTRY:
        raise ValueError(f"method {name!r} is already registered")

    def build_tower(ctx: MethodContext) -> ItemTower:
        # Callers may pass the raw option table (tests, benchmarks): parse it here, once.
        return builder(replace(ctx, options=options_of(options, ctx.options, name)))

    space = check_space(space, options)
    _REGISTRY[name] = MethodEntry(
        name, build_tower, defaults or MethodDefaults(), needs_channels, description, options, space
    )


def parse_method_options(method: str, given: Mapping[str, Any] | None) -> Any:
    """A method's options dataclass from a scenario's `[method_options]` table.

    Raises:
        ConfigError: unknown method, unknown key, wrong type or impossible value; `field`
            is the dotted key (`method_options.rank`).
    """
    return options_of(get_method(method).options, given, method)


def options_of(cls: type, given: Mapping[str, Any] | Any, method: str) -> Any:
    """`given` (a raw table, or already an instance of `cls`) as a checked `cls` instance."""
    if isinstance(given, cls):
        return given
    try:
        options = build(cls, dict(given or {}), key="method_options")
    except TypedLoadError as exc:
        raise ConfigError(f"{exc.message} (method {method!r})", field=exc.key) from None
    check = getattr(options, "check", None)
    if check is not None:
        check("method_options")
    return options


def options_record(options: Any) -> dict[str, Any]:
    """The resolved options as a plain dict (for `describe` and the record)."""
    return asdict(options)


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
    """Import the modules that register the built-in methods (explicit list, no discovery).

    Every family is part of the toolkit, so each is imported unconditionally: a missing
    module is a damaged install, never an unknown method.

    Raises:
        ImportError: a family cannot be imported; the message names the family, the missing
            module or package, and what installs it.
    """
    import importlib

    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(_import_failure(module, exc), name=exc.name) from exc


_PACKAGE = "mmrec-toolkit"
_OWN = (
    "recsys",
    "media",
    "plumbing",
    "scenarios",
    "toolkit",
)  # the toolkit's own top-level packages
# import name -> (distribution, extra that installs it; "" for a core dependency)
_DISTRIBUTIONS = {
    "PIL": ("pillow", ""),
    "open_clip": ("open_clip_torch", ""),
    "optuna": ("optuna", "tune"),
    "tomli_w": ("tomli-w", "tune"),
    "mlflow": ("mlflow-skinny", "mlflow"),
    "sqlalchemy": ("sqlalchemy", "mlflow"),
    "alembic": ("alembic", "mlflow"),
    "tensorboard": ("tensorboard", "tensorboard"),
}


def _import_failure(module: str, exc: ImportError) -> str:
    """The message for a built-in method family that cannot be imported."""
    missing = exc.name or "?"
    top = missing.split(".")[0]
    head = f"the built-in method family {module!r} cannot be imported ({exc}): "
    if top in _OWN:
        return head + (
            f"the toolkit's own module {missing!r} is missing or broken, a damaged install; "
            f"reinstall it (pip install --force-reinstall {_PACKAGE}, or pip install -e . "
            "in a checkout)"
        )
    dist, extra = _DISTRIBUTIONS.get(top, (top.replace("_", "-"), ""))
    if extra:
        return head + f"package {dist!r} is missing; pip install '{_PACKAGE}[{extra}]'"
    return head + (
        f"package {dist!r} ({missing!r}) is missing or broken; it is a core dependency of "
        f"{_PACKAGE} (no extra): pip install {_PACKAGE} (or pip install {dist})"
    )
