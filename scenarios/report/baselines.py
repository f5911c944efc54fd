"""Baseline labels: which configuration of a grid (or of a set of runs) others are compared with.

A configuration is a scenario trained by one method with one text encoder and one vision
encoder (or none). A label names one or several of them::

    id                              a scenario: every configuration of `id`
    title/frozen                    a scenario and a method
    title/iisan_versa/minilm        a scenario, a method and its encoders ("+"-joined, text
    title+image/frozen/minilm+vit     first; each the model's last path part or its full name)

A scenario label keeps the default pairing rule (`scenarios.report.comparisons`): each configuration
is compared with the scenario's configuration of the same method and encoders; when the
scenario was never run with that method and it has only one configuration, that one is used.
A label naming a method names one configuration (an error when it is ambiguous): every other
configuration is compared with it, across methods and encoders. Never across protocols.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from scenarios.run.results import ConfigKey, config_label, encoders_label

__all__ = ["Config", "cell_config", "resolve_label"]

Config = tuple[str, str, str, str]  # scenario, method, text encoder, vision encoder


def valid_labels(configs: Iterable[Sequence[str]]) -> list[str]:
    """Every label that names something: the scenarios, then each configuration's full label."""
    found = list(dict.fromkeys(tuple(c[:4]) for c in configs))
    scenarios = list(dict.fromkeys(c[0] for c in found))
    return scenarios + [config_label(c) for c in found]


def _encoders_match(config: Sequence[str], wanted: str) -> bool:
    full = "+".join(x for x in (config[2], config[3]) if x)
    return wanted in (encoders_label(config[2], config[3]), full)


def resolve_label(configs: Iterable[Sequence[str]], label: str) -> Config | None:
    """The configuration a label names, or None for a scenario label (the pairing rule).

    Args:
        configs: the configurations on offer (tuples starting scenario, method, text
            encoder, vision encoder; longer tuples are cut to those four).
        label: `scenario`, `scenario/method` or `scenario/method/encoders`.

    Raises:
        ValueError: one line, when the label names nothing (listing the valid labels) or
            several configurations (listing them).
    """
    found = list(dict.fromkeys(tuple(c[:4]) for c in configs))
    scenario, method, encoders = ConfigKey.parse(label)
    if method is None:
        if any(c[0] == scenario for c in found):
            return None
        matches: list[Config] = []
    else:
        matches = [c for c in found if c[0] == scenario and c[1] == method]
        if encoders is not None:
            matches = [c for c in matches if _encoders_match(c, encoders)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(config_label(c) for c in matches)
        raise ValueError(f"baseline {label!r} names several configurations: {names}")
    raise ValueError(
        f"unknown baseline {label!r}: valid labels are {', '.join(valid_labels(found))}"
    )


def cell_config(cell: Any) -> Config:
    """A grid cell's configuration, with the encoders runs.csv records for it."""

    def first(text: bool) -> str:
        for ch in cell.scenario.channels:
            if (ch.modality == "text") == text:
                return ch.encoder.model
        return ""

    s = cell.scenario
    return (s.name, s.method, cell.text_encoder or first(True), cell.vision_encoder or first(False))
