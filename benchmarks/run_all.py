"""`make bench`: the quick ratio benchmarks, each in its own process, then the list of the long
studies and the commands that produce them (run those by hand: hours of CPU).

    .venv/bin/python benchmarks/run_all.py            # the quick ones (minutes each)
    .venv/bin/python benchmarks/run_all.py --list     # what would run, and the long studies
    .venv/bin/python benchmarks/run_all.py --only eval_throughput data_load

Every script writes its JSON + markdown to benchmarks/results/; each runs in a fresh process
so one's peak memory or thread settings never leak into another's figures. A failing script
is reported and the others still run; the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent

QUICK = {
    "eval_throughput": "evaluator vs a bare matmul + top-10 on Amazon Scientific",
    "cache_throughput": "hidden-state cache build vs the encoder's bare batched forward",
    "data_load": "Amazon-2023 category load before and after `toolkit data convert`",
    "captioning_bench": "captioning batch 16 vs 1, pipeline overhead, frame decoding",
}
"""Script stem -> what it measures; each runs with its defaults."""

LONG = {
    "efficiency": "cost table and quality vs FFT (`efficiency.py cost|quality --help`)",
    "tuned_quality": "the equal-budget tuned study, FFT vs IISAN-Versa (hours)",
    "iisan_scientific": "IISAN-Versa vs ID-SASRec vs frozen on all of Scientific, 3 seeds",
    "scientific_tables": "the Scientific study's seed-aware tables (after its grids)",
    "id_sasrec": "ID-SASRec under each masking convention",
    "id_sasrec_init_experiment": "ID-SASRec with RecBole's N(0, 0.02) initialisation",
    "iisan_lr_sweep": "IISAN-Versa's LR for a short epoch budget",
    "scaleout": "torchrun 1 vs 2 processes, and a 1 M-item streamed cache",
    "stats_calibration": "null FPR and power of the seed-aware verdict, old rule beside (~1 min)",
    "executors": "the same 8-cell grid on local processes and on a local Ray (minutes)",
    "house_walk": "files, climbs and returns when following one run through the library",
}
"""Script stem -> what it produces; listed, never run by `make bench`."""

HELPERS = ("efficiency_worker", "scaleout_memory", "run_all")
"""Scripts other scripts start (or this one): neither quick nor long."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print what runs and stop")
    parser.add_argument("--only", nargs="+", choices=sorted(QUICK), help="run these only")
    args = parser.parse_args(argv)
    chosen = args.only or list(QUICK)
    if args.list:
        print("quick (run by `make bench`):")
        for name in chosen:
            print(f"  benchmarks/{name}.py  {QUICK[name]}")
        print("long (run by hand; see each script's --help):")
        for name, text in LONG.items():
            print(f"  benchmarks/{name}.py  {text}")
        return 0
    failed = []
    for i, name in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] benchmarks/{name}.py: {QUICK[name]}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call([sys.executable, str(ROOT / f"{name}.py")])
        took = time.perf_counter() - started
        print(f"[{i}/{len(chosen)}] {name}: {'ok' if rc == 0 else f'failed (exit {rc})'}, "
              f"{took:.0f} s", flush=True)  # fmt: skip
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}; the others' results are in benchmarks/results/")
        return 1
    print("results in benchmarks/results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
