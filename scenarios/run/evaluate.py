"""`toolkit evaluate`: a finished run's best checkpoint scored under other evaluation
settings (masking convention, cut-offs, user subset, ...), without training.

The run folder's results.json records the scenario and the dataset it was trained on
(`open_run`, shared with `toolkit recommend`); `eval.*` overrides change the scenario's
evaluation settings only, and `recsys.run.evaluate_trained` rebuilds the model through the
one factory, loads the checkpoint strictly and writes ``eval-<settings>-<hash>/results.json``
(``eval-ks=1,10,50-<hash>``: the settings that differ from the run's, then their hash) and
``test_per_user.csv`` beside the run's own files, which it never touches. Asking again for
the same settings finds that folder complete (or an ``eval-<hash>/`` of older releases).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.eval.history import REMOVED_EVAL_KEYS, WITHDRAWN_HISTORY, history_of
from scenarios.run.results import RunRecord, from_results
from scenarios.schema.errors import ScenarioError
from scenarios.schema.overrides import parse_override
from scenarios.schema.scenario import parse_scenario
from scenarios.schema.specs import Scenario

EVAL_PREFIX = "eval."


@dataclass(frozen=True)
class OpenedRun:
    """A finished run folder, reopened: its results, the scenario it recorded (with any
    overrides applied) and that scenario prepared on the run's dataset."""

    run_dir: Path
    results: dict[str, Any]
    scenario: Scenario
    prepared: Any  # scenarios.run.prepared.Prepared

    @property
    def record(self) -> RunRecord:
        """The run's results.json, typed (`scenarios.run.results`)."""
        return from_results(self.results, self.run_dir)


def check_eval_overrides(overrides: Sequence[str], source: str = "<overrides>") -> None:
    """Only `eval.*` keys: anything else changes training, not how a checkpoint is scored.

    Raises:
        ScenarioError: naming the first other key.
    """
    for item in overrides:
        parts, _ = parse_override(item, source=source)
        key = ".".join(parts)
        if not key.startswith(EVAL_PREFIX):
            raise ScenarioError(
                source,
                key,
                "only evaluation settings (eval.*) can change without training; "
                "other settings make another run (toolkit run-scenario)",
            )


def open_run(
    run_dir: str | Path,
    *,
    data: Path | None = None,
    overrides: Sequence[str] = (),
    workspace: Any = None,
) -> OpenedRun:
    """Reopen a finished run folder made by run-scenario or grid.

    Args:
        run_dir: the run folder (its results.json).
        data: the dataset when it moved since training (default: the recorded path).
        overrides: dotted overrides applied to the recorded scenario.
        workspace: a `scenarios.run.prepared.Workspace` to share loaded datasets.

    Raises:
        ScenarioError: no results.json, a run not made from a scenario, or a dataset whose
            catalogue is not the one the run was trained on.
    """
    from recsys.fingerprints import read_results
    from scenarios.run.prepared import prepare

    run_dir = Path(run_dir)
    results_file = run_dir / "results.json"
    results = read_results(results_file)
    if results is None:
        raise ScenarioError(run_dir, "", "no results.json: not a finished run folder")
    record = results.get("record", {})
    if not isinstance(record, dict) or "scenario" not in record:
        raise ScenarioError(results_file, "record.scenario", "run not made by run-scenario/grid")
    plain = {k: v for k, v in record["scenario"].items() if k != "source"}
    if isinstance(plain.get("eval"), dict):  # a record from before eval.history: its old key
        plain["eval"] = {k: v for k, v in plain["eval"].items() if k not in REMOVED_EVAL_KEYS}
    scenario = parse_scenario(  # the run chose its checkpoint already: no selection check
        plain, source=str(results_file), overrides=overrides, check_selection=False
    )
    data_path = data or Path(record["dataset"]["path"])
    prepared = prepare(scenario, data=data_path, workspace=workspace, progress=False)
    catalogue = prepared.split.catalogue
    trained_on = results.get("dataset", {}).get("catalogue_sha256")
    if trained_on and catalogue.content_hash != trained_on:  # indices would no longer match
        raise ScenarioError(
            run_dir,
            "data",
            f"{data_path} is another dataset than the run was trained on (catalogue "
            f"{catalogue.content_hash[:12]}, trained on {trained_on[:12]}); "
            "pass --data with the run's dataset",
        )
    return OpenedRun(run_dir, results, scenario, prepared)


def withdrawn_note(run: Any) -> str:
    """What `toolkit evaluate` says after scoring a run (a `recsys.run.RunResult`) recorded
    under the withdrawn convention (every history item masked except the target); "" for any
    other run."""
    from recsys.fingerprints import read_results

    held = read_results(Path(run.out_dir) / "results.json") or {}
    if history_of((held.get("config") or {}).get("evaluation") or {}) != WITHDRAWN_HISTORY:
        return ""
    folder = Path(run.results_dir or run.out_dir)
    scored = from_results(read_results(folder / "results.json") or {}, folder)
    now = scored.protocol.convention or "masked"
    return (
        f"note: {run.out_dir} was recorded under the withdrawn evaluation convention (every "
        "history item masked except the target, which looks at the target); its checkpoint, "
        f"selected under that convention, is now scored under eval.history={now}; the run's "
        "own results.json is unchanged and is never compared with newer runs"
    )


def read_user_ids(path: Path) -> list[str]:
    """User ids, one a line (blank lines and lines starting with # are skipped).

    Raises:
        ScenarioError: an unreadable or empty file.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, "", f"cannot read the user list ({exc})") from None
    users = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not users:
        raise ScenarioError(path, "", "names no user id (one a line)")
    return users


def evaluate_run(
    run_dir: str | Path,
    overrides: Sequence[str] = (),
    *,
    users_file: Path | None = None,
    data: Path | None = None,
    device: str | None = None,
    workspace: Any = None,
    progress: bool = False,
) -> Any:
    """Score a finished run's best checkpoint under its scenario with `eval.*` overrides.

    Args:
        run_dir: a finished run folder (results.json, checkpoint/best.safetensors).
        overrides: `eval.*` dotted overrides (`eval.history=unmasked`).
        users_file: score only the users listed there (one id a line).
        data: the dataset when it moved since training.
        device: where to score (default: the run's train.device).
        workspace: a `scenarios.run.prepared.Workspace` shared across calls (a grid's).
        progress: progress bars while caches are checked.

    Returns:
        The `recsys.run.RunResult` (status "evaluated", or "complete" when these settings
        were scored before; `results_dir` is where the numbers are).

    Raises:
        ScenarioError: a key other than eval.*, or a bad run folder or user list.
        RecsysError: a run of another training configuration, or a checkpoint that does
            not load (recsys.run.evaluate_trained).
    """
    from scenarios.run.runner import evaluate_one

    check_eval_overrides(overrides)
    opened = open_run(run_dir, data=data, overrides=overrides, workspace=workspace)
    users = read_user_ids(users_file) if users_file is not None else None
    extra = {k: v for k, v in opened.results["record"].items() if k == "grid_cell"}
    return evaluate_one(
        opened.scenario, opened.prepared, seed=int(opened.record.seed or 0),
        run_dir=opened.run_dir, users=users, device=device, progress=progress,
        extra_record=extra,
    )  # fmt: skip
