"""What the user asked for is what they see: `evaluate` shows every cut-off of eval.ks and
names its folder after the settings, `tune` ends with the chosen values and their test
numbers (no bars or library INFO lines in a log; trial 0 trains the scenario's own values),
`cache list` tells two caches of one encoder apart, a cache build says how far it is in a
log, `recommend` prints titles unescaped and says when the history is cut, help texts name
units, metavars and shipped scenarios, and `data show` previews an item's encoder text."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app

from .conftest import FAST, one_thread


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def amp_data(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset with HTML entities in every title (as Amazon's metadata has)."""
    root = tmp_path_factory.mktemp("amp") / "data"
    shutil.copytree(tiny_data, root)
    rows = list(csv.reader((root / "titles.csv").open(encoding="utf-8")))
    with open(root / "titles.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [rows[0], *([item, f"Flask &amp; beaker {item}"] for item, _ in rows[1:])]
        )
    return root


@pytest.fixture(scope="module")
def id_run(amp_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("asked") / "run"
    cache = f"output.cache_dir={json.dumps(str(out.parent / 'cache'))}"
    with one_thread():
        _invoke("run-scenario", "id", "--data", str(amp_data), "--out", str(out), *FAST, cache)
    return out


def test_evaluate_shows_every_cutoff_and_names_its_folder(id_run: Path) -> None:
    scored = _invoke("evaluate", str(id_run), "eval.ks=[1,5,20]")
    for k in (1, 5, 20):
        assert f"test HR@{k}" in scored.stdout and f"test NDCG@{k}" in scored.stdout
    folders = [p.name for p in id_run.glob("eval-*")]
    assert len(folders) == 1 and re.fullmatch(r"eval-ks=1,5,20-[0-9a-f]{12}", folders[0])
    results = json.loads((id_run / folders[0] / "results.json").read_text())
    table = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in
             scored.stdout.splitlines() if line.count("│") == 3}  # fmt: skip
    assert table["test NDCG@20"] == f"{results['test']['ndcg@20']:.4f}"
    both = _invoke("evaluate", str(id_run), "eval.history=unmasked", "eval.ks=[1,5,20]", "--json")
    made = Path(json.loads(both.stdout)["results_file"]).parent.name
    assert re.fullmatch(r"eval-history=unmasked-ks=1,5,20-[0-9a-f]{12}", made)
    # A folder from before the names (eval-<hash>) is still found: nothing is scored again.
    legacy = id_run / ("eval-" + folders[0].rsplit("-", 1)[1])
    (id_run / folders[0]).rename(legacy)
    again = json.loads(_invoke("evaluate", str(id_run), "eval.ks=[1,5,20]", "--json").stdout)
    assert again["status"] == "complete" and Path(again["results_file"]).parent == legacy
    assert not (id_run / folders[0]).exists()


def test_report_eval_writes_a_report_of_its_own_name() -> None:
    from scenarios.report.protocol import report_folder

    assert report_folder(()) == ""
    settings = ("eval.history=unmasked", "eval.ks=[1, 10, 50]")
    assert report_folder(settings) == "report_eval-history=unmasked-ks=1,10,50"


def test_recommend_unescapes_titles_and_says_the_history_is_cut(id_run: Path) -> None:
    items = [f"i{n % 24}" for n in range(37)]
    shown = _invoke(
        "recommend", str(id_run), "--items", ",".join(items), "--k", "3", "--include-seen"
    ).stdout
    cut = re.search(r"^history \(oldest first\): last (\d+) of 37 items$", shown, re.M)
    assert cut, shown
    window = int(cut.group(1))
    assert 0 < window < 37
    assert "&amp;" not in shown and shown.count("Flask & beaker") == window + 3
    short = _invoke("recommend", str(id_run), "--items", "i0,i1", "--k", "1").stdout
    assert "history (oldest first):\n" in short  # nothing cut: nothing said


