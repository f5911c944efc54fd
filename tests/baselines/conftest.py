"""Tiny offline encoders, a catalogue with texts and images, and method contexts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.channels import ChannelInput, EncoderSpec
from recsys.data.types import Catalogue, Split
from recsys.methods import MethodContext

os.environ.setdefault("HF_HUB_OFFLINE", "1")

WORDS = ("red", "blue", "green", "lamp", "microscope", "beaker", "tube", "glass", "kit", "set")
WORDS += ("small", "large", "metal")
TITLES = (
    "red lamp",
    "blue microscope kit",
    "green glass beaker set",
    "small metal tube",
    "large red glass lamp kit",
    "blue tube",
)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny BERT (with tokenizer over WORDS) and ViT (with image processor), both with their
    pooler heads, saved and reloadable."""
    from tests.support.tiny_models import write_tiny_bert, write_tiny_vit

    root = tmp_path_factory.mktemp("models")
    return {
        "bert": write_tiny_bert(root / "bert", words=WORDS, pooler=True),
        "vit": write_tiny_vit(root / "vit", pooler=True),
    }


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path | None, ...]:
    """One coloured PNG per item, except the last item, which has no image."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths: list[Path | None] = []
    for i in range(len(TITLES) - 1):
        pixels = rng.integers(0, 256, size=(40, 40, 3), dtype=np.uint8)
        path = root / f"item{i}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return (*paths, None)


def tiny_split(num_items: int) -> Split:
    """A hand-built split over `num_items` items and 4 users (history window 3)."""
    ids = tuple(f"i{k}" for k in range(num_items))
    catalogue = Catalogue(ids, TITLES[:num_items], (None,) * num_items, (None,) * num_items)
    train = np.array([[0, 1, 2, 3], [1, 2, 3, 4], [0, 0, 5, 6], [2, 4, 6, 1]], dtype=np.int64)
    hist = train[:, 1:]
    seen = (np.array([0, 3, 6, 8, 11]), hist[hist > 0].astype(np.int64))
    counts = np.bincount(train.ravel(), minlength=num_items + 1)
    counts[0] = 0
    return Split(
        catalogue=catalogue,
        user_ids=("u0", "u1", "u2", "u3"),
        train_seqs=train,
        valid_history=hist,
        valid_target=np.array([4, 5, 1, 3]),
        test_history=hist,
        test_target=np.array([5, 6, 2, 4]),
        valid_seen=seen,
        test_seen=seen,
        train_counts=counts,
        dropped_users=0,
        keep_last=6,
        max_len=3,
        min_len=3,
    )


@pytest.fixture()
def make_ctx(model_dirs, image_paths):
    """`make_ctx(multimodal, **options)` -> MethodContext over text (and image) channels."""

    def make(multimodal: bool = False, seed: int = 7, **options: object) -> MethodContext:
        channels = [
            ChannelInput("text", "text", EncoderSpec(str(model_dirs["bert"])), texts=TITLES)
        ]
        if multimodal:
            spec = EncoderSpec(str(model_dirs["vit"]))
            channels.append(ChannelInput("image", "image", spec, paths=image_paths))
        return MethodContext(
            split=tiny_split(len(TITLES)),
            channels=tuple(channels),
            options=options,
            device=torch.device("cpu"),
            cache_dir=Path("/nonexistent-cache"),
            seed=seed,
            progress=False,
        )

    return make
