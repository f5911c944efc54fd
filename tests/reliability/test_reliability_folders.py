"""Output folders that are not the toolkit's, and two writers of one folder (issue 28, items
1 and 2): `--out` / `data convert` into a folder of a user's files is refused in one line and
the files stay byte-identical; an empty folder and a folder written before markers existed
are accepted; two `run-scenario` processes on one run folder train it once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import TIMEOUT, run_toolkit, start_toolkit, subprocess_env
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
ID_SCENARIO = str(ROOT / "scenarios" / "shipped" / "id.toml")
FAST = ["train.epochs=2", "train.max_steps_per_epoch=2", "train.device=cpu"]
USER_FILES = {"notes.txt": b"my notes\n", "data.csv": b"a,b\n1,2\n", "metrics.jsonl": b"{}\n"}


def _cli(args: list[str]) -> tuple[int, str]:
    from toolkit.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def _user_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, data in USER_FILES.items():
        (folder / name).write_bytes(data)
    return folder


def _assert_refused(code: int, output: str, folder: Path) -> None:
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert str(folder) in errors[0] and "not empty" in errors[0] and "notes.txt" in errors[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == USER_FILES  # untouched


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the default cache folder lands here
    return tmp_path


def _run(out: Path) -> tuple[int, str]:
    return _cli(["run-scenario", ID_SCENARIO, *FAST, "--out", str(out), "--no-progress"])


def test_run_scenario_refuses_a_users_folder(in_tmp: Path) -> None:
    _assert_refused(*_run(_user_folder(in_tmp / "my_project")), in_tmp / "my_project")


def test_run_scenario_accepts_empty_and_old_run_folders(in_tmp: Path) -> None:
    (in_tmp / "empty").mkdir()
    code, output = _run(in_tmp / "empty")
    assert code == 0, output
    assert (in_tmp / "empty" / ".mmrec-run").is_file()
    old = in_tmp / "old"
    shutil.copytree(in_tmp / "empty", old)
    for marker in old.glob(".mmrec-*"):
        marker.unlink()  # a run folder written before markers existed
    before = (old / "results.json").read_bytes()
    code, output = _run(old)
    assert code == 0 and "already complete" in output, output
    assert (old / "results.json").read_bytes() == before
    assert json.loads((old / ".mmrec-run").read_text())["kind"] == "run"  # marked now


def _grid(out: Path) -> tuple[int, str]:
    sets = [arg for item in FAST for arg in ("--set", item)]
    return _cli(["grid", ID_SCENARIO, "--seeds", "0", *sets, "--out", str(out)])


def test_grid_refuses_a_users_folder_and_accepts_an_old_grid(in_tmp: Path) -> None:
    _assert_refused(*_grid(_user_folder(in_tmp / "mine")), in_tmp / "mine")
    code, output = _grid(in_tmp / "grid")
    assert code == 0, output
    for marker in (in_tmp / "grid").rglob(".mmrec-*"):
        marker.unlink()  # a grid written before markers existed
    code, output = _grid(in_tmp / "grid")
    assert code == 0, output
    assert (in_tmp / "grid" / ".mmrec-grid").is_file()


def test_data_convert_refuses_a_users_folder_and_accepts_an_old_one(in_tmp: Path) -> None:
    from recsys.data import sample_path

    src = str(sample_path())
    _assert_refused(
        *_cli(["data", "convert", src, str(_user_folder(in_tmp / "mine"))]), in_tmp / "mine"
    )
    (in_tmp / "empty").mkdir()
    code, output = _cli(["data", "convert", src, str(in_tmp / "empty")])
    assert code == 0, output
    (in_tmp / "empty" / ".mmrec-dataset").unlink()  # converted before markers existed
    code, output = _cli(["data", "convert", src, str(in_tmp / "empty")])
    assert code == 0, output
    assert (in_tmp / "empty" / ".mmrec-dataset").is_file()


def test_caption_store_refuses_a_users_folder(in_tmp: Path) -> None:
    from PIL import Image

    (in_tmp / "images").mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(in_tmp / "images" / "i1.png")
    store = _user_folder(in_tmp / "mine")
    _assert_refused(*_cli(["caption", "--images", "images", "--store", str(store)]), store)


def _start(out: Path, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["run-scenario", ID_SCENARIO, *FAST, "--out", str(out), "--no-progress", *extra]
    return start_toolkit(args, cwd)


def test_a_marker_being_written_by_another_process_is_not_a_users_file(tmp_path: Path) -> None:
    # two ranks claim one new caption store at once: one sees the other's marker half
    # written (its atomic write's temporary file beside it), and must take the folder
    from captioning.store import claim_store

    store = tmp_path / "captions"
    store.mkdir()
    (store / "..mmrec-captions.vm-17304.sg0q3a0s.tmp").write_text("{")
    claim_store(store)
    assert (store / ".mmrec-captions").is_file()
    (store / "notes.txt").write_text("mine")
    (store / ".mmrec-captions").unlink()
    with pytest.raises(Exception, match=r"not empty \(holds notes\.txt\)"):
        claim_store(store)


def test_two_processes_on_one_run_folder_train_it_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    procs = [_start(out, tmp_path)]
    time.sleep(0.3)  # usually the first holds the lock; either order must give one training
    procs.append(_start(out, tmp_path))
    ends = [p.communicate(timeout=TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], ends
    outputs = [stdout + stderr for stdout, stderr in ends]
    assert sum("already complete" in text for text in outputs) == 1, outputs
    assert sum("nothing trained" not in text for text in outputs) == 1, outputs
    epochs = [
        json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == sorted(set(epochs)) and len(epochs) == 2, epochs


def test_no_wait_refuses_while_another_process_writes(tmp_path: Path) -> None:
    from plumbing.folders import folder_lock

    out = tmp_path / "run"
    with folder_lock(out, "run"):  # this test process is the other writer
        done = subprocess.run(
            [sys.executable, "-m", "toolkit", "run-scenario", ID_SCENARIO, *FAST, "--out",
             str(out), "--no-progress", "--no-wait"],
            cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
            timeout=TIMEOUT, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "being written by another process" in done.stderr and "Traceback" not in done.stderr
    assert not (out / "config.json").exists()


def test_a_caption_job_waits_for_another_on_the_same_store(tiny_data: Path, tmp_path: Path) -> None:
    """One writer per caption store: while another process holds the store, `toolkit
    caption` waits (here: gives up after TOOLKIT_LOCK_TIMEOUT_S, saying why, writing
    nothing); once it is free the same command captions every item exactly once."""
    from plumbing.folders import folder_lock

    store = tmp_path / "store"
    command = ["caption", "--data", str(tiny_data), "--captioner", "baseline", "--store"]

    def caption() -> subprocess.CompletedProcess[str]:
        return run_toolkit([*command, str(store)], tmp_path, {"TOOLKIT_LOCK_TIMEOUT_S": "2"})

    with folder_lock(store, "captions"):
        waited = caption()
    assert waited.returncode == 2 and "being written by another process" in waited.stderr
    assert not (store / "captions.jsonl").exists()
    done = caption()
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (store / "captions.jsonl").read_text().splitlines()]
    keys = [(r["item_id"], r["media_sha256"]) for r in records]
    assert keys and len(keys) == len(set(keys))
