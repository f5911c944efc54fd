"""`toolkit data show`: one item's text as each text channel of a scenario feeds it to the
encoder — the template filled (`scenarios.schema.item_texts.render_texts`, per-field token budgets
applied), its token count under the channel encoder's tokenizer (special tokens included,
as the encoder counts them) and, when that exceeds the encoder's `max_tokens`, where the
encoder cuts it: the kept part and the cut part.

Caption fields (`{image_caption}`) are shown empty: a preview never runs a captioner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.schema.errors import ScenarioError


@dataclass(frozen=True)
class ChannelPreview:
    """One text channel's input for one item."""

    channel: str
    template: str
    text: str  # the template filled: what the tokenizer gets
    tokens: int  # its token count, special tokens included
    max_tokens: int  # where the encoder cuts
    kept: str  # the part the encoder sees
    cut: str  # the part past max_tokens ("" when nothing is cut)
    caption_fields: tuple[str, ...] = ()  # fields shown empty (no captioner runs here)


@dataclass(frozen=True)
class ItemPreview:
    """What `preview_item` returns."""

    item_id: str
    dataset: Path
    channels: tuple[ChannelPreview, ...]


def split_at_max_tokens(text: str, max_tokens: int, tokenizer: Any) -> tuple[int, str, str]:
    """(token count with special tokens, kept text, cut text) of `text` under `max_tokens`,
    as `truncation=True, max_length=max_tokens` cuts it: the special tokens stay, so the
    text keeps `max_tokens` less their count of its own tokens."""
    count = len(tokenizer(text, truncation=False, verbose=False)["input_ids"])
    if count <= max_tokens:
        return count, text, ""
    specials = count - len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])
    own = max(max_tokens - specials, 0)
    if own == 0:
        return count, "", text
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
        "offset_mapping"
    ]
    end = offsets[own - 1][1]
    return count, text[:end], text[end:]


def _channel_preview(scenario: Any, channel: Any, catalogue: Any, row_id: str) -> ChannelPreview:
    from recsys.encoders.hf_text import load_tokenizer
    from scenarios.schema.item_texts import render_texts
    from scenarios.schema.models import resolve_model
    from scenarios.schema.specs import CAPTION_MEDIA
    from scenarios.schema.templates import template_fields

    model = resolve_model(channel.encoder.model, scenario.output.cache_path())
    tokenizer = load_tokenizer(dataclasses.replace(channel.encoder, model=model))
    captions: dict[str, dict[str, str]] = {name: {} for name in CAPTION_MEDIA}
    text = render_texts(channel.template, catalogue.subset([row_id]), captions, lambda: tokenizer)
    limit = int(channel.encoder.max_tokens)
    count, kept, cut = split_at_max_tokens(text[0], limit, tokenizer)
    fields = tuple(f for f in template_fields(channel.template) if f in CAPTION_MEDIA)
    return ChannelPreview(channel.name, channel.template, text[0], count, limit, kept, cut, fields)


def preview_item(
    item_id: str, scenario: str | Path, overrides: Sequence[str] = (), data: Path | None = None
) -> ItemPreview:
    """Every text channel of `scenario` (a file or shipped name, with `overrides`) rendered
    for `item_id` of its dataset (`data`, else the scenario's, else the embedded sample).

    Raises:
        ScenarioError: a bad scenario, a template naming a field the dataset lacks, an
            unknown item id (naming it and the dataset), or a scenario without text channels.
    """
    from scenarios.run.prepared import dataset_path, load_data
    from scenarios.schema.item_texts import check_templates
    from scenarios.schema.scenario import load_scenario

    loaded = load_scenario(scenario, overrides)
    path = dataset_path(loaded, data)
    catalogue = load_data(path, loaded.dataset).catalogue
    check_templates(loaded, catalogue, str(path))
    if item_id not in catalogue:
        some = ", ".join(catalogue.item_ids[:3])
        raise ScenarioError(
            path, "", f"no item {item_id!r} in this dataset (its ids look like {some}, ...)"
        )
    texts = [c for c in loaded.channels if c.modality == "text"]
    if not texts:
        raise ScenarioError(loaded.source, "channels", "has no text channel to preview")
    channels = tuple(_channel_preview(loaded, c, catalogue, item_id) for c in texts)
    return ItemPreview(item_id, path, channels)


def preview_lines(preview: ItemPreview) -> list[str]:
    """The preview as `toolkit data show` prints it."""
    lines = [f"item {preview.item_id} of {preview.dataset}"]
    for c in preview.channels:
        fits = c.tokens <= c.max_tokens
        verdict = "fits" if fits else f"cut at max_tokens = {c.max_tokens}"
        lines += [
            f"channel {c.channel}: template {c.template!r}",
            f"  text ({c.tokens} tokens, {verdict}): {c.text}",
        ]
        if not fits:
            lines += [f"  kept: {c.kept}", f"  cut:  {c.cut}"]
        if c.caption_fields:
            named = ", ".join("{" + f + "}" for f in c.caption_fields)
            lines.append(f"  note: {named} shown empty (captions are not made by a preview)")
    return lines
