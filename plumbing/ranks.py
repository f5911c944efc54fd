"""Where this process stands in a launched job, as the launcher's environment says.

torchrun, accelerate and other launchers set ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``.
This is the one reader of those variables: captioning shards its work by them and recsys
falls back to them before a process group exists (`recsys.distributed.current`).
"""

from __future__ import annotations

import os
from typing import NamedTuple


class LauncherRank(NamedTuple):
    """Rank, world size and local rank; (0, 1, 0) when not launched distributed."""

    rank: int
    world_size: int
    local_rank: int


def launcher_rank() -> LauncherRank:
    """The launcher's RANK / WORLD_SIZE / LOCAL_RANK (defaults 0, 1, 0)."""
    return LauncherRank(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
