"""`make bench` runs benchmarks/run_all.py, whose index names every benchmark script."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_all():
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_bench_runs_a_script_that_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^bench:.*\n\t\$\(BIN\)/python (\S+)", makefile, re.MULTILINE)
    assert target is not None and (ROOT / target.group(1)).is_file()


def test_every_benchmark_script_is_quick_long_or_a_helper(capsys) -> None:
    run_all = _run_all()
    named = [*run_all.QUICK, *run_all.LONG, *run_all.HELPERS]
    assert len(named) == len(set(named))
    scripts = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    assert scripts == set(named)
    assert run_all.main(["--list", "--only", "data_load"]) == 0
    out = capsys.readouterr().out
    assert "benchmarks/data_load.py" in out and "benchmarks/eval_throughput.py" not in out
    assert all(f"benchmarks/{name}.py" in out for name in run_all.LONG)
