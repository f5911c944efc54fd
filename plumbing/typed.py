"""One generic, strict loader from plain dicts (parsed TOML) to frozen dataclasses.

Every configuration section (a scenario's dataset, split, channels, encoder, train, ...; a
method's options; a grid file) goes through `build`, so the rules are the same everywhere:
unknown keys are errors naming the dotted key and the valid keys, values must have the
annotated type (an int is accepted where a float is expected, nothing else is coerced), and
nested dataclasses, tuples, optional values, literals and string-keyed tables are handled by
recursion on the annotations. A `Literal[...]` annotation is the one list of valid choices
(code that needs the list takes it with `typing.get_args`).

Checks the types cannot express (ranges, combinations) live with the configuration they
concern (e.g. `recsys.config.TrainConfig.check`), so files and code share them.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

T = typing.TypeVar("T")


class TypedLoadError(ValueError):
    """A value does not fit its dataclass field.

    Args:
        key: dotted path of the offending key ("train.epochs", "channels[0].encoder.model").
        message: what is wrong, including the valid keys or choices where there are any.
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "nothing (omit the key)"
    if isinstance(tp, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            tp.__name__, tp.__name__
        )
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(get_args(tp)[0])}"
    if origin in (dict, Mapping, typing.Mapping):
        return "table"
    return str(tp)


def suggest(name: str, valid: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' when `name` is close to one of `valid`, else ''."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def invalid_choice(value: Any, choices: typing.Iterable[Any]) -> str:
    """The message for a value outside its choices: the value, a close match, every choice."""
    choices = list(choices)
    valid = ", ".join(repr(c) for c in choices)
    hint = suggest(str(value), map(str, choices))
    return f"invalid value {value!r}{hint}; valid choices: {valid}"


def build(cls: type[T], data: Any, key: str = "", also_valid: tuple[str, ...] = ()) -> T:
    """Build dataclass `cls` from a dict, strictly.

    Args:
        cls: a (frozen) dataclass type whose fields carry type annotations.
        data: the parsed table.
        key: dotted path of `data` in the whole document, for error messages.
        also_valid: keys the caller handled before (listed as valid in errors).

    Raises:
        TypedLoadError: unknown key, missing required key, or a value of the wrong type.
    """
    if not isinstance(data, Mapping):
        raise TypedLoadError(key, f"expected a table, got {_describe(data)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        name = str(unknown[0])
        valid = ", ".join([*fields, *also_valid])
        raise TypedLoadError(
            _join(key, name), f"unknown key{suggest(name, fields)}; valid keys: {valid}"
        )
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = convert(hints[name], data[name], _join(key, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise TypedLoadError(_join(key, name), "required key is missing")
    return cls(**kwargs)


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def convert(tp: Any, value: Any, key: str) -> Any:
    """Check (and minimally convert) one value against annotation `tp`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build(tp, value, key)
    if origin in (Union, types.UnionType):
        return _convert_union(tp, value, key)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices or type(value) is not type(choices[0]):
            raise TypedLoadError(key, invalid_choice(value, choices))
        return value
    if origin is tuple:
        return _convert_tuple(tp, value, key)
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        return _convert_mapping(tp, value, key)
    if tp is type(None):
        raise TypedLoadError(key, "no value allowed here")
    return _convert_scalar(tp, value, key)


def _convert_union(tp: Any, value: Any, key: str) -> Any:
    args = get_args(tp)
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return convert(arg, value, key)
        except TypedLoadError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    raise TypedLoadError(key, f"expected {_type_name(tp)}, got {_describe(value)}")


def _convert_tuple(tp: Any, value: Any, key: str) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise TypedLoadError(key, f"expected {_type_name(tp)}, got {_describe(value)}")
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if len(args) != len(value):
        raise TypedLoadError(key, f"expected a list of {len(args)} values, got {len(value)}")
    return tuple(
        convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
    )


def _convert_mapping(tp: Any, value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypedLoadError(key, f"expected a table, got {_describe(value)}")
    args = get_args(tp)
    item_tp = args[1] if len(args) == 2 else Any
    # A plain dict (read-only by convention): MappingProxyType would make scenarios
    # unpicklable, and grid cells must travel to worker processes.
    return {str(k): convert(item_tp, v, _join(key, str(k))) for k, v in value.items()}


def _convert_scalar(tp: Any, value: Any, key: str) -> Any:
    # bool is a subclass of int in Python; TOML keeps them apart, and so do we.
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (
        isinstance(tp, type)
        and isinstance(value, tp)
        and not (tp is int and isinstance(value, bool))
    ):
        return value
    raise TypedLoadError(key, f"expected {_type_name(tp)}, got {_describe(value)}")


def to_plain(obj: Any) -> Any:
    """The inverse direction: a dataclass tree as JSON/TOML-able dicts, lists and scalars."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj
