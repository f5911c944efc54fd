"""Output folders the toolkit owns: never write into someone else's folder, one writer each.

A folder a job writes into (a run folder, a grid folder, a converted dataset, a caption
store) is the toolkit's when it holds the marker file `.mmrec-<kind>` (a small JSON of what
made it, written first) or, for folders made before markers existed, the files of its kind
(the caller's `is_ours` test: a results.json of this toolkit, a captions.jsonl, ...). An
empty or missing folder may be taken; any other folder that holds files is refused with one
line naming it and what it holds, so `--out my_project/` cannot overwrite a user's files.

`folder_lock` lets one process write a folder at a time (an OS lock from `filelock`, freed
when its holder dies): a second process waits, saying who holds it, or refuses at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from plumbing.errors import OutputError
from plumbing.io import atomic_write_text, blocking_file

PREFIX = ".mmrec-"  # marker, lock and holder files: never counted as a folder's contents
TIMEOUT_ENV = "TOOLKIT_LOCK_TIMEOUT_S"  # how long to wait for another writer (default 6 h)
SHOWN = 3  # names listed in a refusal


def marker_path(folder: str | Path, kind: str) -> Path:
    """The marker file of a `kind` folder ("run", "grid", "dataset", "captions")."""
    return Path(folder) / f"{PREFIX}{kind}"


def _contents(folder: Path) -> list[str]:
    """What `folder` holds, less the toolkit's marker, lock and holder files and the
    temporary files of their atomic writes (".<marker>.<host>-<pid>.<random>.tmp"): two
    processes that claim one new folder at once (the ranks of a torchrun caption job) see
    each other's marker being written, which is not a user's file."""
    return sorted(
        p.name
        for p in folder.iterdir()
        if not (p.name.startswith(PREFIX) or p.name.startswith("." + PREFIX))
    )


def check_folder(
    folder: str | Path,
    kind: str,
    is_ours: Callable[[Path], bool] | None = None,
    what: str = "",
) -> None:
    """Refuse `folder` when it holds files and is neither marked `kind` nor `is_ours`.

    Raises:
        OutputError: one line naming the folder and the first names it holds.
    """
    folder = Path(folder)
    if not folder.is_dir() or marker_path(folder, kind).is_file():
        return  # missing (or a file, which check_output_dir reports), or ours
    names = _contents(folder)
    if not names or (is_ours is not None and is_ours(folder)):
        return
    shown = ", ".join(names[:SHOWN]) + (", …" if len(names) > SHOWN else "")
    raise OutputError(
        folder,
        f"not a {what or kind + ' folder'} of this toolkit and not empty (holds {shown}); "
        "choose an empty or new folder",
    )


def claim_folder(
    folder: str | Path,
    kind: str,
    is_ours: Callable[[Path], bool] | None = None,
    what: str = "",
) -> Path:
    """`check_folder`, then create the folder and write its marker (when missing); returns
    the folder. A folder of this kind that cannot be written (a finished run on a read-only
    disk) is left unmarked: a job that has nothing to write there may still read it."""
    from plumbing.io import atomic_write_json

    folder = Path(folder)
    blocker = blocking_file(folder)
    if blocker is not None:  # the path, or a folder above it, is a user's file: say so
        where = "is a file" if blocker == folder else f"lies under {blocker}, which is a file"
        raise OutputError(folder, f"{what or kind + ' folder'} {where}; choose another path")
    check_folder(folder, kind, is_ours, what)
    marker = marker_path(folder, kind)
    if marker.is_file():
        return folder
    made = {"kind": kind, "made_by": "mmrec toolkit", "command": sys.argv[1:], "pid": os.getpid()}
    made["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(marker, made)
    except (OSError, OutputError):
        if not folder.is_dir() or not _contents(folder):
            raise
    return folder


def _holder(path: Path) -> str:
    try:
        return f"pid {json.loads(path.read_text(encoding='utf-8'))['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


@contextlib.contextmanager
def folder_lock(folder: str | Path, kind: str, *, wait: bool = True) -> Iterator[None]:
    """Hold the exclusive lock of `folder` (`.mmrec-<kind>.lock` inside it) for the block.

    A second process waits (saying so on stderr, with the holder's pid) or, with
    `wait=False`, is refused. A folder where no lock file can be made (read-only) is not
    locked: nothing can be written there anyway.

    Raises:
        OutputError: `wait` is False and another process holds the lock, or it held it
            longer than `TOOLKIT_LOCK_TIMEOUT_S` seconds.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    lock_file, holder = folder / f"{PREFIX}{kind}.lock", folder / f"{PREFIX}{kind}.holder"
    lock: Any = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(lock_file, timeout=0)
        lock.acquire()
    except Timeout:
        busy = f"being written by another process ({_holder(holder)})"
        if not wait:
            raise OutputError(
                folder, f"{busy}; wait for it, or run again without --no-wait"
            ) from None
        print(f"{folder} is {busy}; waiting…", file=sys.stderr, flush=True)
        lock = _wait(lock_file, folder)
    except OSError:
        lock = None  # no lock file can be made here (read-only): nothing is written either
    try:
        if lock is not None:
            with contextlib.suppress(OSError, OutputError):
                atomic_write_text(holder, json.dumps({"pid": os.getpid()}))
        yield
    finally:
        if lock is not None:
            with contextlib.suppress(OSError):
                holder.unlink()  # before the release: the next holder's file stays
            lock.release()


def _wait(lock_file: Path, folder: Path) -> Any:
    from filelock import FileLock, Timeout

    timeout = float(os.environ.get(TIMEOUT_ENV, str(6 * 3600)))
    lock = FileLock(lock_file, timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise OutputError(
            folder,
            f"another process has been writing it for over {timeout:.0f} s; wait for it, "
            f"or raise {TIMEOUT_ENV}",
        ) from None
    return lock
