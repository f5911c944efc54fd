"""Experiment tracking, optional and off by default: MLflow or TensorBoard.

`output.tracking = "mlflow"` logs one MLflow run per toolkit run (a seed of a scenario, a
grid cell, a tuning trial), nested under a parent run for a grid or a tuning study:
parameters are the flattened scenario (the dotted keys overrides use), metrics every
epoch's loss, times and validation metrics (step = epoch), then the best validation and the
test metrics, and results.json as an artifact; the parent gets the report and its plot.
The store is `output.tracking_uri`, by default an SQLite file `mlflow.db` in the job's folder
(artifacts beside it in `mlartifacts/`): MLflow 3 refuses its old `./mlruns` file store
unless `MLFLOW_ALLOW_FILE_STORE=true` is set, so a `file:` URI works only with that.

`output.tracking = "tensorboard"` writes event files under `<job folder>/tensorboard/<run>`:
the same scalars per epoch, and the flattened scenario with the final metrics as hparams.

Runs are found again by a key (the run folder): a run an earlier, killed attempt left
RUNNING is marked KILLED when the run starts again, a finished run folder is not logged a
second time, and the parent of a grid or a study is the same MLflow run across calls.
Only rank 0 tracks. Neither library is imported unless tracking is on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.schema.errors import ScenarioError
from scenarios.schema.specs import OutputSpec, Scenario

EPOCH_SCALARS = {
    "loss": "train/loss",
    "train_seconds": "time/train_seconds",
    "eval_seconds": "time/eval_seconds",
}
"""Epoch-record fields logged as scalars, and their names (validation metrics follow)."""


@dataclass(frozen=True)
class TrackingContext:
    """Where the runs of one job are tracked.

    Attributes:
        root: the job's folder (a run-scenario output, a grid's, a study's): the default
            MLflow store and the TensorBoard folder live there.
        experiment: the MLflow experiment (scenario, grid or study name).
        parent: MLflow run id of the grid's or study's run, or None.
    """

    root: Path
    experiment: str
    parent: str | None = None


def metric_key(name: str) -> str:
    """A name both MLflow and TensorBoard accept: `valid/ndcg@10` -> `valid/ndcg_at_10`."""
    return re.sub(r"[^\w./\- :]", "_", name.replace("@", "_at_"))


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested tables as dotted keys; list entries by `name` when they have one (as overrides
    address channels), else by index; lists of plain values stay one value."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
        out = {}
        for i, item in enumerate(value):
            name = item.get("name", i) if isinstance(item, Mapping) else i
            out |= flatten(item, f"{prefix}.{name}")
        return out
    if isinstance(value, list | tuple):
        return {prefix: json.dumps(list(value))}
    return {prefix: value}


def scenario_params(scenario: Scenario) -> dict[str, Any]:
    """The flattened scenario (what a run logs as parameters)."""
    plain = scenario.to_dict()
    plain.pop("source", None)
    return flatten(plain)


def epoch_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """One epoch record (`metrics.jsonl` line) as scalar names -> values."""
    out = {name: float(record[key]) for key, name in EPOCH_SCALARS.items() if key in record}
    for name, value in (record.get("valid") or {}).items():
        out[metric_key(f"valid/{name}")] = float(value)
    return out


def final_metrics(results: Mapping[str, Any]) -> dict[str, float]:
    """A finished run's best validation and test metrics, best epoch and epochs run."""
    out = {metric_key(f"best_valid/{k}"): float(v) for k, v in results.get("valid", {}).items()}
    out |= {metric_key(f"test/{k}"): float(v) for k, v in results.get("test", {}).items()}
    for key in ("best_epoch", "epochs_run"):
        if key in results:
            out[key] = float(results[key])
    return out