def test_tune_ends_with_its_choice_and_test_numbers_and_a_quiet_log(
    tiny_data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("optuna")
    pytest.importorskip("mlflow")
    study = tmp_path / "study"
    args = ["id", "--trials", "1", "--data", str(tiny_data), "--out", str(study)]
    sets = ["train.epochs=1", "train.batch_size=32", "train.device=cpu", 'output.tracking="mlflow"']
    sets.append(f"output.cache_dir={json.dumps(str(tmp_path / 'cache'))}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(  # stdout and stderr are pipes: not a terminal, as in a log
        [sys.executable, "-m", "toolkit", "tune", *args, *sets],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert " INFO " not in done.stderr and "%|" not in done.stderr and "\r" not in done.stderr
    summary = json.loads((study / "tuning.json").read_text())
    start = summary["trials"][0]
    assert start["start"] is True and start["params"]["train.weight_decay"] == 0.0
    assert "weight_decay = 0.0" in (study / "best.toml").read_text()
    lines = done.stdout.splitlines()
    assert "chosen values: train.lr=0.001, train.weight_decay=0, model.dropout=0.1" in lines
    test = summary["final_runs"]["0"]["test"]
    assert any(
        line.startswith("test of the chosen values (seed 0")
        and f"ndcg@10 {test['ndcg@10']:.4f}" in line
        for line in lines
    ), lines


def test_tune_without_a_final_run_says_how_to_get_test_numbers(tmp_path: Path) -> None:
    from scenarios.tune.end import tune_end_lines
    from scenarios.tune.spec import TuneResult

    best = tmp_path / "my study" / "best.toml"
    result = TuneResult(best.parent, best, 0.1234, {"train.lr": 0.002}, [{}, {}])
    lines = tune_end_lines(result)
    assert lines[0] == "chosen values: train.lr=0.002"
    assert lines[1] == f"best valid ndcg@10 0.1234 (2 trials); scenario: {best}"
    assert lines[2] == f"no test numbers yet; to compute them: toolkit run-scenario '{best}'"


def test_cache_list_tells_two_caches_of_one_encoder_apart(zoo: dict, tmp_path: Path) -> None:
    from recsys.cache import build_or_load_cache
    from recsys.channels import ChannelInput, EncoderSpec
    from scenarios.run.caches import cache_entries, entries_table

    texts = ("red beaker", "blue flask", "green tube")
    for template, max_tokens in (("{title}", 8), ("Title: {title}", 16)):
        channel = ChannelInput(
            "text", "text", EncoderSpec(zoo["bert"], max_tokens=max_tokens),
            texts=tuple(template.replace("{title}", t) for t in texts), source_label=template,
        )  # fmt: skip
        build_or_load_cache(channel, cache_dir=tmp_path / "states", progress=False)
    entries = sorted(cache_entries(tmp_path), key=lambda e: e.built_by)
    assert [e.built_by.endswith(f", template {t!r}") for e, t in
            zip(entries, ("Title: {title}", "{title}"), strict=True)] == [True, True]  # fmt: skip
    assert all("3 items" in e.built_by and "layers" in e.built_by for e in entries)
    differs = [e.differs for e in entries]  # "Title: {title}" (max_tokens 16) first
    assert all(d.startswith("content=") for d in differs), differs
    assert "max_tokens=16" in differs[0] and "template=Title: {title}" in differs[0]
    assert "max_tokens=8" in differs[1] and "template={title}" in differs[1]
    assert "differs in" in entries_table(entries, tmp_path, width=400)


def test_a_cache_build_logs_progress_lines_on_a_clock() -> None:
    from recsys.cache.progress import ProgressLog

    now = [100.0]
    lines: list[str] = []
    log = ProgressLog("title", 10, lines.append, clock=lambda: now[0], interval=30)
    for t, items in ((10, 2), (31, 1), (40, 2), (70, 2), (130, 3)):
        now[0] = 100.0 + t
        log.update(items)
    # at 31 s: 3 of 10 done, 3 / 31 items/s, 7 left; at 70 s: 7 of 10, 0.1 items/s, 3 left
    assert lines == [
        "cache title: 3 of 10 items (30%), 0.1 items/s, about 1 min 12 s left",
        "cache title: 7 of 10 items (70%), 0.1 items/s, about 30.0 s left",
    ]  # the last update finishes the build: the build's own line says so


def test_a_cache_build_without_a_terminal_writes_progress_lines(
    zoo: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from recsys.cache import build_or_load_cache
    from recsys.channels import ChannelInput, EncoderSpec

    monkeypatch.setattr("recsys.cache.progress.INTERVAL", 0.0)  # a line after every batch
    texts = tuple(f"item {n}" for n in range(6))
    channel = ChannelInput("title", "text", EncoderSpec(zoo["bert"]), texts=texts)
    build_or_load_cache(channel, cache_dir=tmp_path, batch_size=2, chunk_size=4, progress=True)
    err = capsys.readouterr().err
    for done in (2, 4):
        assert re.search(rf"cache title: {done} of 6 items \(\d+%\), [\d.]+ items/s, about ", err)
    assert "%|" not in err  # stderr is not a terminal: lines, no bar


def test_help_names_units_metavars_and_shipped_scenarios() -> None:
    from scenarios.schema.shipped import shipped_scenarios

    run_help = _invoke("run-scenario", "--help").stdout
    names = [p.stem for p in shipped_scenarios()]
    assert len(names) >= 9 and all(name in run_help for name in names)
    assert "--set KEY=VALUE" in _invoke("data", "stats", "--help").stdout
    assert "--set KEY=VALUE" in _invoke("grid", "--help").stdout
    clean = " ".join(_invoke("cache", "clean", "--help").stdout.split())
    assert "d (days)" in clean and "h (hours)" in clean


def test_a_template_error_from_an_override_names_the_override() -> None:
    bad = CliRunner().invoke(app, ["run-scenario", "title", "channels.text.template={title"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    line = bad.output.strip().splitlines()[-1]
    assert line.startswith("error: override 'channels.text.template={title'"), line
    assert "channels[0].template: expected '}'" in line
    unknown = CliRunner().invoke(
        app, ["data", "show", "x", "--scenario", "title", "--set", "channels.text.template={nope}"]
    )
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1
    assert unknown.output.startswith("error: override 'channels.text.template={nope}'")
    assert "unknown field {nope}" in unknown.output


def test_data_show_previews_the_encoder_text_and_its_cut() -> None:
    from recsys.channels import EncoderSpec
    from recsys.data import load_dataset, sample_path
    from recsys.encoders.hf_text import load_tokenizer
    from scenarios.schema.models import resolve_model

    catalogue = load_dataset(sample_path()).catalogue
    item, title = catalogue.item_ids[0], catalogue.titles[0]
    sets = ["--set", 'channels.text.template="Title: {title}"']
    sets += ["--set", "channels.text.encoder.max_tokens=5"]
    shown = _invoke("data", "show", item, "--scenario", "title", *sets).stdout.splitlines()
    tokenizer = load_tokenizer(EncoderSpec(resolve_model("minilm", "/unused")))
    text = f"Title: {title}"
    count = len(tokenizer(text)["input_ids"])  # [CLS] ... [SEP]
    assert shown[0] == f"item {item} of {sample_path()}"
    assert shown[1] == "channel text: template 'Title: {title}'"
    assert shown[2] == f"  text ({count} tokens, cut at max_tokens = 5): {text}"
    kept, cut = shown[3].removeprefix("  kept: "), shown[4].removeprefix("  cut:  ")
    assert text.startswith(kept) and kept
    assert len(tokenizer(kept, add_special_tokens=False)["input_ids"]) == 5 - 2
    assert text[len(kept) :] == cut
    missing = CliRunner().invoke(app, ["data", "show", "no-such-item", "--scenario", "title"])
    assert missing.exit_code == 2 and missing.output.strip() == (
        f"error: {sample_path()}: no item 'no-such-item' in this dataset "
        "(its ids look like 2625, 1283, 5927, ...)"
    )
