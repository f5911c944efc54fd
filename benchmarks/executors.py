"""Executor overhead: the same 8-cell grid on the embedded sample, with the local executor
(2 worker processes) and with Ray (a local Ray with 2 CPUs, 2 tasks at once), in one run.

Per executor it reports the wall time of the grid call and the time each cell spent in its
worker (`CellOutcome.seconds`: from the worker picking the cell up to its results.json).
The scheduling overhead per cell is what the wall time holds beyond the cells' own work,
spread over the cells: ``(wall * parallel - sum(cell seconds)) / cells``. It includes
starting the workers (importing torch, loading the dataset once per worker) and, for Ray,
starting the local Ray itself, so it shrinks relative to the cell time as cells get longer.

    .venv/bin/python benchmarks/executors.py                  # 8 x `title`, 160 epochs (~30 s)
    .venv/bin/python benchmarks/executors.py --epochs 3       # short cells

Writes benchmarks/results/executors.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PARALLEL = 2  # local worker processes / local Ray CPUs


def _spec(cache: Path, epochs: int, cells: int):
    from scenarios.grid.plan import GridSpec

    overrides = (
        f"train.epochs={epochs}",
        f"train.patience={epochs}",  # no early stop: every cell trains all its epochs
        "train.device=cpu",
        f"output.cache_dir={json.dumps(str(cache))}",
    )
    # the file, not the shipped name: run as a script, benchmarks/scenarios/ shadows the
    # package's data folder (importlib.resources) and the name is not found
    title = str(ROOT / "scenarios" / "shipped" / "title.toml")
    return GridSpec(scenarios=(title,), seeds=tuple(range(cells)), overrides=overrides)


def _measure(kind: str, spec, out: Path) -> dict:
    from scenarios.grid.run import run_grid
    from scenarios.run.executors import Executor
    from scenarios.run.results import read_run

    executor = Executor(kind, workers=PARALLEL)
    started = time.perf_counter()
    if kind == "ray":  # started here (run_grid reuses it) to time Ray's own start apart
        import ray

        ray.init(num_cpus=PARALLEL, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - started
    try:
        result = run_grid(spec, out_dir=out, echo=lambda line: None, executor=executor)
    finally:
        if kind == "ray":
            ray.shutdown()
    wall = time.perf_counter() - started
    statuses = [o.status for o in result.outcomes]
    if statuses != ["done"] * len(statuses):
        raise SystemExit(f"{kind}: cells did not all finish: {statuses}")
    seconds = [o.seconds for o in result.outcomes]
    overhead = (wall * PARALLEL - sum(seconds)) / len(seconds)
    metrics = {
        str(o.cell.run_dir.relative_to(out)): read_run(o.cell.run_dir).test["ndcg@10"]
        for o in result.outcomes
    }
    return {
        "executor": kind,
        "wall_seconds": round(wall, 2),
        "cell_seconds": [round(s, 2) for s in seconds],
        "mean_cell_seconds": round(sum(seconds) / len(seconds), 2),
        "overhead_seconds_per_cell": round(overhead, 2),
        "overhead_share_of_cell": round(overhead / (sum(seconds) / len(seconds)), 4),
        "engine_start_seconds": round(start, 2),  # Ray's own start (0 for local)
        "overhead_seconds_per_cell_after_start": round(
            overhead - start * PARALLEL / len(seconds), 2
        ),
        "test_ndcg@10": metrics,
    }


def _markdown(report: dict) -> str:
    rows = [
        f"| {r['executor']} | {r['wall_seconds']:.1f} | {r['mean_cell_seconds']:.1f} "
        f"| {r['overhead_seconds_per_cell']:.2f} | {100 * r['overhead_share_of_cell']:.1f} % "
        f"| {r['engine_start_seconds']:.1f} | {r['overhead_seconds_per_cell_after_start']:.2f} "
        f"| {100 * r['overhead_seconds_per_cell_after_start'] / r['mean_cell_seconds']:.1f} % |"
        for r in report["runs"]
    ]
    same = report["same_metrics"]
    return "\n".join([
        "# Executor overhead: local processes vs a local Ray",
        "",
        f"The same {report['cells']}-cell grid (`title` on the embedded sample, seeds "
        f"0-{report['cells'] - 1}, {report['epochs']} epochs a cell, CPU) run by "
        f"`toolkit grid --workers {PARALLEL}` (local processes) and `--executor ray` (a local "
        f"Ray with {PARALLEL} CPUs), one after the other in one run "
        "(`benchmarks/executors.py`). The caches were built beforehand.",
        "",
        "Overhead per cell = (wall x parallel - sum of the cells' own seconds) / cells: worker "
        "start-up (torch import, dataset load per worker), Ray's own start, scheduling and "
        "result transfer.",
        "",
        "| executor | wall (s) | mean cell (s) | overhead per cell (s) | overhead / cell "
        "| engine start (s) | overhead per cell after the start (s) | ... / cell |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Same test NDCG@10 in every cell under both executors: {'yes' if same else 'NO'}.",
        "",
        f"Machine: {report['machine']}. **Shared machine**: other jobs ran on the same "
        "2 cores during the measurement, so wall times are noisy and the overhead is an upper "
        "estimate.",
        "",
        report["verdict"],
        "",
    ])  # fmt: skip


def _verdict(runs: list[dict]) -> str:
    ray = next(r for r in runs if r["executor"] == "ray")
    local = next(r for r in runs if r["executor"] == "local")
    extra = ray["overhead_seconds_per_cell"] - local["overhead_seconds_per_cell"]
    cell, share = ray["mean_cell_seconds"], 100 * ray["overhead_share_of_cell"]
    after = 100 * ray["overhead_seconds_per_cell_after_start"] / cell
    met = "meets" if share <= 5.0 else "misses"
    return (
        f"Measured with cells of {cell:.1f} s on average: Ray's overhead is "
        f"{ray['overhead_seconds_per_cell']:.2f} s per cell ({share:.1f} % of a cell; "
        f"{extra:+.2f} s per cell against local processes), which {met} the target of at most "
        f"5 % for cells of 30 s or more. Of it, starting the local Ray took "
        f"{ray['engine_start_seconds']:.1f} s once per grid; without it (a running cluster, "
        f"`--ray-address`) the overhead is {after:.1f} % of a cell."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=160)  # ~30 s a cell on 2 busy cores
    parser.add_argument("--cells", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from scenarios.run.runner import run_one

    with tempfile.TemporaryDirectory(prefix="executors-bench-") as tmp:
        root = Path(tmp)
        spec = _spec(root / "cache", args.epochs, args.cells)
        warm = _spec(root / "cache", 1, 1)  # build the hidden-state cache outside the timing
        from scenarios.grid.plan import plan_grid

        cell = plan_grid(warm, root / "warm")[0]
        run_one(cell.scenario, seed=0, run_dir=cell.run_dir, progress=False)
        runs = [_measure(kind, spec, root / kind) for kind in ("local", "ray")]
    report = {
        "cells": args.cells,
        "epochs": args.epochs,
        "parallel": PARALLEL,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "runs": runs,
        "same_metrics": runs[0]["test_ndcg@10"] == runs[1]["test_ndcg@10"],
    }
    report["verdict"] = _verdict(runs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "executors.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "executors.md").write_text(_markdown(report), encoding="utf-8")
    print(_markdown(report))


if __name__ == "__main__":
    main()
