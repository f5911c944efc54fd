"""`dataset.users.sample`: a deterministic user subsample, drawn after loading and before the
split, recorded in the dataset's hash, the scenario fingerprint and the run summary."""

from __future__ import annotations

import pytest

from recsys.data import load_dataset, make_split, sample_path
from recsys.data.users_sample import sample_users
from recsys.errors import ConfigError
from scenarios.run.datasets import dataset_spec, open_dataset
from scenarios.run.prepared import prepare
from scenarios.run.results import from_results
from scenarios.run.summary import summary_line, summary_of
from scenarios.schema.errors import ScenarioError
from scenarios.schema.scenario import load_scenario


@pytest.fixture(scope="module")
def full():
    return load_dataset(sample_path())


def test_same_seed_keeps_the_same_users_and_sequences(full) -> None:
    a, b = sample_users(full, 20, seed=3), sample_users(full, 20, seed=3)
    assert list(a.sequences) == list(b.sequences)
    assert len(a.sequences) == 20
    assert all(a.sequences[u] == full.sequences[u] for u in a.sequences)  # untouched
    order = [u for u in full.sequences if u in a.sequences]
    assert list(a.sequences) == order  # file order kept
    assert a.report.users_sample == {"sample": 20, "seed": 3, "kept": 20, "of": 380}
    assert a.report.notes[-1].startswith("user sample: kept 20 of 380 users")


def test_another_seed_keeps_other_users(full) -> None:
    a, b = sample_users(full, 20, seed=0), sample_users(full, 20, seed=1)
    assert set(a.sequences) != set(b.sequences)
    assert a.content_hash != b.content_hash


def test_the_split_sees_only_the_sample(full) -> None:
    split = make_split(sample_users(full, 30, seed=0))
    assert split.num_users + split.dropped_users == 30


@pytest.mark.parametrize("n", [0, -2, 381])
def test_impossible_sizes_are_errors_naming_the_key(full, n) -> None:
    with pytest.raises(ConfigError, match=r"^dataset\.users\.sample: is "):
        sample_users(full, n)


def test_the_whole_dataset_is_the_same_users(full) -> None:
    assert set(sample_users(full, 380).sequences) == set(full.sequences)


def test_fingerprint_changes_with_size_and_seed() -> None:
    def fp(*settings: str) -> str:
        return load_scenario("scenarios/shipped/id.toml", list(settings)).fingerprint()

    plain = fp()
    assert plain == fp("dataset.users.sample_seed=0")  # defaults keep old fingerprints
    prints = {
        plain,
        fp("dataset.users.sample=50"),
        fp("dataset.users.sample=60"),
        fp("dataset.users.sample=50", "dataset.users.sample_seed=1"),
    }
    assert len(prints) == 4


def test_scenario_and_command_line_validate_it() -> None:
    with pytest.raises(ScenarioError, match=r"dataset\.users\.sample.*>= 1"):
        load_scenario("scenarios/shipped/id.toml", ["dataset.users.sample=0"])
    with pytest.raises(ScenarioError, match=r"dataset\.users\.sample"):
        dataset_spec(["users.sample=0"])
    with pytest.raises(ScenarioError, match=r"dataset\.users\.bogus"):
        dataset_spec(["users.bogus=1"])
    assert len(open_dataset(None, ["users.sample=7"]).sequences) == 7


def test_run_record_and_summary_name_the_sample(tmp_path) -> None:
    scenario = load_scenario(
        "scenarios/shipped/id.toml",
        ["dataset.users.sample=40", "dataset.users.sample_seed=2", f"output.dir='{tmp_path}'"],
    )
    record = prepare(scenario, progress=False).record
    assert record["dataset"]["users_sample"] == {"sample": 40, "seed": 2, "kept": 40, "of": 380}
    results = {"record": record, "dataset": {"users": record["dataset"]["users"]}}
    summary = summary_of(results, run_dir=tmp_path, results_dir=tmp_path)
    assert summary["dataset"] == "sample (sample: 40 of 380 users, seed 2)"
    assert "on sample (sample: 40 of 380 users, seed 2)" in summary_line(summary)
    # the results table and figure captions read it from the typed record
    assert from_results(results, tmp_path).dataset == summary["dataset"]
