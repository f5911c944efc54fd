"""Run `toolkit <args>` in a subprocess that stops, deterministically, at a named point.

The crash tests need to `kill -9` a real process at a known place (between two caption
batches, in the middle of an epoch, after a checkpoint, half-way through an append). Timing
is useless on a loaded 2-core machine, so this wrapper (test code, not part of the toolkit)
patches one function before the CLI starts:

    RELIABILITY_PAUSE="module:qualname:N:when[:needle]"   when = before | after | torn
    RELIABILITY_MARKER=/path/to/marker

With a needle, only calls whose arguments mention it are counted (for functions that
libraries call too, such as `tempfile.mkstemp`).

On the N-th call of `module.qualname` it writes the marker file and sleeps, either before
the call runs (`before`), after it returned (`after`), or, for `append_jsonl`-like
functions `(path, records)`, after writing only the first half of the encoded records
(`torn`: a torn last line on disk, exactly what a crash inside the write leaves). The test
waits for the marker, sends SIGKILL and reruns the same command without the wrapper.

Usage: python pause_harness.py <toolkit arguments...>
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
from pathlib import Path


def _stop(marker: Path) -> None:
    marker.write_text(str(os.getpid()), encoding="utf-8")
    while True:  # wait for SIGKILL
        time.sleep(60)


def _torn_append(path: str | os.PathLike, records: object) -> None:
    rows = [records] if isinstance(records, dict) else list(records)  # type: ignore[arg-type]
    payload = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
    data = payload.encode("utf-8")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "ab") as handle:
        handle.write(data[: max(1, len(data) // 2)])
        handle.flush()
        os.fsync(handle.fileno())


def install(spec: str, marker: Path) -> None:
    """Patch `module:qualname` so that its N-th call stops the process (see module doc)."""
    module_name, qualname, count_text, when, *needle = spec.split(":", 4)
    if when not in ("before", "after", "torn"):
        raise SystemExit(f"pause_harness: bad mode {when!r}")
    owner = importlib.import_module(module_name)
    *parents, attr = qualname.split(".")
    for part in parents:
        owner = getattr(owner, part)
    original = getattr(owner, attr)
    target = int(count_text)
    calls = 0

    @functools.wraps(original)
    def wrapper(*args: object, **kwargs: object) -> object:
        nonlocal calls
        if needle and needle[0] not in repr((args, kwargs)):
            return original(*args, **kwargs)
        calls += 1
        if calls == target and when == "before":
            _stop(marker)
        if calls == target and when == "torn":
            _torn_append(*args, **kwargs)  # type: ignore[arg-type]
            _stop(marker)
        result = original(*args, **kwargs)
        if calls == target and when == "after":
            _stop(marker)
        return result

    setattr(owner, attr, wrapper)


def main() -> None:
    spec = os.environ.get("RELIABILITY_PAUSE")
    if spec:
        install(spec, Path(os.environ["RELIABILITY_MARKER"]))
    from toolkit.cli import app

    app(args=sys.argv[1:], prog_name="toolkit")


if __name__ == "__main__":
    main()
