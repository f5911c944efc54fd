"""The captioners shipped with the toolkit. Each builder imports its model code when called."""

from __future__ import annotations

from captioning.base import Captioner, CaptionerOptions
from captioning.registry import CaptionerSpec


def _baseline(options: CaptionerOptions) -> Captioner:
    from captioning.baseline import BaselineCaptioner

    return BaselineCaptioner()


BUILTIN_CAPTIONERS: tuple[CaptionerSpec, ...] = (
    CaptionerSpec(
        "baseline",
        _baseline,
        needs_model=False,
        description="model-free: dominant colour, brightness, shape and motion from pixels",
    ),
)
