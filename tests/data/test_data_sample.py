"""The embedded sample: loads through the MicroLens loader, its media carry the hidden
colour/shape signal, and that signal (not the titles) is what predicts the test targets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from media.palette import SAMPLE_COLOURS
from recsys.data import load_dataset, make_split, sample_path
from recsys.data.types import Split

TRUTH = Path(__file__).resolve().parents[2] / "assets" / "sample_truth.json"
PALETTE = SAMPLE_COLOURS
HIDDEN_WORDS = {*PALETTE, "circle", "square", "triangle", "stripes", "striped", "round"}


@pytest.fixture(scope="module")
def sample():
    dataset = load_dataset(sample_path())
    return dataset, make_split(dataset), json.loads(TRUTH.read_text())


def cover_colour(path: Path) -> str:
    """Nearest palette colour of the pixels that differ from the border (the drawn shape)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)  # [H, W, 3]
    background = np.median(np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]), axis=0)
    shape = rgb[np.linalg.norm(rgb - background, axis=2) > 60].mean(axis=0)  # [3]
    names = list(PALETTE)
    return names[int(np.argmin([np.linalg.norm(shape - PALETTE[n]) for n in names]))]


def test_sample_loads_with_media_for_every_item(sample) -> None:
    dataset, split, truth = sample
    assert dataset.name == "sample"
    assert (len(dataset.catalogue), len(dataset.sequences)) == (200, 380)
    assert sum(map(len, dataset.sequences.values())) == 3035
    assert all(p is not None and p.suffix == ".jpg" for p in dataset.catalogue.image_paths)
    assert all(p is not None and p.suffix == ".mp4" for p in dataset.catalogue.video_paths)
    assert split.dropped_users >= 1 and split.num_users + split.dropped_users == 380
    assert 150 <= split.num_items <= 200
    assert any(len(s) > 13 for s in dataset.sequences.values())  # truncation is exercised
    assert any("," in t for t in dataset.catalogue.titles)  # quoted CSV is exercised
    assert [i["item_id"] for i in truth["items"]] == list(dataset.catalogue.item_ids)


def test_titles_never_name_the_hidden_attributes(sample) -> None:
    dataset, _, _ = sample
    for title in dataset.catalogue.titles:
        assert not HIDDEN_WORDS & set(re.findall(r"[a-z]+", title.lower())), title


def test_media_show_the_hidden_attributes(sample) -> None:
    dataset, _, truth = sample
    for item, path in zip(truth["items"], dataset.catalogue.image_paths, strict=True):
        assert cover_colour(path) == item["colour"], path
    for path in dataset.catalogue.video_paths[:8]:
        with av.open(str(path)) as container:
            codec = container.streams.video[0].codec_context.name
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert codec == "h264" and len(frames) == 12 and frames[0].shape == (64, 64, 3)


def hit_rate_at_10(split: Split, score: Callable[[np.ndarray], np.ndarray]) -> float:
    """Test HR@10, history masked (target never), ties as the exact random-tie expectation."""
    indptr, seen = split.test_seen
    hits = []
    for u in range(split.num_users):
        history, target = seen[indptr[u] : indptr[u + 1]], split.test_target[u]
        scores = score(history).astype(np.float64)  # [N+1]
        scores[0] = -np.inf
        scores[history[history != target]] = -np.inf
        higher = int((scores > scores[target]).sum())
        tied = int((scores == scores[target]).sum()) - 1
        hits.append(0.0 if higher >= 10 else min(1.0, (10 - higher) / (tied + 1)))
    return float(np.mean(hits))


def test_colour_oracle_beats_popularity_and_title_words_do_not(sample) -> None:
    dataset, split, _ = sample
    paths = dict(zip(dataset.catalogue.item_ids, dataset.catalogue.image_paths, strict=True))
    colour_of = {i: cover_colour(paths[i]) for i in split.catalogue.item_ids}
    colours = np.array(["pad", *(colour_of[i] for i in split.catalogue.item_ids)])  # [N+1]
    words = [
        set(),
        *(
            set(re.findall(r"[a-z]+", t.lower())) - {"model", "of", "with"}
            for t in split.catalogue.titles
        ),
    ]
    popularity = split.train_counts / (split.train_counts.max() + 1.0)  # tie-break in [0, 1)

    pop = hit_rate_at_10(split, lambda h: popularity.copy())
    colour = hit_rate_at_10(split, lambda h: (colours == colours[h[-1]]) + popularity)
    title = hit_rate_at_10(
        split, lambda h: np.array([len(w & words[h[-1]]) > 0 for w in words]) + popularity
    )
    print(f"test HR@10: popularity {pop:.3f}, same colour {colour:.3f}, title words {title:.3f}")
    assert colour > 2.0 * pop, (colour, pop)
    assert colour > pop + 0.1
    assert title < 1.2 * pop, (title, pop)
