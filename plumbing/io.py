"""Crash-safe file writing: atomic replace for whole files, fsynced appends for logs.

Every file the toolkit writes goes through here, so a `kill -9` at any point leaves either
the old file or the new one, never half of one; append-only logs may end in a torn line,
which `read_jsonl` detects and skips. A write that fails because the folder is a file, is
read-only or its disk is full raises `plumbing.errors.OutputError` naming the file and what
to do, and leaves the file as it was (`check_output_dir` asks the same before a job starts).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from plumbing.errors import OutputError


def set_aside(folder: str | Path) -> Path:
    """Rename a folder of another configuration (a stale run, another tuning study) to
    `<name>.stale-<n>` beside it, never deleting it (it may be the only copy of a long run);
    returns the new path."""
    folder = Path(folder)
    n = 1
    while (target := folder.with_name(f"{folder.name}.stale-{n}")).exists():
        n += 1
    folder.rename(target)
    return target


def _current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _file_mode(target: Path) -> int:
    """Mode for a new version of `target`: its current mode, else what `open()` would give.

    `mkstemp` creates 0600 files; without this, every atomically written result, cache and
    checkpoint would be unreadable to the rest of a team sharing the output folder.
    """
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


# Host and pid go into every temporary file name, so a sweep knows whose temp it is.
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"
_TEMP = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)\.[^.]+\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def sweep_stale_temps(folder: str | Path, *, min_age_s: float = 600.0) -> int:
    """Delete temporary files that writers killed inside `atomic_path` left in `folder`.

    Only files this module named are touched, and only when their writer ran on this host,
    is no longer alive and the file has not changed for `min_age_s` seconds (a process of
    another container with the same host name may still be writing it).

    Returns:
        How many files were removed.
    """
    directory = Path(folder)
    if not directory.is_dir():
        return 0
    removed = 0
    now = time.time()
    for path in directory.glob(".*.tmp"):
        match = _TEMP.match(path.name)
        if not match or match["host"] != _HOST or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime >= min_age_s:
                path.unlink()
                removed += 1
    return removed


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def blocking_file(folder: Path) -> Path | None:
    """`folder` itself or the ancestor that exists as a non-folder, if any."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _output_error(path: str | Path, exc: OSError, what: str = "") -> OutputError:
    """The `OutputError` for a failed write of file `path` (or of folder `path`, the `what`):
    why, in words, and what to do."""
    target = Path(path)
    failed = f"cannot write the {what}" if what else "cannot write"
    blocker = blocking_file(target if what else target.parent)
    if blocker is not None:
        return OutputError(target, f"{failed}: {blocker} is a file, not a folder")
    if exc.errno in _NO_SPACE:
        reason = "no space left on device; free some space and run the same command again"
    elif exc.errno == errno.EROFS:
        reason = "read-only file system; choose a writable folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied; choose a folder you can write to"
    else:
        reason = (exc.strerror or str(exc)).splitlines()[0]
    return OutputError(target, f"{failed}: {reason}")


