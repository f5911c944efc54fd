"""The texts a text channel feeds its encoder: template fields checked against the loaded
dataset, then filled per item (list fields joined, per-field token budgets applied).

The check runs as soon as the dataset is loaded (`scenarios.run.prepared.prepare`), before any
captioning or encoding: a scenario file cannot know a dataset's fields when it is loaded,
since `--data` may name another dataset at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from plumbing.typed import suggest
from recsys.data.types import Catalogue
from scenarios.schema.errors import ScenarioError
from scenarios.schema.overrides import blame_override
from scenarios.schema.specs import CAPTION_MEDIA, TEMPLATE_FIELDS, Scenario
from scenarios.schema.templates import template_fields, template_slots

LIST_SEPARATOR = ", "  # joins the entries of a list field (features, categories, ...)


def dataset_fields(catalogue: Catalogue) -> tuple[str, ...]:
    """Every field a template may name for this catalogue: the built-ins, then its own."""
    return (*TEMPLATE_FIELDS, *(f for f in catalogue.field_names if f not in TEMPLATE_FIELDS))


def check_templates(scenario: Scenario, catalogue: Catalogue, dataset: str) -> None:
    """Raise ScenarioError (the scenario file, `channels[i].template`, the valid fields) when
    a text template names a field the dataset does not have.

    Args:
        scenario: the validated scenario.
        catalogue: the loaded dataset's catalogue.
        dataset: how to name the dataset in the message (its path).
    """
    valid = dataset_fields(catalogue)
    listed = ", ".join("{" + f + "}" for f in valid)
    try:
        _check_fields(scenario, catalogue, dataset, valid, listed)
    except ScenarioError as exc:  # a template typed on the command line: name the override
        raise blame_override(exc, getattr(scenario, "overridden", {})) from None


def _check_fields(
    scenario: Scenario, catalogue: Catalogue, dataset: str, valid: Sequence[str], listed: str
) -> None:
    for i, channel in enumerate(scenario.channels):
        for name in template_fields(channel.template or ""):
            key = f"channels[{i}].template"
            if name in CAPTION_MEDIA and name in catalogue.field_names:
                raise ScenarioError(
                    scenario.source,
                    key,
                    f"{{{name}}} is a caption field, and the dataset {dataset} also has a "
                    f"column {name!r}; rename that column",
                )
            if name not in valid:
                raise ScenarioError(
                    scenario.source,
                    key,
                    f"unknown field {{{name}}}{suggest(name, valid)}; the dataset {dataset} "
                    f"has the fields {listed}",
                )


def _column(name: str, catalogue: Catalogue, captions: Mapping[str, Mapping[str, str]]):
    if name == "title":
        return list(catalogue.titles)
    if name == "item_id":
        return list(catalogue.item_ids)
    if name in CAPTION_MEDIA:
        return [captions[name].get(i, "") for i in catalogue.item_ids]
    return [
        LIST_SEPARATOR.join(v) if isinstance(v, tuple) else v for v in catalogue.field_values(name)
    ]


def truncate_tokens(texts: Sequence[str], budget: int, tokenizer: Any) -> list[str]:
    """Each text cut after its first `budget` tokens (the original characters are kept:
    the cut falls at the end of the budget-th token's character span). A tokenizer without
    offsets (a slow one) counts whitespace-separated words instead."""
    if not getattr(tokenizer, "is_fast", False):
        return [" ".join(t.split()[:budget]) if len(t.split()) > budget else t for t in texts]
    encoded = tokenizer(
        list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )
    out = []
    for text, offsets in zip(texts, encoded["offset_mapping"], strict=True):
        out.append(text if len(offsets) <= budget else text[: offsets[budget - 1][1]].rstrip())
    return out


def render_texts(
    template: str,
    catalogue: Catalogue,
    captions: Mapping[str, Mapping[str, str]],
    tokenizer: Callable[[], Any] | None = None,
) -> tuple[str, ...]:
    """One text per catalogue item: the template filled, stripped of outer whitespace.

    Args:
        template: a validated template (`{title}. {description:60}`).
        catalogue: the items, in order.
        captions: caption field -> item id -> caption (items without one get "").
        tokenizer: returns the channel encoder's tokenizer; called only when the template
            has a token budget.
    """
    slots = template_slots(template)
    loaded = tokenizer() if tokenizer and any(b for _, _, b in slots) else None
    columns = []
    for literal, name, budget in slots:
        values = _column(name, catalogue, captions) if name else None
        if values is not None and budget is not None:
            values = truncate_tokens(values, budget, loaded)
        columns.append((literal, values))
    return tuple(
        "".join(lit + (vals[row] if vals is not None else "") for lit, vals in columns).strip()
        for row in range(len(catalogue))
    )
