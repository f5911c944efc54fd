"""Bring-your-own-catalogue end to end: the same catalogue in every input format trains to
the same metrics; the temporal split is named in results.json; templates name any text
field of the dataset, checked against it before any captioning, with per-field budgets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.run.prepared import prepare
from scenarios.run.runner import run_scenario
from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import load_scenario, parse_scenario
from tests.data.conftest import FORMS, write_catalogue, write_files
from toolkit.cli import app

from .conftest import FAST


def _cache(folder: Path) -> str:
    return f"output.cache_dir={json.dumps(str(folder))}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("forms")
    results = {}
    for form in (*FORMS, "temporal"):
        data = write_catalogue(base / form, "tables" if form == "temporal" else form)
        extra = ["split.kind=temporal", "split.valid_cut=0.5", "split.test_cut=0.7"]
        overrides = [*FAST, "train.epochs=1", "seed=5", _cache(base / "cache")]
        scenario = load_scenario("title", overrides + (extra if form == "temporal" else []))
        done = run_scenario(scenario, data=data, out=base / "runs" / form, progress=False)
        results[form] = done.results[5]
    return results


def test_every_format_gives_the_same_split_and_metrics(runs: dict[str, dict]) -> None:
    reference = runs["amazon"]  # the IISAN TSVs
    assert reference["split"] == {
        "kind": "leave_one_out",
        "protocol": "leave_one_out_full_ranking",
        "fingerprint": reference["config"]["split"]["fingerprint"],
        "keep_last": 13,
        "max_len": 10,
        "min_len": 3,
    }
    assert "kind" not in reference["config"]["split"]  # leave-one-out config hashes unchanged
    for form in FORMS:
        assert runs[form]["split"] == reference["split"], form
        assert runs[form]["valid"] == reference["valid"], form
        assert runs[form]["test"] == reference["test"], form
        assert runs[form]["protocol"] == "leave_one_out_full_ranking"


def test_a_temporal_run_says_so_in_results(runs: dict[str, dict]) -> None:
    temporal = runs["temporal"]
    assert temporal["protocol"] == "temporal_full_ranking"
    split = temporal["split"]
    assert split["kind"] == "temporal" and split["protocol"] == "temporal_full_ranking"
    assert split["valid_start"].startswith("2023-11-14T") and len(split["cuts"]) == 2
    assert split["fingerprint"] != runs["tables"]["split"]["fingerprint"]
    assert temporal["config"]["split"]["kind"] == "temporal"
    assert temporal["config"]["split"]["cuts"] == split["cuts"]
    assert temporal["record"]["dataset"]["split"] == "temporal"
    assert temporal["record"]["scenario"]["split"]["valid_cut"] == 0.5


def test_the_load_time_kcore_record_defers_to_a_temporal_splits_own() -> None:
    """A temporal split redoes the k-core on its training period (`split.filtering`); the
    scenario record must not repeat the whole timeline's counts as if they applied."""
    from types import SimpleNamespace

    from scenarios.run.prepared import _kcore_facts

    facts = {"k": 2, "rounds": 1, "users_before": 9, "users_after": 7}
    dataset = SimpleNamespace(report=SimpleNamespace(kcore=facts))
    assert _kcore_facts(dataset, SimpleNamespace(kind="leave_one_out")) == facts
    assert _kcore_facts(dataset, SimpleNamespace(kind="temporal")) == {
        "k": 2,
        "applied": "training period (split.filtering)",
    }


ITEMS = 'item_id,title,description,brand\na,Alpha,"one two three four five",Acme\nb,Beta,,Zed\n'
INTER = "user_id,item_id,timestamp\n" + "".join(
    f"u{u},{'ab'[(u + k) % 2]},{10 * k + u}\n" for u in range(4) for k in range(4)
)


def _scenario(tmp_path: Path, template: str, captions: bool = False) -> object:
    text = (
        'method = "iisan_versa"\n[[channels]]\nname = "text"\nmodality = "text"\n'
        f"template = {json.dumps(template)}\n"
        + ('[captions.image_caption]\ncaptioner = "baseline"\n' if captions else "")
    )
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path, [_cache(tmp_path / "cache")])


def test_templates_name_any_field_with_token_budgets(tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", {"items.csv": ITEMS, "interactions.csv": INTER})
    scenario = _scenario(tmp_path, "{title}. {description:3} ({brand})")
    texts = prepare(scenario, data=data, progress=False).channels[0].texts
    assert texts == ("Alpha. one two three (Acme)", "Beta.  (Zed)")


def test_unknown_fields_fail_before_any_captioning(tmp_path: Path) -> None:
    data = write_files(tmp_path / "data", {"items.csv": ITEMS, "interactions.csv": INTER})
    scenario = _scenario(tmp_path, "{title}. {descripton}. {image_caption}", captions=True)
    with pytest.raises(ScenarioError) as info:
        prepare(scenario, data=data, progress=False)
    assert info.value.source == str(tmp_path / "mine.toml")
    assert info.value.key == "channels[0].template"
    assert info.value.message == (
        f"unknown field {{descripton}} (did you mean 'description'?); the dataset {data} has "
        "the fields {title}, {item_id}, {image_caption}, {video_caption}, {description}, {brand}"
    )
    assert not (tmp_path / "cache").exists()  # no caption store, no encoder, nothing written
    result = CliRunner().invoke(
        app, ["run-scenario", str(tmp_path / "mine.toml"), "--data", str(data), "--out", "x"]
    )
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "channels[0].template: unknown field {descripton}" in result.output


def test_the_sample_renders_as_before() -> None:
    """The renderer fills `{title}` templates exactly as str.format did (same cache keys)."""
    from recsys.data import load_dataset, sample_path
    from scenarios.schema.item_texts import render_texts

    cat = load_dataset(sample_path()).catalogue
    template = "{title} ({item_id}) {{literal}}"
    assert render_texts(template, cat, {}) == tuple(
        template.format(title=t, item_id=i).strip()
        for i, t in zip(cat.item_ids, cat.titles, strict=True)
    )


def test_dataset_options_in_a_scenario() -> None:
    doc = {"name": "x", "method": "id", "dataset": {"format": "recbole", "kcore": 2}}
    doc["dataset"]["columns"] = {"user": "uid", "timestamp_unit": "ms"}
    spec = parse_scenario(doc).dataset
    assert (spec.format, spec.kcore, spec.columns.user, spec.columns.timestamp_unit) == (
        "recbole",
        2,
        "uid",
        "ms",
    )
