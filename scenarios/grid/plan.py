"""Grid files and their cells: scenarios × methods × encoders × seeds, planned, not run.

A grid file (TOML) lists scenario files and the axes to sweep::

    scenarios = ["title", "title+image"]     # shipped names or paths (relative to this file)
    methods = ["iisan_versa", "frozen"]      # optional; default: each scenario's own method
    seeds = [0, 1, 2]                         # optional; default: each scenario's seeds
    overrides = ["train.epochs=5"]            # optional; applied to every scenario
    baseline = "id"                           # optional; what the others are compared with:
                                              #   a scenario, "title/frozen" or
                                              #   "title/iisan_versa/minilm"
                                              #   (scenarios.report.baselines)
    correction = "holm"                       # optional; "holm" | "bh" | "none": how each
                                              #   report table's p-values are adjusted
    report_eval = ["eval.history=unmasked"]  # optional; the report scores every
                                              #   finished cell's checkpoint under these
    [method_options.frozen]                   # optional; options for the cells of one method
    head = "iisan"
    [encoders]                                # optional axis: swap the encoder of every
    text = ["minilm"]                         #   text channel / every image and video channel
    vision = ["tiny-vit"]
    [tune]                                    # optional: tune every (scenario, method) first
    trials = 20                               #   (scenarios.tune.spec.TuneSpec; grid.tune)

`plan_grid` turns a grid into its cells, each a fully resolved scenario with a seed and a
run folder; `grid_commands` gives the `toolkit run-scenario` line of every cell, for a
scheduler. Running them is `scenarios.grid.run`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport (a pyproject dependency there)
    import tomli as tomllib  # type: ignore[no-redef]

from plumbing.typed import TypedLoadError, build
from scenarios.report.multiplicity import DEFAULT_CORRECTION, Correction
from scenarios.run.evaluate import check_eval_overrides
from scenarios.run.rows import cell_name
from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import find_scenario_file, load_scenario
from scenarios.schema.specs import Scenario
from scenarios.tune.spec import TuneSpec

# Why `bootstrap_samples`, a key of grid files written before the analytic test, is refused.
REMOVED_BOOTSTRAP = (
    "no longer used: comparisons use an analytic test (scenarios.report.stats) and resample "
    "nothing; delete the key"
)


@dataclass(frozen=True)
class EncoderAxis:
    """Encoder models swept by the grid (empty = each scenario's own encoders)."""

    text: tuple[str, ...] = ()  # models for every text channel
    vision: tuple[str, ...] = ()  # models for every image and video channel


@dataclass(frozen=True)
class GridSpec:
    """A grid file."""

    scenarios: tuple[str, ...]  # scenario files (relative to the grid file) or shipped names
    name: str = "grid"  # names the default output folder runs/grid-<name>
    methods: tuple[str, ...] = ()  # methods to sweep; empty = each scenario's own
    seeds: tuple[int, ...] = ()  # seeds to sweep; empty = each scenario's own
    encoders: EncoderAxis = field(default_factory=EncoderAxis)  # encoder axes
    overrides: tuple[str, ...] = ()  # dotted overrides applied to every scenario
    data: str | None = None  # dataset for every scenario (default: each scenario's)
    # baseline label (scenarios.report.baselines): a scenario, scenario/method or
    # scenario/method/encoders; default: the first text-only scenario
    baseline: str | None = None
    metric: str = "ndcg@10"  # per-user test metric of the paired significance tests
    # multiple-comparison adjustment of each report table (scenarios.report.multiplicity)
    correction: Correction = DEFAULT_CORRECTION
    # method -> option table for the cells of that method (e.g. every baseline's `head`)
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # eval.* overrides the report is made under: each finished cell's best checkpoint is
    # scored under them (`toolkit evaluate`, no training); the cells train as given above
    report_eval: tuple[str, ...] = ()
    tune: TuneSpec | None = None  # tune every (scenario, method) at this budget before its runs
    source: str = field(default="", init=False)  # file it was read from (set by the loader)


@dataclass(frozen=True)
class GridCell:
    """One run of the grid: a fully resolved scenario with one seed and its run folder."""

    scenario: Scenario  # method, seed and encoder overrides already applied
    seed: int
    text_encoder: str  # "" when the scenario has no text channel
    vision_encoder: str  # "" when it has no image or video channel
    run_dir: Path
    source: str = ""  # the scenario file (for `cell_command`)
    overrides: tuple[str, ...] = ()  # the overrides that made `scenario` from `source`
    tracking: Any = None  # the grid's scenarios.run.tracking.TrackingContext (set by run_grid)

    @property
    def label(self) -> str:
        """`scenario / method / seed N`, with the swept encoders after the method."""
        swept = (self.text_encoder, self.vision_encoder)
        return cell_name(self.scenario.name, self.scenario.method, self.seed, swept)


def load_grid(file: str | Path, overrides: Sequence[str] = ()) -> GridSpec:
    """Read a grid TOML file strictly (unknown keys name the valid ones)."""
    path = Path(file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(path, "", f"cannot read grid file: {exc}") from None
    if "bootstrap_samples" in data:  # a key of older grid files: say why it went
        raise ScenarioError(path, "bootstrap_samples", REMOVED_BOOTSTRAP)
    try:
        spec = build(GridSpec, data)
    except TypedLoadError as exc:
        raise ScenarioError(path, exc.key, exc.message) from None
    if not spec.scenarios:
        raise ScenarioError(path, "scenarios", "list at least one scenario")
    check_eval_overrides(spec.report_eval, source=f"{path}: report_eval")
    if spec.tune is not None:
        spec.tune.check(str(path))
    spec = GridSpec(**{**_fields(spec), "overrides": (*spec.overrides, *overrides)})
    object.__setattr__(spec, "source", str(path))
    return spec


def with_axes(
    spec: GridSpec,
    *,
    methods: Sequence[str] = (),
    seeds: Sequence[int] = (),
    report_eval: Sequence[str] = (),
    baseline: str | None = None,
) -> GridSpec:
    """The grid with its method and seed axes replaced (empty keeps the grid's own),
    `report_eval` overrides added to its own, and its baseline label replaced (None keeps
    the grid's own)."""
    check_eval_overrides(report_eval, source="--report-eval")
    fields = _fields(spec) | {
        "methods": tuple(methods) or spec.methods,
        "seeds": tuple(seeds) or spec.seeds,
        "report_eval": (*spec.report_eval, *report_eval),
        "baseline": baseline or spec.baseline,
    }
    out = GridSpec(**fields)
    object.__setattr__(out, "source", spec.source)
    return out


def with_tune(spec: GridSpec, trials: int | None) -> GridSpec:
    """The grid tuning each (scenario, method) with `trials` trials (`--tune N`; None keeps
    the grid's own `tune`)."""
    if trials is None:
        return spec
    tune = TuneSpec(trials=trials) if spec.tune is None else replace(spec.tune, trials=trials)
    tune.check(spec.source or "<grid>", "--tune")
    out = GridSpec(**(_fields(spec) | {"tune": tune}))
    object.__setattr__(out, "source", spec.source)
    return out


def _fields(spec: GridSpec) -> dict[str, Any]:
    return {k: getattr(spec, k) for k in GridSpec.__dataclass_fields__ if k != "source"}


def is_grid_file(file: str | Path) -> bool:
    """True when `file` is a grid (it has a top-level `scenarios` list)."""
    try:
        data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(data.get("scenarios"), list)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", Path(text).name or text).strip("-") or "x"


def _scenario_path(spec: GridSpec, entry: str) -> Path:
    base = Path(spec.source).parent if spec.source else Path(".")
    candidate = base / entry
    return candidate if candidate.exists() else find_scenario_file(entry)


def plan_grid(spec: GridSpec, out_dir: Path) -> list[GridCell]:
    """Every cell of the grid, in a stable order (scenario, method, encoders, seed).

    A method that reads no content (such as `id`) only pairs with scenarios that have no
    channels, and content methods only with scenarios that have them; other pairs are not
    cells. Encoder axes apply only to scenarios with channels of that kind.
    """
    cells: list[GridCell] = []
    seen_dirs: set[Path] = set()
    for entry in spec.scenarios:
        path = _scenario_path(spec, entry)
        base = load_scenario(path, spec.overrides)
        methods = spec.methods or (base.method,)
        for method in methods:
            if not _method_fits(method, base):
                continue
            for text, vision in _encoder_pairs(spec, base):
                extra = [
                    f"method={method}",
                    *_option_overrides(spec.method_options.get(method, {})),
                    *_encoder_overrides(base, text, vision),
                ]
                seeds = spec.seeds or base.seeds
                for seed in seeds:
                    applied = (*spec.overrides, *extra, f"seed={seed}")
                    scenario = load_scenario(path, list(applied))
                    tag = _encoder_tag(spec, text, vision)
                    run_dir = out_dir / "runs" / _safe(scenario.name) / f"{method}{tag}-s{seed}"
                    if run_dir in seen_dirs:
                        raise ScenarioError(
                            spec.source or "<grid>", "scenarios", f"two cells share {run_dir}"
                        )
                    seen_dirs.add(run_dir)
                    cells.append(
                        GridCell(scenario, seed, text, vision, run_dir, str(path), applied)
                    )
    return cells


def _option_overrides(options: Mapping[str, Any]) -> list[str]:
    """`method_options.<key>=<value>` overrides (values written as TOML via JSON, which
    agrees with TOML for strings, numbers, booleans and lists of them)."""
    return [f"method_options.{k}={json.dumps(v)}" for k, v in sorted(options.items())]


def _method_fits(method: str, scenario: Scenario) -> bool:
    from recsys.methods import get_method

    return get_method(method).needs_channels == bool(scenario.channels)


def _encoder_pairs(spec: GridSpec, scenario: Scenario) -> list[tuple[str, str]]:
    has_text = any(c.modality == "text" for c in scenario.channels)
    has_vision = any(c.modality != "text" for c in scenario.channels)
    texts = (spec.encoders.text or ("",)) if has_text else ("",)
    visions = (spec.encoders.vision or ("",)) if has_vision else ("",)
    return [(t, v) for t in texts for v in visions]


def _encoder_overrides(scenario: Scenario, text: str, vision: str) -> list[str]:
    out = []
    for ch in scenario.channels:
        model = text if ch.modality == "text" else vision
        if model:
            out.append(f'channels.{ch.name}.encoder.model="{model}"')
    return out


def _encoder_tag(spec: GridSpec, text: str, vision: str) -> str:
    parts = []
    if len(spec.encoders.text) > 1 and text:
        parts.append(_safe(text))
    if len(spec.encoders.vision) > 1 and vision:
        parts.append(_safe(vision))
    return ("__" + "+".join(parts)) if parts else ""


def default_out_dir(spec: GridSpec) -> Path:
    """Where a grid writes when no --out is given: runs/grid-<name>."""
    return Path("runs") / f"grid-{_safe(spec.name)}"


def grid_data(spec: GridSpec, data: Path | None) -> Path | None:
    """The dataset every cell uses: --data, else the grid's `data`, else each scenario's."""
    return data if data is not None else (Path(spec.data) if spec.data else None)


def grid_from_files(
    files: Sequence[str | Path],
    *,
    methods: Sequence[str] = (),
    seeds: Sequence[int] = (),
    overrides: Sequence[str] = (),
    name: str = "grid",
) -> GridSpec:
    """A grid over scenario files given on the command line."""
    entries = tuple(str(Path(f).resolve()) if Path(f).exists() else str(f) for f in files)
    return GridSpec(
        scenarios=entries,
        name=name,
        methods=tuple(methods),
        seeds=tuple(seeds),
        overrides=tuple(overrides),
    )


def cell_command(cell: GridCell, data: Path | None = None) -> str:
    """The `toolkit run-scenario` line that runs one cell into its grid run folder.

    Hand these lines to a scheduler (one job each, under `torchrun` for several GPUs); a
    later `toolkit grid` call on the same output folder finds the finished cells complete.
    """
    parts = ["toolkit", "run-scenario", cell.source, *cell.overrides, "--out", str(cell.run_dir)]
    if data is not None:
        parts += ["--data", str(data)]
    return shlex.join(parts)


def grid_commands(
    spec: GridSpec, *, out_dir: Path | None = None, data: Path | None = None
) -> list[str]:
    """`cell_command` for every cell of a grid, in plan order (same folders as `run_grid`);
    a tuning grid's lines carry the values its finished studies chose."""
    from scenarios.grid.tune import tuned_commands_cells

    out = Path(out_dir) if out_dir is not None else default_out_dir(spec)
    data_path = grid_data(spec, data)
    cells = tuned_commands_cells(spec, plan_grid(spec, out), out, data_path)
    return [cell_command(cell, data_path) for cell in cells]
