"""Crash safety (issue 9): `kill -9` real `toolkit` processes at named points, rerun the
same command, and require the result of an uninterrupted run: the same results.json
metrics, byte-identical hidden-state caches and per-user files, every caption exactly once.

Each kill point is reached deterministically (tests/reliability/pause_harness.py stops the
process there and the test sends SIGKILL), and each rerun of a chain starts from the state
the previous kill left, so one chain also checks resuming a resumed run.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import (
    epoch_lines,
    kill_at,
    results_core,
    run_ok,
    scenario_text,
    write_cover,
)

from captioning.api import caption_key
from captioning.store import CaptionStore

CACHE_FILES = ("states.npy", "valid.npy", "shared.npy")


def _same_run(run_dir: Path, ref_dir: Path, ref_results: dict) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    assert results_core(results) == results_core(ref_results)
    assert (run_dir / "test_per_user.csv").read_bytes() == (
        ref_dir / "test_per_user.csv"
    ).read_bytes()
    assert epoch_lines(run_dir) == epoch_lines(ref_dir)  # one line per epoch, no duplicates
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    named = {state["weights"], state["optim"], state["best_weights"], "best.safetensors"}
    assert {p.name for p in (run_dir / "checkpoint").iterdir()} == named | {"state.json"}


def _same_cache(cache: Path, ref_cache: Path) -> None:
    folders = sorted(p.name for p in cache.iterdir() if p.is_dir())  # not the .lock files
    assert len(folders) == 2  # (other tests may add caches of other inputs to the reference)
    for name in folders:
        assert not (cache / name / "partial").exists(), "finished build left its chunks"
        for file in CACHE_FILES:
            mine, theirs = cache / name / file, ref_cache / name / file
            assert mine.exists() == theirs.exists(), (name, file)
            if theirs.exists():
                assert mine.read_bytes() == theirs.read_bytes(), (name, file)
        manifest = json.loads((cache / name / "manifest.json").read_text())
        ref_manifest = json.loads((ref_cache / name / "manifest.json").read_text())
        assert manifest["fingerprint"] == ref_manifest["fingerprint"]


# Each pause is reached in the run it is used in. The first run is killed while the text
# cache's states.npy is being written (its temp file exists); the second finishes the text
# cache (the manifest is its first atomic_write_json) and is killed before the image
# manifest (marker, then manifest: calls 2 and 3); the later runs reuse both caches.
SCENARIO_CHAIN = [
    ("tempfile:mkstemp:1:after:.states.npy.", "text cache's states.npy half-way written"),
    ("recsys.cache.build:atomic_write_json:3:before", "image cache arrays written, no manifest"),
    ("recsys.train.trainer:Trainer._step:2:before", "epoch 1, between step 1 and step 2"),
    # restarts from scratch; stops with the epoch-1 checkpoint written and epoch 2 logged
    # but not checkpointed, so the next run resumes from a checkpoint behind the log
    ("recsys.train.trainer:append_jsonl:2:after", "epoch 2 logged, its checkpoint not written"),
    ("recsys.run:atomic_write_json:2:before", "per-user file written, results.json not"),
]


def _age_temporaries(root: Path) -> None:
    """Date temp files an hour back: a rerun comes minutes after a crash, not milliseconds
    (plumbing.io.sweep_stale_temps leaves young temps alone in case their writer is alive)."""
    old = time.time() - 3600
    for path in root.rglob(".*.tmp"):
        os.utime(path, (old, old))


def test_run_scenario_killed_five_times_finishes_like_an_uninterrupted_run(
    tiny_models: dict[str, Path], tiny_data: Path, reference: dict, tmp_path: Path
) -> None:
    scenario = tmp_path / "pair.toml"
    scenario.write_text(scenario_text(tiny_models, tmp_path / "cache"))
    args = ["run-scenario", str(scenario), "--data", str(tiny_data), "--out", "run"]
    for pause, _ in SCENARIO_CHAIN:
        kill_at(args, pause, tmp_path)
        assert not (tmp_path / "run" / "results.json").exists()
        _age_temporaries(tmp_path)
    run_ok(args, tmp_path)
    assert not list(tmp_path.rglob("*.tmp")), "a killed write's temp file was left behind"
    _same_run(tmp_path / "run", reference["runs"][0], reference["results"][0])
    _same_cache(tmp_path / "cache" / "states", reference["cache"])


def test_grid_killed_in_its_second_cell_resumes_that_cell_only(
    tiny_models: dict[str, Path], tiny_data: Path, reference: dict, tmp_path: Path
) -> None:
    scenario = tmp_path / "pair.toml"
    scenario.write_text(scenario_text(tiny_models, tmp_path / "cache"))
    args = ["grid", str(scenario), "--seeds", "0,1", "--data", str(tiny_data), "--out", "grid"]
    # Cell 1 takes 4 steps (2 epochs x 2); step 6 is in the middle of cell 2's first epoch.
    kill_at(args, "recsys.train.trainer:Trainer._step:6:before", tmp_path)
    cells = {s: tmp_path / "grid" / "runs" / "pair" / f"iisan_versa-s{s}" for s in (0, 1)}
    first = cells[0] / "results.json"
    stamp = first.stat().st_mtime_ns
    assert not (cells[1] / "results.json").exists()
    done = run_ok(args, tmp_path)
    assert "seed 0: skipped" in done.stdout and "seed 1: done" in done.stdout
    assert first.stat().st_mtime_ns == stamp  # the finished cell was not redone
    for seed, folder in cells.items():
        _same_run(folder, reference["runs"][seed], reference["results"][seed])
    rows = (tmp_path / "grid" / "runs.csv").read_text().splitlines()
    assert len(rows) == 3


@pytest.fixture()
def cover_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "covers"
    folder.mkdir()
    palette = [(220, 40, 40), (40, 170, 60), (40, 80, 220), (235, 210, 40)]
    for i in range(12):
        write_cover(folder / f"c{i:02d}.png", palette[i % 4])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return folder


def _captions(store: Path) -> tuple[dict[str, str], Counter, int]:
    """item -> caption ("<error>" for error records), caption records per item, torn lines."""
    key = caption_key("baseline", num_frames=8)
    reader = CaptionStore(store)
    records = [r for r in reader.records() if r.get("key") == key.digest]
    torn = reader.torn_lines
    per_item = Counter(r["item_id"] for r in records if "caption" in r)
    pairs = sorted({(r["item_id"], r["media_sha256"]) for r in records})
    captions = {i: "<error>" for i in reader.errors(key, pairs)} | reader.captions(key, pairs)
    return captions, per_item, torn


def test_captioning_killed_between_batches_and_inside_a_write(
    cover_folder: Path, tmp_path: Path
) -> None:
    common = ["caption", "--images", str(cover_folder), "--batch-size", "2", "--workers", "1"]
    run_ok([*common, "--store", "ref"], tmp_path)
    reference, ref_counts, _ = _captions(tmp_path / "ref")
    assert len(reference) == 13 and reference["broken"] == "<error>"

    args = [*common, "--store", "store"]
    kill_at(args, "captioning.store:append_jsonl:3:after", tmp_path)  # 3 batches on disk
    assert len(_captions(tmp_path / "store")[0]) == 6  # "broken" (an error) sorts first
    kill_at(args, "captioning.store:append_jsonl:2:torn", tmp_path)  # half a batch on disk
    run_ok(args, tmp_path)
    captions, counts, torn = _captions(tmp_path / "store")
    assert captions == reference
    assert counts == ref_counts and set(counts.values()) == {1}  # every caption exactly once
    assert torn == 1  # the torn line stays, detected and ignored
    rerun = run_ok(args, tmp_path)
    assert "0 captioned, 13 skipped" in rerun.stdout


def test_sharded_captioning_and_a_killed_merge(cover_folder: Path, tmp_path: Path) -> None:
    common = ["caption", "--images", str(cover_folder), "--batch-size", "2", "--workers", "1"]
    run_ok([*common, "--store", "ref"], tmp_path)
    reference, _, _ = _captions(tmp_path / "ref")
    shard = [*common, "--store", "store", "--shard", "0/2"]
    kill_at(shard, "captioning.store:append_jsonl:2:after", tmp_path)
    run_ok(shard, tmp_path)
    run_ok([*common, "--store", "store", "--shard", "1/2"], tmp_path)
    # Killed after the merged file replaced the main one, before the parts were removed.
    kill_at(["caption-merge", "store"], "captioning.store:atomic_write_with:1:after", tmp_path)
    assert len(list((tmp_path / "store" / "parts").glob("*.jsonl"))) == 2
    assert _captions(tmp_path / "store")[0] == reference  # readers already see everything
    run_ok(["caption-merge", "store"], tmp_path)
    captions, counts, _ = _captions(tmp_path / "store")
    assert captions == reference and set(counts.values()) == {1}
    assert not list((tmp_path / "store" / "parts").glob("*.jsonl"))
    lines = (tmp_path / "store" / "captions.jsonl").read_text().splitlines()
    assert len(lines) == 13 and np.all([json.loads(line)["item_id"] for line in lines])
