"""What identifies a channel's hidden-state cache: its inputs, every encoder setting, the
model's files and the library versions, computed without loading the encoder where possible."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from media.hashing import media_sha256, sha256_json, sha256_lines
from plumbing.revision import COMMIT_HASH, files_revision, library_versions
from recsys.cache.source import state_source_sha256
from recsys.cache.states import FOLDER_KEY_HEX, FORMAT_VERSION
from recsys.channels import ChannelInput, EncoderSpec
from recsys.encoders import Encoder, encoder_libraries
from recsys.errors import ConfigError


def channel_items(channel: ChannelInput) -> list[Any]:
    """The raw per-item inputs of a channel, in catalogue order."""
    items = channel.texts if channel.modality == "text" else channel.paths
    if items is None:
        field = "texts" if channel.modality == "text" else "paths"
        raise ConfigError(f"channel {channel.name!r} ({channel.modality}) has no {field}")
    return list(items)


def item_label(channel: ChannelInput, index: int) -> str:
    """How messages name the channel's `index`-th item (0-based): its id when known."""
    if channel.item_ids is not None:
        return repr(channel.item_ids[index])
    return f"at catalogue row {index + 1}"


def content_hash(channel: ChannelInput) -> str:
    """sha256 over the channel's inputs: texts, or each media file's bytes ("-" if absent,
    "unreadable" for a file that is not a readable regular file; `media_sha256`)."""
    if channel.modality == "text":
        return sha256_lines(channel_items(channel))
    return sha256_lines(
        "-" if path is None else (media_sha256(path) or "unreadable")
        for path in channel_items(channel)
    )


def _versions(channel: ChannelInput) -> dict[str, str]:
    return library_versions(encoder_libraries(channel.encoder, channel.modality))


def fingerprint_fields(channel: ChannelInput, encoder: Encoder) -> dict[str, Any]:
    """Everything the cached states depend on; two caches agree iff these agree: the cache
    format, the inputs, every encoder setting, the model's files, the versions of the
    libraries and the toolkit code (`recsys.cache.source`) that computed the states."""
    info = encoder.describe()
    fields = {
        "format": FORMAT_VERSION,
        "versions": _versions(channel),
        "source_code": state_source_sha256(),
        "modality": channel.modality,
        "num_items": len(channel_items(channel)),
        "content": content_hash(channel),
        "source_fingerprint": channel.source_fingerprint,
        "encoder": info["model"],
        "encoder_kind": info["kind"],
        "revision": info["revision"],
        "layers": info["layers"],
        "pooling": info["pooling"],
        "encoder_dtype": info["dtype"],
        "quantization": info["quantization"],
        "cache_dtype": "float16",
    }
    if channel.modality == "text":
        fields["max_tokens"] = info["max_tokens"]
    if channel.modality == "video":
        fields["num_frames"] = info["num_frames"]
    return fields


def model_files_revision(spec: EncoderSpec) -> str | None:
    """Identify the model's files without loading the model, or None when that cannot be
    done safely: a local folder's snapshot commit or content hash, or the commit a Hugging
    Face hub id resolves to in the local hub cache (only when that is what loading would
    use: offline, or a pinned commit). open_clip models are never identified this way."""
    if spec.kind == "open_clip":
        return None
    if Path(spec.model).is_dir():
        return files_revision(spec.model)
    pinned = spec.revision is not None and COMMIT_HASH.fullmatch(spec.revision)
    if not pinned and os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("1", "true", "yes"):
        return None  # online, "main" may have moved: only loading can tell
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(spec.model, "config.json", revision=spec.revision)
    except (ImportError, ValueError, OSError):
        return None
    if not isinstance(found, str):
        return None
    commit = Path(found).parent.name
    return commit if COMMIT_HASH.fullmatch(commit) else None


def quick_key(channel: ChannelInput, content: str) -> str | None:
    """A key that changes whenever the cache fingerprint could: every encoder setting, the
    inputs (`content`, the channel's `content_hash`) and the model's files
    (`model_files_revision`); None when those files cannot be identified without loading
    the model."""
    files = model_files_revision(channel.encoder)
    if files is None:
        return None
    return sha256_json(
        {
            "format": FORMAT_VERSION,
            "versions": _versions(channel),
            "source_code": state_source_sha256(),
            "modality": channel.modality,
            "encoder": dataclasses.asdict(channel.encoder),
            "content": content,
            "source_fingerprint": channel.source_fingerprint,
            "files": files,
        }
    )


def folder_prefix(channel: ChannelInput) -> str:
    """`<channel>--<model>--`: what every cache folder of this channel and model starts with
    (the model's last path part, made safe for a file name)."""
    model = channel.encoder.model
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(model).name or model)[:40]
    return f"{channel.name}--{slug}--"


def cache_folder(cache_dir: Path, channel: ChannelInput, fingerprint: str | None = None) -> Path:
    """One folder per configuration: `<channel>--<model>--<fingerprint[:16]>`, where the
    fingerprint is `sha256_json(fingerprint_fields(...))`, so pooling, layers, inputs, model
    files, versions and code each get their own folder. Two configurations never share (and
    so never rebuild in place, under a concurrent reader) one folder; `toolkit cache list`
    names each from its manifest. Without `fingerprint` (it needs the loaded encoder) the
    name ends in ``*``: the pattern every configuration of the channel and model matches."""
    key = "*" if fingerprint is None else fingerprint[:FOLDER_KEY_HEX]
    return Path(cache_dir) / f"{folder_prefix(channel)}{key}"