def existing_ancestor(path: Path) -> Path:
    """`path` itself when it exists, else its nearest existing ancestor."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path: str | Path, what: str = "output folder") -> None:
    """Make sure a job can write into folder `path`, before it starts; creates nothing.

    A probe file of 4 KiB is written (and removed) in the folder or, when it does not exist
    yet, in its nearest existing ancestor, so a read-only file system, missing permission
    or a full disk is found the way the job would find it.

    Raises:
        OutputError: `path` or an ancestor is a file, or the probe cannot be written.
    """
    folder = Path(path)
    blocker = blocking_file(folder)
    if blocker is not None:
        where = "is a file" if blocker == folder else f"lies under {blocker}, which is a file"
        raise OutputError(folder, f"the {what} {where}, not a folder; choose another path")
    probe_dir = existing_ancestor(folder.absolute())
    try:
        prefix = f".probe.{_HOST}-{os.getpid()}."  # a killed prober's file is swept as a temp
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=probe_dir)
        try:
            os.write(fd, bytes(4096))
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        raise _output_error(folder, exc, what) from None


_SPACE_WORDS = ("no space left on device", "os error 28", "code: 28", "storagefull")
_NEARLY_FULL = 1 << 20  # bytes: under this much free after a failed write, the disk was full


def _says_no_space(exc: BaseException) -> bool:
    """True when `exc`, or an exception in its chain (`__cause__` / `__context__`), is
    ENOSPC-like by errno or says so in its message (safetensors reports `os error 28`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _NO_SPACE:
            return True
        if any(word in str(current).lower() for word in _SPACE_WORDS):
            return True
        current = current.__cause__ or current.__context__
    return False


def _out_of_space(exc: BaseException, folder: Path) -> bool:
    """After a writer failed in its own way (safetensors, torch): was the disk full? The
    error itself says so, or the folder's disk has (nearly) nothing free. No probe write:
    the writer may have removed its temporary file, and a probe would only recreate it."""
    if _says_no_space(exc):
        return True
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL
    except OSError:
        return False


def preallocate(path: str | Path) -> None:
    """Reserve the disk blocks of a file created at its full size (a memory map's file), so a
    full disk is an `OutputError` now rather than a SIGBUS when its pages are written."""
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is None:  # macOS: nothing to reserve with; the write itself will tell
        return
    fd = os.open(path, os.O_RDWR)
    try:
        allocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # filesystems that cannot say
            raise _output_error(path, exc) from None
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse directory fsync
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` atomically.

    The caller writes the temporary file however it likes (numpy, safetensors, ...).
    On an exception the temporary file is removed and `path` is untouched.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{target.name}.{_HOST}-{os.getpid()}."
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _output_error(target, exc) from None
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in (*_NO_SPACE, errno.EROFS):
                raise _output_error(target, exc) from None
            raise
        except Exception as exc:
            if _out_of_space(exc, target.parent):
                raise _output_error(target, OSError(errno.ENOSPC, "no space")) from None
            raise
        try:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, _file_mode(target))
            os.replace(tmp, target)
        except OSError as exc:
            raise _output_error(target, exc) from None
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write `obj` as JSON to `path` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")


def atomic_write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call `writer(tmp_path)` and move the result onto `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def append_jsonl(path: str | Path, records: list[dict[str, Any]] | dict[str, Any]) -> None:
    """Append one or more records as JSON lines, flushed and fsynced before returning.

    A torn last line from an earlier crash is terminated first, so the new record starts on
    its own line and the torn one stays detectable (and ignored) by `read_jsonl`.
    """
    rows = [records] if isinstance(records, dict) else records
    if not rows:
        return
    target = Path(path)
    payload = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _append(target, payload.encode("utf-8"))
    except OSError as exc:
        raise _output_error(target, exc) from None


def _append(target: Path, data: bytes) -> None:
    """Append `data` and fsync. Unbuffered, so a failed write (a full disk) is known to
    have written what it wrote: the file is then cut back to its old length, and no half
    record is left behind for the next append to terminate."""
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        start = os.fstat(fd).st_size
        try:
            if start > 0 and os.pread(fd, 1, start - 1) != b"\n":
                data = b"\n" + data  # terminate a torn line first
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
                os.fsync(fd)
            raise
    finally:
        os.close(fd)


def read_jsonl(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """Read a JSON-lines file written by `append_jsonl`.

    Returns:
        (records, torn): the records that parsed, and how many lines were torn or
        unparseable (skipped). A missing file reads as no records.
    """
    target = Path(path)
    if not target.exists():
        return [], 0
    records: list[dict[str, Any]] = []
    torn = 0
    with open(target, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                torn += 1  # a crash cut the last line short
                continue
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                torn += 1
                continue
            if isinstance(obj, dict):
                records.append(obj)
            else:
                torn += 1
    return records, torn
