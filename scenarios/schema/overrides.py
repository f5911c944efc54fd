"""Dotted command-line overrides (`train.lr=3e-4`, `channels.image.encoder.model=x`) applied
to a parsed scenario or grid document before validation. Values parse as TOML (never
evaluated); a bare word is a string. List entries are addressed by index or by `name`."""

from __future__ import annotations

import re
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport (a pyproject dependency there)
    import tomli as tomllib  # type: ignore[no-redef]

from scenarios.schema.errors import ScenarioError

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-+]+)*$")


def parse_override(item: str, *, source: str = "<overrides>") -> tuple[list[str], Any]:
    """Split `a.b.c=value` into (["a", "b", "c"], parsed value); the value is TOML or text."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not _KEY_RE.match(key):
        raise ScenarioError(source, key or item, "overrides look like dotted.key=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as `method=frozen`
    return key.split("."), value


def apply_override(doc: dict[str, Any], item: str, *, source: str = "<overrides>") -> str:
    """Set one dotted key in a parsed document; list entries by index or by `name`. Returns
    the key as validation errors name it (`channels[0].template` for `channels.text...`)."""
    parts, value = parse_override(item, source=source)
    if parts == ["seed"]:
        doc.pop("seeds", None)
    elif parts == ["seeds"]:
        doc.pop("seed", None)
    node: Any = doc
    named = []  # the key as validation names it: list entries by index
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            entry = _list_entry(node, part, where, source)
            named[-1] += f"[{next(i for i, e in enumerate(node) if e is entry)}]"
            node = entry
            continue
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict | list):
            raise ScenarioError(source, where, f"is a value, not a table (cannot set {item!r})")
        named.append(part)
        node = child
    last = parts[-1]
    if isinstance(node, list):
        raise ScenarioError(source, ".".join(parts), "name a list entry, then a key inside it")
    node[last] = value
    return ".".join([*named, last])


def blame_override(exc: ScenarioError, applied: dict[str, str]) -> ScenarioError:
    """A template error re-addressed to the override that set the template (`applied`:
    key -> override, as `apply_override` returns the key), so a template typed on the
    command line is not blamed on the (shipped) scenario file; `exc` itself otherwise."""
    for key, item in applied.items():
        if exc.key == key and key.endswith("template"):
            return ScenarioError(f"override {item!r} (on {exc.source})", exc.key, exc.message)
    return exc


def _list_entry(node: list[Any], part: str, where: str, source: str) -> dict[str, Any]:
    if part.isdigit() and int(part) < len(node):
        entry = node[int(part)]
    else:
        named = [e for e in node if isinstance(e, dict) and e.get("name") == part]
        if not named:
            names = [str(e.get("name")) for e in node if isinstance(e, dict)]
            valid = ", ".join(names + [str(i) for i in range(len(node))])
            raise ScenarioError(source, where, f"no such entry; valid: {valid}")
        entry = named[0]
    if not isinstance(entry, dict):
        raise ScenarioError(source, where, "is not a table")
    return entry
