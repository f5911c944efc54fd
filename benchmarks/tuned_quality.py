"""The equal-budget study (issue 19): full fine-tuning vs IISAN-Versa, each tuned with the
same number of trials at the same epoch budget, then run over 3 seeds, paired statistics.

    .venv/bin/python benchmarks/tuned_quality.py --users 2000 --trials 20 --epochs 5 \
        --seeds 12345 12346 12347

It writes the seeded user subsample of Amazon Scientific (the same users as
`benchmarks/efficiency.py quality`: data seed 12345) as a dataset folder and a grid file
under runs/benchmarks/tuned_quality/, runs that grid (`scenarios.grid.run_grid`: every
(scenario, method) is tuned first on validation NDCG@10, `scenarios.grid_tune`, then its
seeded cells run with the chosen values), then compares the two methods' per-user test
NDCG@10 seed by seed (`scenarios.stats.compare_seeded`) and writes
benchmarks/results/tuned_quality_cpu_<users>u.{json,md}. A rerun resumes: studies and cells
are resumable, finished ones are skipped. `toolkit grid <work>/grid.toml` runs the same grid.
FFT gets IISAN-Versa's head and fusion, so head capacity does not confound the comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # run as a script from the repository
DATA = Path("/work/shared/data/amazon_scientific")
RESULTS = ROOT / "results"
WORK = ROOT.parent / "runs" / "benchmarks" / "tuned_quality"


def write_subsample(data: Path, users: int, seed: int, folder: Path) -> Path:
    """The `users`-user subsample (as `efficiency_worker.load_split` draws it) as items.tsv +
    users.tsv in `folder`; the items file is copied whole (the split keeps used items)."""
    import numpy as np

    from media.io import atomic_write_text
    from recsys.data import detect_files, load_dataset

    if (folder / "users.tsv").exists():
        return folder
    files = detect_files(data, "amazon")
    ids = sorted(load_dataset(data).sequences)
    chosen = np.random.default_rng(seed).choice(len(ids), size=min(users, len(ids)), replace=False)
    keep = {ids[i] for i in chosen}
    lines = files.interactions.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.split("\t", 1)[0] in keep]
    atomic_write_text(folder / "items.tsv", files.items.read_text(encoding="utf-8"))
    atomic_write_text(folder / "users.tsv", "".join(kept))
    return folder


def grid_file(args: argparse.Namespace, data: Path) -> Path:
    """The grid: `title` (MiniLM over titles) x {iisan_versa, fft} x seeds, tuned first."""
    from media.io import atomic_write_text

    overrides = [
        f"train.epochs={args.epochs}",
        f"train.patience={args.patience}",
        f"output.cache_dir={json.dumps(str(args.work / 'cache'))}",
    ]
    text = "\n".join([
        'name = "tuned_quality"',
        'scenarios = ["title"]',
        f"methods = {json.dumps(args.methods)}",
        f"seeds = {json.dumps(args.seeds)}",
        f"data = {json.dumps(str(data))}",
        f"overrides = {json.dumps(overrides)}",
        "",
        "[tune]",
        f"trials = {args.trials}",
        "",
        "[method_options.fft]",
        'head = "iisan"',
        "",
    ])  # fmt: skip
    path = args.work / "grid.toml"
    atomic_write_text(path, text)
    return path


def _per_user(run_dir: Path) -> Any:
    from recsys.eval.per_user import read_per_user_csv

    return read_per_user_csv(Path(run_dir) / "test_per_user.csv")["ndcg@10"]


def compare(result: Any, methods: list[str]) -> dict[str, Any]:
    """Per method: test NDCG@10 per seed; FFT vs IISAN-Versa paired over users, seed-aware."""
    from scenarios.stats import compare_seeded

    runs: dict[str, dict[int, Any]] = {m: {} for m in methods}
    test: dict[str, dict[int, float]] = {m: {} for m in methods}
    for outcome in result.outcomes:
        cell = outcome.cell
        results_file = cell.run_dir / "results.json"
        if outcome.status in ("done", "skipped") and results_file.exists():
            results = json.loads(results_file.read_text(encoding="utf-8"))
            runs[cell.scenario.method][cell.seed] = _per_user(cell.run_dir)
            test[cell.scenario.method][cell.seed] = results["test"]["ndcg@10"]
    out: dict[str, Any] = {"test_ndcg@10": test}
    if len(methods) == 2 and all(runs[m] for m in methods):
        out["paired"] = compare_seeded(runs[methods[1]], runs[methods[0]]).to_dict()
        out["paired"]["b_minus_a"] = f"{methods[0]} - {methods[1]}"
    return out


def markdown(report: dict[str, Any]) -> str:
    s = report["setup"]
    lines = [
        f"# Equal-budget tuning: {' vs '.join(s['methods'])} ({s['users']} Scientific users, CPU)",
        "",
        f"Each method tuned with {s['trials']} trials (Optuna TPE + median pruner, validation "
        f"NDCG@10 only), every trial and every final run at most {s['epochs']} epochs "
        f"(patience {s['patience']}); then seeds {s['seeds']} with the chosen values. Test data "
        "never influenced the choice. Command: `" + s["command"] + "`. "
        f"Wall time {s['wall_seconds'] / 3600:.2f} h.",
        "",
        "| method | chosen values | test NDCG@10 per seed |",
        "|---|---|---|",
    ]
    for method in s["methods"]:
        chosen = ", ".join(f"{k}={v:.3g}" for k, v in report["chosen"].get(method, {}).items())
        per_seed = ", ".join(f"{v:.4f}" for v in report["test_ndcg@10"][method].values())
        lines.append(f"| {method} | {chosen} | {per_seed} |")
    if "paired" in report:
        p = report["paired"]
        lines += [
            "",
            f"{p['b_minus_a']}: {p['diff']:+.4f} [{p['ci_low']:+.4f}, {p['ci_high']:+.4f}], "
            f"p = {p['p_value']:.3g}, significant: {p['significant']} ({p['n']} users).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--data-seed", type=int, default=12345, help="seed of the subsample")
    parser.add_argument("--trials", type=int, default=20, help="the same for every method")
    parser.add_argument("--epochs", type=int, default=5, help="the same budget for every trial")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[12345, 12346, 12347])
    parser.add_argument("--methods", nargs="+", default=["iisan_versa", "fft"])
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from media.io import atomic_write_json, atomic_write_text
    from scenarios.grid import load_grid, run_grid

    started = time.perf_counter()
    data = write_subsample(args.data, args.users, args.data_seed, args.work / f"data_{args.users}u")
    spec = load_grid(grid_file(args, data))
    result = run_grid(spec, out_dir=args.work / "grid", echo=lambda line: print(line, flush=True))
    chosen = {}
    for path in sorted((args.work / "grid" / "tuning").glob("*/*/tuning.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        chosen[summary["method"]] = summary["best"]["params"]
    setup = vars(args) | {
        "wall_seconds": time.perf_counter() - started,
        "command": " ".join(sys.argv),
    }
    report = {"setup": {k: str(v) if isinstance(v, Path) else v for k, v in setup.items()},
              "chosen": chosen, **compare(result, args.methods)}  # fmt: skip
    stem = f"tuned_quality_cpu_{args.users}u"
    atomic_write_json(args.out / f"{stem}.json", report)
    atomic_write_text(args.out / f"{stem}.md", markdown(report))
    print(f"wrote {args.out / stem}.json and .md; grid report {result.report}")


if __name__ == "__main__":
    main()
