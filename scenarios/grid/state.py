"""Which cells of a grid are complete, stale or still to run (`cell_state`).

A cell is complete when its folder's results.json records the cell's scenario fingerprint,
seed and dataset, whoever ran it; anything else there is stale and set aside by the grid,
never reused (`scenarios.grid.run.run_grid`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provenance import code_of
from scenarios.grid.plan import GridCell


def _identity(cell: GridCell, data: Path | None) -> dict[str, Any]:
    """What a finished run of this cell must have recorded to count as this cell."""
    from scenarios.run.prepared import dataset_path

    return {
        "scenario_fingerprint": cell.scenario.fingerprint(),
        "seed": cell.seed,
        "dataset": str(dataset_path(cell.scenario, data).resolve()),
    }


def _recorded(results: dict[str, Any]) -> dict[str, Any]:
    record = results.get("record") if isinstance(results.get("record"), dict) else {}
    dataset = record.get("dataset") if isinstance(record.get("dataset"), dict) else {}
    path = dataset.get("path")
    return {
        "scenario_fingerprint": record.get("scenario_fingerprint"),
        "seed": results.get("seed"),
        "dataset": str(Path(path).resolve()) if isinstance(path, str) else None,
    }


def cell_state(
    cell: GridCell, data: Path | None = None, code: str | None = None
) -> tuple[str, str]:
    """("complete" | "stale" | "todo", reason).

    Complete means the folder's results.json records this cell's scenario fingerprint, seed
    and dataset, however it was produced (this grid, `--commands` lines run by a scheduler,
    a plain `run-scenario`). A results.json recording anything else, or an unfinished run
    started for another configuration (`cell.json`), is stale: never reused. With `code` (a
    `provenance.source_sha256`), so is a finished run recording other code (or none).
    """
    from scenarios.report.protocol import is_withdrawn
    from scenarios.run.results import protocol_of

    wanted = _identity(cell, data)
    results_file = cell.run_dir / "results.json"
    if results_file.exists():
        try:
            results = json.loads(results_file.read_text(encoding="utf-8"))
            held = _recorded(results)
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
            return "stale", f"unreadable results.json ({exc})"
        diffs = [k for k in wanted if held[k] != wanted[k]]
        if not diffs:
            if code is None or code_of(results) == code:
                return "complete", ""
            return "stale", f"finished by other code (source {code_of(results)[:12]})"
        if is_withdrawn(protocol_of(results)):
            return "stale", "finished under the withdrawn evaluation convention (eval.history)"
        return "stale", "finished run of another " + " and ".join(
            {"scenario_fingerprint": "configuration", "seed": "seed", "dataset": "dataset"}[k]
            for k in diffs
        )
    meta = cell.run_dir / "cell.json"
    if meta.exists():
        try:
            held_fp = json.loads(meta.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            held_fp = None
        if held_fp != wanted["scenario_fingerprint"]:
            return "stale", "unfinished run of another configuration"
    return "todo", ""
