"""Captioning throughput: batched vs one-at-a-time generation, pipeline overhead, frame decoding.

A randomly initialised BLIP-base captioner (ViT-B/16 vision tower, 12-layer BERT-base text
decoder with cross-attention, ~250 M parameters; the real checkpoint's shapes, random weights)
is saved to a temporary folder and loaded back the way a hub id is. All numbers come from one
process on the CPU, so ratios are comparable:

1. generation throughput, batch 16 vs batch 1, on the same preprocessed images (greedy,
   `--tokens` new tokens; a random decoder practically never emits [SEP] early);
2. `caption_items` (hash, JPEG decode in worker threads, preprocessing, generate, decode,
   JSONL store) vs bare `generate()` on preprocessed tensors, same batches;
3. decord vs PyAV, 8 evenly spaced frames per generated H.264 clip.

    .venv/bin/python benchmarks/captioning_bench.py [--threads 2] [--images 16] [--tokens 12]

Writes benchmarks/results/captioning_bench.{json,md}. Targets: batched >= 3x, overhead < 10%.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent


def blip_base(folder: Path, image_size: int) -> Path:
    """Save a random BLIP-base captioner (real shapes) with a 30,524-token BERT vocabulary."""
    import transformers as tf

    vocab = {f"w{i}": i for i in range(30524)}
    for token, index in {
        "[PAD]": 0,
        "[UNK]": 100,
        "[CLS]": 101,
        "[SEP]": 102,
        "[MASK]": 103,
        "[DEC]": 30522,
    }.items():
        vocab.pop(f"w{index}")
        vocab[token] = index
    tokenizer = tf.BertTokenizer(vocab=vocab, bos_token="[DEC]")
    config = tf.BlipConfig(vision_config={"image_size": image_size})  # base sizes by default
    torch.manual_seed(0)
    model = tf.BlipForConditionalGeneration(config)
    processor = tf.BlipProcessor(
        tf.BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def write_images(folder: Path, count: int) -> list:
    from PIL import Image

    from captioning.api import MediaItem

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(count):
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(rng.integers(0, 255, (256, 320, 3), dtype=np.uint8)).save(path)
        items.append(MediaItem(f"{i:04d}", path, "image"))
    return items


def timed_generate(captioner, pixels: torch.Tensor, batch: int, tokens: int) -> float:
    """Seconds for greedy generate() over `pixels` [N, 3, S, S] in batches of `batch`."""
    start = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(pixels), batch):
            captioner.model.generate(
                pixel_values=pixels[s : s + batch],
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
            )
    return time.perf_counter() - start


def frame_sampling(folder: Path, clips: int, frames: int) -> dict[str, float]:
    """Milliseconds per clip to sample 8 frames, per backend (after one warm-up clip)."""
    from media.video import sample_frames, write_video

    rng = np.random.default_rng(1)
    paths = []
    for c in range(clips):
        base = rng.integers(0, 255, (1, 180, 320, 3), dtype=np.uint8)
        clip = np.repeat(base, frames, axis=0)
        for t in range(frames):  # a moving bar so frames differ and P-frames carry data
            clip[t, :, (t * 5) % 300 : (t * 5) % 300 + 20] = 255
        paths.append(folder / f"clip{c}.mp4")
        write_video(paths[-1], clip, fps=25, crf=23)
    result = {}
    for backend in ("decord", "pyav"):
        sample_frames(paths[0], 8, backend=backend)
        start = time.perf_counter()
        for path in paths:
            sample_frames(path, 8, backend=backend)
        result[backend] = 1000 * (time.perf_counter() - start) / clips
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=16, help="images for batched / pipeline")
    parser.add_argument("--single", type=int, default=4, help="images generated one at a time")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--clip-frames", type=int, default=120)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from captioning.api import caption_items
    from captioning.base import CaptionerOptions
    from captioning.hf import FAMILIES, HFCaptioner
    from captioning.prompts import resolve_prompt
    from captioning.registry import register_captioner
    from media.images import load_image
    from media.io import atomic_write_json, atomic_write_text

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = blip_base(tmp / "blip-base", args.image_size)
        options = CaptionerOptions(str(folder), resolve_prompt("short"), args.tokens, device="cpu")
        captioner = HFCaptioner(next(f for f in FAMILIES if f.name == "blip"), options)
        captioner.model.generation_config.min_new_tokens = args.tokens  # equal work everywhere
        params = sum(p.numel() for p in captioner.model.parameters())
        items = write_images(tmp / "images", args.images)
        pixels = captioner.processor(
            images=[load_image(it.path) for it in items], return_tensors="pt"
        )["pixel_values"]  # [N, 3, S, S]
        timed_generate(captioner, pixels[:2], 2, 2)  # warm-up
        batched = timed_generate(captioner, pixels, args.batch_size, args.tokens)
        single = timed_generate(captioner, pixels[: args.single], 1, args.tokens)
        register_captioner("bench-blip", lambda _: captioner, needs_model=False)
        summary = caption_items(
            items,
            captioner="bench-blip",
            store=tmp / "store",
            max_new_tokens=args.tokens,
            batch_size=args.batch_size,
            progress=False,
        )
        assert summary.done == len(items), summary
        bare = timed_generate(captioner, pixels, args.batch_size, args.tokens)
        frames = frame_sampling(tmp, args.clips, args.clip_frames)

    per_image_batched = batched / args.images
    per_image_single = single / args.single
    bare_mean = (batched + bare) / 2  # bare generate() measured before and after the pipeline
    result = {
        "device": "cpu",
        "machine": platform.processor() or platform.machine(),
        "torch_threads": args.threads,
        "load_average_1min_at_end": os.getloadavg()[0],  # the 2-core machine is shared
        "model": f"random BLIP-base ({params / 1e6:.0f} M params, image {args.image_size})",
        "new_tokens": args.tokens,
        "batch_size": args.batch_size,
        "images": args.images,
        "seconds_per_image_batched": per_image_batched,
        "seconds_per_image_single": per_image_single,
        "batched_speedup": per_image_single / per_image_batched,
        "pipeline_seconds": summary.seconds,
        "bare_generate_seconds": [batched, bare],
        "pipeline_overhead": summary.seconds / bare_mean - 1,
        "frame_sampling_ms_per_clip": frames,
        "clip": f"{args.clip_frames} frames 320x180 H.264, 8 frames sampled",
    }
    lines = [
        "# Captioning benchmark (CPU)",
        "",
        f"{result['model']}, greedy, {args.tokens} new tokens, {args.threads} torch threads;",
        f"1-minute load average at the end: {result['load_average_1min_at_end']:.1f} "
        f"({os.cpu_count()} CPUs, shared), so absolute times are inflated; ratios are within-run.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| s/image, batch {args.batch_size} | {per_image_batched:.3f} | |",
        f"| s/image, batch 1 | {per_image_single:.3f} | |",
        f"| batched speed-up | {result['batched_speedup']:.2f}x | >= 3x |",
        f"| caption_items vs bare generate() | {100 * result['pipeline_overhead']:+.1f}% | < 10% |",
        f"| decord, ms/clip (8 frames) | {frames['decord']:.1f} | |",
        f"| PyAV, ms/clip (8 frames) | {frames['pyav']:.1f} | |",
        "",
        f"Clips: {result['clip']}. Bare generate() is the mean of a run before and after the",
        "pipeline; the pipeline adds hashing, JPEG decoding (worker threads, overlapped),",
        "preprocessing, token decoding and the fsynced JSONL appends.",
    ]
    out = ROOT / "results" / "captioning_bench"
    atomic_write_json(out.with_suffix(".json"), result)
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
