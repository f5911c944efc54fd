"""`run_scenario`: one scenario (one run per seed) from file to results.json.

The steps: load the dataset (the embedded sample unless the scenario or `--data` names
one) as its `[dataset]` table says, check the text templates' fields against it, make the
split (leave-one-out or temporal), resolve the caption fields the text templates use
(captioning missing ones, or stopping with the command to run), build one `ChannelInput`
per channel (templates filled, media paths listed, symbolic encoder names resolved), then
hand everything to `recsys.run.run_experiment`, which trains, evaluates and writes the run
folder (skipping a completed one, resuming an interrupted one). A `Workspace` memoises the
dataset, split and captions so a grid of many cells loads each once per process.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from media.hashing import sha256_json
from plumbing.typed import to_plain
from recsys.channels import ChannelInput
from recsys.config import SplitConfig
from recsys.data.types import Dataset, Split
from scenarios.schema.item_texts import check_templates, render_texts
from scenarios.schema.scenario import DatasetSpec, Scenario, ScenarioError


@dataclass
class Prepared:
    """What a scenario resolves to before training (shared by all its seeds)."""

    data_path: Path  # the dataset actually read
    dataset: Dataset
    split: Split
    channels: tuple[ChannelInput, ...]
    record: dict[str, Any]  # scenario, dataset and caption facts recorded with results


@dataclass
class Workspace:
    """Per-process memo of datasets, splits and captions, reused across the cells of a grid."""

    datasets: dict[tuple[str, str], Dataset] = field(default_factory=dict)
    splits: dict[tuple[str, SplitConfig], Split] = field(default_factory=dict)
    captions: dict[tuple[str, str], Any] = field(default_factory=dict)

    def dataset(self, path: Path, spec: DatasetSpec) -> Dataset:
        key = (str(path.resolve()), sha256_json(to_plain(spec)))
        if key not in self.datasets:
            self.datasets[key] = load_data(path, spec)
        return self.datasets[key]

    def split(self, dataset: Dataset, config: SplitConfig) -> Split:
        from recsys.data import make_split

        key = (dataset.content_hash, config)
        if key not in self.splits:
            self.splits[key] = make_split(dataset, config)
        return self.splits[key]


@dataclass(frozen=True)
class ScenarioResult:
    """What `run_scenario` did.

    Attributes:
        out_dir: the run folder (one seed) or the folder holding one run folder per seed.
        run_dirs: seed -> run folder.
        results: seed -> the run's results.json content (of its `eval-<hash>/` folder when
            a finished run was scored under other evaluation settings).
        skipped: one line saying which inputs fell back to empty (per channel and caption
            field, with where their ids are listed); "" when none did.
        runs: seed -> what `recsys.run.run_experiment` did (status, resumed_from, ...).
    """

    out_dir: Path
    run_dirs: dict[int, Path]
    results: dict[int, dict[str, Any]]
    skipped: str = ""
    runs: dict[int, Any] = field(default_factory=dict)


def load_data(path: Path, spec: DatasetSpec) -> Dataset:
    """Load a dataset as the scenario's `[dataset]` table says (format, explicit files,
    column names, k-core, user sample); `path` is the dataset actually read (`dataset_path`)."""
    from recsys.data import load_dataset
    from recsys.data.users_sample import sample_users

    dataset = load_dataset(
        path,
        items=spec.items,
        users=spec.interactions,
        images=spec.images,
        videos=spec.videos,
        on_unknown=spec.on_unknown,
        fmt=None if spec.format == "auto" else spec.format,
        columns=spec.columns,
        kcore=spec.kcore,
    )
    users = spec.users
    return sample_users(dataset, users.sample, users.sample_seed) if users.sample else dataset


def dataset_path(scenario: Scenario, data: Path | None) -> Path:
    """`--data`, else the scenario's dataset.path, else the embedded sample."""
    if data is not None:
        return Path(data)
    if scenario.dataset.path:
        return Path(scenario.dataset.path).expanduser()
    from recsys.data import sample_path

    return sample_path()


def run_dir_for(scenario: Scenario, seed: int, out: Path | None) -> Path:
    """Default run folder: <output.dir>/<scenario>/<method>-s<seed> (or `out` itself)."""
    leaf = f"{scenario.method}-s{seed}"
    if out is None:
        return Path(scenario.output.dir) / scenario.name / leaf
    return Path(out) if len(scenario.seeds) == 1 else Path(out) / leaf


