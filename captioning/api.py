"""`caption_items`: caption a list of images and videos into a caption store, resumably.

Work is split into batches per media kind; a thread pool decodes the next batch (and hashes
files) while the captioner generates the current one, each finished batch is appended to the
store with one fsynced write, and a rerun skips every (item, media hash) already recorded
under the same key. Bad media become error records; the job always runs to the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from captioning.base import (
    Captioner,
    CaptionerOptions,
    CaptionerSpec,
    CaptioningError,
    frames_for_image_model,
    merge_frame_captions,
)
from captioning.prompts import resolve_prompt
from captioning.registry import get_captioner_spec
from captioning.store import CaptionKey, CaptionStore, claim_store
from media.errors import MediaError
from media.hashing import media_sha256
from media.kinds import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from plumbing.folders import folder_lock
from plumbing.io import check_output_dir
from plumbing.ranks import launcher_rank
from plumbing.revision import library_versions, model_revision

NO_MEDIA = "none"  # media_sha256 of an item with no path or a missing/unreadable file


@dataclass(frozen=True)
class MediaItem:
    """One thing to caption.

    Attributes:
        item_id: the catalogue's item id.
        path: the media file (None when the item has none: recorded as an error).
        kind: "image" or "video".
    """

    item_id: str
    path: Path | None
    kind: Literal["image", "video"]


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


def list_media(folder: str | Path, kind: Literal["image", "video"]) -> list[MediaItem]:
    """Media entries directly in `folder`, item id = file stem, sorted by id.

    Every entry with a media suffix but sub-folders is listed, so one that is no regular
    file (a pipe, a socket, a device, a dangling link) becomes an error record rather than
    vanishing without a word; nothing is opened here.

    Raises:
        CaptioningError: missing folder, or two files with the same stem.
    """
    root = Path(folder)
    if not root.is_dir():
        raise CaptioningError(f"{root}: not a folder")
    suffixes = IMAGE_SUFFIXES if kind == "image" else VIDEO_SUFFIXES
    items: dict[str, MediaItem] = {}
    for path in sorted(root.iterdir()):
        if path.suffix.lower() in suffixes and not path.is_dir():
            if path.stem in items:
                raise CaptioningError(f"{root}: two {kind}s for item {path.stem!r}")
            items[path.stem] = MediaItem(path.stem, path, kind)
    return [items[k] for k in sorted(items)]


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


def media_sha(path: Path | None) -> str:
    """The caption store's media hash of a file: its sha256 (`media.hashing.media_sha256`,
    memoised), or NO_MEDIA for no path or a file that is not a readable regular file (the
    decode step then records why)."""
    return (media_sha256(path) if path is not None else None) or NO_MEDIA


def _decode(item: MediaItem, num_frames: int) -> Any:
    """The decoded media, or a MediaError (returned, not raised, so one bad file is local)."""
    from media.images import load_image
    from media.video import sample_frames

    if item.path is None:
        return MediaError(item.item_id, f"item has no {item.kind} file")
    try:
        if item.kind == "image":
            return load_image(item.path)
        return sample_frames(item.path, num_frames)
    except MediaError as exc:
        return exc
    except Exception as exc:  # a decoder bug must not end the job
        return MediaError(item.path, f"decoder failed: {type(exc).__name__}: {exc}")


def _generate(captioner: Captioner, kind: str, media: list[Any], num_frames: int) -> list[str]:
    if kind == "image":
        return captioner.caption_images(media)
    if captioner.supports_video:
        return captioner.caption_videos(media)
    from PIL import Image

    chosen = frames_for_image_model(num_frames)
    frames = [Image.fromarray(clip[i]) for clip in media for i in chosen]
    captions = captioner.caption_images(frames)
    per_clip = len(chosen)
    return [
        merge_frame_captions(captions[k * per_clip : (k + 1) * per_clip]) for k in range(len(media))
    ]


def _caption_batch(
    captioner: Captioner, kind: str, batch: list[tuple[MediaItem, str, Any]], num_frames: int
) -> list[dict[str, Any]]:
    """Result rows for one decoded batch; a failing batch is retried item by item."""
    rows = [
        {"item_id": item.item_id, "media_sha256": sha, "error": media.reason}
        for item, sha, media in batch
        if isinstance(media, MediaError)
    ]
    good = [(item, sha, media) for item, sha, media in batch if not isinstance(media, MediaError)]
    if not good:
        return rows
    try:
        captions = _generate(captioner, kind, [m for _, _, m in good], num_frames)
        outcomes: list[tuple[str, str]] = [("caption", c) for c in captions]
    except Exception:
        outcomes = []
        for _, _, media in good:  # isolate the item that breaks the batch
            try:
                outcomes.append(("caption", _generate(captioner, kind, [media], num_frames)[0]))
            except Exception as exc:
                outcomes.append(("error", f"generation failed: {type(exc).__name__}: {exc}"))
    for (item, sha, _), (field, value) in zip(good, outcomes, strict=True):
        rows.append({"item_id": item.item_id, "media_sha256": sha, field: value})
    return rows


def _decoded_batches(
    pool: ThreadPoolExecutor, batches: list[list[tuple[MediaItem, str]]], num_frames: int
) -> Iterator[list[tuple[MediaItem, str, Any]]]:
    """Yield decoded batches, keeping the next batch decoding while the caller generates."""

    def submit(batch: list[tuple[MediaItem, str]]) -> list[Future]:
        return [pool.submit(_decode, item, num_frames) for item, _ in batch]

    pending = submit(batches[0]) if batches else []
    for index, batch in enumerate(batches):
        current = pending
        pending = submit(batches[index + 1]) if index + 1 < len(batches) else []
        yield [(item, sha, f.result()) for (item, sha), f in zip(batch, current, strict=True)]


def _select_shard(items: Sequence[MediaItem], shard: tuple[int, int] | None) -> list[MediaItem]:
    ordered = sorted(items, key=lambda it: (it.kind, it.item_id))
    if shard is None:
        return ordered
    index, count = shard
    return ordered[index::count]


def _chunks(pairs: list[tuple[MediaItem, str]], size: int) -> list[list[tuple[MediaItem, str]]]:
    return [pairs[start : start + size] for start in range(0, len(pairs), size)]


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
    shard = resolve_shard(shard)
    selected = _select_shard(items, shard)
    caption_store = CaptionStore(store, part=shard)
    check_output_dir(store, "caption store")  # before any file is hashed
    claim_store(Path(store))  # a user's folder is refused
    # One writer per store part: a second job on it waits, then finds the first one's work
    # done (`_pending` runs under the lock), so nothing is captioned twice.
    part = "captions" if shard is None else f"captions-part{shard[0]}"
    with folder_lock(store, part), ThreadPoolExecutor(max_workers=num_workers) as pool:
        todo = _pending(selected, caption_store, key, pool, retry_errors, reuse_across_versions)
        written = failed = 0
        if todo:
            options = CaptionerOptions(
                model, resolve_prompt(prompt), max_new_tokens, num_beams, device, dtype, num_frames
            )
            loaded, batches = spec.builder(options), _batches(todo, batch_size)
            written, failed = _run_batches(
                loaded, pool, batches, num_frames, caption_store, key, progress
            )
    return CaptionSummary(
        store=Path(store),
        write_file=caption_store.write_file,
        key=key,
        total=len(selected),
        done=written,
        skipped=len(selected) - len(todo),
        failed=failed,
        shard=shard,
        seconds=time.perf_counter() - started,
        version_drift=() if reuse_across_versions else tuple(caption_store.version_drift(key)),
    )


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


def _pending(
    selected: list[MediaItem],
    store: CaptionStore,
    key: CaptionKey,
    pool: ThreadPoolExecutor,
    retry_errors: bool,
    reuse_versions: bool,
) -> list[tuple[MediaItem, str]]:
    """(item, media hash) of every item without a record under `key` (hashed in `pool`)."""
    done = store.done(key, include_errors=not retry_errors, reuse_versions=reuse_versions)
    hashes = pool.map(lambda item: media_sha(item.path), selected)
    return [
        (item, sha)
        for item, sha in zip(selected, hashes, strict=True)
        if (item.item_id, sha) not in done
    ]


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
    from tqdm.auto import tqdm

    written = failed = 0
    total = sum(len(b) for b in batches)
    with tqdm(total=total, unit="item", desc="captioning", disable=not progress) as bar:
        for batch in _decoded_batches(pool, batches, num_frames):
            rows = _caption_batch(captioner, batch[0][0].kind, batch, num_frames)
            store.append(key, rows)
            errors = sum("error" in row for row in rows)
            failed += errors
            written += len(rows) - errors
            bar.update(len(rows))
    return written, failed
