"""The baseline recovers the embedded sample's hidden attributes from its real JPEGs and mp4s."""

import json
from pathlib import Path

import pytest

from captioning.api import caption_items
from captioning.items import MediaItem
from captioning.store import CaptionStore
from media.hashing import sha256_file

ROOT = Path(__file__).resolve().parents[2]
TRUTH = ROOT / "assets" / "sample_truth.json"
SAMPLE = ROOT / "recsys" / "data" / "sample"  # package data; tests may read files, not import

pytestmark = pytest.mark.skipif(not TRUTH.exists(), reason="embedded sample not generated")


def test_baseline_names_colour_shape_and_motion_of_the_sample(tmp_path: Path) -> None:
    truth = json.loads(TRUTH.read_text())["items"][:60]
    folder = SAMPLE
    items = [
        MediaItem(t["item_id"], folder / "covers" / f"{t['item_id']}.jpg", "image") for t in truth
    ]
    items += [
        MediaItem(t["item_id"], folder / "videos" / f"{t['item_id']}.mp4", "video") for t in truth
    ]
    summary = caption_items(items, captioner="baseline", store=tmp_path, progress=False)
    assert (summary.done, summary.failed) == (120, 0)
    store = CaptionStore(tmp_path)
    wrong = []
    for t in truth:
        cover, video = (
            store.captions(summary.key, [(it.item_id, sha256_file(it.path))])[it.item_id]
            for it in items
            if it.item_id == t["item_id"]
        )
        if t["colour"] not in cover or t["cover_shape"] not in cover:
            wrong.append((t["item_id"], cover))
        expected = (t["video_colour"], t["video_shape"], f"moving {t['motion']}")
        if not all(word in video for word in expected):
            wrong.append((t["item_id"], video))
    assert wrong == []  # all 5 attributes of all 200 sample items were right when written