def _key_tag(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class _MLflow:
    """The MLflow client calls, through `MlflowClient` (explicit run ids: no global state)."""

    def __init__(self, output: OutputSpec, context: TrackingContext) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ScenarioError(
                "<output>", "output.tracking", "needs MLflow: pip install 'mmrec-toolkit[mlflow]'"
            ) from None
        root = Path(context.root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        uri = output.tracking_uri or f"sqlite:///{root / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=uri)
        self.experiment = self._experiment(context.experiment, root / "mlartifacts")

    def _experiment(self, name: str, artifacts: Path) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifacts.as_uri())
        except MlflowException:  # another process created it first
            return self.client.get_experiment_by_name(name).experiment_id

    def runs_with_key(self, key: str) -> list[Any]:
        return self.client.search_runs(
            [self.experiment], filter_string=f"tags.`mmrec.key` = '{_key_tag(key)}'"
        )

    def start(self, key: str, name: str, parent: str | None, tags: Mapping[str, str]) -> str:
        for run in self.runs_with_key(key):
            if run.info.status == "RUNNING":  # an attempt that was killed
                self.client.set_terminated(run.info.run_id, "KILLED")
        all_tags = {"mmrec.key": _key_tag(key), "mmrec.path": key, **tags}
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(self.experiment, tags=all_tags, run_name=name)
        return run.info.run_id

    def resume_or_start(self, key: str, name: str, parent: str | None) -> tuple[str, bool]:
        """(run id, new?): the parent run of this key, reopened, or a new one."""
        runs = self.runs_with_key(key)
        if runs:
            self.client.update_run(runs[0].info.run_id, status="RUNNING")
            return runs[0].info.run_id, False
        return self.start(key, name, parent, {}), True

    def log(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch, synchronous=True)

    def params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(metric_key(k), str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow's batch limit
            self.client.log_batch(run_id, params=items[start : start + 100], synchronous=True)

    def artifacts(self, run_id: str, paths: Sequence[Path]) -> None:
        for path in paths:
            if Path(path).is_file():
                self.client.log_artifact(run_id, str(path))

    def end(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status)


class RunTracker:
    """One tracked run: `epoch` is a trainer callback, `finish` logs the final metrics.

    Built by `track_run`; with tracking off every method does nothing.
    """

    def __init__(self, backend: Any = None, run_id: str | None = None, writer: Any = None):
        self.backend, self.run_id, self.writer = backend, run_id, writer
        self.params: dict[str, Any] = {}

    @property
    def callbacks(self) -> tuple[Any, ...]:
        """The trainer callbacks of this run (none when tracking is off)."""
        return (self.epoch,) if (self.run_id or self.writer) else ()

    def epoch(self, record: Mapping[str, Any]) -> None:
        step, values = int(record["epoch"]), epoch_metrics(record)
        if self.run_id:
            self.backend.log(self.run_id, values, step)
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)
            self.writer.flush()

    def finish(self, metrics: Mapping[str, float], artifacts: Sequence[Path] = ()) -> None:
        """Log the run's final metrics and artifacts (TensorBoard: as hparams)."""
        if self.run_id:
            self.backend.log(self.run_id, metrics)
            self.backend.artifacts(self.run_id, artifacts)
        if self.writer is not None:
            hparams = {
                k: v if isinstance(v, bool | int | float | str) else str(v)
                for k, v in self.params.items()
            }
            final = {f"hparam/{k}": v for k, v in metrics.items()}
            self.writer.add_hparams(hparams, final, run_name="hparams")
            self.writer.flush()


def _finished_here(run_dir: Path, fingerprint: str) -> bool:
    """True when `run_dir` already holds a finished run of this scenario (nothing to log)."""
    path = Path(run_dir) / "results.json"
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    record = held.get("record") if isinstance(held, dict) else None
    return isinstance(record, dict) and record.get("scenario_fingerprint") == fingerprint


@contextlib.contextmanager
def track_run(
    scenario: Scenario,
    context: TrackingContext | None,
    *,
    run_dir: Path,
    name: str,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[RunTracker]:
    """Track one run under `context` (None: the scenario's own folder and experiment).

    Yields a RunTracker; an exception leaving the block ends the run FAILED (KILLED for
    Ctrl-C) and propagates. A run folder that already holds this scenario's finished run is
    not logged again.
    """
    from recsys.distributed import current

    kind = scenario.output.tracking
    done = _finished_here(run_dir, scenario.fingerprint())
    if kind == "off" or done or not current().is_main:
        yield RunTracker()
        return
    context = context or TrackingContext(Path(run_dir).parent, scenario.name)
    logged = dict(params) if params is not None else scenario_params(scenario)
    if kind == "tensorboard":
        tracker = RunTracker(writer=_tensorboard_writer(context, run_dir))
        tracker.params = logged
        try:
            yield tracker
        finally:
            tracker.writer.close()
        return
    backend = _MLflow(scenario.output, context)
    key = str(Path(run_dir).resolve())
    run_id = backend.start(key, name, context.parent, dict(tags or {}))
    backend.params(run_id, logged)
    try:
        yield RunTracker(backend, run_id)
    except BaseException as exc:
        backend.end(run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    backend.end(run_id, "FINISHED")


def _tensorboard_writer(context: TrackingContext, run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ScenarioError(
            "<output>",
            "output.tracking",
            "needs TensorBoard: pip install 'mmrec-toolkit[tensorboard]'",
        ) from None
    root = Path(context.root).resolve()
    try:
        label = Path(run_dir).resolve().relative_to(root)
    except ValueError:
        label = Path(Path(run_dir).name)
    # purge_step=1: epochs are replayed from 1 on resume, hiding an earlier attempt's events
    return SummaryWriter(log_dir=str(root / "tensorboard" / label), purge_step=1)


class ParentRun:
    """The MLflow run a grid or a study nests its runs under (`open_parent`)."""

    def __init__(self, context: TrackingContext, backend: Any = None) -> None:
        self.context, self.backend = context, backend

    def finish(self, artifacts: Sequence[Path] = (), status: str = "FINISHED") -> None:
        """Attach the report (and plot) and end the parent run."""
        if self.backend is not None and self.context.parent:
            self.backend.artifacts(self.context.parent, artifacts)
            self.backend.end(self.context.parent, status)

    def log(self, metrics: Mapping[str, float]) -> None:
        """Metrics of the parent itself (a study's best value)."""
        if self.backend is not None and self.context.parent:
            self.backend.log(self.context.parent, metrics)


def open_parent(
    output: OutputSpec,
    context: TrackingContext,
    *,
    key: Path,
    name: str,
    params: Mapping[str, Any] | None = None,
) -> ParentRun:
    """The parent run of a grid or a study (folder `key`), nested under `context.parent`
    when there is one, reopened when it exists already. Its runs track under the returned
    `.context`. With TensorBoard or tracking off there is no parent run.
    """
    from recsys.distributed import current

    if output.tracking != "mlflow" or not current().is_main:
        return ParentRun(context)
    backend = _MLflow(output, context)
    run_id, new = backend.resume_or_start(str(Path(key).resolve()), name, context.parent)
    if params and new:  # MLflow refuses to change a logged parameter
        backend.params(run_id, params)
    return ParentRun(TrackingContext(context.root, context.experiment, run_id), backend)
