"""The Scientific study's tables: methods and encoders compared with seed-aware statistics.

A grid report compares scenarios (text-only vs multimodal) within one method; the study
behind docs/results.md (`benchmarks/grids/scientific.toml`, and the new-item protocol run of
`scenarios/shipped/grids/coldstart_scientific.toml`) also needs methods against each other
(IISAN-Versa vs ID-SASRec, vs the frozen encoder) and encoders against each other (MPNet-base
vs MiniLM-L6, the scaling claim). This reads the grids' `runs.csv` and per-user files and
pairs the runs seed by seed, over all test users and per popularity bucket, with
`scenarios.report.stats.compare_seeded` (users × seeds crossed design: one p-value and one interval
from the seed and user variance components). Each printed table of comparisons (one per
question, `FAMILIES`) is one family:
its p-values are Holm-adjusted together (`scenarios.report.multiplicity`) and its verdicts use the
adjusted p.

    .venv/bin/python benchmarks/scientific_tables.py --grid runs/sci \\
        --new-items runs/sci-new-items --asymmetric runs/sci-asym --init runs/sci-init

Writes benchmarks/results/scientific_study.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.run.results import RunRecord, read_run
from scenarios.run.rows import grid_run_dir

RESULTS = Path(__file__).resolve().parent / "results"
# (label, method, text encoder) of the configurations the tables name
CONFIGS = {
    "ID-SASRec": ("id", ""),
    "frozen MiniLM": ("frozen", "minilm"),
    "frozen MPNet": ("frozen", "mpnet"),
    "IISAN-Versa MiniLM": ("iisan_versa", "minilm"),
    "IISAN-Versa MPNet": ("iisan_versa", "mpnet"),
}
# (B, A) pairs, B - A, by question: each question's comparisons (overall and per bucket) are
# one family for Holm's adjustment, so adding a question never moves another one's verdicts.
FAMILIES = {
    "content vs IDs and adapting vs frozen, MiniLM": (
        ("IISAN-Versa MiniLM", "ID-SASRec"),
        ("IISAN-Versa MiniLM", "frozen MiniLM"),
    ),
    "the larger encoder, MPNet-base": (
        ("IISAN-Versa MPNet", "ID-SASRec"),
        ("frozen MPNet", "ID-SASRec"),
        ("IISAN-Versa MPNet", "IISAN-Versa MiniLM"),
        ("frozen MPNet", "frozen MiniLM"),
        ("IISAN-Versa MPNet", "frozen MPNet"),
    ),
}

# Runs outside the grid, each compared (one family) with configurations of the grid:
# option -> (section title, the grid's configurations compared with).
EXTRAS = {
    "asymmetric": (
        "Asymmetric pair: MPNet (768) + MiniLM (384) over the same titles",
        ("IISAN-Versa MPNet", "IISAN-Versa MiniLM"),
    ),
    "init": (
        "SASRec init: Xavier-normal (the IISAN reference's) against N(0, 0.02) (the default), "
        "IISAN-Versa MiniLM",
        ("IISAN-Versa MiniLM",),
    ),
}


def _rows(grid: Path) -> list[dict[str, str]]:
    with open(grid / "runs.csv", encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] != "failed" and r["test_ndcg@10"]]
    return [{**r, "run_dir": str(grid_run_dir(grid, r["run_dir"]))} for r in rows]


def _folder_runs(folder: Path) -> dict[int, RunRecord]:
    """Seed -> run of one configuration: a grid's finished rows, or the `<method>-s<seed>`
    run folders `toolkit run-scenario --out FOLDER` wrote."""
    if (folder / "runs.csv").exists():
        found = [read_run(r["run_dir"]) for r in _rows(folder)]
    else:
        found = [read_run(f.parent) for f in sorted(folder.glob("*/results.json"))]
    return {int(run.seed or 0): run for run in found}


def _runs(rows: list[dict[str, str]], method: str, encoder: str) -> dict[int, RunRecord]:
    """Seed -> the typed results.json of one configuration's run."""
    out = {}
    for r in rows:
        if r["method"] == method and (encoder == "" or Path(r["text_encoder"]).name == encoder):
            out[int(r["seed"])] = read_run(r["run_dir"])
    return out