def prepare(
    scenario: Scenario,
    *,
    data: Path | None = None,
    workspace: Workspace | None = None,
    progress: bool = True,
) -> Prepared:
    """Dataset, split, captions and channel inputs for a scenario (no training)."""
    from scenarios.run.captions import resolve_captions

    ws = workspace or Workspace()
    path = dataset_path(scenario, data)
    dataset = ws.dataset(path, scenario.dataset)
    check_templates(scenario, dataset.catalogue, str(path))  # before any captioning
    split = ws.split(dataset, scenario.split)
    captions = {}
    if scenario.caption_fields:
        memo = (dataset.content_hash, sha256_json(_caption_settings(scenario)))
        if memo not in ws.captions:
            ws.captions[memo] = resolve_captions(
                scenario, split.catalogue, data=path, progress=progress
            )
        captions = ws.captions[memo]
    channels = tuple(_channel_input(scenario, ch, split, captions) for ch in scenario.channels)
    record = {
        "scenario": scenario.to_dict(),
        "scenario_fingerprint": scenario.fingerprint(),
        "dataset": {
            "path": str(path.resolve()),  # absolute: grids compare it across working folders
            "name": dataset.name,
            "content_hash": dataset.content_hash,
            "dropped_unknown": dataset.report.dropped_unknown,
            "users": split.num_users,
            "items": split.num_items,
            "dropped_users": split.dropped_users,
            "split": split.kind,
            **({"kcore": _kcore_facts(dataset, split)} if dataset.report.kcore else {}),
            **({"users_sample": sample} if (sample := dataset.report.users_sample) else {}),
        },
        "captions": {name: fc.record() for name, fc in captions.items()},
        "channels": [_channel_facts(c) for c in channels],
    }
    return Prepared(path, dataset, split, channels, record)


def _kcore_facts(dataset: Any, split: Any) -> dict[str, Any]:
    """The load-time k-core's facts; a temporal split redoes the k-core on its training
    period (results.json `split.filtering`), which this record says instead of repeating
    the whole timeline's counts as if they applied."""
    if split.kind == "temporal":
        return {"k": dataset.report.kcore.get("k"), "applied": "training period (split.filtering)"}
    return dataset.report.kcore


def _channel_facts(channel: ChannelInput) -> dict[str, Any]:
    facts = {
        "name": channel.name,
        "modality": channel.modality,
        "model": channel.encoder.model,
        "source_fingerprint": channel.source_fingerprint,
    }
    if channel.paths is not None and channel.item_ids is not None:
        ids = zip(channel.item_ids, channel.paths, strict=True)
        facts["no_media_items"] = [item_id for item_id, path in ids if path is None]
    return facts


def _caption_settings(scenario: Scenario) -> dict[str, Any]:
    from scenarios.run.captions import caption_store_dir

    return {
        "store": str(caption_store_dir(scenario)),
        "fields": {f: dataclasses.asdict(scenario.captions[f]) for f in scenario.caption_fields},
    }


def _channel_input(
    scenario: Scenario, channel: Any, split: Split, captions: dict[str, Any]
) -> ChannelInput:
    from scenarios.schema.models import resolve_model

    encoder = dataclasses.replace(
        channel.encoder, model=resolve_model(channel.encoder.model, scenario.output.cache_path())
    )
    cat = split.catalogue
    if channel.modality == "text":
        from recsys.encoders.hf_text import load_tokenizer

        columns = {name: fc.captions for name, fc in captions.items()}
        texts = render_texts(channel.template, cat, columns, lambda: load_tokenizer(encoder))
        used = {name: captions[name].fingerprint for name in captions if name in channel.template}
        source = sha256_json({"template": channel.template, "captions": used})
        return ChannelInput(
            channel.name,
            "text",
            encoder,
            texts=texts,
            source_fingerprint=source,
            item_ids=cat.item_ids,
            source_label=channel.template,
        )
    paths = cat.image_paths if channel.modality == "image" else cat.video_paths
    return ChannelInput(channel.name, channel.modality, encoder, paths=paths, item_ids=cat.item_ids)


