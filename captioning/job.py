"""The body of a `caption_items` call once its settings are checked: the items of this shard
that the store has no record of, in batches of one media kind, captioned and appended to
the store batch by batch under a lock on the store part, and the summary of what was done.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from captioning.base import Captioner, CaptionerOptions, CaptionerSpec
from captioning.batches import caption_batch, decoded_batches
from captioning.items import MediaItem, media_sha
from captioning.store import CaptionKey, CaptionStore, claim_store
from plumbing.folders import folder_lock
from plumbing.io import check_output_dir


@dataclass(frozen=True)
class CaptionSummary:
    """What a `caption_items` call did.

    Attributes:
        store: the store folder.
        write_file: the JSONL file this call appended to (main file or shard part).
        key: the caption key every record of this call carries.
        total: items in this call's shard.
        done: captions written by this call.
        skipped: items already recorded under the key (captions, and errors unless retried).
        failed: error records written by this call.
        shard: (index, count) when sharded.
        seconds: wall time.
        version_drift: library versions that differ in captions of the same model and
            settings already in the store ("transformers 4.46.0 -> 5.1.0"); those were not
            reused (see `reuse_across_versions`).
    """

    store: Path
    write_file: Path
    key: CaptionKey
    total: int
    done: int
    skipped: int
    failed: int
    shard: tuple[int, int] | None
    seconds: float
    version_drift: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaptionJob:
    """A caption job's checked settings (`caption_items` builds it from its arguments).

    Attributes:
        spec: the captioner's registry entry (its builder loads the model).
        options: what the builder is given (model, prompt, generation, device, dtype).
        key: the caption key every record of the job carries.
        batch_size: media per generate() call.
        num_workers: decode / hashing threads.
        progress: show a progress bar.
        retry_errors: also redo items whose last record is an error.
        reuse_across_versions: count captions made under other library versions as done.
    """

    spec: CaptionerSpec
    options: CaptionerOptions
    key: CaptionKey
    batch_size: int
    num_workers: int
    progress: bool
    retry_errors: bool
    reuse_across_versions: bool


def run_job(
    job: CaptionJob,
    items: Sequence[MediaItem],
    store: Path,
    shard: tuple[int, int] | None,
    started: float,
) -> CaptionSummary:
    """Caption this shard's items that `store` has no record of (see `caption_items`);
    `started` is the call's `time.perf_counter()` at its start."""
    selected = _select_shard(items, shard)
    caption_store = CaptionStore(store, part=shard)
    check_output_dir(store, "caption store")  # before any file is hashed
    claim_store(store)  # a user's folder is refused
    # One writer per store part: a second job on it waits, then finds the first one's work
    # done (`_pending` runs under the lock), so nothing is captioned twice.
    part = "captions" if shard is None else f"captions-part{shard[0]}"
    with folder_lock(store, part), ThreadPoolExecutor(max_workers=job.num_workers) as pool:
        todo = _pending(selected, caption_store, job, pool)
        written = failed = 0
        if todo:
            loaded, batches = job.spec.builder(job.options), _batches(todo, job.batch_size)
            written, failed = _run_batches(
                loaded, pool, batches, job.options.num_frames, caption_store, job.key, job.progress
            )
    drift = () if job.reuse_across_versions else tuple(caption_store.version_drift(job.key))
    return CaptionSummary(
        store=store,
        write_file=caption_store.write_file,
        key=job.key,
        total=len(selected),
        done=written,
        skipped=len(selected) - len(todo),
        failed=failed,
        shard=shard,
        seconds=time.perf_counter() - started,
        version_drift=drift,
    )


def _select_shard(items: Sequence[MediaItem], shard: tuple[int, int] | None) -> list[MediaItem]:
    ordered = sorted(items, key=lambda it: (it.kind, it.item_id))
    if shard is None:
        return ordered
    index, count = shard
    return ordered[index::count]


def _pending(
    selected: list[MediaItem], store: CaptionStore, job: CaptionJob, pool: ThreadPoolExecutor
) -> list[tuple[MediaItem, str]]:
    """(item, media hash) of every item without a record under the job's key (hashed in
    `pool`)."""
    done = store.done(
        job.key, include_errors=not job.retry_errors, reuse_versions=job.reuse_across_versions
    )
    hashes = pool.map(lambda item: media_sha(item.path), selected)
    return [
        (item, sha)
        for item, sha in zip(selected, hashes, strict=True)
        if (item.item_id, sha) not in done
    ]


def _chunks(pairs: list[tuple[MediaItem, str]], size: int) -> list[list[tuple[MediaItem, str]]]:
    return [pairs[start : start + size] for start in range(0, len(pairs), size)]


def _batches(todo: list[tuple[MediaItem, str]], size: int) -> list[list[tuple[MediaItem, str]]]:
    """Batches of `size`, images first, then videos (one media kind per batch)."""
    return [
        batch
        for kind in ("image", "video")
        for batch in _chunks([pair for pair in todo if pair[0].kind == kind], size)
    ]


def _run_batches(
    captioner: Captioner,
    pool: ThreadPoolExecutor,
    batches: list[list[tuple[MediaItem, str]]],
    num_frames: int,
    store: CaptionStore,
    key: CaptionKey,
    progress: bool,
) -> tuple[int, int]:
    """Caption the batches in order, appending each to the store as it ends; (captions
    written, error records written)."""
    from tqdm.auto import tqdm

    written = failed = 0
    total = sum(len(b) for b in batches)
    with tqdm(total=total, unit="item", desc="captioning", disable=not progress) as bar:
        for batch in decoded_batches(pool, batches, num_frames):
            rows = caption_batch(captioner, batch[0][0].kind, batch, num_frames)
            store.append(key, rows)
            errors = sum("error" in row for row in rows)
            failed += errors
            written += len(rows) - errors
            bar.update(len(rows))
    return written, failed