def _summary(runs: dict[int, RunRecord]) -> dict[str, Any]:
    res = list(runs.values())
    ndcg = [x.test["ndcg@10"] for x in res]
    eff = [x.efficiency for x in res]
    buckets = res[0].buckets
    return {
        "seeds": sorted(runs),
        "test_ndcg@10": ndcg,
        "ndcg_mean": float(np.mean(ndcg)),
        "ndcg_std": float(np.std(ndcg, ddof=1)) if len(ndcg) > 1 else 0.0,
        "hr_mean": float(np.mean([x.test["hr@10"] for x in res])),
        "seconds_per_epoch": float(np.mean([e.seconds_per_epoch for e in eff])),
        "cpu_seconds_per_epoch": float(np.mean([e.cpu_seconds_per_epoch or 0 for e in eff])),
        # torch threads of the training process: CPU time over 2 threads includes their overhead
        "torch_threads": sorted({e.torch_threads for e in eff} - {None}),
        "trainable_params": int(res[0].efficiency.trainable_params),
        "best_epochs": [x.best_epoch for x in res],
        "buckets": {
            label: (
                None  # a bucket without test users has no figure (null in results.json)
                if any(x.buckets[label]["ndcg@10"] is None for x in res)
                else float(np.mean([x.buckets[label]["ndcg@10"] for x in res]))
            )
            for label in buckets
        },
        "bucket_users": {label: int(b["users"]) for label, b in buckets.items()},
        "bucket_ranges": {label: list(b["train_count"]) for label, b in buckets.items()},
    }


def _compare(a: dict, b: dict, bucket: Any = None) -> dict[str, Any] | None:
    from scenarios.report.comparisons import pair_users, user_metrics
    from scenarios.report.stats import compare_seeded

    seeds = sorted(set(a) & set(b))
    ua = {s: user_metrics(a[s].run_dir, "ndcg@10", bucket) for s in seeds}
    ub = {s: user_metrics(b[s].run_dir, "ndcg@10", bucket) for s in seeds}
    arr_a, arr_b, users = pair_users(ua, ub)
    if not users:  # an empty bucket (under the new-item protocol every target is cold)
        return None
    return compare_seeded(arr_a, arr_b).to_dict()


CORRECTION = "holm"  # every printed table of comparisons is one family


def _adjust(comparisons: list[dict[str, Any] | None]) -> int:
    """Holm-adjust one printed table's comparisons (empty buckets, None, are not tested);
    returns the family's size."""
    from scenarios.report.multiplicity import adjust_family

    return adjust_family([c for c in comparisons if c is not None], CORRECTION)


def _cmp_cell(c: dict[str, Any] | None) -> str:
    from scenarios.report.tables import p_text, verdict

    if c is None:
        return "–"
    return (
        f"{c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] p={p_text(c['p_value'])}, "
        f"p (Holm)={p_text(c.get('p_adjusted'))} ({c['agree']}/{len(c['seeds'])} seeds agree): "
        f"{verdict(c)}"
    )


def _family_line(size: int) -> str:
    return (
        f"The {size} comparisons below with at least two seeds form one family: "
        "their p-values are Holm-adjusted together and the verdicts use the adjusted p."
    )


def _adjust_pairs(pairs: list[dict[str, Any]]) -> int:
    """Holm-adjust one family: its pairs' overall and bucket comparisons; returns its size.

    A bucket holding every test user (under the new-item protocol every target is cold) is
    the overall comparison again: one member of the family, not two."""
    same = [
        (p["all"], c)
        for p in pairs
        for c in p["buckets"].values()
        if c is not None and p["all"] is not None and c["n"] == p["all"]["n"]
    ]
    repeats = {id(c) for _, c in same}
    family = [c for p in pairs for c in (p["all"], *p["buckets"].values())]
    size = _adjust([c for c in family if id(c) not in repeats])
    for overall, copy in same:
        copy.update({k: overall[k] for k in ("p_adjusted", "correction", "family_size")})
        copy["significant"] = overall["significant"]
    return size


def study(grid: Path) -> dict[str, Any]:
    rows = _rows(grid)
    configs = {k: _runs(rows, *v) for k, v in CONFIGS.items()}
    configs = {k: v for k, v in configs.items() if v}
    protocols = sorted({r.get("protocol", "") for r in rows} - {""})
    out: dict[str, Any] = {"grid": str(grid), "protocols": protocols, "configs": {}, "pairs": []}
    for label, runs in configs.items():
        out["configs"][label] = _summary(runs)
    for family, pairs in FAMILIES.items():
        for b, a in pairs:
            if a not in configs or b not in configs:
                continue
            entry = {"family": family, "b": b, "a": a, "all": _compare(configs[a], configs[b])}
            entry["buckets"] = {
                bucket: _compare(configs[a], configs[b], tuple(rng))
                for bucket, rng in out["configs"][a]["bucket_ranges"].items()
            }
            out["pairs"].append(entry)
    out["family_size"] = {
        family: _adjust_pairs([p for p in out["pairs"] if p["family"] == family])
        for family in FAMILIES
        if any(p["family"] == family for p in out["pairs"])
    }
    return out


