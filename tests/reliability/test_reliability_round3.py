"""Reliability, round three (issue 28): a full disk inside a checkpoint writer, a symlink
loop among covers, scoring a finished run at other cut-offs, non-finite learning rates and
Ctrl-C during a run, each one line and exit code, never a traceback."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reliability_helpers import TIMEOUT, make_dataset, run_toolkit, start_toolkit


def test_a_symlink_loop_among_covers_is_a_per_item_note(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds", items=6, users=8)
    covers = data / "covers"
    for name in ("i0.png", "i1.png"):
        (covers / name).unlink()
    (covers / "i0.png").symlink_to("i1.png")
    (covers / "i1.png").symlink_to("i0.png")
    done = run_toolkit(["data", "stats", str(data)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    notes = [line for line in done.stdout.splitlines() if "cannot be resolved" in line]
    assert len(notes) == 1 and "'i0'" in notes[0] and "'i1'" in notes[0], done.stdout
    assert "4 items with an image" in done.stdout


def test_a_checkpoint_writer_that_removes_its_temp_on_a_full_disk_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """safetensors deletes its half-written file and raises its own error: the verdict comes
    from the error's words (and errno in its chain), not from a probe write that succeeds."""
    import safetensors.torch
    import torch
    from safetensors import SafetensorError

    from plumbing.errors import OutputError
    from recsys.train.checkpoint import save_weights

    def full_disk(tensors, filename, metadata=None):  # noqa: ANN001, ANN202 - save_file's
        Path(filename).unlink()
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No '
            'space left on device" })'
        )

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    target = tmp_path / "checkpoint" / "epoch_2.safetensors"
    with pytest.raises(OutputError) as info:
        save_weights(target, {"w": torch.zeros(4)}, {"epoch": 2})
    assert str(target) in str(info.value) and "no space left on device" in str(info.value)
    assert not list(target.parent.iterdir())  # no weights, no temporary file


def test_an_errno_in_the_chain_says_the_disk_is_full_and_other_errors_pass_through(
    tmp_path: Path,
) -> None:
    import errno

    from plumbing.errors import OutputError
    from plumbing.io import atomic_write_with

    def chained(tmp: Path) -> None:
        tmp.unlink()
        try:
            raise OSError(errno.ENOSPC, "write failed")
        except OSError as exc:
            raise RuntimeError("writer failed") from exc

    with pytest.raises(OutputError):
        atomic_write_with(tmp_path / "a.bin", chained)

    def broken(tmp: Path) -> None:
        raise RuntimeError("unrelated bug")

    with pytest.raises(RuntimeError, match="unrelated bug"):
        atomic_write_with(tmp_path / "b.bin", broken)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.lr=inf", "train.lr"),
        ("train.lr=nan", "train.lr"),
        ("train.lr=-0.001", "train.lr"),
        ("train.adapter_lr=inf", "train.adapter_lr"),
        ("train.weight_decay=nan", "train.weight_decay"),
        ("train.weight_decay=inf", "train.weight_decay"),
    ],
)
def test_a_learning_rate_that_is_not_a_finite_positive_number_is_refused_at_load(
    tmp_path: Path, override: str, key: str
) -> None:
    run = tmp_path / "run"
    done = run_toolkit(["run-scenario", "title", override, "--out", str(run)], tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("error: ") and f"{key}: must be a finite number" in lines[0]
    assert not run.exists()  # refused before anything was written


def test_ctrl_c_during_a_run_says_what_is_kept_and_how_to_resume(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "ds", items=6, users=8)
    run = tmp_path / "run"
    args = ["run-scenario", "title", "--data", str(data), "--out", str(run)]
    args += ["train.epochs=100000", "train.patience=100000"]  # still training when stopped
    proc = start_toolkit(args, tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + TIMEOUT
    try:
        while not (run / "metrics.jsonl").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no epoch finished in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Exit code 130, or killed by SIGINT, which a shell reports as the same 130: about one
    # run in six, CPython ends the process by SIGINT after main() has printed and exited 130
    # (its "unhandled KeyboardInterrupt" flag can be set when the interrupt lands inside code
    # an extension runs through PyRun_String, even though the exception is then handled).
    # Measured on the tree before this test changed too (3 of 10 runs).
    assert proc.returncode in (130, -signal.SIGINT), stderr[-2000:]
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    command = shlex.join(["toolkit", *args])
    assert line.startswith(f"interrupted: {command};") and "checkpoint" in line, line
    assert line.endswith(f"to resume, run the same command: {command}"), line
