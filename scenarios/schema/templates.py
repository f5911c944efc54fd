"""Text templates: how a text channel's template names item fields (parsing only; the check
against a loaded dataset and the rendering live in `scenarios.schema.item_texts`).

`{name}` inserts a field; `{name:60}` inserts at most the field's first 60 tokens (of the
channel encoder's tokenizer), so a long description cannot crowd out what follows it.
`{{` and `}}` are literal braces.
"""

from __future__ import annotations

import string

Slot = tuple[str, str | None, int | None]
"""(literal text before the field, field name or None at the end, token budget or None)."""


def template_slots(template: str) -> list[Slot]:
    """The pieces of a template, in order.

    Raises:
        ValueError: malformed braces, a conversion (`!r`), a name that is not a plain word,
            or a budget that is not a whole number >= 1.
    """
    slots: list[Slot] = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            slots.append((literal, None, None))
            continue
        if conversion:
            raise ValueError(f"{{{name}!{conversion}}}: conversions are not supported")
        if not name.isidentifier():
            raise ValueError(f"{{{name}}}: a field name is a plain word such as {{title}}")
        if spec and not (spec.isdigit() and int(spec) >= 1):
            raise ValueError(
                f"{{{name}:{spec}}}: after the colon give a token budget (a whole number "
                "of tokens >= 1), e.g. {description:60}"
            )
        slots.append((literal, name, int(spec) if spec else None))
    return slots


def template_fields(template: str) -> list[str]:
    """Field names a template uses, in order; raises ValueError on malformed braces."""
    return [name for _, name, _ in template_slots(template) if name is not None]
