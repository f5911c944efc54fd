"""The captioner registry: name -> builder. Builders import their heavy libraries lazily, so
listing names (for `toolkit caption --help`) imports no model library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from captioning.base import Captioner, CaptionerOptions, CaptioningError

Builder = Callable[[CaptionerOptions], Captioner]


@dataclass(frozen=True)
class CaptionerSpec:
    """A registered captioner.

    Attributes:
        name: registry name.
        builder: options -> loaded captioner.
        default_model: hub id used when the caller gives none (None: model-free or required).
        needs_model: whether the captioner loads weights (False for the pixel baseline).
        description: one line for `--help`.
        revision: the caption key's revision for a model-free captioner (its algorithm
            version); model captioners take theirs from the model id or folder.
    """

    name: str
    builder: Builder
    default_model: str | None = None
    needs_model: bool = True
    description: str = ""
    revision: str = ""


_REGISTRY: dict[str, CaptionerSpec] = {}
_BUILTINS_LOADED = False


def register_captioner(
    name: str,
    builder: Builder,
    *,
    default_model: str | None = None,
    needs_model: bool = True,
    description: str = "",
    revision: str = "",
) -> None:
    """Register a captioner under `name`.

    Raises:
        CaptioningError: `name` is already registered.
    """
    _load_builtins()
    if name in _REGISTRY:
        raise CaptioningError(f"captioner {name!r} is already registered")
    _REGISTRY[name] = CaptionerSpec(
        name, builder, default_model, needs_model, description, revision or name
    )


def captioner_names() -> list[str]:
    """Registered captioner names, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_captioner_spec(name: str) -> CaptionerSpec:
    """The spec registered under `name`.

    Raises:
        CaptioningError: unknown name (the message lists the valid ones).
    """
    _load_builtins()
    if name not in _REGISTRY:
        raise CaptioningError(
            f"unknown captioner {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from captioning.builtin import BUILTIN_CAPTIONERS

    for spec in BUILTIN_CAPTIONERS:
        _REGISTRY[spec.name] = spec
