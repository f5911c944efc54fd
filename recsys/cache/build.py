"""Build (resumably, in chunks) or reuse the hidden-state cache of one channel."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from media.hashing import sha256_json
from plumbing.console import human_duration, say, show_bars
from plumbing.io import (
    atomic_path,
    atomic_write_json,
    existing_ancestor,
    preallocate,
    sweep_stale_temps,
)
from recsys import distributed
from recsys.cache.keys import cache_folder, channel_items, fingerprint_fields, item_label
from recsys.cache.lock import folder_lock
from recsys.cache.progress import ProgressLog
from recsys.cache.reuse import (
    PARTIAL,
    cache_size,
    check_existing,
    open_current_cache,
    say_reused,
    write_stamp,
)
from recsys.cache.states import MANIFEST, SHARED, STATES, VALID, CachedStates, open_cache
from recsys.channels import ChannelInput, EncoderSpec
from recsys.encoders import Encoder, build_encoder
from recsys.encoders.base import outside_autocast
from recsys.errors import CacheMismatchError, CacheOverflowError, DiskSpaceError

_MEDIA_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError)


def build_or_load_cache(
    channel: ChannelInput,
    encoder_spec: EncoderSpec | None = None,
    *,
    cache_dir: str | Path,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    rebuild: bool = True,
    progress: bool = True,
    chunk_size: int = 2048,
    encoder: Encoder | None = None,
    reuse_versions: bool = False,
) -> CachedStates:
    """Return the channel's cached states, building them when absent or stale.

    Args:
        channel: the channel's inputs (texts or media paths, catalogue order).
        encoder_spec: the encoder (defaults to `channel.encoder`).
        cache_dir: root folder of all caches.
        device: where the encoder runs.
        batch_size: items per forward pass (texts are sorted by length, padded per batch).
        rebuild: rebuild a cache whose fingerprint differs; when False, raise instead.
        progress: show a progress bar.
        chunk_size: items per resumable chunk (a killed build resumes at the first
            unfinished chunk).
        encoder: an already built encoder for this spec (saves loading it twice).
        reuse_versions: accept a cache that differs only in the library versions it was
            built with (say so, do not rebuild).

    Raises:
        CacheMismatchError: the cache exists for other settings and `rebuild` is False;
            the message names every differing field.
        CacheOverflowError: a state does not fit float16 (names channel, layer and item).
    """
    if encoder_spec is not None and encoder_spec != channel.encoder:
        from dataclasses import replace

        channel = replace(channel, encoder=encoder_spec)
    report = progress and distributed.active_context().is_main
    if encoder is None:
        current = open_current_cache(channel, cache_dir)
        if current is not None:
            return say_reused(current, report)
        encoder = build_encoder(channel.encoder, device=device, modality=channel.modality)
    fields = fingerprint_fields(channel, encoder)
    # One folder per fingerprint: another configuration never rebuilds this one in place.
    folder = cache_folder(Path(cache_dir), channel, sha256_json(fields))
    with folder_lock(folder):  # grid workers sharing this cache build it once
        cached = check_existing(folder, fields, rebuild, reuse_versions, channel.name)
        if cached is None:
            cached = _build(channel, encoder, fields, folder, batch_size, chunk_size, progress)
            if report:
                seconds = float(cached.manifest["build"]["seconds"])
                say(f"cache built in {human_duration(seconds)}: {folder} ({cache_size(cached)})")
        else:
            say_reused(cached, report)
        if cached.manifest["fields"] == fields:  # a cache reused across versions is not current
            write_stamp(folder, channel, cached)
        return cached


def _build(
    channel: ChannelInput,
    encoder: Encoder,
    fields: dict[str, Any],
    folder: Path,
    batch_size: int,
    chunk_size: int,
    progress: bool,
) -> CachedStates:
    from tqdm.auto import tqdm

    items = channel_items(channel)
    partial = folder / PARTIAL
    fingerprint = sha256_json(fields)
    ctx = distributed.active_context()  # under torchrun each rank encodes its own chunks
    _check_disk(channel.name, folder, len(items), encoder, progress and ctx.is_main)
    cut = _truncation(channel.name, encoder, items, progress) if ctx.is_main else None
    if ctx.is_main:
        _reset_partial(partial, fingerprint)
        sweep_stale_temps(folder)  # temp files of builds killed mid-write
        sweep_stale_temps(partial)
    distributed.barrier()
    # Stable length sort: batches pad little, and a resumed build sees the same chunks.
    order = sorted(range(len(items)), key=lambda i: (encoder.size_key(items[i]), i))
    chunks = [order[s : s + chunk_size] for s in range(0, len(order), chunk_size)]
    started, computed = time.perf_counter(), 0
    bar = tqdm(
        total=len(items),
        disable=not (progress and ctx.is_main and show_bars()),
        desc=f"cache {channel.name}",
        unit="item",
    )
    mine = list(distributed.shard_blocks(range(len(chunks)), ctx))
    write = say if progress and ctx.is_main else _quiet  # lines too: a log holds no bar
    log = ProgressLog(channel.name, sum(len(chunks[k]) for k in mine), write)
    for k in mine:
        chunk = chunks[k]
        path = partial / f"chunk_{k:05d}.npz"
        if not path.exists():
            _write_chunk(path, channel, encoder, items, chunk, batch_size, log.update)
            computed += len(chunk)
        else:
            log.update(len(chunk), computed=False)
        bar.update(len(chunk))
    bar.close()
    distributed.barrier()  # every rank's chunks are on disk
    computed = int(distributed.all_reduce_sum(float(computed)))
    seconds = time.perf_counter() - started
    stats = {
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "computed_items": computed,
        "seconds": seconds,
        "items_per_s": computed / max(seconds, 1e-9),
        **({"truncated": cut} if cut is not None else {}),
    }
    if ctx.is_main:  # one writer merges the chunks (after checking they are all there)
        _assemble(folder, partial, len(chunks), encoder, fields, fingerprint, channel, stats)
        shutil.rmtree(partial, ignore_errors=True)
    distributed.barrier()
    return open_cache(folder)


def _write_chunk(
    path: Path,
    channel: ChannelInput,
    encoder: Encoder,
    items: list[Any],
    chunk: list[int],
    batch_size: int,
    done: Callable[[int], None] = lambda _: None,
) -> None:
    """Encode one chunk of items and write its states atomically (a resumed build skips
    it); `done` is told each batch's item count."""
    ids = [item_label(channel, i) for i in chunk]
    raw = [items[i] for i in chunk]
    states, valid = _encode_chunk(encoder, raw, batch_size, ids, channel.name, done)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, rows=np.asarray(chunk, dtype=np.int64) + 1, states=states, valid=valid)


