"""The on-disk hidden-state cache: one folder per configuration (its full fingerprint),
opened as memmaps."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

# 2: library versions and content-hashed model folders in the fingerprint; 3: the code that
# computes states in the fingerprint (`recsys.cache.source`), one folder per fingerprint
FORMAT_VERSION = 3
FOLDER_KEY_HEX = 16  # hex digits of the fingerprint that end a folder's name (64 bits)
MANIFEST = "manifest.json"
STATES = "states.npy"  # [N+1, stored_steps, width] fp16; row 0 = padding (zeros)
SHARED = "shared.npy"  # [1, width] fp16: state 0 when it is the same for every item
VALID = "valid.npy"  # [N+1] bool; False for row 0 and for items whose media failed


@dataclass(frozen=True)
class CachedStates:
    """A built cache, memory-mapped read-only.

    With CLS pooling the embedding-output state (index 0) is identical for every item (CLS
    token plus position 0), so it is stored once in `shared` and `states` holds the other
    steps only; `gather` puts it back. Items whose media was missing or corrupt are zero
    in every step (including the shared one) and flagged False in `valid`.

    Attributes:
        folder: the cache folder.
        states: [N+1, stored_steps, width] fp16 memmap.
        shared: [1, width] fp16, or None when every step is stored per item.
        valid: [N+1] bool.
        manifest: the manifest (fingerprint fields, counts, timings).
        handle: the open `states.npy` the memmap maps (None when not opened from a file):
            readers that copy rows with ``os.pread`` use it, never the path, so every read
            of a run comes from the file checked at open, whatever happens to the path.
    """

    folder: Path
    states: np.ndarray
    shared: np.ndarray | None
    valid: np.ndarray
    manifest: dict[str, Any]
    handle: BinaryIO | None = field(default=None, compare=False, repr=False)

    @property
    def num_items(self) -> int:
        """Real items N (rows 1..N)."""
        return self.states.shape[0] - 1

    @property
    def num_steps(self) -> int:
        return self.states.shape[1] + (0 if self.shared is None else self.shared.shape[0])

    @property
    def width(self) -> int:
        return self.states.shape[2]

    @property
    def missing(self) -> int:
        """Items whose media was missing or unreadable (zero states)."""
        return int(self.manifest.get("missing", 0))

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(per-item states, shared states or None, valid) as CPU tensors, read into memory."""
        states = torch.from_numpy(np.array(self.states))  # a writable in-memory copy
        shared = None if self.shared is None else torch.from_numpy(np.array(self.shared))
        return states, shared, torch.from_numpy(np.array(self.valid, dtype=bool))

    def gather(self, items: np.ndarray) -> np.ndarray:
        """Full states `[len(items), steps, width]` (fp16) of dense item indices."""
        rows = np.asarray(self.states[items])
        if self.shared is not None:
            shared = np.broadcast_to(self.shared, (len(rows), *self.shared.shape))
            rows = np.concatenate([shared, rows], axis=1)
        return rows * self.valid[items][:, None, None].astype(rows.dtype)


def folder_key_matches(folder: Path, fingerprint: str) -> bool:
    """False when the folder's name ends in a fingerprint key (`FOLDER_KEY_HEX` hex digits
    after the last ``--``) that is not `fingerprint`'s: a manifest of another configuration.
    Names without such a key (older layouts, hand-made folders) are not judged."""
    key = Path(folder).name.rpartition("--")[2]
    if re.fullmatch(rf"[0-9a-f]{{{FOLDER_KEY_HEX}}}", key) is None:
        return True
    return fingerprint.startswith(key)


def _memmap(handle: BinaryIO) -> np.memmap:
    """The read-only memmap of an open ``.npy`` file (the mapping and `handle` are one file)."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"{handle.name}: unsupported .npy version {version}")
    order = "F" if fortran else "C"
    return np.memmap(handle, dtype=dtype, mode="r", offset=handle.tell(), shape=shape, order=order)


def open_cache(folder: Path) -> CachedStates:
    """Open a complete cache folder (raises OSError/ValueError/KeyError when damaged).

    `states.npy` is opened once: the memmap and `CachedStates.handle` are that one open
    file. The manifest is read before and after opening it and must name the same
    fingerprint, which must also be the one the folder's name carries."""
    manifest = json.loads((folder / MANIFEST).read_text())
    handle = open(folder / STATES, "rb")  # noqa: SIM115 (kept open: CachedStates.handle)
    try:
        states = _memmap(handle)
        valid = np.load(folder / VALID)
        shared = np.load(folder / SHARED) if (folder / SHARED).exists() else None
        again = json.loads((folder / MANIFEST).read_text())
        fingerprint = str(manifest["fingerprint"])
        if again.get("fingerprint") != fingerprint or not folder_key_matches(folder, fingerprint):
            raise ValueError(f"{folder}: its manifest is not the one of this folder's build")
        expected = tuple(manifest["stored_shape"])
        if states.shape != expected or states.dtype != np.float16 or valid.shape != expected[:1]:
            raise ValueError(f"{folder}: arrays do not match the manifest shape {expected}")
    except BaseException:
        handle.close()
        raise
    return CachedStates(folder, states, shared, valid, manifest, handle)
