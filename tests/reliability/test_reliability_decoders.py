"""FFmpeg and decord write `[h264 @ 0x...]` / `[hh:mm:ss] video_reader.cc` lines straight to
file descriptor 2 from C. Without `--verbose` (`quiet_libraries`) none reach the terminal:
they go into the item's MediaError. Checked on real subprocesses, at the OS level."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import subprocess_env

from media.video import write_video

READ = """
import json, sys
from plumbing.console import quiet_libraries
from media.video import count_frames, sample_frames
if sys.argv[1] == "quiet":
    quiet_libraries()
print("status line from Python", file=sys.stderr, flush=True)
errors = {}
for path in sys.argv[2:]:
    for backend in ("auto", "decord", "pyav"):
        for read in (lambda: sample_frames(path, 4, backend=backend),
                     lambda: count_frames(path, backend=backend)):
            try:
                read()
            except Exception as exc:
                errors.setdefault(path, []).append(f"{type(exc).__name__}: {exc}")
print(json.dumps(errors))
"""
RAW = ("[h264 @", "[mov,mp4", "video_reader.cc", "threaded_decoder.cc")


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("damaged")
    frames = np.random.default_rng(0).integers(0, 255, (24, 64, 64, 3), dtype=np.uint8)
    good = folder / "good.mp4"
    write_video(good, frames, fps=8)
    data = good.read_bytes()
    truncated, corrupt = folder / "truncated.mp4", folder / "corrupt.mp4"
    truncated.write_bytes(data[: len(data) // 2])  # no moov atom
    flipped = bytearray(data)
    start = data.find(b"mdat") + 200
    for at in range(start, min(len(flipped), start + 3000), 7):
        flipped[at] ^= 0xFF  # broken H.264 NAL units
    corrupt.write_bytes(bytes(flipped))
    return [truncated, corrupt]


def _read(mode: str, paths: list[Path]) -> tuple[dict[str, list[str]], str]:
    env = subprocess_env()
    env.pop("MMREC_QUIET_DECODERS", None)
    done = subprocess.run(
        [sys.executable, "-c", READ, mode, *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout), done.stderr


def test_decoder_lines_reach_the_error_record_not_stderr(damaged: list[Path]) -> None:
    errors, stderr = _read("quiet", damaged)
    assert not [line for line in stderr.splitlines() if any(raw in line for raw in RAW)], stderr
    assert stderr.splitlines() == ["status line from Python"]  # other output still passes
    truncated, corrupt = (errors[str(path)] for path in damaged)
    assert len(truncated) == len(corrupt) == 6 and all("MediaError" in e for e in truncated)
    assert any("(decoder: mov,mp4" in e and "moov atom not found" in e for e in truncated)
    assert any("decord: ERROR opening" in e for e in truncated)
    assert any("(decoder: h264: " in e for e in corrupt)


def test_verbose_keeps_the_raw_decoder_lines(damaged: list[Path]) -> None:
    errors, stderr = _read("verbose", damaged)
    assert "[h264 @ 0x" in stderr and "moov atom not found" in stderr
    assert not any("(decoder:" in e for found in errors.values() for e in found)
