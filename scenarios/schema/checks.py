"""The checks of a scenario that types cannot express: names, channels and their encoders
and templates, caption settings, the method and its options, and the numbers of each
section (those checks live with the configurations in recsys; their errors are turned into
ones that name the scenario file and the dotted key)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from plumbing.typed import invalid_choice, suggest
from scenarios.schema.errors import ScenarioError
from scenarios.schema.specs import CAPTION_MEDIA, CaptionSpec, Scenario
from scenarios.schema.templates import template_fields

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,63}$")


@contextlib.contextmanager
def _named(source: str) -> Iterator[None]:
    """Turn a ConfigError from a configuration's own check into a ScenarioError naming the
    file and the dotted key (the checks live with the configurations, in recsys)."""
    from recsys.errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise ScenarioError(source, exc.field, exc.message if exc.field else str(exc)) from None


def validate(s: Scenario, *, check_selection: bool = True) -> None:
    """The checks types cannot express; raises ScenarioError on the first problem."""
    src = s.source
    if not _NAME_RE.match(s.name):
        raise ScenarioError(src, "name", "use letters, digits, '_', '-', '+', '.' (max 64)")
    _validate_channels(s)
    _validate_captions(s)
    _validate_method(s)
    _validate_numbers(s, check_selection)


def _validate_channels(s: Scenario) -> None:
    from recsys.encoders import encoder_kinds

    src = s.source
    seen: set[str] = set()
    for i, ch in enumerate(s.channels):
        key = f"channels[{i}]"
        if not _NAME_RE.match(ch.name):
            raise ScenarioError(src, f"{key}.name", "use letters, digits, '_', '-', '.'")
        if ch.name in seen:
            raise ScenarioError(src, f"{key}.name", f"duplicate channel name {ch.name!r}")
        seen.add(ch.name)
        enc = ch.encoder
        with _named(src):
            enc.check(f"{key}.encoder")
        kinds = ("auto", *encoder_kinds(ch.modality))
        if enc.kind not in kinds:
            valid = ", ".join(kinds)
            raise ScenarioError(
                src,
                f"{key}.encoder.kind",
                f"{enc.kind!r} cannot read {ch.modality}; valid: {valid}",
            )
        if enc.quantization is not None and ch.modality != "text":
            raise ScenarioError(
                src,
                f"{key}.encoder.quantization",
                f"quantization applies to text encoders only (this is a {ch.modality} channel); "
                "remove the key",
            )
        if ch.modality == "text":
            _validate_template(src, key, ch.template)
        elif ch.template is not None:
            raise ScenarioError(src, f"{key}.template", "only text channels take a template")


def _validate_template(src: str, key: str, template: str | None) -> None:
    if not template or not template.strip():
        raise ScenarioError(src, f"{key}.template", 'text channels need a template, e.g. "{title}"')
    try:
        names = template_fields(template)
    except ValueError as exc:
        raise ScenarioError(src, f"{key}.template", str(exc)) from None
    if not names:
        raise ScenarioError(src, f"{key}.template", "uses no item field; valid: {title}, ...")
    # the names against the dataset's fields: scenarios.schema.item_texts, once it is loaded


def _validate_captions(s: Scenario) -> None:
    src = s.source
    used = s.caption_fields
    for name in s.captions:
        if name not in CAPTION_MEDIA:
            valid = ", ".join(CAPTION_MEDIA)
            raise ScenarioError(
                src,
                f"captions.{name}",
                f"unknown caption field{suggest(name, CAPTION_MEDIA)}; valid: {valid}",
            )
        if name not in used:
            raise ScenarioError(src, f"captions.{name}", f"no text template uses {{{name}}}")
        _validate_caption_spec(src, f"captions.{name}", s.captions[name])
    for name in used:
        if name not in s.captions:
            raise ScenarioError(
                src,
                "captions",
                f"a template uses {{{name}}} but there is no [captions.{name}] table",
            )


def _validate_caption_spec(src: str, key: str, spec: CaptionSpec) -> None:
    """The captioner is registered, its dtype one captioning runs, counts >= 1: checked at
    load, before any data is read (the lists are captioning's own)."""
    from captioning.base import CaptioningError
    from captioning.hf import DTYPES
    from captioning.registry import get_captioner_spec

    try:
        get_captioner_spec(spec.captioner)
    except CaptioningError as exc:  # names the registered captioners
        raise ScenarioError(src, f"{key}.captioner", str(exc)) from None
    if spec.dtype not in DTYPES:
        raise ScenarioError(src, f"{key}.dtype", invalid_choice(spec.dtype, DTYPES))
    for name in ("max_new_tokens", "num_beams", "num_frames", "batch_size"):
        if getattr(spec, name) < 1:
            raise ScenarioError(src, f"{key}.{name}", "must be >= 1")


def _validate_method(s: Scenario) -> None:
    from recsys.errors import ConfigError
    from recsys.methods import get_method, parse_method_options

    src = s.source
    try:
        entry = get_method(s.method)
    except ConfigError as exc:
        raise ScenarioError(src, "method", str(exc)) from None
    if entry.needs_channels and not s.channels:
        raise ScenarioError(src, "channels", f"method {s.method!r} needs at least one channel")
    if not entry.needs_channels and s.channels:
        raise ScenarioError(
            src, "channels", f"method {s.method!r} reads no content; remove the channels"
        )
    with _named(src):
        parse_method_options(s.method, s.method_options)


def _validate_numbers(s: Scenario, check_selection: bool = True) -> None:
    from recsys.config import check_select_metric
    from recsys.data.loader import check_options

    src = s.source
    with _named(src):
        s.split.check("split")
        check_options(s.dataset.format, s.dataset.kcore, s.dataset.columns)
        s.dataset.users.check("dataset.users")
        s.model.check("model")
        s.train.check("train")
        s.eval.check("eval")
        if check_selection:
            check_select_metric(s.train, s.eval, "train")
    if not s.seeds or len(set(s.seeds)) != len(s.seeds):
        raise ScenarioError(src, "seeds", "a non-empty list of distinct integers")
