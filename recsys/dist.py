"""Rank and world size, known from the start (0 and 1 when not launched distributed)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly single-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> DistContext:
    """The context of this process: torch.distributed when initialised, else launcher env vars."""
    try:
        import torch.distributed as tdist

        if tdist.is_available() and tdist.is_initialized():
            return DistContext(
                rank=tdist.get_rank(),
                world_size=tdist.get_world_size(),
                local_rank=int(os.environ.get("LOCAL_RANK", "0")),
            )
    except ImportError:  # torch missing: single process
        pass
    return DistContext(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
