"""The on-disk hidden-state cache: one folder per (channel inputs, encoder), opened as memmaps."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 2  # 2: library versions and content-hashed model folders in the fingerprint
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
    """

    folder: Path
    states: np.ndarray
    shared: np.ndarray | None
    valid: np.ndarray
    manifest: dict[str, Any]

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


def open_cache(folder: Path) -> CachedStates:
    """Open a complete cache folder (raises OSError/ValueError/KeyError when damaged)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    states = np.load(folder / STATES, mmap_mode="r")
    valid = np.load(folder / VALID)
    shared = np.load(folder / SHARED) if (folder / SHARED).exists() else None
    expected = tuple(manifest["stored_shape"])
    if states.shape != expected or states.dtype != np.float16 or valid.shape != expected[:1]:
        raise ValueError(f"{folder}: arrays do not match the manifest shape {expected}")
    return CachedStates(folder, states, shared, valid, manifest)
