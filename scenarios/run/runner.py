"""`run_scenario`: one scenario (one run per seed) from file to results.json.

Each seed's inputs are prepared (`scenarios.run.prepared.prepare`: dataset, split, captions,
channel inputs; memoised in a `Workspace` so a grid of many cells loads each once per
process), turned into one run specification (`scenarios.run.prepared.spec_for`) and handed
to `recsys.run.run_experiment`, which trains, evaluates and writes the run folder (skipping a
completed one, resuming an interrupted one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.run.prepared import Prepared, Workspace, prepare, spec_for
from scenarios.schema.errors import ScenarioError
from scenarios.schema.specs import Scenario


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


def run_dir_for(scenario: Scenario, seed: int, out: Path | None) -> Path:
    """Default run folder: <output.dir>/<scenario>/<method>-s<seed> (or `out` itself)."""
    leaf = f"{scenario.method}-s{seed}"
    if out is None:
        return Path(scenario.output.dir) / scenario.name / leaf
    return Path(out) if len(scenario.seeds) == 1 else Path(out) / leaf


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
                spec_for(scenario, prepared, seed=seed),
                out_dir=run_dir,
                record={**prepared.record, **(extra_record or {})},
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
        spec_for(scenario, prepared, seed=seed),
        out_dir=run_dir,
        record={**prepared.record, **(extra_record or {})},
        users=users,
        device=device,
        progress=progress,
    )


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
