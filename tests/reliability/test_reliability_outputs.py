"""Outputs that cannot be written (issue 15, item 1): a file where a folder is expected, a
read-only folder, a disk that is full from the start or fills up during a caption job, a
cache build or a checkpoint save. Each ends in one `error:` line naming the file and what
to do, no traceback, every record written before kept, and the same command resumes once
the cause is gone.

Full disks are real: a small tmpfs (`small_disk`, skipped where this process may not mount
one); read-only folders are real too (`read_only_folder`: permissions, or a read-only bind
mount as root). The jobs run as `python -m toolkit` subprocesses, as a user runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import (
    results_core,
    run_ok,
    run_toolkit,
    scenario_text,
    subprocess_env,
    write_cover,
)
from typer.testing import CliRunner

from media.palette import SAMPLE_COLOURS
from plumbing.errors import OutputError
from plumbing.io import append_jsonl, atomic_write_json, atomic_write_with, read_jsonl

NO_SPACE = "no space left on device; free some space and run the same command again"


def _cli(args: list[str]) -> tuple[int, str]:
    from toolkit.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def _one_error_line(output: str) -> str:
    """The output's only `error:` line; no traceback anywhere."""
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    return errors[0]


def _fill(disk: Path, leave: int) -> Path:
    """Fill `disk` completely, then give back `leave` bytes (whole pages); returns the filler."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(bytes(1 << 16))
                handle.flush()
        except OSError:
            pass
        handle.truncate(max(0, handle.tell() - leave))
    return filler


def _covers(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    names = list(SAMPLE_COLOURS)
    for i in range(count):
        write_cover(folder / f"c{i:02d}.png", SAMPLE_COLOURS[names[i % len(names)]])
    return folder


# ---- a file where a folder is expected ------------------------------------------------------


@pytest.mark.parametrize(
    "case", ["run --out", "run --out below", "cache_dir", "caption --store", "grid --out", "demo"]
)
def test_an_output_that_is_a_file_is_refused_before_any_work(
    case: str, tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "taken.txt"
    blocker.write_text("a file of the user's\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(tiny_models, tmp_path / "cache"))
    run, out = ["run-scenario", str(scenario), "--data", str(tiny_data)], str(tmp_path / "x")
    args = {
        "run --out": [*run, "--out", str(blocker)],
        "run --out below": [*run, "--out", str(blocker / "run")],
        "cache_dir": [*run, f"output.cache_dir={json.dumps(str(blocker))}", "--out", out],
        "caption --store": ["caption", "--data", str(tiny_data), "--store", str(blocker)],
        "grid --out": ["grid", str(scenario), "--data", str(tiny_data), "--out", str(blocker)],
        "demo": ["demo", "--out", str(blocker)],
    }[case]
    code, output = _cli(args)
    line = _one_error_line(output)
    assert code == 2 and str(blocker) in line and "is a file" in line, line
    assert blocker.read_text() == "a file of the user's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml", "taken.txt"]


# ---- a read-only folder ---------------------------------------------------------------------


@pytest.mark.parametrize("case", ["run --out", "cache_dir", "caption --store", "caption-merge"])
def test_a_read_only_output_folder_is_refused_before_any_work(
    case: str,
    read_only_folder: Path,
    tiny_models: dict[str, Path],
    tiny_data: Path,
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text(tiny_models, tmp_path / "cache"))
    run, out = ["run-scenario", str(scenario), "--data", str(tiny_data)], str(tmp_path / "x")
    target = read_only_folder / "out"
    args = {
        "run --out": [*run, "--out", str(target)],
        "cache_dir": [*run, f"output.cache_dir={json.dumps(str(target))}", "--out", out],
        "caption --store": ["caption", "--data", str(tiny_data), "--store", str(target)],
        "caption-merge": ["caption-merge", str(read_only_folder / "store")],  # parts to join
    }[case]
    before = sorted(str(p.relative_to(read_only_folder)) for p in read_only_folder.rglob("*"))
    code, output = _cli(args)
    line = _one_error_line(output)
    assert code == 2 and str(read_only_folder) in line
    assert "read-only file system" in line or "permission denied" in line, line
    after = sorted(str(p.relative_to(read_only_folder)) for p in read_only_folder.rglob("*"))
    assert after == before and "kept.txt" in after
    assert not (tmp_path / "cache").exists() and not (tmp_path / "x").exists()


# ---- full disks ----------------------------------------------------------------------------


def test_a_disk_full_before_the_job_is_refused_before_any_work(small_disk, tmp_path: Path) -> None:
    disk = small_disk("64k")
    _fill(disk, 0)
    covers = _covers(tmp_path / "covers", 3)
    done = run_toolkit(["caption", "--images", str(covers), "--store", str(disk / "s")], tmp_path)
    line = _one_error_line(done.stderr)
    assert done.returncode == 2
    assert line == f"error: {disk / 's'}: cannot write the caption store: {NO_SPACE}"
    assert not (disk / "s").exists()


def test_a_disk_that_fills_during_captioning_keeps_every_record_and_resumes(
    small_disk, tmp_path: Path
) -> None:
    covers = _covers(tmp_path / "covers", 40)
    args = ["caption", "--images", str(covers), "--batch-size", "4"]
    run_ok([*args, "--store", str(tmp_path / "reference")], tmp_path)
    reference = (tmp_path / "reference" / "captions.jsonl").stat().st_size
    disk = small_disk("128k")
    # room for about half the records, plus a page each for the store's marker, lock and
    # lock-holder files (plumbing.folders), written before any record
    filler = _fill(disk, reference // 2 // 4096 * 4096 + 3 * 4096)
    store = disk / "store"
    done = run_toolkit([*args, "--store", str(store)], tmp_path)
    line = _one_error_line(done.stderr)
    assert done.returncode == 2, done.stderr
    assert line == f"error: {store / 'captions.jsonl'}: cannot write: {NO_SPACE}"
    kept, torn = read_jsonl(store / "captions.jsonl")
    assert torn == 0 and 0 < len(kept) < 40 and len(kept) % 4 == 0  # whole batches only
    filler.unlink()  # space freed: the same command finishes the job
    again = run_ok([*args, "--store", str(store)], tmp_path)
    assert f"{40 - len(kept)} captioned, {len(kept)} skipped, 0 failed" in again.stdout
    records, torn = read_jsonl(store / "captions.jsonl")
    expected, _ = read_jsonl(tmp_path / "reference" / "captions.jsonl")
    assert torn == 0 and sorted(r["item_id"] for r in records) == [f"c{i:02d}" for i in range(40)]
    caption = {r["item_id"]: r["caption"] for r in expected}
    assert {r["item_id"]: r["caption"] for r in records} == caption


def test_a_disk_that_fills_during_a_checkpoint_save_leaves_nothing_trusted_and_resumes(
    small_disk, reference: dict, tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "s.toml").write_text(scenario_text(tiny_models, tmp_path / "cache"))
    disk = small_disk("16m")
    weights = max(p.stat().st_size for p in (reference["runs"][0] / "checkpoint").glob("*.pt"))
    filler = _fill(disk, weights // 2 // 4096 * 4096 + 65536)  # config and log fit, not a save
    run = disk / "run"
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(tiny_data), "--out", str(run)]
    done = run_toolkit(args, tmp_path)
    line = _one_error_line(done.stderr)
    assert done.returncode == 2 and str(run / "checkpoint") in line and NO_SPACE in line, line
    assert not (run / "checkpoint" / "state.json").exists()  # no pointer to a partial save
    assert not list(run.rglob("*.tmp")) and not (run / "results.json").exists()
    filler.unlink()
    run_ok(args, tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert results_core(results) == results_core(reference["results"][0])


CACHE_BUILD = """
import collections, json, shutil, sys
from pathlib import Path
from plumbing.errors import OutputError
from recsys.cache import build_or_load_cache
from recsys.channels import ChannelInput, EncoderSpec

