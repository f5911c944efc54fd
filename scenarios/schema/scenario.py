"""The scenario schema: TOML files loaded into frozen dataclasses, strictly.

A scenario says which dataset, which input channels (text templates over item fields and
captions, cover images, video frames), which method and which training / evaluation
settings one comparison cell uses. `load_scenario(file, overrides)` reads the TOML with
`tomllib`, applies dotted command-line overrides (`train.epochs=5`, parsed as TOML values,
never evaluated), builds the dataclasses through the one generic loader in
`plumbing.typed`, then checks the combinations the types cannot express. Every problem
raises `ScenarioError` naming the file, the dotted key and the valid keys or choices.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport (a pyproject dependency there)
    import tomli as tomllib  # type: ignore[no-redef]

from media.hashing import sha256_json
from plumbing.cachedir import user_cache_dir
from plumbing.typed import TypedLoadError, build, invalid_choice, suggest, to_plain
from recsys.channels import EncoderSpec
from recsys.config import (
    EvalConfig,
    SASRecConfig,
    SplitConfig,
    TableColumns,
    TrainConfig,
    drop_defaults,
    hashed_sections,
)
from recsys.data.users_sample import UsersSample
from recsys.eval.history import REMOVED_EVAL_KEYS
from scenarios.schema.errors import ScenarioError
from scenarios.schema.overrides import apply_override, blame_override
from scenarios.schema.templates import template_fields

SHIPPED_DIR = Path(str(files("scenarios") / "shipped"))
"""Folder of the shipped scenario files (package data, found through importlib.resources)."""

TEMPLATE_FIELDS = ("title", "item_id", "image_caption", "video_caption")
"""Fields every dataset offers templates; its own text fields come on top
(scenarios.schema.item_texts)."""

CAPTION_MEDIA = {"image_caption": "image", "video_caption": "video"}
"""Caption field -> the media it describes."""

DEFAULT_ENCODERS = {"text": "minilm", "image": "tiny-vit", "video": "tiny-vit"}
"""Encoder model used when a channel names none (symbolic names, see scenarios.schema.models)."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where the interactions and items come from, and how to read them."""

    path: str | None = None  # dataset folder or file; None = the embedded sample
    format: str = "auto"  # "auto" detects by file names, or one of recsys DATASET_FORMATS
    on_unknown: Literal["error", "drop"] = "error"  # interactions naming an unknown item
    items: str | None = None  # explicit items / titles / meta / .item file (else found)
    interactions: str | None = None  # explicit interactions file (else found)
    images: str | None = None  # explicit cover folder of <item_id>.jpg (else found)
    videos: str | None = None  # explicit video folder of <item_id>.mp4 (else found)
    columns: TableColumns = field(default_factory=TableColumns)  # tables / RecBole columns
    kcore: int = 0  # keep users and items with >= kcore interactions (0: no filter)
    users: UsersSample = field(default_factory=UsersSample)  # a user subsample, before the split


# Keys added after scenario fingerprints were first recorded: left out while at their default.
DATASET_UNRECORDED = ("items", "interactions", "images", "videos", "columns", "kcore", "users")


@dataclass(frozen=True)
class ChannelSpec:
    """One input channel of the item tower."""

    name: str  # unique within the scenario; names the cache and the adapter branch
    modality: Literal["text", "image", "video"]  # what the encoder reads
    encoder: EncoderSpec  # frozen encoder; `model` may be symbolic ("minilm", "tiny-vit")
    template: str | None = None  # text only: e.g. "{title}. {image_caption}"


@dataclass(frozen=True)
class CaptionSpec:
    """How one caption field (`image_caption`, `video_caption`) is produced."""

    captioner: str = "baseline"  # captioner registry name ("baseline" needs no model)
    model: str | None = None  # hub id or local folder for model-based captioners
    prompt: str = "short"  # prompt preset name or literal prompt
    generate: bool = True  # False: never caption here; stop and print the command instead
    max_new_tokens: int = 30  # generation length limit (part of the caption key)
    num_beams: int = 1  # beams; 1 = greedy (part of the caption key)
    num_frames: int = 8  # frames per video for video captions (part of the caption key)
    dtype: str = "float32"  # captioner compute dtype (part of the caption key)
    device: str = "auto"  # where the captioner runs; not part of the key
    batch_size: int = 8  # media per generate() call; not part of the key
    # Use captions of the same model and settings made under other torch / transformers
    # versions (the key records them) instead of captioning again; not part of the key.
    reuse_across_versions: bool = False