def run_one(
    scenario: Scenario,
    *,
    seed: int,
    run_dir: Path,
    data: Path | None = None,
    workspace: Workspace | None = None,
    progress: bool = True,
    extra_record: dict[str, Any] | None = None,
    tracking: Any = None,
) -> dict[str, Any]:
    """Train and evaluate one (scenario, seed) into `run_dir`; returns results.json content
    (`run_one_result` says what was done)."""
    result = run_one_result(
        scenario, seed=seed, run_dir=run_dir, data=data, workspace=workspace,
        progress=progress, extra_record=extra_record, tracking=tracking,
    )  # fmt: skip
    return read_results(result.results_dir or run_dir)


def run_one_result(
    scenario: Scenario,
    *,
    seed: int,
    run_dir: Path,
    data: Path | None = None,
    workspace: Workspace | None = None,
    progress: bool = True,
    extra_record: dict[str, Any] | None = None,
    tracking: Any = None,
    wait: bool = True,
) -> Any:
    """`run_one`, returning `recsys.run.RunResult`: a completed run folder is not trained
    again, an interrupted one resumes, a finished one asked for under other evaluation
    settings is scored under them (`run_experiment`). `tracking` is the job's
    `scenarios.run.tracking.TrackingContext` (used when `output.tracking` is on). One process
    writes a run folder at a time: another waits for it (`wait=False`: is refused)."""
    from recsys.run import claim_run_folder, run_experiment
    from scenarios.run.tracking import final_metrics, track_run

    check_outputs(scenario, run_dir)
    prepared = prepare(scenario, data=data, workspace=workspace, progress=progress)
    name = f"{scenario.name}/{scenario.method}-s{seed}"
    with run_folder_lock(run_dir, wait=wait):  # then finds a run another process completed
        claim_run_folder(run_dir)  # marks it (a run folder from before markers too)
        with track_run(scenario, tracking, run_dir=run_dir, name=name) as tracker:
            result = run_experiment(
                prepared.split,
                **_run_settings(scenario, prepared, seed, run_dir, extra_record),
                progress=progress,
                callbacks=tracker.callbacks,
            )
            done = Path(result.results_dir or run_dir)
            tracker.finish(final_metrics(read_results(done)), [done / "results.json"])
    return result


def run_folder_lock(run_dir: Path, *, wait: bool = True) -> Any:
    """The lock of one run folder (`plumbing.folders.folder_lock`); ranks of a torchrun job
    coordinate with barriers instead, so none is taken there."""
    import contextlib
    import os

    from plumbing.folders import folder_lock
    from recsys.run import RUN_KIND

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return contextlib.nullcontext()
    return folder_lock(run_dir, RUN_KIND, wait=wait)


def evaluate_one(
    scenario: Scenario,
    prepared: Prepared,
    *,
    seed: int,
    run_dir: Path,
    users: list[str] | None = None,
    device: str | None = None,
    progress: bool = False,
    extra_record: dict[str, Any] | None = None,
) -> Any:
    """Score the finished run in `run_dir` under `scenario`'s evaluation settings, without
    training (`recsys.run.evaluate_trained`); returns its RunResult."""
    from recsys.run import evaluate_trained

    return evaluate_trained(
        prepared.split,
        **_run_settings(scenario, prepared, seed, run_dir, extra_record),
        users=users,
        device=device,
        progress=progress,
    )


def _run_settings(
    scenario: Scenario,
    prepared: Prepared,
    seed: int,
    run_dir: Path,
    extra_record: dict[str, Any] | None,
) -> dict[str, Any]:
    """The keyword arguments `run_experiment` and `evaluate_trained` both take from a
    scenario: method, channels, settings, seed, folders and the run record."""
    return {
        "method": scenario.method,
        "channels": prepared.channels,
        "method_options": dict(scenario.method_options),
        "sasrec": scenario.model,
        "train": scenario.train,
        "evaluation": scenario.eval,
        "seed": seed,
        "out_dir": run_dir,
        "cache_dir": scenario.output.cache_path() / "states",
        "record": {**prepared.record, **(extra_record or {})},
    }


