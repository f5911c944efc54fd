"""What a grid adds around its cells: tuning (`tune = { trials = N }`) and tracking.

With `tune`, every (scenario, method, encoders) group of cells is tuned first, at the same
budget, in its own study folder `<grid>/tuning/<scenario>/<method>` (`scenarios.tune.run`,
resumable), on validation only; the chosen values then become overrides of every seeded cell
of the group, so a cell's scenario, fingerprint and `--commands` line carry them. A finished
study is reused only when the identity its tuning.json records is exactly the group's
(`group_identity`: configuration, dataset, space, trials, epochs, sampler seed, pruner);
another study in the folder is set aside (`<folder>.stale-<n>`) with one line saying what
differs, and the group is tuned again. The report
gets a section stating the budget, the values chosen per method and that test data never
influenced them. With `output.tracking = "mlflow"` the grid is one parent run holding the
studies and the cells, with the report and its plot as artifacts.

Cells are handled as values (`dataclasses.replace`), so this module imports neither
`scenarios.grid.plan` nor `scenarios.grid.run`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import load_scenario
from scenarios.tune.spec import identity_change, recorded_identity, value_overrides


def study_dir(out_dir: Path, cell: Any) -> Path:
    """`<grid>/tuning/<scenario>/<method><encoder tag>`: one study per group of seeds."""
    leaf = cell.run_dir.name.rsplit("-s", 1)[0]
    return Path(out_dir) / "tuning" / cell.run_dir.parent.name / leaf


def group_identity(spec: Any, cell: Any, data: Path | None) -> dict[str, Any]:
    """The identity of the study a group of cells needs (`scenarios.tune.spec.study_identity`
    of the cell's scenario before its seed, at the grid's budget, on the grid's dataset)."""
    from scenarios.schema.scenario import parse_scenario
    from scenarios.tune.spec import scenario_document, search_space, study_identity

    tune = group_spec(spec, cell)
    base = parse_scenario(scenario_document(cell.source, cell.overrides[:-1]), source=cell.source)
    space = search_space(base.method, tune.params, cell.source)
    return study_identity(base, tune, space, data)


def group_spec(spec: Any, cell: Any) -> Any:
    """The grid's `tune` with its seed settled (default: the group's first seed)."""
    seed = spec.tune.seed if spec.tune.seed is not None else cell.seed
    return dataclasses.replace(spec.tune, seed=seed)


def finished_choice(folder: Path, identity: dict[str, Any]) -> tuple[dict | None, str | None]:
    """(the values the folder's finished study chose, None) when it is the study of
    `identity`; else (None, what differs), or (None, None) when there is no finished study."""
    found, held = recorded_identity(folder)
    if not found:
        return None, None
    change = identity_change(held, identity)
    if change is not None:
        return None, change
    summary = json.loads((Path(folder) / "tuning.json").read_text(encoding="utf-8"))
    return dict(summary["best"]["params"]), None


def with_choice(cell: Any, chosen: dict[str, Any]) -> Any:
    """The cell with the chosen values as overrides (before its `seed=` override)."""
    *before, seed = cell.overrides
    if not seed.startswith("seed="):
        raise ValueError(f"a grid cell's last override is its seed, got {seed!r}")
    overrides = (*before, *value_overrides(chosen), seed)
    return dataclasses.replace(
        cell, scenario=load_scenario(cell.source, list(overrides)), overrides=overrides
    )


def _groups(cells: Sequence[Any], out_dir: Path) -> dict[Path, list[int]]:
    groups: dict[Path, list[int]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(study_dir(out_dir, cell), []).append(i)
    return groups


def tune_cells(
    spec: Any,
    cells: Sequence[Any],
    out_dir: Path,
    data: Path | None,
    *,
    search: bool,
    echo: Callable[[str], None] = print,
    tracking: Any = None,
    executor: Any = None,
) -> list[Any]:
    """The cells with their group's tuned values (cells unchanged when the grid has no
    `tune`). `search=False` only reads finished studies (`--no-run`, `--commands`); a group
    without one keeps its untuned cells. With `executor` (`scenarios.run.executors.Executor`),
    each study runs on its workers, one shared study (`scenarios.tune.workers`)."""
    if spec.tune is None:
        return list(cells)
    from scenarios.tune.run import tune_scenario

    out = list(cells)
    for folder, members in _groups(cells, out_dir).items():
        first = cells[members[0]]
        chosen, _ = finished_choice(folder, group_identity(spec, first, data))
        if search and chosen is None:
            echo(
                f"tuning {first.scenario.name} / {first.scenario.method}: {spec.tune.trials} trials"
            )
            if executor is not None:
                from scenarios.tune.workers import tune_in_workers

                result = tune_in_workers(
                    first.source, first.overrides[:-1], spec=group_spec(spec, first),
                    out_dir=folder, data=data, executor=executor, final_run=False, echo=echo,
                )  # fmt: skip
            else:
                result = tune_scenario(
                    first.source, first.overrides[:-1], spec=group_spec(spec, first),
                    out_dir=folder, data=data, final_run=False, progress=False, echo=echo,
                    tracking=tracking, label=str(folder.relative_to(out_dir)),
                )  # fmt: skip
            chosen = result.best_params
        if chosen is not None:
            for i in members:
                out[i] = with_choice(cells[i], chosen)
    return out


def tuned_commands_cells(
    spec: Any, cells: Sequence[Any], out_dir: Path, data: Path | None = None
) -> list[Any]:
    """Cells for `--commands`: a tuning grid needs every study finished first, each the very
    study of its group (budget, dataset, configuration...)."""
    tuned = tune_cells(spec, cells, out_dir, data, search=False)
    if spec.tune is None:
        return tuned
    for folder, members in _groups(cells, out_dir).items():
        chosen, change = finished_choice(folder, group_identity(spec, cells[members[0]], data))
        if chosen is None:
            other = f" (it holds another study: {change})" if change else ""
            message = f"no finished study in {folder}{other}: run the grid (it tunes first)"
            raise ScenarioError(spec.source or "<grid>", "tune", message)
    return tuned


def prepare_cells(
    spec: Any, cells: Sequence[Any], out_dir: Path, data: Path | None, *, run: bool, echo: Any,
    tuner: Any = None,
) -> tuple[list[Any], Any]:  # fmt: skip
    """Open the grid's parent run (tracking), tune (when the grid says so; on `tuner`'s
    workers when given) and give every cell the tracking context; returns (cells, parent run:
    `.finish(artifacts)` at the end)."""
    from scenarios.run.tracking import TrackingContext, open_parent

    tracked = [c.scenario.output for c in cells if c.scenario.output.tracking != "off"]
    context = TrackingContext(Path(out_dir), f"grid-{spec.name}")
    if tracked:
        parent = open_parent(tracked[0], context, key=Path(out_dir), name=f"grid {spec.name}")
    else:
        from scenarios.run.tracking import ParentRun

        parent = ParentRun(context)
    cells = tune_cells(
        spec, cells, out_dir, data, search=run, echo=echo, tracking=parent.context, executor=tuner
    )
    return [dataclasses.replace(c, tracking=parent.context) for c in cells], parent
