"""A grid folder records its cells' folders relative to itself, so it reads the same from
any working directory and after it is moved; grids written before (folders relative to
where the grid ran) still read."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from scenarios.report.compare import load_runs
from scenarios.report.grid_report import write_rows
from scenarios.run.rows import grid_run_dir

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "title-current"


def _grid(root: Path) -> tuple[Path, Path]:
    grid = root / "study" / "grid"
    cell = grid / "runs" / "title" / "iisan_versa-s0"
    shutil.copytree(FIXTURE, cell)
    return grid, cell


def test_runs_csv_records_cells_relative_to_the_grid(tmp_path, monkeypatch) -> None:
    grid, cell = _grid(tmp_path)
    monkeypatch.chdir(tmp_path)
    write_rows(grid, [{"run_dir": "study/grid/runs/title/iisan_versa-s0", "status": "done"}])
    with open(grid / "runs.csv", encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["run_dir"] == "runs/title/iisan_versa-s0"
    moved = tmp_path / "elsewhere"
    shutil.move(grid, moved)
    monkeypatch.chdir(Path("/"))
    assert grid_run_dir(moved, row["run_dir"]) == moved / "runs" / "title" / "iisan_versa-s0"


def test_an_old_grids_working_directory_paths_resolve_from_anywhere(tmp_path, monkeypatch) -> None:
    grid, cell = _grid(tmp_path)
    recorded = "study/grid/runs/title/iisan_versa-s0"  # relative to tmp_path, where it ran
    monkeypatch.chdir(tmp_path)
    assert grid_run_dir(grid, recorded).resolve() == cell.resolve()
    monkeypatch.chdir(Path("/"))
    assert grid_run_dir(grid, recorded) == cell
    assert grid_run_dir(grid, str(cell)) == cell  # absolute stays


def test_compare_reads_a_grid_from_another_working_directory(tmp_path, monkeypatch) -> None:
    grid, cell = _grid(tmp_path)
    header = ["scenario", "method", "seed", "status", "test_ndcg@10", "run_dir"]
    with open(grid / "runs.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow(["title", "iisan_versa", "0", "done", "0.1", "runs/title/iisan_versa-s0"])
    monkeypatch.chdir(Path("/"))
    (row,) = load_runs([grid])
    assert Path(row["run_dir"]) == cell
