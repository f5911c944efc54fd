"""`toolkit grid --workers N`: cells in spawned worker processes give the in-process results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FAST = ("train.epochs=1", "train.max_steps_per_epoch=1", "train.device=cpu", "eval.ks=[5, 10]")


def _spec(cache: Path):
    from scenarios.grid.plan import GridSpec

    overrides = (*FAST, f"output.cache_dir={json.dumps(str(cache))}")
    return GridSpec(scenarios=("id",), seeds=(0, 1), overrides=overrides)


def _tests(out: Path) -> dict[str, dict]:
    return {
        p.parent.name: json.loads(p.read_text())["test"]
        for p in sorted((out / "runs").glob("*/*/results.json"))
    }


def test_two_workers_equal_one_process_and_rerun_skips(tmp_path: Path):
    from scenarios.grid.run import run_grid

    lines: list[str] = []
    pooled = run_grid(
        _spec(tmp_path / "cache"), out_dir=tmp_path / "pool", workers=2, echo=lines.append
    )
    assert [o.status for o in pooled.outcomes] == ["done", "done"]
    assert sorted(line.split("]")[0] for line in lines) == ["[1/2", "[2/2"]
    here = run_grid(_spec(tmp_path / "cache"), out_dir=tmp_path / "here", echo=lambda _: None)
    a, b = _tests(tmp_path / "pool"), _tests(tmp_path / "here")
    assert a.keys() == b.keys() == {"id-s0", "id-s1"}
    for cell in a:
        for metric, value in a[cell].items():
            assert value == pytest.approx(b[cell][metric], abs=1e-6), (cell, metric)
    assert (tmp_path / "pool" / "report.md").exists()
    again = run_grid(_spec(tmp_path / "cache"), out_dir=tmp_path / "pool", workers=2, echo=print)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]
    assert here.outcomes[0].status == "done"


def test_workers_must_be_positive_and_exclude_a_custom_runner(tmp_path: Path):
    from scenarios.grid.run import run_grid

    with pytest.raises(ValueError, match="at least 1"):
        run_grid(_spec(tmp_path), out_dir=tmp_path / "x", workers=0, echo=lambda _: None)
    with pytest.raises(ValueError, match="run_cell"):
        run_grid(_spec(tmp_path), out_dir=tmp_path / "x", workers=2, run_cell=lambda *a: None)


def test_cell_commands_run_elsewhere_are_found_complete(tmp_path: Path):
    """What a scheduler job array runs: one printed line per cell; the grid then skips them."""
    import shlex

    from typer.testing import CliRunner

    from scenarios.grid.plan import grid_commands
    from scenarios.grid.run import run_grid
    from toolkit.cli import app

    lines = grid_commands(_spec(tmp_path / "cache"), out_dir=tmp_path / "g")
    assert len(lines) == 2 and all(line.startswith("toolkit run-scenario ") for line in lines)
    for line in lines:
        done = CliRunner().invoke(app, shlex.split(line)[1:])
        assert done.exit_code == 0, done.output
    result = run_grid(_spec(tmp_path / "cache"), out_dir=tmp_path / "g", echo=lambda _: None)
    assert [o.status for o in result.outcomes] == ["skipped", "skipped"]
