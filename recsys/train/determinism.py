"""Deterministic kernels while a model trains.

Several CPU backward kernels (the embedding / index_add family among them) accumulate in an
order that depends on thread timing, so two identical runs on 2 threads differed in the
first epoch's loss at about 1e-7 and then drifted apart. PyTorch has deterministic variants
of them; `deterministic_kernels` turns them on for the training steps only (warn-only: an op
with no deterministic variant warns instead of failing) and restores the caller's setting.
On CUDA, cuBLAS also needs `CUBLAS_WORKSPACE_CONFIG=:4096:8` in the environment to be
deterministic; without it torch warns and the run goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def deterministic_kernels() -> Iterator[None]:
    """`torch.use_deterministic_algorithms(True, warn_only=True)` inside the block."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