TRUNCATED_WARNING = 0.1  # above this share of texts cut at max_tokens: a warning


def _truncation(name: str, encoder: Encoder, items: list[Any], report: bool) -> dict | None:
    """The items the encoder cuts (texts over max_tokens), said in a line when there are
    any (a `warning:` above TRUNCATED_WARNING); None for an encoder that cuts nothing."""
    count = encoder.truncated(items)
    if count is None:
        return None
    limit = getattr(encoder.spec, "max_tokens", None)
    share = count / max(len(items), 1)
    if report and count:
        head = "warning: " if share > TRUNCATED_WARNING else ""
        say(
            f"{head}cache {name}: {count:,} of {len(items):,} texts ({share:.1%}) exceed "
            f"max_tokens = {limit} and are cut"
            + (" (raise the encoder's max_tokens to keep them whole)" if head else "")
        )
    return {"items": count, "share": round(share, 4), "max_tokens": limit}


def _check_disk(name: str, folder: Path, num_items: int, encoder: Encoder, report: bool) -> None:
    """Say how much room the cache takes and stop before writing when the disk lacks it.

    `states.npy` takes (N+1) x steps x width fp16 values (an upper bound: a shared first
    step is stored once); until the chunk files are removed both exist, so the peak is twice
    that, less the chunks a killed build already finished (stale ones are deleted first).

    Raises:
        DiskSpaceError: the free space of the cache folder's disk is below what is still needed.
    """
    size = (num_items + 1) * encoder.num_steps * encoder.width * 2
    done = sum(p.stat().st_size for p in (folder / PARTIAL).glob("chunk_*.npz"))
    free = shutil.disk_usage(existing_ancestor(folder)).free
    message = (
        f"cache {name}: needs {size / 1e6:.2f} MB ({num_items} items x {encoder.num_steps} "
        f"steps x {encoder.width} fp16; up to {2 * size / 1e6:.2f} MB while building), "
        f"{free / 1e6:.2f} MB free in {folder}"
    )
    if free < 2 * size - done:
        raise DiskSpaceError(f"{message}; free some space or set output.cache_dir elsewhere")
    if report:
        say(message)


def _reset_partial(partial: Path, fingerprint: str) -> None:
    """Keep finished chunks only when they were computed for the same fingerprint."""
    marker = partial / "fingerprint.json"
    if marker.exists():
        try:
            if json.loads(marker.read_text())["fingerprint"] == fingerprint:
                return
        except (OSError, ValueError, KeyError):
            pass
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    atomic_write_json(marker, {"fingerprint": fingerprint})


FP16_MAX = float(np.finfo(np.float16).max)  # 65,504


def _check_fp16(states: torch.Tensor, encoder: Encoder, ids: list[str], name: str) -> None:
    """Refuse states that float16 cannot hold (an LLM's massive activations above 65,504,
    or NaN / inf): they would reach training as inf and end as a NaN loss much later.

    Raises:
        CacheOverflowError: naming the channel, the hidden-state layer and the first item.
    """
    bad = ~torch.isfinite(states) | (states.abs() > FP16_MAX)  # [b, steps, width]
    if not bool(bad.any()):
        return
    row, step, col = (int(x) for x in bad.nonzero()[0])
    value = float(states[row, step, col])
    raise CacheOverflowError(
        f"cache {name}: hidden state {encoder.selected_layers[step]} of item {ids[row]} "
        f"holds {value:.6g}, which float16 cannot store (|x| <= {FP16_MAX:.0f}); select "
        "other layers (encoder.layers) or use an encoder whose states fit float16"
    )


