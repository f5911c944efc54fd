"""A grid's rows (runs.csv, written by `scenarios.report.grid_report.write_rows`) as paths
and records: where a row's run folder is from here, the record of a row that finished, and
the name of its cell."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scenarios.run.results import RunRecord, read_run

UNFINISHED = ("failed", "stale", "not run")  # runs.csv statuses of a cell without results


def row_record(row: Mapping[str, Any]) -> RunRecord | None:
    """The record of a runs.csv-style row's run, or None when the row did not finish (its
    status, or no results.json in its `run_dir`)."""
    if row.get("status") in UNFINISHED or not (Path(row["run_dir"]) / "results.json").exists():
        return None
    return read_run(row["run_dir"])


def grid_run_dir(grid_dir: str | Path, recorded: str | Path) -> Path:
    """A grid's runs.csv `run_dir` as a path usable from here.

    Grids record it relative to the grid folder (`grid_report.write_rows`), so a grid folder
    can be moved or read from any working directory; grids written before that recorded it
    relative to the folder the grid ran from, which is tried next, then the part of it that
    lies under this grid folder (`runs/<scenario>/<cell>`)."""
    grid_dir, path = Path(grid_dir), Path(recorded)
    if path.is_absolute():
        return path
    for start in range(len(path.parts)):
        inside = grid_dir.joinpath(*path.parts[start:])
        if inside.exists():
            return inside
        if start == 0 and path.exists():
            return path
    return grid_dir / path


def cell_name(scenario: str, method: str, seed: Any, encoders: tuple[str, ...] = ()) -> str:
    """`scenario / method [encoders] / seed N`: how a grid names a cell (encoders left out
    when none are given)."""
    named = " + ".join(e for e in encoders if e)
    return f"{scenario} / {f'{method} [{named}]' if named else method} / seed {seed}"
