"""The equal-budget study (issue 19): full fine-tuning vs IISAN-Versa, each tuned with the
same number of trials at the same epoch budget, then run over seeds, paired statistics.
The published study (docs/results.md, "Quality against full fine-tuning"):

    .venv/bin/python benchmarks/tuned_quality.py --users 2000 --trials 4 --startup-trials 1 \
        --params train.lr train.adapter_lr --epochs 5 --seeds 12345 12346 12347 12348 12349

It writes the seeded user subsample of Amazon Scientific (the same users as
`benchmarks/efficiency.py quality`: data seed 12345) as a dataset folder and a grid file
under runs/benchmarks/tuned_quality/, runs that grid (`scenarios.grid.run.run_grid`: every
(scenario, method) is tuned first on validation NDCG@10, `scenarios.grid.tune`, then its
seeded cells run with the chosen values), then compares the two methods' per-user test
NDCG@10 seed by seed (`scenarios.report.stats.compare_seeded`) and writes
benchmarks/results/tuned_quality_cpu_<users>u.{json,md}. A rerun resumes: studies and cells
are resumable, finished ones are skipped. `toolkit grid <work>/grid.toml` runs the same grid.
FFT gets IISAN-Versa's head and fusion, so head capacity does not confound the comparison.

`--pair-with WORK METHOD` compares this run's first method with another study's seeded runs
of METHOD (same users and seeds), e.g. IISAN-Versa tuned with 20 trials against FFT tuned
with 4, and `--tag` names the result files apart:

    .venv/bin/python benchmarks/tuned_quality.py --trials 20 --methods iisan_versa \
        --work runs/benchmarks/tuned_quality_iisan20 \
        --pair-with runs/benchmarks/tuned_quality fft --tag iisan20
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

    from plumbing.io import atomic_write_text
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
    from plumbing.io import atomic_write_text

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
        f"startup_trials = {args.startup_trials}",
        *([f"params = {json.dumps(args.params)}"] if args.params else []),
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


def compare(result: Any, methods: list[str]) -> tuple[dict[str, Any], dict[str, dict[int, Any]]]:
    """Per method: test NDCG@10 and s/epoch per seed; FFT vs IISAN-Versa paired over users,
    seed-aware (`scenarios.report.stats.compare_seeded`: B - A with A = the second method). Also
    returns the per-user test NDCG@10 read, per method and seed (for `paired_with`)."""
    from scenarios.report.stats import compare_seeded
    from scenarios.run.results import read_run

    runs: dict[str, dict[int, Any]] = {m: {} for m in methods}
    test: dict[str, dict[int, float]] = {m: {} for m in methods}
    epoch_seconds: dict[str, dict[int, float]] = {m: {} for m in methods}
    for outcome in result.outcomes:
        cell = outcome.cell
        if outcome.status in ("done", "skipped") and (cell.run_dir / "results.json").exists():
            record = read_run(cell.run_dir)
            method = cell.scenario.method
            runs[method][cell.seed] = _per_user(cell.run_dir)
            test[method][cell.seed] = record.test["ndcg@10"]
            epoch_seconds[method][cell.seed] = record.efficiency.seconds_per_epoch
    out: dict[str, Any] = {"test_ndcg@10": test, "seconds_per_epoch": epoch_seconds}
    if len(methods) == 2 and all(runs[m] for m in methods):
        out["paired"] = compare_seeded(runs[methods[1]], runs[methods[0]]).to_dict()
        out["paired"]["b_minus_a"] = f"{methods[0]} - {methods[1]}"
    return out, runs


def paired_with(work: Path, method: str, seeds: list[int], mine: dict[int, Any], ours: str) -> dict:
    """`ours` (this run's per-user test NDCG@10 by seed, `mine`) against `method`'s seeded
    runs in another study's work folder (`--pair-with`): e.g. IISAN-Versa tuned with 20
    trials against FFT tuned with 4, with both studies' tuning seconds, so a budget in time
    rather than trials can be read off."""
    from scenarios.report.stats import compare_seeded

    folder = Path(work) / "grid" / "runs" / "title"
    other = {seed: _per_user(folder / f"{method}-s{seed}") for seed in seeds}
    out = compare_seeded(other, mine).to_dict()
    theirs = studies(Path(work) / "grid").get(method, {})
    out |= {"b_minus_a": f"{ours} - {method} (from {work}: {len(theirs.get('trials', []))} "
            f"trials, {theirs.get('seconds', 0):.0f} s of tuning)"}  # fmt: skip
    return out


def studies(grid_dir: Path) -> dict[str, dict[str, Any]]:
    """Per method, from its study's tuning.json: the choice, its validation value, every
    trial (state, value, epochs, values tried, seconds) and the study's summed seconds."""
    out = {}
    for path in sorted((grid_dir / "tuning").glob("*/*/tuning.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        trials = summary["trials"]
        out[summary["method"]] = {
            "chosen": summary["best"]["params"],
            "best_trial": summary["best"]["number"],
            "best_valid": summary["best"]["value"],
            "budget": summary["budget"],
            "trials": trials,
            "seconds": round(sum(t.get("seconds", 0.0) for t in trials), 1),
        }
    return out


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in values.items())


def markdown(report: dict[str, Any]) -> str:
    s, tuned = report["setup"], report["studies"]
    budget = next(iter(tuned.values()))["budget"] if tuned else {}
    lines = [
        f"# Equal-budget tuning: {' vs '.join(s['methods'])} ({s['users']} Scientific users, CPU)",
        "",
        ("Each method tuned with the same " if len(s["methods"]) > 1 else "Tuned with ")
        + f"{s['trials']} trials on validation NDCG@10 only "
        f"(sampler {budget.get('sampler', '?')}; pruner {budget.get('pruner', '?')}; trial 0 "
        f"is the method's default values; searched: {', '.join(s['params']) or 'all'}), every "
        f"trial and every final run at most {s['epochs']} epochs (patience {s['patience']}); "
        f"then seeds {s['seeds']} with the chosen values. Test data never influenced the "
        "choice. Command: `" + s["command"] + "`.",
        "",
        "| method | chosen values (trial, valid NDCG@10) | test NDCG@10 per seed | mean | "
        "s/epoch | tuning s |",
        "|---|---|---|---|---|---|",
    ]
    for method in s["methods"]:
        study = tuned.get(method, {})
        seeds = report["test_ndcg@10"][method]
        per_seed = ", ".join(f"{v:.4f}" for v in seeds.values())
        mean = sum(seeds.values()) / len(seeds) if seeds else float("nan")
        secs = report["seconds_per_epoch"][method]
        per_epoch = sum(secs.values()) / len(secs) if secs else float("nan")
        chosen = f"{_values(study.get('chosen', {}))} (trial {study.get('best_trial')}, "
        chosen += f"{study.get('best_valid', float('nan')):.4f})"
        lines.append(
            f"| {method} | {chosen} | {per_seed} | {mean:.4f} | {per_epoch:.1f} | "
            f"{study.get('seconds', 0):.0f} |"
        )
    for key in ("paired", "paired_with"):
        if key not in report:
            continue
        p = report[key]
        per_seed = ", ".join(f"{d:+.4f}" for d in p["per_seed"])
        # one comparison per line, so no multiplicity adjustment: the raw p is the verdict's
        lines += [
            "",
            f"**{p['b_minus_a']}**: {p['diff']:+.4f} [{p['ci_low']:+.4f}, {p['ci_high']:+.4f}] "
            f"(95% interval), p = {p['p_value']:.3g}; per seed {per_seed}, {p['agree']}/"
            f"{len(p['per_seed'])} agree; significant: {p['significant']}. {p['tested']}",
        ]
    lines += ["", "## Trials", "", "| method | trial | state | valid NDCG@10 | epochs | values "
              "| s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for method, study in tuned.items():
        for t in study["trials"]:
            value = "–" if t["value"] is None else f"{t['value']:.4f}"
            lines.append(
                f"| {method} | {t['number']} | {t['state']} | {value} | {t['epochs']} | "
                f"{_values(t['params'])} | {t.get('seconds', 0):.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--data-seed", type=int, default=12345, help="seed of the subsample")
    parser.add_argument("--trials", type=int, default=20, help="the same for every method")
    parser.add_argument("--epochs", type=int, default=5, help="the same budget for every trial")
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument(
        "--startup-trials", type=int, default=5,
        help="random trials (the first is the method's defaults) before TPE and the pruner act",
    )  # fmt: skip
    parser.add_argument(
        "--params", nargs="+", default=[],
        help="tune only these keys of each method's space (default: all of it)",
    )  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[12345, 12346, 12347])
    parser.add_argument("--methods", nargs="+", default=["iisan_versa", "fft"])
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument(
        "--workers", type=int, default=1,
        help="seeded cells run in this many processes (`toolkit grid --workers`); tuning "
        "studies run one trial at a time either way",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--pair-with", nargs=2, metavar=("WORK", "METHOD"),
        help="also compare this run's first method with METHOD's seeded runs in another "
        "study's --work folder (same users and seeds)",
    )  # fmt: skip
    parser.add_argument("--tag", default="", help="suffix of the result files' names")
    args = parser.parse_args()
    from plumbing.io import atomic_write_json, atomic_write_text
    from scenarios.grid.plan import load_grid
    from scenarios.grid.run import run_grid

    started = time.perf_counter()
    data = write_subsample(args.data, args.users, args.data_seed, args.work / f"data_{args.users}u")
    spec = load_grid(grid_file(args, data))
    result = run_grid(
        spec,
        out_dir=args.work / "grid",
        echo=lambda line: print(line, flush=True),
        workers=args.workers,
    )
    # This call's wall time only: a resumed or split run spent more (the per-trial seconds
    # and s/epoch in the report are what each part cost).
    setup = vars(args) | {
        "wall_seconds_this_call": time.perf_counter() - started,
        "command": " ".join(sys.argv),
    }
    figures, runs = compare(result, args.methods)
    report = {"setup": {k: str(v) if isinstance(v, Path) else v for k, v in setup.items()},
              "studies": studies(args.work / "grid"), **figures}  # fmt: skip
    if args.pair_with:
        work, method = args.pair_with
        ours = args.methods[0]
        report["paired_with"] = paired_with(Path(work), method, args.seeds, runs[ours], ours)
    stem = f"tuned_quality_cpu_{args.users}u{'_' + args.tag if args.tag else ''}"
    atomic_write_json(args.out / f"{stem}.json", report)
    atomic_write_text(args.out / f"{stem}.md", markdown(report))
    print(f"wrote {args.out / stem}.json and .md; grid report {result.report}")


if __name__ == "__main__":
    main()
