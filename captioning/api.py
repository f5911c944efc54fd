"""`caption_items`: caption a list of images and videos into a caption store, resumably.

Work is split into batches per media kind; a thread pool decodes the next batch (and hashes
files) while the captioner generates the current one, each finished batch is appended to the
store with one fsynced write, and a rerun skips every (item, media hash) already recorded
under the same key. Bad media become error records; the job always runs to the end. The
steps live beside this module: captioning.items (what is captioned), captioning.job (the
store, the pending items, the batches) and captioning.batches (decode and generate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from captioning.base import CaptionerOptions, CaptionerSpec, CaptioningError
from captioning.items import MediaItem
from captioning.job import CaptionJob, CaptionSummary, run_job
from captioning.prompts import resolve_prompt
from captioning.registry import get_captioner_spec
from captioning.store import CaptionKey
from plumbing.ranks import launcher_rank
from plumbing.revision import library_versions, model_revision

__all__ = [
    "caption_items",
    "caption_key",
    "parse_shard",
    "resolve_shard",
]


def caption_key(
    captioner: str,
    model: str | None = None,
    prompt: str = "short",
    max_new_tokens: int = 30,
    num_beams: int = 1,
    *,
    dtype: str = "float32",
    num_frames: int = 8,
    revision: str | None = None,
) -> CaptionKey:
    """The key `caption_items` records under these settings; no model is loaded.

    Args:
        captioner: registry name.
        model: hub id or folder (default: the captioner's default model).
        prompt: preset name or custom instruction.
        max_new_tokens: generation length limit.
        num_beams: beam count.
        dtype: compute dtype (part of the key: half precision may change words).
        num_frames: frames per video.
        revision: hub revision for a hub id.
    """
    spec = get_captioner_spec(captioner)
    resolved = resolve_prompt(prompt)
    if not spec.needs_model:  # pixels -> words with numpy and Pillow; its algorithm: revision
        versions = library_versions(("numpy", "pillow"))
        generation: dict[str, Any] = {"num_frames": num_frames}
        return CaptionKey(captioner, spec.revision, resolved.key_text, generation, versions)
    model = model or spec.default_model
    generation = {
        "max_new_tokens": max_new_tokens,
        "num_beams": num_beams,
        "do_sample": False,
        "dtype": dtype,
        "num_frames": num_frames,
    }
    versions = library_versions(("torch", "transformers"))
    return CaptionKey(
        captioner, model_revision(model, revision), resolved.key_text, generation, versions
    )


def parse_shard(text: str) -> tuple[int, int]:
    """Parse "i/n" (0-based index i of n shards)."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise CaptioningError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise CaptioningError(f"--shard {text}: need 0 <= i < n")
    return index, count


def resolve_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    """An explicit shard, else (RANK, WORLD_SIZE) under torchrun / accelerate, else None."""
    if shard is not None:
        index, count = shard
        if count < 1 or not 0 <= index < count:
            raise CaptioningError(f"shard {index}/{count}: need 0 <= index < count")
        return None if count == 1 else shard
    launched = launcher_rank()
    return (launched.rank, launched.world_size) if launched.world_size > 1 else None


def caption_items(
    items: Sequence[MediaItem],
    *,
    captioner: str,
    store: Path,
    model: str | None = None,
    prompt: str = "short",
    max_new_tokens: int = 30,
    num_beams: int = 1,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str = "float32",
    num_frames: int = 8,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    num_workers: int = 2,
    retry_errors: bool = False,
    reuse_across_versions: bool = False,
) -> CaptionSummary:
    """Caption images and videos into a caption store; resumable and safe on bad media.

    Args:
        items: what to caption (ids may repeat across kinds: a cover and a video).
        captioner: registry name (see `captioner_names()`).
        store: caption store folder (checked writable before anything is hashed).
        model: hub id or local folder (default: the captioner's default).
        prompt: preset ("short", "detailed", "title") or a custom instruction.
        max_new_tokens: generation length limit.
        num_beams: beams (1 = greedy; sampling is off).
        batch_size: media per generate() call.
        device: "auto", "cpu", "cuda", ...
        dtype: "float32", "float16" or "bfloat16".
        num_frames: frames sampled per video.
        shard: (index, count); default: (RANK, WORLD_SIZE) when launched distributed.
        progress: show a progress bar with items/s and ETA.
        num_workers: decode / hashing threads.
        retry_errors: also redo items whose last record is an error.
        reuse_across_versions: count captions made under other torch / transformers
            versions (same model files and settings) as done, instead of captioning again.

    Returns:
        Counts of captions written, items skipped and error records written.

    Raises:
        OutputError: the store cannot be written (a disk full mid-job keeps every batch), or
            it holds files and is not a caption store of this toolkit.
    """
    started = time.perf_counter()
    spec, model = _check_job(items, captioner, model, batch_size, num_workers, num_frames)
    key = caption_key(
        captioner, model, prompt, max_new_tokens, num_beams, dtype=dtype, num_frames=num_frames
    )
    options = CaptionerOptions(
        model, resolve_prompt(prompt), max_new_tokens, num_beams, device, dtype, num_frames
    )
    job = CaptionJob(
        spec, options, key, batch_size, num_workers, progress, retry_errors, reuse_across_versions
    )
    return run_job(job, items, Path(store), resolve_shard(shard), started)


def _check_job(
    items: Sequence[MediaItem],
    captioner: str,
    model: str | None,
    batch_size: int,
    num_workers: int,
    num_frames: int,
) -> tuple[CaptionerSpec, str | None]:
    """The captioner's spec and model, once the job's options are known to make sense."""
    if batch_size < 1 or num_workers < 1 or num_frames < 1:
        raise CaptioningError("batch_size, num_workers and num_frames must be >= 1")
    bad_kinds = sorted({it.kind for it in items} - {"image", "video"})
    if bad_kinds:
        raise CaptioningError(f"unknown media kind(s) {bad_kinds}; valid: image, video")
    spec = get_captioner_spec(captioner)
    model = model or spec.default_model
    if spec.needs_model and model is None:
        raise CaptioningError(f"captioner {captioner!r} needs --model (a hub id or folder)")
    return spec, model
