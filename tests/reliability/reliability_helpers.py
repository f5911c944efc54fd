"""Helpers of the reliability tests: a tiny dataset with covers, a scenario file over tiny
encoders, and runners of the real `toolkit` command in a subprocess, optionally stopped at
a named point (pause_harness.py) and killed with SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from media.palette import SAMPLE_COLOURS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "pause_harness.py"
COLOURS = {name: SAMPLE_COLOURS[name] for name in ("red", "green", "blue")}
WORDS = ("glass", "steel", "lab", "kit", "tube", "flask", "lamp", "lens", "clamp", "stand")
TIMEOUT = 240  # seconds any one subprocess may take on a loaded 2-core machine


def write_cover(path: Path, colour: tuple[int, int, int], size: int = 32) -> None:
    from PIL import Image

    pixels = np.full((size, size, 3), 230, dtype=np.uint8)
    pixels[6:26, 6:26] = colour
    Image.fromarray(pixels).save(path)


def make_dataset(root: Path, *, items: int = 24, users: int = 40, seed: int = 0) -> Path:
    """MicroLens short names (pairs.csv, titles.csv, covers/<id>.png); users like one colour."""
    rng = np.random.default_rng(seed)
    (root / "covers").mkdir(parents=True, exist_ok=True)
    names = list(COLOURS)
    colour_of = {f"i{i}": names[i % len(names)] for i in range(items)}
    with open(root / "titles.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "title"])
        for i, item in enumerate(colour_of):
            writer.writerow([item, f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i) % len(WORDS)]} kit"])
            write_cover(root / "covers" / f"{item}.png", COLOURS[colour_of[item]])
    with open(root / "pairs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "item", "timestamp"])
        for u in range(users):
            pool = [i for i, c in colour_of.items() if c == names[u % len(names)]]
            for t in range(int(rng.integers(5, 9))):
                pick = rng.choice(pool) if rng.random() < 0.8 else rng.choice(list(colour_of))
                writer.writerow([f"u{u}", pick, 1_600_000_000_000 + 1000 * t])
    return root


def scenario_text(
    models: dict[str, Path], cache_dir: Path, extra: str = "", seeds: str = "[0]"
) -> str:
    """A two-channel IISAN-Versa scenario (title text + cover image) with tiny, fast settings."""
    return f"""
method = "iisan_versa"
seeds = {seeds}
{extra}
[[channels]]
name = "text"
modality = "text"
template = "{{title}}"
encoder = {{ model = {json.dumps(str(models["text"]))} }}

[[channels]]
name = "image"
modality = "image"
encoder = {{ model = {json.dumps(str(models["vision"]))}, pooling = "mean" }}

[train]
epochs = 2
max_steps_per_epoch = 2
batch_size = 16
device = "cpu"
patience = 5

[eval]
ks = [5, 10]

[output]
cache_dir = {json.dumps(str(cache_dir))}
"""


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",  # same arithmetic in every process, and fair to a 2-core machine
        PYTHONPATH=str(ROOT),
    )
    for name in ("RELIABILITY_PAUSE", "RELIABILITY_MARKER", "WORLD_SIZE", "RANK"):
        env.pop(name, None)
    return env


def start_toolkit(args: list[str], cwd: Path, **popen: Any) -> subprocess.Popen[str]:
    """`python -m toolkit <args>` started, not awaited (stdout and stderr piped unless
    `popen` says otherwise)."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit", *args],
        cwd=cwd,
        env=subprocess_env(),
        text=True,
        **options,
    )


def run_toolkit(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m toolkit <args>` to completion (`env` added to `subprocess_env`)."""
    return subprocess.run(
        [sys.executable, "-m", "toolkit", *args],
        cwd=cwd,
        env=subprocess_env() | (env or {}),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def run_ok(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = run_toolkit(args, cwd)
    assert done.returncode == 0, f"toolkit {' '.join(args)} failed:\n{done.stderr[-3000:]}"
    return done


def kill_at(args: list[str], pause: str, cwd: Path) -> None:
    """Run `toolkit <args>` until the pause point `pause` is reached, then SIGKILL it.

    Fails the test when the process ends (or times out) without reaching the point, so a
    kill point that silently stopped being reached cannot make a test vacuous.
    """
    marker = cwd / f".paused-{time.monotonic_ns()}"
    env = subprocess_env() | {"RELIABILITY_PAUSE": pause, "RELIABILITY_MARKER": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, str(HARNESS), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + TIMEOUT
    try:
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(
                    f"{pause} never reached (exit {proc.returncode}):\n{proc.stderr.read()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{pause} not reached within {TIMEOUT} s")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL or marker.exists()
    marker.unlink(missing_ok=True)


def results_core(results: dict) -> dict:
    """What must not depend on interruptions: metrics, selection, configuration, data."""
    return {
        key: results[key]
        for key in (
            "valid",
            "test",
            "best_epoch",
            "epochs_run",
            "stop_reason",
            "config_sha256",
            "dataset",
            "params",
            "masking",
        )
    }


def epoch_lines(run_dir: Path) -> list[dict]:
    """metrics.jsonl without the timings."""
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in rows]