usage = collections.namedtuple("usage", "total used free")
shutil.disk_usage = lambda path: usage(1 << 40, 0, 1 << 40)  # the disk fills after the check
model, cache_dir = sys.argv[1], sys.argv[2]
texts = tuple(f"lab kit number {i} " * (1 + i % 3) for i in range(3000))
channel = ChannelInput("text", "text", EncoderSpec(model), texts=texts)
try:
    cache = build_or_load_cache(channel, cache_dir=cache_dir, progress=False)
except OutputError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
computed = cache.manifest["build"]["computed_items"]
print(json.dumps({"computed": computed, "folder": str(cache.folder)}))
"""


def test_a_disk_that_fills_during_a_cache_build_is_an_error_and_the_build_resumes(
    small_disk, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """Chunks fit, the assembled array does not: without reserving the array's blocks the
    memory map's writes would die of SIGBUS on the full disk instead of saying so."""

    def build(cache_dir: Path) -> subprocess.CompletedProcess[str]:
        script = [sys.executable, "-c", CACHE_BUILD, str(tiny_models["text"]), str(cache_dir)]
        return subprocess.run(
            script, env=subprocess_env(), capture_output=True, text=True, timeout=240
        )

    reference = build(tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    disk = small_disk("832k")  # the chunks (~600 KB) fit, then states.npy (384 KB) does not
    done = build(disk)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    line = _one_error_line(done.stderr)
    assert "states.npy" in line and NO_SPACE in line, line
    assert list(disk.glob("*/partial/chunk_*.npz")) and not list(disk.glob("*/manifest.json"))
    subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)  # space freed
    again = build(disk)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["computed"] == 0  # every chunk reused, none recomputed
    first = Path(json.loads(reference.stdout)["folder"])
    second = Path(json.loads(again.stdout)["folder"])
    assert (second / "states.npy").read_bytes() == (first / "states.npy").read_bytes()


def test_whole_files_and_logs_on_a_full_disk_stay_as_they_were(small_disk) -> None:
    """results.json, reports and checkpoints go through atomic_path, logs and caption stores
    through append_jsonl: on a full disk each raises OutputError and the file is unchanged,
    whatever library writes it (safetensors and torch.save report a full disk their own way)."""
    import torch
    from safetensors.torch import save_file

    disk = small_disk("64k")
    results, log = disk / "results.json", disk / "metrics.jsonl"
    atomic_write_json(results, {"test": {"ndcg@10": 0.25}})
    append_jsonl(log, {"epoch": 1})
    before = {path: path.read_bytes() for path in (results, log)}
    _fill(disk, 0)
    big = {"w": torch.zeros(100_000)}
    writers = {
        "json": lambda: atomic_write_json(results, {"padding": "x" * 100_000}),
        "append": lambda: append_jsonl(log, [{"epoch": e, "pad": "x" * 500} for e in range(50)]),
        "safetensors": lambda: atomic_write_with(results, lambda t: save_file(big, str(t))),
        "torch.save": lambda: atomic_write_with(results, lambda t: torch.save(big, t)),
    }
    for name, write in writers.items():
        with pytest.raises(OutputError) as info:
            write()
        assert info.value.reason == f"cannot write: {NO_SPACE}", name
        assert {path: path.read_bytes() for path in (results, log)} == before, name
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "metrics.jsonl", "results.json"]
