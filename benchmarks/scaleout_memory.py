"""Part B of benchmarks/scaleout.py, in its own process: peak RSS with a huge streamed cache.

Writes a synthetic hidden-state cache (``--items`` x 7 steps x 384, fp16, no shared step)
with plain file writes (a write through a mapping would count towards this process's RSS),
builds a split whose catalogue is every item, streams the cache through an IISAN-Versa
tower (recsys.cache.stream), trains a few steps, runs validation (inside fit) and test over
the full catalogue, and records RSS after each phase and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

STEPS, WIDTH = 7, 384
GB = 1024**3


def _rss_gb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / GB


def write_cache(folder: Path, items: int) -> float:
    """A complete cache folder of random-ish fp16 states; returns its size in GB."""
    from recsys.cache.states import MANIFEST, STATES, VALID

    folder.mkdir(parents=True, exist_ok=True)
    shape = (items + 1, STEPS, WIDTH)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((997, STEPS, WIDTH)).astype(np.float16)  # [997, 7, 384]
    with open(folder / STATES, "wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "<f2", "fortran_order": False, "shape": shape}
        )
        for start in range(0, items + 1, 16384):
            idx = np.arange(start, min(start + 16384, items + 1))
            block = base[(idx * 7919) % 997]  # [b, 7, 384]
            noise = rng.standard_normal((len(idx), STEPS, 8), dtype=np.float32)
            block[:, :, :8] = noise.astype(np.float16)  # every item differs (no fp16 math)
            if start == 0:
                block[0] = 0  # padding row
            handle.write(block.tobytes())
    valid = np.ones(items + 1, dtype=bool)
    valid[0] = False
    np.save(folder / VALID, valid)
    manifest = {
        "fingerprint": "synthetic",
        "fields": {"synthetic": True},
        "encoder": {"model": "synthetic", "width": WIDTH, "steps": STEPS},
        "stored_shape": list(shape),
        "shared_steps": 0,
        "missing": 0,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return (folder / STATES).stat().st_size / GB


def make_split(items: int, users: int):  # -> Split
    """`users` users of 13 interactions (Zipf-like popularity) over a catalogue of `items`."""
    from recsys.data.split import _csr, _last_columns
    from recsys.data.types import Catalogue, Split

    rng = np.random.default_rng(1)
    ranks = rng.zipf(1.3, size=(users, 13)) % items  # popular items repeat across users
    seqs = (rng.permutation(items)[ranks] + 1).astype(np.int64)  # [U, 13] dense 1..N
    train_part, seen_test = seqs[:, :-2], seqs[:, :-1]
    counts = np.bincount(train_part.ravel(), minlength=items + 1)
    counts[0] = 0
    ids = tuple(f"i{i}" for i in range(items))
    catalogue = Catalogue(ids, ids, (None,) * items, (None,) * items)
    return Split(
        catalogue=catalogue,
        user_ids=tuple(f"u{u}" for u in range(users)),
        train_seqs=_last_columns(train_part, 11),
        valid_history=_last_columns(train_part, 10),
        valid_target=seqs[:, -2].copy(),
        test_history=_last_columns(seen_test, 10),
        test_target=seqs[:, -1].copy(),
        valid_seen=_csr(train_part),
        test_seen=_csr(seen_test),
        train_counts=counts.astype(np.int64),
        dropped_users=0,
        keep_last=13,
        max_len=10,
        min_len=3,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import torch

    from recsys.adapters.iisan_versa import IISANVersaTower
    from recsys.adapters.side import IISANVersa
    from recsys.adapters.sources import CachedSource
    from recsys.cache import open_cache
    from recsys.cache.stream import StreamedSource, ram_budget_bytes
    from recsys.config import EvalConfig, TrainConfig
    from recsys.eval.evaluator import evaluate
    from recsys.models.recommender import SequentialRecommender
    from recsys.models.sasrec import SASRec
    from recsys.train.trainer import Trainer

    torch.set_num_threads(1)
    free = shutil.disk_usage(args.folder.parent).free / GB
    need = (args.items + 1) * STEPS * WIDTH * 2 / GB
    if need > 0.8 * free:
        raise SystemExit(f"{need:.1f} GB cache does not fit comfortably in {free:.0f} GB free")
    phases = []

    def phase(name: str, started: float) -> None:
        phases.append({"name": name, "seconds": time.perf_counter() - started, "rss_gb": _rss_gb()})
        print(phases[-1], flush=True)

    t = time.perf_counter()
    cache_gb = write_cache(args.folder, args.items)
    phase("write cache", t)
    t = time.perf_counter()
    split = make_split(args.items, args.users)
    phase("split + catalogue", t)
    t = time.perf_counter()
    source = CachedSource.from_cache(open_cache(args.folder))
    torch.manual_seed(0)
    tower = IISANVersaTower([source], IISANVersa([WIDTH], [STEPS], out_dim=64))
    model = SequentialRecommender(tower, SASRec(64, 2, 2, 256, 10, 0.1), num_items=args.items)
    phase("open cache + build tower", t)
    train = TrainConfig(
        epochs=1, batch_size=64, lr=2e-4, loss="inbatch_logq", device="cpu",
        max_steps_per_epoch=args.steps,
    )  # fmt: skip
    trainer = Trainer(
        model, split, train, EvalConfig(), seed=0, out_dir=None, run_config={"bench": 1},
        device=torch.device("cpu"), progress=False,
    )  # fmt: skip
    t = time.perf_counter()
    fit = trainer.fit()
    phase(f"train {args.steps} steps + validation (full catalogue)", t)
    t = time.perf_counter()
    test = evaluate(model, split, "test", EvalConfig())
    phase("test evaluation (full catalogue)", t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB  # Linux: KiB
    result = {
        "items": args.items,
        "steps": STEPS,
        "width": WIDTH,
        "users": args.users,
        "train_steps": args.steps,
        "batch_size": 64,
        "cache_gb": cache_gb,
        "budget_mb": ram_budget_bytes() // (1024 * 1024),
        "streamed": isinstance(source, StreamedSource),
        "phases": phases,
        "peak_rss_gb": peak,
        "train_seconds_per_step": fit.efficiency["seconds_per_step"],
        "valid": fit.best_valid,
        "test": test.metrics,
        "disk_free_gb": free,
    }
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
