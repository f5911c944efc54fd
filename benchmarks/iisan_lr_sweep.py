"""IISAN-Versa (cached) learning rate for a short epoch budget, chosen on validation.

The quality comparison with full fine-tuning (`efficiency.py quality`) gives both methods
the same few epochs. With the protocol's LRs (recommender 2e-4, adapters 1e-4) IISAN-Versa
is still climbing after 5 epochs of 2,000 users (~155 steps). This sweep trains it at a few
LRs (adapter LR half the recommender's, as by default) on the same subsample and budget and
reports the validation NDCG@10 the choice is made on; test is printed alongside but not
used to choose.

    .venv/bin/python benchmarks/iisan_lr_sweep.py --users 2000 --epochs 5 --seed 12345

Writes benchmarks/results/iisan_lr_sweep_<users>u.{json,md}.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from efficiency_worker import DATA, RESULTS, WORK, load_split, make_channels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--data-seed", type=int, default=12345, help="seed of the subsample")
    parser.add_argument("--seed", type=int, default=12345, help="run seed")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lrs", type=float, nargs="+", default=[2e-4, 5e-4, 1e-3, 2e-3])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from plumbing.io import atomic_write_json, atomic_write_text
    from recsys.config import TrainConfig
    from recsys.run import run_experiment
    from recsys.spec import RunSpec

    split = load_split(args.users, args.data_seed, args.data)
    channels = make_channels(split, "text", WORK)
    rows = []
    for lr in args.lrs:
        result = run_experiment(
            RunSpec(
                split=split,
                method="iisan_versa",
                channels=channels,
                method_options={"cached": True},
                train=TrainConfig(
                    epochs=args.epochs, patience=args.epochs, device="cpu", lr=lr, adapter_lr=lr / 2
                ),
                seed=args.seed,
                cache_dir=WORK / "cache",
            ),
            out_dir=WORK / "runs" / f"lr_sweep_{args.users}u" / f"seed{args.seed}_lr{lr:g}",
            progress=False,
        )
        rows.append(
            {
                "lr": lr,
                "adapter_lr": lr / 2,
                "valid_ndcg@10": result.valid["ndcg@10"],
                "test_ndcg@10": result.test["ndcg@10"],
                "best_epoch": result.best_epoch,
            }
        )
        print(rows[-1], flush=True)
    best = max(rows, key=lambda r: r["valid_ndcg@10"])
    lines = [
        f"# IISAN-Versa LR for a {args.epochs}-epoch budget ({args.users} users)\n",
        f"Seeded {args.users}-user subsample (data seed {args.data_seed}) of {args.data}, "
        f"MiniLM titles, cached, run seed {args.seed}, 1 thread; adapter LR = LR / 2. "
        "Chosen on validation NDCG@10.\n",
        "| LR | adapter LR | valid NDCG@10 | test NDCG@10 | best epoch |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        mark = " (chosen)" if r is best else ""
        lines.append(
            f"| {r['lr']:g}{mark} | {r['adapter_lr']:g} | {r['valid_ndcg@10']:.4f} | "
            f"{r['test_ndcg@10']:.4f} | {r['best_epoch']} |"
        )
    stem = RESULTS / f"iisan_lr_sweep_{args.users}u"
    atomic_write_json(
        stem.with_suffix(".json"),
        {"setup": vars(args) | {"data": str(args.data)}, "rows": rows, "chosen": best},
    )
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