def _quiet(_: str) -> None:
    """Where the progress lines of a build that reports nothing go."""


def _encode_chunk(
    encoder: Encoder,
    raw: list[Any],
    batch_size: int,
    ids: list[str],
    name: str,
    done: Callable[[int], None] = lambda _: None,
) -> tuple[np.ndarray, np.ndarray]:
    """States [n, steps, width] fp16 and valid [n] of one chunk; failed media -> zeros.
    `ids` name the chunk's items (for the float16 check's message)."""
    out = np.zeros((len(raw), encoder.num_steps, encoder.width), dtype=np.float16)
    valid = np.zeros(len(raw), dtype=bool)
    for start in range(0, len(raw), batch_size):
        loaded, where = [], []
        for j, item in enumerate(raw[start : start + batch_size], start=start):
            try:
                if item is None:
                    continue  # no media for this item
                loaded.append(encoder.load(item))
                where.append(j)
            except _media_errors():
                continue
        if loaded:
            with torch.inference_mode(), outside_autocast():
                states = encoder(**encoder.prepare(loaded))  # [b, steps, width] fp32
            _check_fp16(states, encoder, [ids[j] for j in where], name)
            out[where] = states.to(torch.float16).cpu().numpy()
            valid[where] = True
        done(len(raw[start : start + batch_size]))
    return out, valid


def _media_errors() -> tuple[type[BaseException], ...]:
    from media.errors import MediaError

    return (MediaError, *_MEDIA_ERRORS)


def _assemble(
    folder: Path,
    partial: Path,
    num_chunks: int,
    encoder: Encoder,
    fields: dict[str, Any],
    fingerprint: str,
    channel: ChannelInput,
    stats: dict[str, Any],
) -> CachedStates:
    num_items = len(channel_items(channel))
    absent = [k for k in range(num_chunks) if not (partial / f"chunk_{k:05d}.npz").exists()]
    if absent:
        raise CacheMismatchError(
            f"{partial}: {len(absent)} of {num_chunks} chunks are missing (first: {absent[:5]}); "
            "a rank died or the cache folder is not shared by every rank; run the build again"
        )
    chunks = [np.load(partial / f"chunk_{k:05d}.npz") for k in range(num_chunks)]
    valid = np.zeros(num_items + 1, dtype=bool)
    for chunk in chunks:
        valid[chunk["rows"]] = chunk["valid"]
    shared = _shared_first_step(encoder, chunks)
    skip = 0 if shared is None else 1
    shape = (num_items + 1, encoder.num_steps - skip, encoder.width)
    with atomic_path(folder / STATES) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
        preallocate(tmp)  # a disk filled since the space check: an error, not a SIGBUS
        array[0] = 0
        for chunk in chunks:
            array[chunk["rows"]] = chunk["states"][:, skip:]
        array.flush()
        del array
    with atomic_path(folder / VALID) as tmp, open(tmp, "wb") as handle:
        np.save(handle, valid)
    if shared is not None:
        with atomic_path(folder / SHARED) as tmp, open(tmp, "wb") as handle:
            np.save(handle, shared)
    missing = np.flatnonzero(~valid[1:])  # catalogue positions of zero-state items
    manifest = {
        "fingerprint": fingerprint,
        "fields": fields,
        "encoder": encoder.describe(),
        "stored_shape": list(shape),
        "shared_steps": skip,
        "missing": int(len(missing)),
        "missing_items": _missing_items(missing, channel.item_ids),
        "inputs": {"template": channel.source_label} if channel.source_label else {},
        "build": {**stats, "bytes": int(np.prod(shape)) * 2},
    }
    atomic_write_json(folder / MANIFEST, manifest)  # written last: its presence means complete
    return open_cache(folder)


def _missing_items(positions: np.ndarray, item_ids: tuple[str, ...] | None) -> list[Any]:
    """The zero-state items: every item id when the channel names its items, else the
    first 100 dense row numbers (1-based)."""
    if item_ids is None:
        return (positions[:100] + 1).tolist()
    return [item_ids[i] for i in positions.tolist()]


def _shared_first_step(encoder: Encoder, chunks: list[Any]) -> np.ndarray | None:
    """State 0 stored once when it is provably the same for every valid item."""
    if not encoder.constant_first_step:
        return None
    firsts = np.concatenate([c["states"][c["valid"], 0] for c in chunks])  # [n_valid, width]
    if len(firsts) == 0:
        return None
    ref = firsts[0]
    if not np.array_equal(firsts, np.broadcast_to(ref, firsts.shape)):
        return None  # not constant after all (unusual model): keep it per item
    return ref[None].copy()  # [1, width]
