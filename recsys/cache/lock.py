"""An exclusive file lock around one cache folder's check-and-build.

Grid workers (`toolkit grid --workers N`) are independent processes whose cells often share
a cache; without a lock two of them could build the same folder at once and delete each
other's chunks. Ranks of one torchrun job coordinate with barriers instead (a lock held by
rank 0 while it waits at a barrier for rank 1 would deadlock), so the lock is taken only
outside a process group. POSIX `flock`; elsewhere no lock (and no concurrent builders).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<folder>.lock`` (beside the folder) for the block."""
    from recsys import distributed

    try:
        import fcntl
    except ImportError:  # Windows: no concurrent grid workers share caches there
        yield
        return
    if distributed.active_context().world_size > 1:
        yield
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