def markdown(report: dict[str, Any], command: str = "") -> str:
    lines = ["# The Amazon Scientific study", ""]
    if command:
        lines += [f"Made by `{command}` (data: Amazon Scientific).", ""]
    for part, data in report.items():
        if not isinstance(data, dict) or "configs" not in data:
            continue
        protocols = ", ".join(f"`{p}`" for p in data.get("protocols", [])) or "not recorded"
        lines += [f"## {part}", "", f"Runs: `{data['grid']}`; protocol: {protocols}.", ""]
        some = next(iter(data["configs"].values()))
        labels = list(some["buckets"])
        head = " | ".join(f"{b} (n={some['bucket_users'][b]})" for b in labels)
        lines += [
            f"| configuration | seeds | test NDCG@10 | HR@10 | CPU s/epoch (threads) | trainable "
            f"| {head} |",
            "|---|---|---|---|---|---|" + "---|" * len(labels),
        ]
        for label, c in data["configs"].items():
            cells = " | ".join(
                "–" if c["buckets"][b] is None else f"{c['buckets'][b]:.4f}" for b in labels
            )
            lines.append(
                f"| {label} | {len(c['seeds'])} | {c['ndcg_mean']:.4f} ± {c['ndcg_std']:.4f} "
                f"| {c['hr_mean']:.4f} | {c['cpu_seconds_per_epoch']:.2f} "
                f"({'/'.join(map(str, c.get('torch_threads') or [])) or '?'}) "
                f"| {c['trainable_params']:,} | {cells} |"
            )
        for family, size in data["family_size"].items():
            lines += ["", f"### {family}", "", _family_line(size), "",
                      "| B vs A | all test users | " + " | ".join(labels) + " |",
                      "|---|---|" + "---|" * len(labels)]  # fmt: skip
            for p in data["pairs"]:
                if p["family"] == family:
                    cells = " | ".join(_cmp_cell(p["buckets"][b]) for b in labels)
                    lines.append(f"| {p['b']} vs {p['a']} | {_cmp_cell(p['all'])} | {cells} |")
        lines.append("")
    lines += [
        "Each cell: Δ = B − A in test NDCG@10 [95% interval], p = the raw two-sided p of the "
        "users × seeds test (the interval excludes 0 exactly when p < 0.05), p (Holm) = p "
        "adjusted within the table's family, seeds whose own Δ has the sign of the mean, and the "
        "verdict (better / worse only with at least two seeds and p (Holm) < 0.05; the intervals "
        "are not adjusted). Buckets: how often the test target occurs in "
        "the training part of the split. CPU s/epoch: the training process's CPU time per epoch "
        "on the torch threads in brackets (CPU time on 2 threads includes their overhead: "
        "compare it only between rows of the same thread count), robust to other jobs sharing "
        "the machine.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    from plumbing.io import atomic_write_json, atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=Path, required=True, help="leave-one-out grid output")
    parser.add_argument("--new-items", type=Path, help="new-item protocol grid output")
    parser.add_argument("--asymmetric", type=Path, help="run folder of asymmetric_text.toml")
    parser.add_argument("--init", type=Path, help="grid output of scientific_init.toml")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, Any] = {"leave-one-out": study(args.grid)}
    if args.new_items:
        report["new items (10% withheld)"] = study(args.new_items)
    rows = _rows(args.grid)
    for key, (_, singles) in EXTRAS.items():
        if folder := getattr(args, key):
            runs = _folder_runs(folder)
            base = {k: _runs(rows, *CONFIGS[k]) for k in singles}
            vs = {k: _compare(v, runs) for k, v in base.items() if v}
            report[key] = {"runs": str(folder), **_summary(runs), "vs": vs}
            report[key]["family_size"] = _adjust(list(vs.values()))
    atomic_write_json(args.out / "scientific_study.json", report)
    command = " ".join(["benchmarks/scientific_tables.py", *sys.argv[1:]])
    text = markdown(report, command)
    for key, (title, _) in EXTRAS.items():
        if a := report.get(key):
            text += (
                f"\n## {title}\n\nRuns: `{a['runs']}`. "
                f"Test NDCG@10 {a['ndcg_mean']:.4f} ± {a['ndcg_std']:.4f} ({len(a['seeds'])} "
                f"seeds), {a['trainable_params']:,} trainable parameters, "
                f"{a['seconds_per_epoch']:.2f} s/epoch. {_family_line(a['family_size'])}\n\n"
                + "\n".join(f"- vs {k}: {_cmp_cell(c)}" for k, c in a["vs"].items())
                + "\n"
            )
    atomic_write_text(args.out / "scientific_study.md", text)
    print(text)


if __name__ == "__main__":
    main()
