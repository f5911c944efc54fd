"""Load time of an Amazon Reviews 2023 category before and after `toolkit data convert`.

Writes a synthetic category in the release's format (gzipped reviews and meta JSONL with
titles, feature / description / category lists and image URLs), loads it with
`load_dataset`, converts it to the canonical Parquet layout (`write_canonical`) and loads
that. Each load runs `--repeats` times in this process; the best time is kept (other
processes share the machine). Writes benchmarks/results/data_load.{json,md}.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from plumbing.io import atomic_write_bytes, atomic_write_json, atomic_write_text

ROOT = Path(__file__).resolve().parent
WORDS = [
    "glass",
    "steel",
    "digital",
    "lab",
    "safety",
    "compact",
    "set",
    "pack",
    "kit",
    "clear",
    "metric",
    "heavy",
]


def write_category(folder: Path, items: int, users: int, reviews: int, seed: int) -> None:
    """A synthetic `Synthetic.jsonl.gz` + `meta_Synthetic.jsonl.gz` pair."""
    rng = np.random.default_rng(seed)
    meta = []
    for i in range(items):
        words = rng.choice(WORDS, size=40)
        meta.append(
            {
                "parent_asin": f"B{i:08d}",
                "title": " ".join(words[:6]),
                "features": [" ".join(words[6:12]), " ".join(words[12:18])],
                "description": [" ".join(words[18:])],
                "categories": ["Industrial & Scientific", str(words[0])],
                "store": str(words[1]).title(),
                "images": [{"large": f"https://example.invalid/{i}.jpg", "variant": "MAIN"}],
            }
        )
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    picks = rng.choice(items, size=reviews, p=popularity / popularity.sum())
    owners = rng.integers(0, users, size=reviews)
    stamps = 1_600_000_000_000 + rng.integers(0, 10**10, size=reviews)
    lines = (
        json.dumps({"user_id": f"U{u}", "parent_asin": f"B{i:08d}", "timestamp": int(t)})
        for u, i, t in zip(owners, picks, stamps, strict=True)
    )
    meta_text = "".join(json.dumps(m) + "\n" for m in meta)
    atomic_write_bytes(folder / "meta_Synthetic.jsonl.gz", gzip.compress(meta_text.encode()))
    reviews_text = "".join(line + "\n" for line in lines)
    atomic_write_bytes(folder / "Synthetic.jsonl.gz", gzip.compress(reviews_text.encode()))


def _best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--reviews", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from recsys.data import load_dataset
    from recsys.data.canonical import write_canonical

    with tempfile.TemporaryDirectory(prefix="data-load-") as tmp:
        src, dst = Path(tmp) / "jsonl", Path(tmp) / "canonical"
        write_category(src, args.items, args.users, args.reviews, args.seed)
        jsonl_s, dataset = _best(lambda: load_dataset(src), args.repeats)
        start = time.perf_counter()
        write_canonical(dataset, dst)
        convert_s = time.perf_counter() - start
        parquet_s, again = _best(lambda: load_dataset(dst), args.repeats)
        assert again.content_hash == dataset.content_hash
        sizes = {
            "jsonl_gz_mb": sum(p.stat().st_size for p in src.iterdir()) / 1e6,
            "parquet_mb": sum(p.stat().st_size for p in dst.glob("*.parquet")) / 1e6,
        }
    result = {
        "items": args.items,
        "users": len(dataset.sequences),
        "reviews": args.reviews,
        "repeats": args.repeats,
        "load_jsonl_gz_s": round(jsonl_s, 3),
        "convert_s": round(convert_s, 3),
        "load_canonical_s": round(parquet_s, 3),
        "speedup": round(jsonl_s / parquet_s, 2),
        **{k: round(v, 2) for k, v in sizes.items()},
    }
    out = ROOT / "results"
    atomic_write_json(out / "data_load.json", result)
    atomic_write_text(
        out / "data_load.md",
        "# Dataset load time: Amazon Reviews 2023 JSONL vs the canonical Parquet layout\n\n"
        f"Synthetic category: {args.items:,} items, {result['users']:,} users, "
        f"{args.reviews:,} reviews (seed {args.seed}); best of {args.repeats}; script "
        "`benchmarks/data_load.py`.\n\n"
        "| step | seconds | files (MB) |\n|---|---|---|\n"
        f"| load reviews + meta `.jsonl.gz` | {jsonl_s:.2f} | {sizes['jsonl_gz_mb']:.1f} |\n"
        f"| `toolkit data convert` (write Parquet) | {convert_s:.2f} | |\n"
        f"| load the converted folder | {parquet_s:.2f} | {sizes['parquet_mb']:.1f} |\n\n"
        f"The converted dataset loads {result['speedup']}x faster (same content hash).\n",
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
