"""Grids on other executors: a local Ray (2 CPUs) and submitit's local stand-in for SLURM give
the cells the local executor gives; a Ray worker killed mid-cell is retried and the cell ends
as an uninterrupted run."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.grid.plan import GridCell, GridSpec
from scenarios.grid.run import run_grid
from scenarios.run.executors import Executor, run_tasks, with_scenario_gpus
from scenarios.run.pool import WorkerDied

from .conftest import FAST

ray = pytest.importorskip("ray")
submitit = pytest.importorskip("submitit")


def _spec(cache: Path) -> GridSpec:
    overrides = (*FAST, f"output.cache_dir={json.dumps(str(cache))}")
    return GridSpec(scenarios=("title",), seeds=(0, 1), overrides=overrides)


def _metrics(out: Path) -> dict[str, dict]:
    """cell folder -> its results.json test and valid metrics."""
    found = {}
    for path in sorted((out / "runs").glob("*/*/results.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        found[str(path.parent.relative_to(out))] = {
            "test": results["test"],
            "valid": results["valid"],
        }
    return found


@pytest.fixture(scope="module")
def local_run(tiny_data: Path, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """The 2-cell grid on the local executor: the reference."""
    from .conftest import one_thread

    out = tmp_path_factory.mktemp("local")
    with one_thread():
        result = run_grid(_spec(shared_cache), out_dir=out, data=tiny_data, echo=lambda line: None)
    assert [o.status for o in result.outcomes] == ["done", "done"], result.outcomes
    metrics = _metrics(out)
    assert len(metrics) == 2
    return metrics


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module (run_tasks uses it and leaves it running)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # this module's cell functions travel by value: Ray workers need not import tests/
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


def test_importing_the_grid_and_the_executors_imports_neither_ray_nor_submitit() -> None:
    code = (
        "import sys, scenarios.grid.run, scenarios.run.executors, scenarios.tune.workers, "
        "captioning.ray_shards, toolkit.cli; "
        "print(sorted(m for m in ('ray', 'submitit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bad_executor_settings_name_the_flag() -> None:
    with pytest.raises(ValueError, match="--executor must be one of local, ray, slurm"):
        Executor("cloud").check()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="--attempts must be >= 1, got 0"):
        Executor("ray", max_retries=-1).check()
    with pytest.raises(ValueError, match="--gpus must be a whole number for slurm, got 0.5"):
        Executor("slurm", gpus=0.5).check()


def test_a_scenario_on_cuda_asks_one_gpu_per_task_unless_gpus_are_given() -> None:
    on_ray = Executor("ray")
    assert with_scenario_gpus(on_ray, ["cpu", "cuda:1"]).gpus == 1
    assert with_scenario_gpus(on_ray, ["auto", "cpu"]).gpus == 0
    assert with_scenario_gpus(Executor("slurm", gpus=2), ["cuda"]).gpus == 2
    assert with_scenario_gpus(Executor("local"), ["cuda"]).gpus == 0  # the pool pins GPUs


def test_a_local_ray_grid_gives_the_local_executors_metrics(
    local_ray, local_run, tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    executor = Executor("ray", workers=2)
    result = run_grid(
        _spec(shared_cache), out_dir=tmp_path, data=tiny_data, echo=lines.append, executor=executor
    )
    assert [o.status for o in result.outcomes] == ["done", "done"]
    assert _metrics(tmp_path) == local_run
    assert (tmp_path / "report.md").is_file() and len(lines) == 2
    again = run_grid(_spec(shared_cache), out_dir=tmp_path, data=tiny_data, executor=executor,
                     echo=lines.append)  # fmt: skip
    assert [o.status for o in again.outcomes] == ["skipped", "skipped"]  # nothing sent to Ray


def _die_once_after_first_checkpoint(
    cell: GridCell, data: Path | None, workspace, progress: bool, *, marker: Path
) -> None:
    """The first attempt of seed 0 kills its own process once epoch 1's checkpoint is on disk
    (as a lost machine would); every other attempt runs the cell normally."""
    from scenarios.grid.run import _default_run_cell

    if cell.seed == 0 and not marker.exists():
        marker.write_text("killed", encoding="utf-8")
        from recsys.train import checkpoint

        write_pointer = checkpoint.write_pointer

        def then_die(folder, state):
            write_pointer(folder, state)
            os._exit(1)

        checkpoint.write_pointer = then_die
    _default_run_cell(cell, data, workspace, progress)


def test_a_ray_worker_killed_mid_cell_is_retried_and_ends_as_an_uninterrupted_run(
    local_ray, local_run, tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "killed.marker"
    run_cell = functools.partial(_die_once_after_first_checkpoint, marker=marker)
    out = tmp_path / "grid"
    result = run_grid(
        _spec(shared_cache), out_dir=out, data=tiny_data, echo=lambda line: None,
        run_cell=run_cell, executor=Executor("ray", workers=2, max_retries=1),
    )  # fmt: skip
    assert marker.read_text(encoding="utf-8") == "killed"  # the first attempt did die
    assert [o.status for o in result.outcomes] == ["done", "done"]
    assert _metrics(out) == local_run
    log = (out / "runs" / "title" / "iisan_versa-s0" / "metrics.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line)["epoch"] for line in log.splitlines()] == [1, 2]  # epoch 1 once


def _exit_now(task: int) -> int:
    os._exit(3)


def test_a_ray_task_dead_past_its_retries_is_a_worker_died_not_an_exception(local_ray) -> None:
    seen: list[int] = []
    results = run_tasks(
        Executor("ray", max_retries=0), [1], _exit_now, on_done=lambda i, r: seen.append(i)
    )
    assert seen == [0] and isinstance(results[0], WorkerDied)
    assert str(results[0]).startswith("Ray task failed")


def test_submitit_local_executor_runs_the_grid_with_one_log_per_cell(
    local_run, tiny_data: Path, shared_cache: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job processes train like the reference
    executor = Executor("slurm", workers=2, cluster="local", slurm_time=5)
    result = run_grid(
        _spec(shared_cache), out_dir=tmp_path, data=tiny_data, echo=lambda line: None,
        executor=executor,
    )  # fmt: skip
    assert [o.status for o in result.outcomes] == ["done", "done"], result.outcomes
    assert _metrics(tmp_path) == local_run
    jobs = json.loads((tmp_path / "logs" / "jobs.json").read_text(encoding="utf-8"))
    assert [j["name"] for j in jobs] == [o.cell.label for o in result.outcomes]
    logs = {Path(j["stdout"]) for j in jobs}
    assert len(logs) == 2 and all(p.is_file() and p.parent == tmp_path / "logs" for p in logs)
