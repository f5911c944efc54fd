"""Scale-out benchmark: 1 vs 2 processes under torchrun (gloo, CPU), and a 1 M-item cache.

Part A (correctness and epoch time): the same scenario is run by ``torchrun
--nproc_per_node {1,2} -m toolkit run-scenario`` (dropout off, same seed); the script
compares validation/test metrics and reports seconds per training epoch of 2 vs 1 process.
  * ``id`` on Amazon Scientific (12k users, 20k items; full-softmax loss, no cache);
  * ``title`` (IISAN-Versa over MiniLM; in-batch loss over the global batch and a sharded
    cache build) on the embedded sample.

Part B (memory at scale): a synthetic catalogue of ``--items`` items x 7 steps x 384 fp16
written as a hidden-state cache, an IISAN-Versa tower streaming it (the per-item array is
larger than the RAM budget), a few training steps and a full-catalogue validation + test
evaluation of ``--users`` users, in a fresh process; reports its peak RSS against the
cache's size on disk.

    .venv/bin/python benchmarks/scaleout.py            # both parts (~15 min on 2 cores)
    .venv/bin/python benchmarks/scaleout.py --part b --items 200000

Writes benchmarks/results/scaleout.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SCIENTIFIC = Path("/work/shared/data/amazon_scientific")
METRIC_KEYS = ("hr@10", "ndcg@10", "mrr")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(nproc: int, args: list[str]) -> float:
    """Run `toolkit` under torchrun with `nproc` CPU ranks; returns wall seconds."""
    env = dict(os.environ, OMP_NUM_THREADS="1", TOOLKIT_DIST_BACKEND="gloo", HF_HUB_OFFLINE="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        "-m",
        "toolkit",
        *args,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"torchrun failed:\n{(done.stdout + done.stderr)[-4000:]}")
    return time.perf_counter() - started


def _case(name: str, scenario: str, data: Path | None, overrides: list[str], work: Path) -> dict:
    from scenarios.run.results import read_run

    runs = {}
    cache = work / f"cache-{name}"
    for nproc in (1, 2):
        out = work / f"{name}-{nproc}"
        args = ["run-scenario", scenario, *overrides, f"output.cache_dir={json.dumps(str(cache))}"]
        args += ["--out", str(out)] + (["--data", str(data)] if data else [])
        wall = _torchrun(nproc, args)
        record = read_run(out)
        runs[nproc] = {
            "wall_seconds": wall,
            "seconds_per_epoch": record.efficiency.seconds_per_epoch,
            "steps_per_epoch": record.results["efficiency"]["steps_per_epoch"],
            "valid": {k: record.valid[k] for k in METRIC_KEYS},
            "test": {k: record.test[k] for k in METRIC_KEYS},
            "best_epoch": record.best_epoch,
        }
    diff = max(abs(runs[1][w][k] - runs[2][w][k]) for w in ("valid", "test") for k in METRIC_KEYS)
    return {
        "scenario": scenario,
        "data": str(data) if data else "embedded sample",
        "overrides": overrides,
        "runs": runs,
        "max_abs_metric_diff": diff,
        "epoch_time_ratio_2_vs_1": runs[2]["seconds_per_epoch"] / runs[1]["seconds_per_epoch"],
    }


def part_a(work: Path) -> list[dict]:
    common = ["model.dropout=0.0", "train.device=cpu", "seed=0"]
    cases = []
    if SCIENTIFIC.exists():
        cases.append(
            _case("id", "scenarios/shipped/id.toml", SCIENTIFIC, ["train.epochs=2", *common], work)
        )
    cases.append(
        _case("title", "scenarios/shipped/title.toml", None, ["train.epochs=3", *common], work)
    )
    return cases


def part_b(work: Path, items: int, users: int) -> dict:
    """Run the memory measurement in a fresh process (a process's peak RSS never resets)."""
    out = work / "memory.json"
    command = [sys.executable, str(Path(__file__).with_name("scaleout_memory.py"))]
    command += ["--folder", str(work / "synthetic"), "--items", str(items)]
    command += ["--users", str(users), "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1", TOOLKIT_CACHE_RAM_MB="1024")
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return json.loads(out.read_text())


def _markdown(result: dict) -> str:
    lines = ["# Scale-out (torchrun, gloo on CPU; shared 2-core machine)", ""]
    if result.get("part_a"):
        lines += [
            "## 1 vs 2 processes, same scenario (dropout off, seed 0)",
            "",
            "| scenario | data | procs | s/epoch | steps/epoch | valid ndcg@10 | test ndcg@10 "
            "| test hr@10 | wall s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for case in result["part_a"]:
            for nproc, run in case["runs"].items():
                lines.append(
                    f"| {case['scenario']} | {case['data']} | {nproc} | "
                    f"{run['seconds_per_epoch']:.2f} | {run['steps_per_epoch']:.0f} | "
                    f"{run['valid']['ndcg@10']:.5f} | {run['test']['ndcg@10']:.5f} | "
                    f"{run['test']['hr@10']:.5f} | {run['wall_seconds']:.0f} |"
                )
        lines.append("")
        for case in result["part_a"]:
            lines.append(
                f"* {case['scenario']}: largest |metric difference| 1 vs 2 processes "
                f"{case['max_abs_metric_diff']:.2e} (tolerance {result['tolerance']}); "
                f"epoch time 2 / 1 process = {case['epoch_time_ratio_2_vs_1']:.2f}"
            )
        lines.append("")
    mem = result.get("part_b")
    if mem:
        lines += [
            "## Memory at scale (streamed cache, one process)",
            "",
            f"Synthetic catalogue: {mem['items']:,} items x {mem['steps']} steps x {mem['width']} "
            f"fp16 = **{mem['cache_gb']:.2f} GiB** ({mem['cache_gb'] * 1.073741824:.2f} GB) on "
            f"disk (RAM budget {mem['budget_mb']} MiB, "
            f"so the tower streams it: {mem['streamed']}). {mem['users']:,} users, "
            f"{mem['train_steps']} training steps of {mem['batch_size']} users, then validation "
            f"and test over the full catalogue.",
            "",
            "| phase | seconds | RSS after (GiB) |",
            "|---|---|---|",
        ]
        for phase in mem["phases"]:
            lines.append(f"| {phase['name']} | {phase['seconds']:.1f} | {phase['rss_gb']:.2f} |")
        lines += [
            "",
            f"**Peak RSS {mem['peak_rss_gb']:.2f} GiB vs cache {mem['cache_gb']:.2f} GiB on disk "
            f"(ratio {mem['peak_rss_gb'] / mem['cache_gb']:.2f}).** The peak includes torch "
            "(~0.35 GiB), the 1 M-row item table and transient ranking blocks; loading the "
            "cache whole would need the full 5 GiB on top. "
            f"Test ndcg@10 {mem['test']['ndcg@10']:.5f} (random synthetic states).",
            f"Disk free before the run: {mem['disk_free_gb']:.0f} GiB. Phase times are on a "
            "2-core machine shared with other jobs (tests ran alongside part B).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "all"], default="all")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2048)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (deleted)")
    parser.add_argument("--report", action="store_true", help="only rewrite the markdown")
    args = parser.parse_args()
    if args.report:
        from plumbing.io import atomic_write_text

        data = json.loads((RESULTS / "scaleout.json").read_text())
        atomic_write_text(RESULTS / "scaleout.md", _markdown(data))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="scaleout-"))
    work.mkdir(parents=True, exist_ok=True)
    name = RESULTS / "scaleout.json"
    result = json.loads(name.read_text()) if name.exists() else {}
    result["tolerance"] = "1e-3 absolute on every metric (float summation order only)"
    try:
        if args.part in ("a", "all"):
            result["part_a"] = part_a(work)
        if args.part in ("b", "all"):
            result["part_b"] = part_b(work, args.items, args.users)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.path.insert(0, str(ROOT))
    from plumbing.io import atomic_write_json, atomic_write_text

    atomic_write_json(name, result)
    atomic_write_text(RESULTS / "scaleout.md", _markdown(result))
    print(_markdown(result))


if __name__ == "__main__":
    main()
