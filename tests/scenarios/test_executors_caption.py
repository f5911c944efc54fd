"""`toolkit caption --executor ray`: shards as Ray tasks write the store's part files; the
store holds what a local run writes, and a rerun resumes (captions nothing again)."""

from __future__ import annotations

from pathlib import Path

import pytest

from captioning.api import caption_items
from captioning.items import MediaItem, media_sha
from captioning.ray_shards import RayCaptioning, caption_on_ray
from captioning.store import CaptionStore, merge_parts

ray = pytest.importorskip("ray")

SAMPLE = Path(__file__).resolve().parents[2] / "recsys" / "data" / "sample"


def _items() -> list[MediaItem]:
    ids = sorted(p.stem for p in (SAMPLE / "covers").glob("*.jpg"))[:6]
    images = [MediaItem(i, SAMPLE / "covers" / f"{i}.jpg", "image") for i in ids]
    return images + [MediaItem(i, SAMPLE / "videos" / f"{i}.mp4", "video") for i in ids]


def _contents(store: Path, key, items: list[MediaItem]) -> tuple:
    """(cover captions, video captions, fingerprint) the store supplies for `items`."""
    held = CaptionStore(store)
    kinds = [
        [(m.item_id, media_sha(m.path)) for m in items if m.kind == k] for k in ("image", "video")
    ]
    every = [pair for pairs in kinds for pair in pairs]
    return (*(held.captions(key, pairs) for pairs in kinds), held.fingerprint(key, every))


def _caption_cli(tmp_path: Path, covers: list[MediaItem]):
    """`toolkit caption --images <3 covers> --executor ray --shards 2` (on the running Ray)."""
    import shutil

    from typer.testing import CliRunner

    from toolkit.cli import app

    folder = tmp_path / "covers"
    folder.mkdir()
    for item in covers:
        shutil.copy(item.path, folder / item.path.name)
    args = ["caption", "--images", str(folder), "--store", str(tmp_path / "cli")]
    return CliRunner().invoke(app, [*args, "--executor", "ray", "--shards", "2"])


def test_ray_shards_write_the_store_a_local_run_writes_and_resume(tmp_path: Path) -> None:
    items = _items()
    local = caption_items(items, captioner="baseline", store=tmp_path / "local", progress=False)
    assert (local.done, local.failed) == (12, 0)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        where = RayCaptioning(shards=2)
        first = caption_on_ray(items, where, captioner="baseline", store=tmp_path / "ray")
        again = caption_on_ray(items, where, captioner="baseline", store=tmp_path / "ray")
        run = _caption_cli(tmp_path, items[:3])
    finally:
        ray.shutdown()
    assert [s.shard for s in first] == [(0, 2), (1, 2)]
    assert sum(s.done for s in first) == 12 and sum(s.total for s in first) == 12
    assert [s.write_file.name for s in first] == [
        "part-00000-of-00002.jsonl",
        "part-00001-of-00002.jsonl",
    ]
    assert (sum(s.done for s in again), sum(s.skipped for s in again)) == (0, 12)  # resumed
    expected = _contents(tmp_path / "local", local.key, items)
    assert len(expected[0]) == len(expected[1]) == 6
    assert _contents(tmp_path / "ray", first[0].key, items) == expected
    assert run.exit_code == 0, run.output
    parts = tmp_path / "cli" / "parts"
    assert run.output.strip().splitlines()[-1] == f"3 captioned, 0 skipped, 0 failed -> {parts}"
    assert sorted(p.name for p in parts.iterdir()) == [
        "part-00000-of-00002.jsonl",
        "part-00001-of-00002.jsonl",
    ]
    merge_parts(tmp_path / "ray")  # `toolkit caption-merge`: the parts into the main file
    assert _contents(tmp_path / "ray", first[0].key, items) == expected
