"""The identity of the code that computes hidden states, for the cache fingerprint.

A cached state is a function of the inputs, the model's files, the encoder settings, the
library versions *and this toolkit's own code*: a fix to pooling, to the layer selection or
to the writer changes the states as surely as another model does. Before this hash the only
guard was a hand-bumped `FORMAT_VERSION`, which a change could forget; now any change to the
bytes of one of `STATE_SOURCES` changes the fingerprint, so the cache is rebuilt (under a new
folder name) instead of being read as if nothing had changed. Files that do not compute
states (the trainer, reports, this module's callers that only name folders) are left out, so
editing them keeps every cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding `recsys/`, `media/`

# Every source file whose code decides the bytes of a cached state, relative to
# PACKAGE_ROOT. Keep this list explicit (a glob would silently take in helpers that do not
# compute states, or miss a module moved elsewhere): add a module here when it starts to
# compute, pool, select, decode or write states.
STATE_SOURCES: tuple[str, ...] = (
    "recsys/encoders/__init__.py",  # which family a spec builds (kind "auto"), video wrapping
    "recsys/encoders/base.py",  # pool_tokens (cls / mean / padded_mean), autocast, dtypes
    "recsys/encoders/layers.py",  # select_layers: which hidden states are kept
    "recsys/encoders/hf_text.py",  # tokenisation, pooling masks, forward of text models
    "recsys/encoders/hf_vision.py",  # image preprocessing and vision pooling
    "recsys/encoders/open_clip_vision.py",  # open_clip towers
    "recsys/encoders/video.py",  # frames -> one state per layer
    "recsys/encoders/quant.py",  # quantised loading
    "media/images.py",  # image decoding: the pixels an image encoder sees
    "media/video.py",  # frame sampling: the frames a video encoder sees
    "recsys/cache/build.py",  # chunking, fp16 rounding, the shared first step, assembly
    "recsys/cache/states.py",  # the on-disk layout and how rows are read back
)


def source_sha256(files: Sequence[str] = STATE_SOURCES, root: Path = PACKAGE_ROOT) -> str:
    """sha256 over the bytes of `files` (relative to `root`), each preceded by its name and
    length so that moving bytes between files changes the hash; a missing file counts as
    "missing" (a damaged install rebuilds rather than matching anything)."""
    digest = hashlib.sha256()
    for name in files:
        path = Path(root) / name
        try:
            data = path.read_bytes()
        except OSError:
            data = None
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(b"missing\0" if data is None else f"{len(data)}\0".encode() + data)
    return digest.hexdigest()


@cache
def state_source_sha256() -> str:
    """`source_sha256` of this installation's `STATE_SOURCES`, read once per process (at
    first use): every cache a process builds or opens is keyed by the same code identity."""
    return source_sha256()
