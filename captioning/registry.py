"""The captioner registry: name -> builder. Builders import their heavy libraries lazily, so
listing names (for `toolkit caption --help`) imports no model library."""

from __future__ import annotations

from captioning.base import Builder, CaptionerSpec, CaptioningError
from captioning.builtin import BUILTIN_CAPTIONERS

_REGISTRY: dict[str, CaptionerSpec] = {spec.name: spec for spec in BUILTIN_CAPTIONERS}


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
    if name in _REGISTRY:
        raise CaptioningError(f"captioner {name!r} is already registered")
    _REGISTRY[name] = CaptionerSpec(
        name, builder, default_model, needs_model, description, revision or name
    )


def captioner_names() -> list[str]:
    """Registered captioner names, sorted."""
    return sorted(_REGISTRY)


def get_captioner_spec(name: str) -> CaptionerSpec:
    """The spec registered under `name`.

    Raises:
        CaptioningError: unknown name (the message lists the valid ones).
    """
    if name not in _REGISTRY:
        raise CaptioningError(
            f"unknown captioner {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]
