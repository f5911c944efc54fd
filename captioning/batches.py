"""One batch of a caption job: decode the media (in a thread pool, one batch ahead of the
model), generate the captions, and turn both into the store's rows. A file that does not
decode or a batch the model fails on never ends the job: it becomes an error row."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from captioning.base import Captioner, frames_for_image_model, merge_frame_captions
from captioning.items import MediaItem
from media.errors import MediaError


def decode(item: MediaItem, num_frames: int) -> Any:
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


def caption_batch(
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


def decoded_batches(
    pool: ThreadPoolExecutor, batches: list[list[tuple[MediaItem, str]]], num_frames: int
) -> Iterator[list[tuple[MediaItem, str, Any]]]:
    """Yield decoded batches, keeping the next batch decoding while the caller generates."""

    def submit(batch: list[tuple[MediaItem, str]]) -> list[Future]:
        return [pool.submit(decode, item, num_frames) for item, _ in batch]

    pending = submit(batches[0]) if batches else []
    for index, batch in enumerate(batches):
        current = pending
        pending = submit(batches[index + 1]) if index + 1 < len(batches) else []
        yield [(item, sha, f.result()) for (item, sha), f in zip(batch, current, strict=True)]
