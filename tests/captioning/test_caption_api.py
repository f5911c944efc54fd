"""caption_items end to end with the baseline: bad media, reruns, shards, a killed job."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from caption_drawings import draw, moving_clip
from PIL import Image

from captioning.api import caption_items, caption_key, parse_shard
from captioning.base import CaptioningError
from captioning.items import MediaItem, list_media
from captioning.registry import captioner_names, register_captioner
from captioning.store import CaptionStore, merge_parts
from media.hashing import sha256_file
from media.video import write_video

SHAPES = ["circle", "square", "triangle"]
COLOURS = ["red", "green", "blue", "yellow"]


def _images(folder: Path, count: int) -> list[MediaItem]:
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(count):
        path = folder / f"item{i:03d}.jpg"
        Image.fromarray(draw(SHAPES[i % 3], COLOURS[i % 4])).save(path, quality=85)
        items.append(MediaItem(f"item{i:03d}", path, "image"))
    return items


def _expected(i: int) -> str:
    colour, shape = COLOURS[i % 4], SHAPES[i % 3]
    return f"a {colour} {shape} on a light background"


@pytest.fixture
def media(tmp_path: Path) -> list[MediaItem]:
    items = _images(tmp_path / "img", 6)
    bad = tmp_path / "img"
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.png").write_text("not an image")
    (bad / "cut.jpg").write_bytes(items[0].path.read_bytes()[:200])
    write_video(tmp_path / "v.mp4", moving_clip("square", "blue", "left"))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 1000)
    return [
        *items,
        MediaItem("empty", bad / "empty.jpg", "image"),
        MediaItem("text", bad / "text.png", "image"),
        MediaItem("cut", bad / "cut.jpg", "image"),
        MediaItem("gone", tmp_path / "missing.jpg", "image"),
        MediaItem("none", None, "image"),
        MediaItem("item000", tmp_path / "v.mp4", "video"),  # same id, its video
        MediaItem("broken", tmp_path / "broken.mp4", "video"),
    ]


def _pairs(items: list[MediaItem]) -> list[tuple[str, str]]:
    return [(it.item_id, sha256_file(it.path)) for it in items if it.path and it.path.exists()]


def test_bad_media_become_errors_and_the_job_completes(
    tmp_path: Path, media: list[MediaItem]
) -> None:
    summary = caption_items(media, captioner="baseline", store=tmp_path / "s", progress=False)
    assert (summary.total, summary.done, summary.failed, summary.skipped) == (13, 7, 6, 0)
    store = CaptionStore(tmp_path / "s")
    images = [m for m in media if m.kind == "image"]
    captions = store.captions(summary.key, _pairs(images[:6]))
    assert captions == {f"item{i:03d}": _expected(i) for i in range(6)}
    video_sha = sha256_file(media[-2].path)
    assert store.captions(summary.key, [("item000", video_sha)]) == {
        "item000": "a video of a blue square moving left"
    }
    errors = {r["item_id"]: r["error"] for r in store.records() if "error" in r}
    assert errors["empty"] == "empty file"
    assert "not an image" in errors["text"]
    assert "truncated" in errors["cut"]
    assert errors["gone"] == "file not found"
    assert errors["none"] == "item has no image file"
    assert "undecodable" in errors["broken"]
    assert all("caption" not in r for r in store.records() if "error" in r)

    again = caption_items(media, captioner="baseline", store=tmp_path / "s", progress=False)
    assert (again.done, again.failed, again.skipped) == (0, 0, 13)
    retry = caption_items(
        media, captioner="baseline", store=tmp_path / "s", progress=False, retry_errors=True
    )
    assert (retry.done, retry.failed, retry.skipped) == (0, 6, 7)


def test_changed_media_is_recaptioned(tmp_path: Path) -> None:
    items = _images(tmp_path / "img", 2)
    caption_items(items, captioner="baseline", store=tmp_path / "s", progress=False)
    Image.fromarray(draw("circle", "purple")).save(items[1].path, quality=85)
    summary = caption_items(items, captioner="baseline", store=tmp_path / "s", progress=False)
    assert (summary.done, summary.skipped) == (1, 1)
    assert CaptionStore(tmp_path / "s").captions(summary.key, _pairs(items))["item001"] == (
        "a purple circle on a light background"
    )


def test_two_shards_merged_equal_one_unsharded_run(tmp_path: Path, media: list[MediaItem]) -> None:
    whole = caption_items(media, captioner="baseline", store=tmp_path / "one", progress=False)
    parts = [
        caption_items(
            media, captioner="baseline", store=tmp_path / "two", shard=(i, 2), progress=False
        )
        for i in range(2)
    ]
    assert sum(p.total for p in parts) == whole.total
    assert {p.write_file.name for p in parts} == {
        "part-00000-of-00002.jsonl",
        "part-00001-of-00002.jsonl",
    }
    merge_parts(tmp_path / "two")

    def content(folder: Path) -> list[str]:
        rows = CaptionStore(folder).records()
        return sorted(
            json.dumps({k: v for k, v in r.items() if k != "created"}, sort_keys=True) for r in rows
        )

    assert content(tmp_path / "one") == content(tmp_path / "two")
    pairs = _pairs(media)
    one, two = CaptionStore(tmp_path / "one"), CaptionStore(tmp_path / "two")
    assert one.fingerprint(whole.key, pairs) == two.fingerprint(whole.key, pairs)


def test_rank_sharding_from_torchrun_env(
    tmp_path: Path, media: list[MediaItem], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "2")
    summary = caption_items(media, captioner="baseline", store=tmp_path / "s", progress=False)
    assert summary.shard == (2, 3) and summary.total == 4  # 13 items, ranks get 5/4/4
    assert summary.write_file.name == "part-00002-of-00003.jsonl"


def test_parse_shard_and_list_media(tmp_path: Path) -> None:
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(CaptioningError):
            parse_shard(bad)
    _images(tmp_path, 2)
    (tmp_path / "notes.txt").write_text("ignored")
    assert [m.item_id for m in list_media(tmp_path, "image")] == ["item000", "item001"]
    assert list_media(tmp_path, "video") == []


def test_image_only_captioner_merges_frame_captions(tmp_path: Path) -> None:
    if "test-frames" not in captioner_names():

        class PerFrame:
            supports_video = False

            def caption_images(self, images: list) -> list[str]:
                return [f"x{int(np.asarray(im)[0, 0, 0] > 127)}" for im in images]

            def caption_videos(self, videos: list) -> list[str]:
                raise AssertionError("image-only")

        register_captioner("test-frames", lambda options: PerFrame(), needs_model=False)
    clip = np.zeros((8, 32, 32, 3), dtype=np.uint8)
    clip[5:] = 255  # frames 0-4 dark, 5-7 bright
    write_video(tmp_path / "c.mp4", clip)
    item = MediaItem("c", tmp_path / "c.mp4", "video")
    summary = caption_items([item], captioner="test-frames", store=tmp_path / "s", progress=False)
    caption = CaptionStore(tmp_path / "s").captions(summary.key, _pairs([item]))["c"]
    assert caption == "x0; then x1"  # frames 0, 4, 7 captioned; repeats collapse


def test_unknown_captioner_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(CaptioningError, match="baseline"):
        caption_items([], captioner="nope", store=tmp_path)
    assert caption_key("blip").revision == "Salesforce/blip-image-captioning-base@main"


FLAKY_BUILTINS = """
import sys

