"""`toolkit run-scenario`, `grid`, `recommend` end to end through the CLI, and the captions
rule (generate, or stop and print the command)."""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app

from .conftest import FAST, one_thread

RESULT_KEYS = {
    "protocol",
    "method",
    "seed",
    "config",
    "config_sha256",
    "dataset",
    "valid",
    "test",
    "best_epoch",
    "epochs_run",
    "efficiency",
    "params",
    "record",
}


def _cache(cache: Path) -> str:
    return f"output.cache_dir={json.dumps(str(cache))}"


@pytest.fixture(scope="module")
def trained_run(tiny_data: Path, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = ["run-scenario", "title+captions", "--data", str(tiny_data), "--out", str(out)]
    with one_thread():  # module fixtures start before the per-test autouse fixture
        result = CliRunner().invoke(app, [*args, *FAST, _cache(shared_cache), "seed=3"])
    assert result.exit_code == 0, result.output
    assert f"results written to {out}" in result.output
    return out


def test_run_scenario_writes_the_run_folder(trained_run: Path, shared_cache: Path) -> None:
    out = trained_run
    for name in ("results.json", "config.json", "metrics.jsonl", "test_per_user.csv"):
        assert (out / name).is_file(), name
    assert (out / "checkpoint" / "best.safetensors").is_file()
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert set(results) >= RESULT_KEYS
    assert results["protocol"] == "leave_one_out_full_ranking"
    assert results["method"] == "iisan_versa" and results["seed"] == 3
    assert set(results["test"]) == {"hr@5", "hr@10", "ndcg@5", "ndcg@10", "mrr"}
    assert results["epochs_run"] == 2
    record = results["record"]
    assert record["scenario"]["name"] == "title+captions"
    assert record["scenario"]["train"]["max_steps_per_epoch"] == 2
    # The caption store fingerprint is recorded for both caption fields.
    assert set(record["captions"]) == {"image_caption", "video_caption"}
    for field in record["captions"].values():
        assert len(field["fingerprint"]) == 64 and field["captioned"] == 24
    # The text channel saw the captions: they are in the caption store under the key.
    rows = [
        json.loads(line)
        for line in (shared_cache / "captions" / "captions.jsonl").read_text().splitlines()
    ]
    assert {r["captioner"] for r in rows} == {"baseline"} and len(rows) >= 48
    with open(out / "test_per_user.csv", encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == results["dataset"]["users"] == 40


def test_run_scenario_errors_are_one_clean_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run-scenario", "title", "train.epoch=3"])
    assert result.exit_code == 2
    assert "train.epoch: unknown key" in result.output and "valid keys: epochs" in result.output
    assert "Traceback" not in result.output


def test_missing_captions_with_generation_off_print_the_command(
    tiny_data: Path, tmp_path: Path
) -> None:
    store = tmp_path / "empty-store"
    args = [
        "run-scenario",
        "image_caption",
        "--data",
        str(tiny_data),
        "--out",
        str(tmp_path / "run"),
        "captions.image_caption.generate=false",
        f"output.caption_store={json.dumps(str(store))}",
        _cache(tmp_path / "cache"),
        *FAST,
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "24 of 24 items have no image_caption" in result.output
    expected = (
        f"toolkit caption --data {tiny_data} --captioner baseline --prompt short --store {store}"
    )
    assert expected in result.output
    assert not (tmp_path / "run" / "results.json").exists()
    # The printed command is exact: after running it, the same scenario runs.
    command = next(line for line in result.output.splitlines() if "toolkit caption" in line)
    captioned = CliRunner().invoke(app, shlex.split(command.strip())[1:])
    assert captioned.exit_code == 0, captioned.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    results = json.loads((tmp_path / "run" / "results.json").read_text(encoding="utf-8"))
    assert results["record"]["captions"]["image_caption"]["generated"] == 0
    assert results["record"]["captions"]["image_caption"]["captioned"] == 24


def test_recommend_prints_top_k_with_titles(trained_run: Path) -> None:
    result = CliRunner().invoke(app, ["recommend", str(trained_run), "--user", "u1", "--k", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    lines = lines[lines.index("history (oldest first):") :]
    top = [line for line in lines if line.strip()[:2] in {f"{i}." for i in range(1, 6)}]
    assert len(top) == 5 and all("Gadget number" in line for line in top)
    history = lines[1 : lines.index("top 5:")]
    assert history and all("Gadget number" in line for line in history)
    # Items already in the history are not recommended again.
    seen = {line.split()[0] for line in history}
    assert not seen & {line.split()[1] for line in top}
    by_items = CliRunner().invoke(app, ["recommend", str(trained_run), "--items", "i0,i3"])
    assert by_items.exit_code == 0 and "top 10:" in by_items.output
    bad = CliRunner().invoke(app, ["recommend", str(trained_run), "--user", "nobody"])
    assert bad.exit_code == 2 and "unknown user 'nobody'" in bad.output


def test_recommend_refuses_a_checkpoint_missing_a_trained_tensor(
    trained_run: Path, tmp_path: Path
) -> None:
    """`recommend` loads through the same strict path as resume: a checkpoint that lacks one
    trainable tensor is an error naming it, never a model that keeps that tensor's initial
    values (the old loader used strict=False and checked unexpected keys only)."""
    import shutil

    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    best = run / "checkpoint" / "best.safetensors"
    tensors = load_file(best)
    from safetensors import safe_open

    with safe_open(str(best), framework="pt") as handle:
        metadata = handle.metadata()
    dropped = sorted(tensors)[-1]
    del tensors[dropped]
    save_file(tensors, str(best), metadata=metadata)
    result = CliRunner().invoke(app, ["recommend", str(run), "--user", "u1"])
    assert result.exit_code == 2, result.output
    assert "checkpoint does not match this model" in result.output
    assert dropped in result.output and "Traceback" not in result.output


def test_recommend_builds_the_model_with_the_typed_record_seed(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`recommend` takes the seed from the run's typed record (`read_run`'s `seed`): the
    recorded seed when there is one, 0 for a run recorded without one (a null seed used to
    end in a TypeError traceback)."""
    import shutil

    import scenarios.run.prepared as prepared

    seeds: list[int] = []
    real = prepared.spec_for

    def spy(scenario: object, prep: object, *, seed: int) -> object:
        seeds.append(seed)
        return real(scenario, prep, seed=seed)

    monkeypatch.setattr(prepared, "spec_for", spy)
    seeded = CliRunner().invoke(app, ["recommend", str(trained_run), "--user", "u1"])
    assert seeded.exit_code == 0, seeded.output
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    (run / "results.json").write_text(json.dumps(results | {"seed": None}), encoding="utf-8")
    unseeded = CliRunner().invoke(app, ["recommend", str(run), "--user", "u1"])
    assert unseeded.exit_code == 0, unseeded.output
    assert seeds == [3, 0]
    top = seeded.output[seeded.output.index("top 10:") :]
    assert unseeded.output[unseeded.output.index("top 10:") :] == top  # weights, not seed, score


def test_grid_command_over_scenario_files(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    args = ["grid", "title", "id", "--seeds", "0", "--data", str(tiny_data), "--out", str(tmp_path)]
    sets = [x for o in (*FAST, _cache(shared_cache)) for x in ("--set", o)]
    result = CliRunner().invoke(app, [*args, *sets])
    assert result.exit_code == 0, result.output
    assert "[1/2] title / iisan_versa / seed 0: done" in result.output
    assert "[2/2] id / id / seed 0: done" in result.output
    assert f"report written to {tmp_path / 'report.md'} (0 failed runs)" in result.output
    with open(tmp_path / "runs.csv", encoding="utf-8", newline="") as handle:
        assert [(r["scenario"], r["method"]) for r in csv.DictReader(handle)] == [
            ("title", "iisan_versa"),
            ("id", "id"),
        ]
