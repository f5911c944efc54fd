"""A tiny synthetic MicroLens-format dataset (titles, colour covers, short videos) for the
scenario tests, written once per session; and tiny, fast training overrides."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from media.palette import SAMPLE_COLOURS

COLOURS = {name: SAMPLE_COLOURS[name] for name in ("red", "green", "blue")}
FAST = (
    "train.epochs=2",
    "train.max_steps_per_epoch=2",
    "train.device=cpu",
    "eval.ks=[5, 10]",
)


def _write_video(path: Path, colour: tuple[int, int, int], frames: int = 4) -> None:
    import av

    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(4, 1))
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            pixels = np.full((32, 32, 3), 230, dtype=np.uint8)
            pixels[8 + t : 20 + t, 8:20] = colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def make_tiny_dataset(root: Path, *, items: int = 24, users: int = 40, seed: int = 0) -> Path:
    """MicroLens short names: pairs.csv, titles.csv, covers/<id>.png, videos/<id>.mp4.

    Each user prefers one colour; most of their items have that colour on the cover.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "covers").mkdir(exist_ok=True)
    (root / "videos").mkdir(exist_ok=True)
    names = list(COLOURS)
    colour_of = {f"i{i}": names[i % len(names)] for i in range(items)}
    with open(root / "titles.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "title"])
        for i, item in enumerate(colour_of):
            writer.writerow([item, f"Gadget number {i}, model {i % 5}"])
            cover = np.full((32, 32, 3), 230, dtype=np.uint8)
            cover[6:26, 6:26] = COLOURS[colour_of[item]]
            Image.fromarray(cover).save(root / "covers" / f"{item}.png")
            _write_video(root / "videos" / f"{item}.mp4", COLOURS[colour_of[item]])
    with open(root / "pairs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "item", "timestamp"])
        for u in range(users):
            liked = names[u % len(names)]
            pool = [i for i, c in colour_of.items() if c == liked]
            length = int(rng.integers(5, 9))
            for t in range(length):
                choice = rng.choice(pool) if rng.random() < 0.8 else rng.choice(list(colour_of))
                writer.writerow([f"u{u}", choice, 1_600_000_000_000 + 1000 * t])
    return root


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """The scenario tests train tiny models: one intra-op thread is faster than two (and
    does not spin on a busy 2-core machine). Restored afterwards for other test folders."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def _hf_logs_on_session_stderr(hf_log_handler: None) -> None:
    """See tests/conftest.py: model loads through the CLI must not log to a closed stream."""


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    with one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder (tiny-vit weights, hidden states, captions) for the whole session."""
    return tmp_path_factory.mktemp("cache")
