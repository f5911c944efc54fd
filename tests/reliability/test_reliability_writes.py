"""Every file the toolkit writes goes through plumbing/io.py (issue 9, crash safety), and the
files it writes atomically are readable by whoever may read a new file in that folder."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

from reliability_helpers import ROOT

from plumbing.io import append_jsonl, atomic_write_json, atomic_write_text, atomic_write_with

PACKAGES = ("captioning", "recsys", "scenarios", "media", "plumbing", "toolkit")
# plumbing/io.py is the writer; recsys/cache/lock.py opens an empty lock file only to flock it.
# (Tiny test models are built by tests/support, outside the packages.)
EXEMPT = {"plumbing/io.py"}
WRITERS = {"write_text", "write_bytes", "save", "savez", "savez_compressed", "savefig"}
WRITERS |= {"save_pretrained", "to_csv", "to_parquet", "write_table", "save_file", "dump"}
WRITERS |= {"extractall"}


def _mode_writes(call: ast.Call) -> bool:
    mode = (
        call.args[1]
        if len(call.args) > 1
        else next((k.value for k in call.keywords if k.arg == "mode"), None)
    )
    return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")


def _target_is_temporary(node: ast.expr) -> bool:
    """`tmp`, `handle` (a file opened on `tmp`) or `str(tmp)`: the atomic_path temporary."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        return node.func.id == "str" and _target_is_temporary(node.args[0])
    return isinstance(node, ast.Name) and node.id in ("tmp", "handle", "folder")


def direct_writes(source: str) -> list[str]:
    """Writes that bypass plumbing.io's atomic helpers, as "line N: call"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        is_open = isinstance(func, ast.Name) and func.id == "open" and _mode_writes(node)
        if is_open and not (node.args and _target_is_temporary(node.args[0])):
            found.append(f"line {node.lineno}: open(..., write mode)")
        if isinstance(func, ast.Attribute) and func.attr in WRITERS:
            receiver_ok = _target_is_temporary(func.value)
            first_ok = any(_target_is_temporary(arg) for arg in node.args)
            if func.attr in ("write_text", "write_bytes", "save_pretrained"):
                first_ok = False  # the receiver is the path
            if not (receiver_ok or first_ok):
                found.append(f"line {node.lineno}: .{func.attr}()")
    return found


def test_the_write_scanner_finds_direct_writes() -> None:
    snippet = (
        "Path('x').write_text('a')\nopen(p, 'w')\nnp.save(p, a)\nfig.savefig(out)\n"
        "tmp.write_text('ok')\nopen(tmp, 'wb')\nnp.save(handle, a)\nopen(p)\n"
    )
    assert [w.split(":")[0] for w in direct_writes(snippet)] == [f"line {n}" for n in (1, 2, 3, 4)]


def test_every_file_is_written_through_media_io() -> None:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 60
    found = {}
    for path in files:
        name = str(path.relative_to(ROOT))
        if name not in EXEMPT and (writes := direct_writes(path.read_text(encoding="utf-8"))):
            found[name] = writes
    # scenarios/schema/models.py writes the tiny ViT into a mkdtemp folder, renamed into place
    assert found == {"scenarios/schema/models.py": found.get("scenarios/schema/models.py", [])}
    assert all("save_pretrained" in w for w in found.get("scenarios/schema/models.py", []))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    from plumbing import io

    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "b.json", {"k": 1})
    atomic_write_with(tmp_path / "c.bin", lambda tmp: tmp.write_bytes(b"\x00"))
    append_jsonl(tmp_path / "d.jsonl", {"k": 1})
    expected = 0o666 & ~io._UMASK  # what open() gives a new file in this process
    assert {_mode(tmp_path / n) for n in ("a.txt", "b.json", "c.bin", "d.jsonl")} == {expected}
    (tmp_path / "a.txt").chmod(0o640)
    atomic_write_text(tmp_path / "a.txt", "y")  # a replaced file keeps its mode
    assert _mode(tmp_path / "a.txt") == 0o640 and (tmp_path / "a.txt").read_text() == "y"


def test_sweep_removes_only_temps_of_dead_writers_on_this_host(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from plumbing import io

    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom plumbing.io import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('half'); print(tmp.name, flush=True); time.sleep(600)\n",
            str(tmp_path / "result.json"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    killed = tmp_path / writer.stdout.readline().strip()
    assert killed.exists() and killed.name.startswith(".result.json.")
    assert io.sweep_stale_temps(tmp_path, min_age_s=0) == 0  # its writer is still alive
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    old = time.time() - 3600
    names = {
        "live": f".a.json.{io._HOST}-{os.getpid()}.x1.tmp",
        "other_host": f".a.json.elsewhere-{writer.pid}.x2.tmp",
        "foreign": ".notes.tmp",
        "fresh": f".b.json.{io._HOST}-{writer.pid}.x3.tmp",
        "stale": f".c.json.{io._HOST}-{writer.pid}.x4.tmp",
    }
    for key, name in names.items():
        (tmp_path / name).write_text(key)
        if key != "fresh":
            os.utime(tmp_path / name, (old, old))
    os.utime(killed, (old, old))
    assert io.sweep_stale_temps(tmp_path) == 2  # the killed writer's and the stale one
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {names[k] for k in ("live", "other_host", "foreign", "fresh")}
    assert not (tmp_path / "result.json").exists()