def check_outputs(scenario: Scenario, run_dir: Path) -> None:
    """Before any work: the run folder, the cache folder and the caption store can be
    written (a finished run folder is only read, so it is not asked).

    Raises:
        OutputError: one of them is a file, read-only, or on a full disk, or the run
            folder holds files and is not a run folder of this toolkit.
    """
    from plumbing.folders import check_folder
    from plumbing.io import check_output_dir
    from recsys.run import RUN_KIND, is_run_folder

    check_folder(run_dir, RUN_KIND, is_run_folder, "run folder")  # not a user's folder
    if not (Path(run_dir) / "results.json").is_file():
        check_output_dir(run_dir, "run folder")
    check_output_dir(scenario.output.cache_path(), "cache folder (output.cache_dir)")
    if scenario.caption_fields:
        from scenarios.run.captions import caption_store_dir

        check_output_dir(caption_store_dir(scenario), "caption store")


def skipped_inputs(results: dict[str, Any], run_dir: Path) -> str:
    """One line on the items whose inputs fell back to empty, per channel and caption
    field, and where their ids are listed; "" when every input was used."""
    items = results.get("dataset", {}).get("items", "?")
    parts = []
    for name, facts in results.get("record", {}).get("captions", {}).items():
        if facts.get("failed") or facts.get("no_media"):
            parts.append(
                f"caption {name} {facts['failed'] + facts['no_media']} ({facts['failed']} "
                f"failed, {facts['no_media']} without a file; ids in "
                f"{Path(run_dir) / 'results.json'} record.captions.{name})"
            )
    used = results.get("tower", {}).get("channels", [])
    for i, channel in enumerate(results.get("config", {}).get("channels", [])):
        named = [f for f in used if f.get("name") == channel["name"]]  # tuned towers name them
        facts = named[0] if named else (used[i] if i < len(used) else {})
        missing = facts.get("missing", facts.get("missing_media", 0))
        if channel.get("modality") == "text" or not missing:
            continue
        where = (
            f"{Path(facts['cache']) / 'manifest.json'} missing_items"
            if facts.get("cache")
            else f"{Path(run_dir) / 'results.json'} record.channels (items without a file)"
        )
        parts.append(f"channel {channel['name']} {missing} (zero states; ids in {where})")
    if not parts:
        return ""
    return f"inputs that fell back to empty, of {items} items: " + "; ".join(parts)


def read_results(run_dir: Path) -> dict[str, Any]:
    """The results.json of a finished run folder."""
    path = Path(run_dir) / "results.json"
    if not path.exists():
        raise ScenarioError(run_dir, "", "no results.json: the run did not finish")
    return json.loads(path.read_text(encoding="utf-8"))


def run_scenario(
    scenario: Scenario,
    *,
    data: Path | None = None,
    out: Path | None = None,
    progress: bool = True,
    workspace: Workspace | None = None,
    wait: bool = True,
) -> ScenarioResult:
    """Run every seed of a scenario.

    Args:
        scenario: a validated scenario (`load_scenario`).
        data: dataset path overriding the scenario's (default: the embedded sample).
        out: run folder for a single seed, or parent of `<method>-s<seed>` folders;
            default `<output.dir>/<scenario>/<method>-s<seed>`.
        progress: progress bars.
        workspace: memo shared with other calls (the grid passes one).
        wait: wait for another process writing a run folder (False: refuse at once).

    Returns:
        The run folders and their results.
    """
    from scenarios.run.tracking import TrackingContext

    ws = workspace or Workspace()
    run_dirs: dict[int, Path] = {}
    results: dict[int, dict[str, Any]] = {}
    runs: dict[int, Any] = {}
    root = Path(out) if out is not None else Path(scenario.output.dir) / scenario.name
    tracking = TrackingContext(root, scenario.name)  # the store lives in the output folder
    for seed in scenario.seeds:  # every output is checked before the first seed starts
        check_outputs(scenario, run_dir_for(scenario, seed, out))
    for seed in scenario.seeds:
        run_dir = run_dir_for(scenario, seed, out)
        runs[seed] = run_one_result(
            scenario, seed=seed, run_dir=run_dir, data=data, workspace=ws, progress=progress,
            tracking=tracking, wait=wait,
        )  # fmt: skip
        results[seed] = read_results(runs[seed].results_dir or run_dir)
        run_dirs[seed] = run_dir
    first = run_dirs[scenario.seeds[0]]
    out_dir = first if len(run_dirs) == 1 else first.parent
    skipped = skipped_inputs(results[scenario.seeds[0]], first)  # the same data for every seed
    return ScenarioResult(
        out_dir=out_dir, run_dirs=run_dirs, results=results, skipped=skipped, runs=runs
    )
