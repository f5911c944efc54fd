"""Strict validation of a method's option table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recsys.errors import ConfigError


@dataclass(frozen=True)
class Option:
    """One accepted option: its type, default and (optionally) its valid choices."""

    type: type
    default: Any
    choices: tuple[Any, ...] | None = None


def parse_options(
    method: str, given: Mapping[str, Any], schema: Mapping[str, Option]
) -> dict[str, Any]:
    """Defaults overlaid with `given`, checked against `schema`.

    Raises:
        ConfigError: an unknown option (naming the valid ones), a wrong type, or a value
            outside the choices.
    """
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for method {method!r}; "
            f"valid options: {', '.join(sorted(schema))}"
        )
    out = {name: opt.default for name, opt in schema.items()}
    for name, value in given.items():
        opt = schema[name]
        ok = isinstance(value, opt.type) and not (opt.type is not bool and isinstance(value, bool))
        if opt.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise ConfigError(
                f"option {name!r} of method {method!r} must be {opt.type.__name__}, got {value!r}"
            )
        if opt.choices is not None and value not in opt.choices:
            raise ConfigError(
                f"option {name!r} of method {method!r} is {value!r}; "
                f"choose one of {', '.join(map(str, opt.choices))}"
            )
        out[name] = value
    return out
