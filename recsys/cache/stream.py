"""Item states read from the memory-mapped cache on demand, for caches larger than RAM.

A cache of 1 M items x 7 steps x 384 fp16 is 5.4 GB; loading it whole (and once more per
rank) does not fit many machines. `StreamedSource` keeps the ``.npy`` memmap and copies only
the rows a batch asks for, so resident memory is bounded by the batch (plus whatever pages
the OS keeps cached, which it reclaims under pressure). It is chosen automatically when the
per-item array is larger than the budget (``TOOLKIT_CACHE_RAM_MB``, default 4096 MB).

Rows are read from the one file `open_cache` opened (and checked against its manifest),
never by reopening the path per batch: a path can be given another file while a run reads
it (a rebuild writes a new file and renames it over the old one), and a reader that reopens
it would then mix the states of two builds without a word.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from recsys.cache.states import CachedStates
from recsys.errors import ConfigError

BUDGET_ENV = "TOOLKIT_CACHE_RAM_MB"
DEFAULT_BUDGET_MB = 4096


def ram_budget_bytes() -> int:
    """The largest per-item cache array loaded into memory whole (bytes).

    Raises:
        ConfigError: the environment variable is not a non-negative number.
    """
    raw = os.environ.get(BUDGET_ENV, str(DEFAULT_BUDGET_MB))
    try:
        mb = float(raw)
    except ValueError:
        raise ConfigError(f"{BUDGET_ENV}={raw!r} is not a number of megabytes") from None
    if mb < 0:
        raise ConfigError(f"{BUDGET_ENV}={raw!r} must be >= 0")
    return int(mb * 1024 * 1024)


def should_stream(cache: CachedStates) -> bool:
    """True when the cache's per-item array is larger than the RAM budget."""
    return cache.states.nbytes > ram_budget_bytes()


class StreamedSource(nn.Module):
    """The same contract as `CachedSource` (items -> [M, steps, width] fp32) over a memmap.

    Args:
        cache: the opened cache (its `states` is a read-only memmap).
        info: what built it, for `describe`.
    """

    def __init__(self, cache: CachedStates, info: dict[str, Any]) -> None:
        super().__init__()
        self.memmap = cache.states  # [N+1, stored_steps, width] fp16, on disk
        self.row_shape = tuple(cache.states.shape[1:])
        self.row_bytes = int(np.prod(self.row_shape)) * 2
        self.path = str(getattr(cache.states, "filename", "") or "")
        self.offset = int(getattr(cache.states, "offset", 0))
        # One open file for the whole run: the one the memmap maps (`CachedStates.handle`);
        # a cache opened without one (older callers) is opened here, once.
        handle = getattr(cache, "handle", None)
        if handle is None and self.path:
            handle = open(self.path, "rb")  # noqa: SIM115 (held for the run)
        self.handle = handle
        shared = None if cache.shared is None else torch.from_numpy(np.array(cache.shared))
        self.register_buffer("shared", shared, persistent=False)  # [n, width] fp16, tiny
        self.valid_np = np.asarray(cache.valid, dtype=bool)  # [N+1]
        self.info = {**info, "streamed": True}
        self.width = cache.width
        self.num_steps = cache.num_steps

    def forward(self, items: torch.Tensor) -> torch.Tensor:  # [M] -> [M, steps, width] fp32
        idx = items.detach().cpu().numpy().astype(np.int64)
        uniq, inverse = np.unique(idx, return_inverse=True)  # sorted: sequential reads
        rows = self.read_rows(uniq)[inverse]  # [M, stored_steps, width] fp16
        out = torch.from_numpy(rows).to(items.device)
        if self.shared is not None:
            out = torch.cat([self.shared.expand(len(items), -1, -1), out], dim=1)
        valid = torch.from_numpy(self.valid_np[idx]).to(items.device)
        return out.float() * valid.to(torch.float32)[:, None, None]

    def read_rows(self, sorted_rows: np.ndarray) -> np.ndarray:
        """Rows [n, stored_steps, width] fp16 of sorted distinct indices, one read per run.

        Reads with ``os.pread`` rather than through the memmap: pages touched through a
        mapping count towards the process's resident set until the mapping goes away,
        pages read into a buffer do not (they stay in the OS page cache only).
        """
        if self.handle is None:  # not a file-backed memmap: index it
            return np.asarray(self.memmap[sorted_rows])
        out = np.empty((len(sorted_rows), *self.row_shape), dtype=np.float16)
        if len(sorted_rows) == 0:
            return out
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(sorted_rows)]])
        flat = out.reshape(len(sorted_rows), -1).view(np.uint8)  # [n, row_bytes]
        fd = self.handle.fileno()
        for a, z in zip(starts.tolist(), stops.tolist(), strict=True):
            position = self.offset + int(sorted_rows[a]) * self.row_bytes
            want = (z - a) * self.row_bytes
            data = os.pread(fd, want, position)
            if len(data) != want:
                raise OSError(f"{self.path}: short read at row {int(sorted_rows[a])}")
            flat[a:z] = np.frombuffer(data, dtype=np.uint8).reshape(z - a, -1)
        return out