class FailOnce:  # the first import of captioning.builtin fails (a broken dependency, say)
    def find_spec(self, name, path=None, target=None):
        if name == "captioning.builtin":
            sys.meta_path.remove(self)
            raise ImportError("simulated failure")

sys.meta_path.insert(0, FailOnce())
try:
    from captioning.registry import captioner_names
    print("first:", captioner_names())
except ImportError as exc:
    print("first:", exc)
from captioning.registry import captioner_names
print("second:", len(captioner_names()))
"""


def test_a_failed_builtin_import_never_leaves_the_registry_empty() -> None:
    """The spec type lives in captioning.base, so builtin.py needs nothing of the registry
    (no import cycle) and the registry fills its table when it is imported: a failure is
    raised, and the next import has every captioner (it used to stay empty for good)."""
    import ast

    import captioning.builtin

    tree = ast.parse(Path(captioning.builtin.__file__).read_text(encoding="utf-8"))
    top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)} - {"__future__"}
    assert top == {"captioning.base", "collections.abc"}
    done = subprocess.run(
        [sys.executable, "-c", FLAKY_BUILTINS], capture_output=True, text=True, check=True
    )
    first, second = done.stdout.splitlines()
    assert first == "first: simulated failure"
    assert second == f"second: {len(captioning.builtin.BUILTIN_CAPTIONERS)}"


SLOW_JOB = """
import sys, time
from pathlib import Path
from captioning.api import MediaItem, caption_items
from captioning.baseline import BaselineCaptioner
from captioning.registry import register_captioner

class Slow(BaselineCaptioner):
    def caption_images(self, images):
        time.sleep(0.15)
        return super().caption_images(images)

register_captioner("slow", lambda options: Slow(), needs_model=False)
folder = Path(sys.argv[1])
items = [MediaItem(p.stem, p, "image") for p in sorted(folder.glob("*.jpg"))]
s = caption_items(items, captioner="slow", store=Path(sys.argv[2]), batch_size=2,
                  progress=False)
print(s.done, s.skipped, s.failed)
"""


def test_killed_job_restarts_and_captions_each_item_once(tmp_path: Path) -> None:
    _images(tmp_path / "img", 24)
    script = tmp_path / "job.py"
    script.write_text(SLOW_JOB)
    store = tmp_path / "store"
    command = [sys.executable, str(script), str(tmp_path / "img"), str(store)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    main = store / "captions.jsonl"
    while time.monotonic() < deadline:
        if main.exists() and main.read_text().count("\n") >= 6:
            break
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait()
    lines_at_kill = main.read_text().count("\n")
    assert 6 <= lines_at_kill < 24, "the job must be killed part-way"
    with open(main, "a") as handle:
        handle.write('{"item_id": "item023", "capt')  # and a torn write, as a kill can leave

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    done, skipped, failed = map(int, rerun.stdout.split())
    assert (done + skipped, failed) == (24, 0) and skipped >= 6
    records = CaptionStore(store).records()
    per_item: dict[str, int] = {}
    for record in records:
        per_item[record["item_id"]] = per_item.get(record["item_id"], 0) + 1
    assert per_item == {f"item{i:03d}": 1 for i in range(24)}  # each caption exactly once
    key = caption_key("baseline")
    assert {r["item_id"]: r["caption"] for r in records} == {
        f"item{i:03d}": _expected(i) for i in range(24)
    }
    assert key.captioner == "baseline"
