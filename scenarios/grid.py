"""The evaluation grid: scenarios × methods × encoders × seeds, one independent cell each.

A grid file (TOML) lists scenario files and the axes to sweep::

    scenarios = ["title", "title+image"]     # shipped names or paths (relative to this file)
    methods = ["iisan_versa", "frozen"]      # optional; default: each scenario's own method
    seeds = [0, 1, 2]                         # optional; default: each scenario's seeds
    overrides = ["train.epochs=5"]            # optional; applied to every scenario
    [encoders]                                # optional axis: swap the encoder of every
    text = ["minilm"]                         #   text channel / every image and video channel
    vision = ["tiny-vit"]

Each cell is an idempotent unit with its own run folder: a finished cell (results.json
present, same configuration fingerprint) is skipped, an interrupted one resumes, a failing
one is recorded (error.txt) and the grid goes on. Cells share the caption store and the
hidden-state caches (same cache folder) and, within one process, the loaded dataset and
split. The report (runs.csv, runs.json, report.md, quality_vs_cost.png) is rebuilt from
the run folders after every grid call.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tomli backport (a pyproject dependency there)
    import tomli as tomllib  # type: ignore[no-redef]

from media.io import atomic_write_json, atomic_write_text
from scenarios.schema import Scenario, ScenarioError, find_scenario_file, load_scenario
from scenarios.typed import TypedLoadError, build


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
    baseline: str | None = None  # text-only reference scenario; default: first text-only
    metric: str = "ndcg@10"  # per-user test metric of the paired significance tests
    bootstrap_samples: int = 10_000  # resamples of the paired bootstrap
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

    @property
    def label(self) -> str:
        return f"{self.scenario.name} / {self.scenario.method} / seed {self.seed}"


@dataclass(frozen=True)
class CellOutcome:
    """What happened to one cell in this grid call."""

    cell: GridCell
    status: str  # "done" (trained now), "skipped" (already complete), "failed"
    error: str = ""  # one-line reason when failed
    seconds: float = 0.0  # wall time of this call for the cell


@dataclass(frozen=True)
class GridResult:
    """A finished grid call: where the outputs are and what happened per cell."""

    out_dir: Path
    outcomes: tuple[CellOutcome, ...]
    report: Path  # report.md

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def load_grid(file: str | Path, overrides: Sequence[str] = ()) -> GridSpec:
    """Read a grid TOML file strictly (unknown keys name the valid ones)."""
    path = Path(file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(path, "", f"cannot read grid file: {exc}") from None
    try:
        spec = build(GridSpec, data)
    except TypedLoadError as exc:
        raise ScenarioError(path, exc.key, exc.message) from None
    if not spec.scenarios:
        raise ScenarioError(path, "scenarios", "list at least one scenario")
    spec = GridSpec(**{**_fields(spec), "overrides": (*spec.overrides, *overrides)})
    object.__setattr__(spec, "source", str(path))
    return spec


def with_axes(
    spec: GridSpec, *, methods: Sequence[str] = (), seeds: Sequence[int] = ()
) -> GridSpec:
    """The grid with its method and seed axes replaced (empty keeps the grid's own)."""
    fields = _fields(spec) | {
        "methods": tuple(methods) or spec.methods,
        "seeds": tuple(seeds) or spec.seeds,
    }
    out = GridSpec(**fields)
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
                extra = [f"method={method}"] + _encoder_overrides(base, text, vision)
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


def cell_state(cell: GridCell) -> str:
    """ "complete", "stale" (folder holds another configuration) or "todo"."""
    import json

    meta = cell.run_dir / "cell.json"
    if not (cell.run_dir / "results.json").exists():
        return "todo"
    if meta.exists():
        held = json.loads(meta.read_text(encoding="utf-8")).get("fingerprint")
        if held != cell.scenario.fingerprint():
            return "stale"
    return "complete"


RunCell = Callable[[GridCell, Path | None, Any, bool], None]


def _default_run_cell(cell: GridCell, data: Path | None, workspace: Any, progress: bool) -> None:
    from scenarios.runner import run_one

    encoders = {"text_encoder": cell.text_encoder, "vision_encoder": cell.vision_encoder}
    extra = {"grid_cell": encoders}
    run_one(
        cell.scenario,
        seed=cell.seed,
        run_dir=cell.run_dir,
        data=data,
        workspace=workspace,
        progress=progress,
        extra_record=extra,
    )


def execute_cell(
    cell: GridCell,
    *,
    data: Path | None = None,
    workspace: Any = None,
    progress: bool = False,
    run_cell: RunCell | None = None,
) -> CellOutcome:
    """Run one cell unless it is complete; a failure is caught, written down and returned.

    Only `Exception`s are caught: Ctrl-C (KeyboardInterrupt) stops the grid, and the next
    call resumes at this cell.
    """
    state = cell_state(cell)
    if state == "complete":
        return CellOutcome(cell, "skipped")
    started = time.perf_counter()
    if state == "stale":
        message = (
            f"{cell.run_dir} holds a finished run of a different configuration; "
            "remove it or choose another --out"
        )
        return CellOutcome(cell, "failed", message)
    atomic_write_json(
        cell.run_dir / "cell.json",
        {"fingerprint": cell.scenario.fingerprint(), "seed": cell.seed, "label": cell.label},
    )
    error_file = cell.run_dir / "error.txt"
    try:
        (run_cell or _default_run_cell)(cell, data, workspace, progress)
    except Exception as exc:
        atomic_write_text(error_file, traceback.format_exc())
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return CellOutcome(cell, "failed", reason, time.perf_counter() - started)
    if error_file.exists():
        error_file.unlink()  # an earlier failure of this cell is resolved
    return CellOutcome(cell, "done", "", time.perf_counter() - started)


def run_grid(
    spec: GridSpec,
    *,
    out_dir: Path | None = None,
    data: Path | None = None,
    progress: bool = False,
    echo: Callable[[str], None] = print,
    run_cell: RunCell | None = None,
    workers: int = 1,
) -> GridResult:
    """Run every cell of a grid (skipping complete ones) and write the report.

    Args:
        spec: the grid (`load_grid`, or `GridSpec(...)` built in code).
        out_dir: output folder; default `runs/grid-<name>`.
        data: dataset for every scenario, overriding the grid's and the scenarios'.
        progress: per-run progress bars.
        echo: where one status line per cell goes.
        run_cell: replaces the per-cell runner (tests); only with workers == 1.
        workers: cells run in this many spawned local processes (scenarios.grid_pool);
            1 runs them here, one after another.

    Returns:
        The outcomes and the report path; failed cells are listed, not raised.
    """
    from scenarios.report import write_report
    from scenarios.runner import Workspace

    out = Path(out_dir) if out_dir is not None else Path("runs") / f"grid-{_safe(spec.name)}"
    data_path = data if data is not None else (Path(spec.data) if spec.data else None)
    cells = plan_grid(spec, out)
    if not progress:
        quiet_model_loading()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1:
        if run_cell is not None:
            raise ValueError("run_cell cannot be combined with workers > 1")
        from scenarios.grid_pool import run_cells_in_workers

        outcomes = run_cells_in_workers(
            cells, workers=workers, data=data_path, progress=progress, echo=echo
        )
        report = write_report(out, cells, outcomes, spec)
        return GridResult(out, tuple(outcomes), report)
    workspace = Workspace()
    outcomes = []
    for i, cell in enumerate(cells, start=1):
        outcome = execute_cell(
            cell, data=data_path, workspace=workspace, progress=progress, run_cell=run_cell
        )
        outcomes.append(outcome)
        note = f" ({outcome.error})" if outcome.error else ""
        echo(f"[{i}/{len(cells)}] {cell.label}: {outcome.status}{note}")
    report = write_report(out, cells, outcomes, spec)
    return GridResult(out, tuple(outcomes), report)


def quiet_model_loading() -> None:
    """Turn off transformers' weight loading / saving bars: with many cells they bury the
    one status line per cell."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


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