CAPTION_RUNTIME = ("device", "batch_size", "reuse_across_versions")
"""CaptionSpec fields that say how captions are made or looked up, not which: left out of the
scenario fingerprint (the caption key and the store's fingerprint record what was used)."""


@dataclass(frozen=True)
class OutputSpec:
    """Where runs, caches and captions go."""

    dir: str = "runs"  # runs land in <dir>/<scenario>/<method>-s<seed>
    # Hidden-state caches, generated tiny models and captions. None: the user's cache folder
    # ($MMREC_TOOLKIT_CACHE, else $XDG_CACHE_HOME/mmrec-toolkit, else ~/.cache/mmrec-toolkit).
    cache_dir: str | None = None
    caption_store: str | None = None  # caption store folder; None = <cache_dir>/captions

    def cache_path(self) -> Path:
        """`cache_dir`, or the user's cache folder (`plumbing.cachedir.user_cache_dir`)."""
        return Path(self.cache_dir).expanduser() if self.cache_dir else user_cache_dir()

    # Experiment tracking (scenarios.run.tracking): "mlflow" or "tensorboard"; off by default.
    tracking: Literal["off", "mlflow", "tensorboard"] = "off"
    tracking_uri: str | None = None  # MLflow store; None = sqlite <job folder>/mlflow.db


@dataclass(frozen=True)
class Scenario:
    """One fully validated scenario."""

    name: str  # short name; used in run folders and reports
    description: str = ""  # what the scenario tests, one sentence
    dataset: DatasetSpec = field(default_factory=DatasetSpec)  # data source
    split: SplitConfig = field(default_factory=SplitConfig)  # leave-one-out or temporal
    channels: tuple[ChannelSpec, ...] = ()  # input channels; empty only for `id`
    captions: Mapping[str, CaptionSpec] = field(default_factory=dict)  # per caption field
    method: str = "iisan_versa"  # registered method (recsys.methods)
    method_options: Mapping[str, Any] = field(default_factory=dict)  # passed to the method
    model: SASRecConfig = field(default_factory=SASRecConfig)  # user encoder
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation
    eval: EvalConfig = field(default_factory=EvalConfig)  # ranking and metrics
    seeds: tuple[int, ...] = (0,)  # one run per seed
    output: OutputSpec = field(default_factory=OutputSpec)  # output folders
    source: str = field(default="", init=False)  # file it was loaded from (set by the loader)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able form (what results record)."""
        return to_plain(self)

    def fingerprint(self) -> str:
        """sha256 over everything that changes results: not the description, output folders
        or seeds, nor where and in what batches captions are generated (`CAPTION_RUNTIME`)."""
        plain = self.to_dict()
        for key in ("description", "source", "output", "seeds"):
            plain.pop(key, None)
        plain = hashed_sections(plain)  # model, split, eval: older grids keep fingerprints
        for table in plain["captions"].values():
            for key in CAPTION_RUNTIME:
                table.pop(key, None)
        plain["dataset"] = drop_defaults(
            plain["dataset"], to_plain(DatasetSpec()), DATASET_UNRECORDED
        )
        return sha256_json(plain)

    @property
    def caption_fields(self) -> tuple[str, ...]:
        """Caption fields used by any text template, in first-use order."""
        used: list[str] = []
        for channel in self.channels:
            for name in template_fields(channel.template or ""):
                if name in CAPTION_MEDIA and name not in used:
                    used.append(name)
        return tuple(used)


# ---------------------------------------------------------------- loading


def shipped_scenarios() -> list[Path]:
    """The scenario files shipped with the toolkit, sorted by name."""
    return sorted(SHIPPED_DIR.glob("*.toml"))


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


# ---------------------------------------------------------------- validation

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


def scenario_summary(s: Scenario) -> dict[str, Any]:
    """Short facts for reports: channels by modality and whether captions feed text."""
    modalities = tuple(ch.modality for ch in s.channels)
    return {
        "name": s.name,
        "method": s.method,
        "modalities": "+".join(modalities) or "id",
        "captions": list(s.caption_fields),
        "text_only": bool(s.channels) and set(modalities) == {"text"} and not s.caption_fields,
    }


__all__ = [
    "CaptionSpec",
    "ChannelSpec",
    "DatasetSpec",
    "OutputSpec",
    "Scenario",
    "ScenarioError",
    "apply_override",
    "load_scenario",
    "parse_scenario",
    "shipped_scenarios",
]
