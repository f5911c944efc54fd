"""The demo on the embedded sample: media captioned, report printed, and a multimodal or
caption scenario beats title-only significantly over the demo's five seeds (the sample hides
preferences in media); the popularity-bucket section is printed and its users add up to the
test users."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scenarios.grid.demo import run_demo


@pytest.mark.slow
def test_demo_finds_the_signal_hidden_in_the_media(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(
        tmp_path,
        scenarios=("title", "title+image", "title+captions"),
        echo=lines.append,  # the demo's own seeds (scenarios.grid.demo.DEMO_SEEDS)
    )
    assert result.failed == 0
    assert (
        lines[0]
        == "captioned 400 media, 0 already in "
        + str(tmp_path / "cache" / "captions")
        + ", 0 failed"
    )
    printed = "\n".join(lines)
    assert "| title | iisan_versa | text | minilm | 5 |" in printed
    assert "## Against the baseline `title`" in printed
    by_scenario = {c["scenario"]: c for c in result.comparisons}
    assert set(by_scenario) == {"title+image", "title+captions"}
    assert all(c["n"] == 379 for c in by_scenario.values())
    for c in by_scenario.values():
        assert c["seeds"] == [0, 1, 2, 3, 4] and len(c["per_seed"]) == 5 and not c["single_seed"]
    # Significant: at least two seeds and p < 0.05 after the report's Holm adjustment (the
    # comparisons of the table are one family; scenarios.report.multiplicity).
    winners = [c for c in by_scenario.values() if c["significant"] and c["diff"] > 0]
    assert all(c["correction"] == "holm" and c["family_size"] == 2 for c in winners)
    assert winners, by_scenario
    assert (tmp_path / "quality_vs_cost.png").is_file()
    # The popularity buckets: the table is printed, its users add up to the test users, and
    # so do every run's recorded buckets.
    assert "## NDCG@10 by popularity bucket" in printed
    table = "| scenario | method | encoders | seeds | cold"
    header = next(line for line in printed.splitlines() if line.startswith(table))
    counts = [int(n) for n in re.findall(r"\(n=(\d+)\)", header)]
    assert len(counts) == 4 and sum(counts) == 379, header
    for results_file in sorted((tmp_path / "runs").glob("*/*/results.json")):
        results = json.loads(results_file.read_text(encoding="utf-8"))
        for part in ("valid", "test"):
            assert sum(b["users"] for b in results["buckets"][part].values()) == 379
    assert "### Against `title` per bucket" in printed
    assert (tmp_path / "buckets.png").is_file()


def test_dataset_media_lists_every_cover_then_every_video(tiny_data: Path) -> None:
    """The one listing `toolkit caption --data` and the demo's captioning both use."""
    from dataclasses import replace

    from recsys.data import load_dataset
    from scenarios.run.captions import catalogue_media, dataset_media

    cat = load_dataset(tiny_data).catalogue
    listed = [(m.kind, m.item_id, m.path) for m in dataset_media(tiny_data)]
    covers = [("image", *pair) for pair in zip(cat.item_ids, cat.image_paths, strict=True)]
    videos = [("video", *pair) for pair in zip(cat.item_ids, cat.video_paths, strict=True)]
    assert listed == covers + videos and all(p is not None for _, _, p in listed)
    gap = replace(cat, image_paths=(None, *cat.image_paths[1:]))  # the first cover missing
    assert [m.item_id for m in catalogue_media(gap, ("image",))] == list(cat.item_ids[1:])
    first = catalogue_media(gap, ("image",), with_missing=True)[0]
    assert (first.item_id, first.path) == (cat.item_ids[0], None)
