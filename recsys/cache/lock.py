"""An exclusive file lock around one cache folder's check-and-build.

Grid workers (`toolkit grid --workers N`) are independent processes whose cells often share
a cache; without a lock two of them could build the same folder at once and delete each
other's chunks. Ranks of one torchrun job coordinate with barriers instead (a lock held by
rank 0 while it waits at a barrier for rank 1 would deadlock), so the lock is taken only
outside a process group. The lock is `filelock`'s (an OS lock, released when the holder
dies, portable), with a timeout so a wedged holder is reported instead of waited on forever.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from recsys.errors import CacheMismatchError

TIMEOUT_ENV = "TOOLKIT_LOCK_TIMEOUT_S"  # how long to wait for another builder (default 6 h)


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.<folder>.lock`` (beside the folder) for the block.

    Raises:
        CacheMismatchError: another process held the lock longer than the timeout.
    """
    from filelock import FileLock, Timeout

    from recsys import distributed

    if distributed.active_context().world_size > 1:
        yield
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.parent / f".{folder.name}.lock"
    timeout = float(os.environ.get(TIMEOUT_ENV, str(6 * 3600)))
    try:
        with FileLock(path, timeout=timeout):
            yield
    except Timeout:
        raise CacheMismatchError(
            f"{path}: another process has been building this cache for over {timeout:.0f} s; "
            f"wait for it, or raise {TIMEOUT_ENV}"
        ) from None
