"""The scenario schema: TOML files loaded into frozen dataclasses, strictly.

A scenario says which dataset, which input channels (text templates over item fields and
captions, cover images, video frames), which method and which training / evaluation
settings one comparison cell uses. `load_scenario(file, overrides)` reads the TOML with
`tomllib`, applies dotted command-line overrides (`train.epochs=5`, parsed as TOML values,
never evaluated), builds the dataclasses through the one generic loader in
`plumbing.typed`, then checks the combinations the types cannot express. Every problem
raises `ScenarioError` naming the file, the dotted key and the valid keys or choices.

The dataclasses live in `scenarios.schema.specs`, the checks in `scenarios.schema.checks`,
the error in `scenarios.schema.errors`: import each from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport (a pyproject dependency there)
    import tomli as tomllib  # type: ignore[no-redef]

from plumbing.typed import TypedLoadError, build
from recsys.eval.history import REMOVED_EVAL_KEYS
from scenarios.schema.checks import validate
from scenarios.schema.errors import ScenarioError
from scenarios.schema.overrides import apply_override, blame_override
from scenarios.schema.shipped import SHIPPED_DIR, shipped_scenarios
from scenarios.schema.specs import (
    DEFAULT_ENCODERS,
    Scenario,
)

# ---------------------------------------------------------------- loading


def find_scenario_file(file: str | Path) -> Path:
    """`file` itself, or the shipped scenario of that name ("title", "title+image")."""
    path = Path(file)
    if path.exists():
        return path
    shipped = SHIPPED_DIR / f"{path.name.removesuffix('.toml')}.toml"
    if path.parent == Path(".") and shipped.exists():
        return shipped
    names = ", ".join(p.stem for p in shipped_scenarios())
    raise ScenarioError(path, "", f"no such file; shipped scenarios: {names}")


def load_scenario(file: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate one scenario file.

    Args:
        file: a TOML path, or the name of a shipped scenario ("title+image").
        overrides: dotted `key=value` strings; values parse as TOML (`train.lr=3e-4`,
            `seeds=[0,1]`), anything that is not valid TOML is taken as a plain string.

    Raises:
        ScenarioError: unreadable TOML, unknown key, wrong type or impossible combination.
    """
    path = find_scenario_file(file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(path, "", f"not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "", f"invalid TOML: {exc}") from None
    except OSError as exc:
        raise ScenarioError(path, "", f"cannot read: {exc.strerror}") from None
    return parse_scenario(data, source=str(path), overrides=overrides, default_name=path.stem)


def parse_scenario(
    data: Mapping[str, Any],
    *,
    source: str = "<scenario>",
    overrides: Sequence[str] = (),
    default_name: str | None = None,
    check_selection: bool = True,
) -> Scenario:
    """Validate an already parsed TOML document (see `load_scenario`).

    `check_selection=False` is for scoring a finished run: its `train.select_metric` was
    used already, so other `eval.ks` need not report it."""
    doc = _thaw(data)
    applied = {apply_override(doc, item, source=source): item for item in overrides}
    try:
        return _parse(doc, source, default_name, check_selection, applied)
    except ScenarioError as exc:  # a bad value typed on the command line: name the override
        raise blame_override(exc, applied) from None


def _parse(
    doc: dict[str, Any],
    source: str,
    default_name: str | None,
    check_selection: bool,
    applied: dict[str, str],
) -> Scenario:
    _merge_seed(doc, source)
    _refuse_removed(doc, source)
    if "name" not in doc and default_name is not None:
        doc["name"] = default_name
    _fill_encoder_defaults(doc, source)
    try:
        scenario = build(Scenario, doc, also_valid=("seed",))
    except TypedLoadError as exc:
        raise ScenarioError(source, exc.key, exc.message) from None
    object.__setattr__(scenario, "source", source)  # provenance, not configuration
    object.__setattr__(scenario, "overridden", applied)  # key -> override (blame_override)
    validate(scenario, check_selection=check_selection)
    return scenario


def _refuse_removed(doc: dict[str, Any], source: str) -> None:
    """A key that once existed gets what to write instead, not a bare "unknown key"."""
    table = doc.get("eval")
    for key in table if isinstance(table, dict) else ():
        if key in REMOVED_EVAL_KEYS:
            raise ScenarioError(source, f"eval.{key}", REMOVED_EVAL_KEYS[key])


def _thaw(value: Any) -> Any:
    """Deep, mutable copy of a parsed document (dict/list only)."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _merge_seed(doc: dict[str, Any], source: str) -> None:
    if "seed" in doc and "seeds" in doc:
        raise ScenarioError(source, "seed", "give either `seed` or `seeds`, not both")
    if "seed" in doc:
        doc["seeds"] = [doc.pop("seed")]


def _fill_encoder_defaults(doc: dict[str, Any], source: str) -> None:
    """A channel without an encoder (or encoder model) gets its modality's default model."""
    channels = doc.get("channels")
    if not isinstance(channels, list):
        return
    for i, channel in enumerate(channels):
        if not isinstance(channel, dict):
            continue
        modality = channel.get("modality")
        encoder = channel.setdefault("encoder", {})
        if isinstance(encoder, str):  # shorthand: encoder = "minilm"
            encoder = channel["encoder"] = {"model": encoder}
        known = isinstance(modality, str) and modality in DEFAULT_ENCODERS  # typos: validate
        if isinstance(encoder, dict) and "model" not in encoder and known:
            encoder["model"] = DEFAULT_ENCODERS[modality]
        elif not isinstance(encoder, dict):
            raise ScenarioError(source, f"channels[{i}].encoder", "expected a table or a name")


__all__ = [
    "find_scenario_file",
    "load_scenario",
    "parse_scenario",
]
