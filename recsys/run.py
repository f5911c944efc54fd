"""`run_experiment`: one method on one split, trained, evaluated and recorded in a folder.

The run folder holds ``config.json`` (resolved configuration), ``metrics.jsonl`` (one line
per epoch), ``checkpoint/`` (trainable state only), ``test_per_user.csv`` and, once
complete, ``results.json``. Re-running the same call on a complete folder returns the
recorded result without training; on an interrupted one it resumes from the last epoch.

Two fingerprints identify a run (`fingerprints`): the training fingerprint (`train_sha256`:
everything that decides the trained weights and the selected epoch, which includes the
evaluation settings that change validation metrics, `recsys.config.SELECTION_FIELDS`) and
the evaluation fingerprint (`eval_sha256`: how the selected checkpoint is scored). A
finished run asked for under other evaluation settings is not trained again: its best
checkpoint is scored under them (`evaluate_trained`) into ``eval-<hash>/results.json``
beside the run's own files, which are never touched. A results.json written before the
split records only `config_sha256` (one hash over both); its recorded `config` gives the
two fingerprints by the same rule, so rerunning the same command finds it complete.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.hashing import sha256_json
from plumbing.folders import claim_folder
from plumbing.io import atomic_write_json
from provenance import code_identity, version
from recsys import distributed
from recsys.data.split import restrict_users
from recsys.distributed import DistContext, current
from recsys.errors import ConfigError
from recsys.eval.beyond import beyond_record
from recsys.eval.buckets import buckets_record
from recsys.eval.evaluator import evaluate, new_items_record
from recsys.eval.per_user import write_per_user_csv
from recsys.factory import build_model, build_trained
from recsys.fingerprints import (
    completed,
    eval_dir,
    eval_label,
    fingerprints,
    recorded_fingerprints,
    training_config,
)
from recsys.models.recommender import SequentialRecommender
from recsys.spec import RunSpec, split_record
from recsys.train.trainer import EpochCallback, FitResult, Trainer, resolve_device

__all__ = [
    "RunResult",
    "claim_run_folder",
    "evaluate_trained",
    "fit_model",
    "is_run_folder",
    "run_experiment",
]


@dataclass(frozen=True)
class RunResult:
    """What a run produced (also in ``out_dir/results.json``).

    Attributes:
        out_dir: the run folder.
        valid: validation metrics of the best epoch.
        test: test metrics with the best-validation weights.
        best_epoch: epoch selected on validation.
        epochs_run: epochs trained.
        efficiency: seconds per epoch, memory, parameters (recsys.eval.efficiency).
        params: {"trainable", "total"}.
        status: what this call did: "trained" (from scratch), "resumed" (from a checkpoint),
            "complete" (nothing: the folder held these results) or "evaluated" (a finished
            run's best checkpoint scored under other evaluation settings, no training).
        resumed_from: epochs the checkpoint held when training resumed (0 otherwise).
        results_dir: the folder of the results.json these numbers are from: `out_dir`, or
            its `eval-<hash>/` for another evaluation.
    """

    out_dir: Path
    valid: dict[str, float]
    test: dict[str, float]
    best_epoch: int
    epochs_run: int
    efficiency: dict[str, Any]
    params: dict[str, int]
    status: str = "trained"
    resumed_from: int = 0
    results_dir: Path | None = None


RUN_KIND = "run"  # the marker of a run folder: plumbing.folders.marker_path(out_dir, RUN_KIND)


def is_run_folder(folder: Path) -> bool:
    """A run folder written before run folders had a marker: it holds a results.json or
    config.json of this toolkit (a JSON object with `config_sha256`), a grid's cell.json
    (`fingerprint` and `label`) or a checkpoint."""
    keys = {"results.json": {"config_sha256"}, "config.json": {"config_sha256"}}
    for name, needed in (keys | {"cell.json": {"fingerprint", "label"}}).items():
        try:
            data = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(data, dict) and needed <= data.keys():
            return True
    return (Path(folder) / "checkpoint" / "state.json").is_file()


def claim_run_folder(out_dir: Path) -> Path:
    """Refuse a folder that holds files and is not a run folder; mark a run folder.

    Raises:
        OutputError: `out_dir` is not empty and not a run folder of this toolkit.
    """
    return claim_folder(out_dir, RUN_KIND, is_run_folder, "run folder")


def _result_from_json(
    out_dir: Path,
    data: Mapping[str, Any],
    *,
    status: str = "trained",
    resumed_from: int = 0,
    results_dir: Path | None = None,
) -> RunResult:
    return RunResult(
        out_dir=out_dir,
        valid=dict(data["valid"]),
        test=dict(data["test"]),
        best_epoch=int(data["best_epoch"]),
        epochs_run=int(data["epochs_run"]),
        efficiency=dict(data["efficiency"]),
        params=dict(data["params"]),
        status=status,
        resumed_from=resumed_from,
        results_dir=results_dir or out_dir,
    )


def run_experiment(
    spec: RunSpec,
    *,
    out_dir: Path,
    record: Mapping[str, Any] | None = None,
    progress: bool = True,
    callbacks: Sequence[EpochCallback] = (),
) -> RunResult:
    """Train `spec`'s method on its split, select on validation, evaluate test, record everything.

    Args:
        spec: the run's settings (`recsys.spec.RunSpec`; None / "auto" training fields take
            the method's defaults).
        out_dir: the run folder (created; a finished run there is returned as is, or, when
            only scoring settings differ, scored under them without training).
        record: caller facts stored verbatim in results.json (scenario name, ...).
        progress: show progress bars.
        callbacks: per-epoch hooks handed to the trainer (experiment trackers).

    Returns:
        The RunResult; its `status` says what this call did.
    """
    out_dir = Path(out_dir)
    spec = spec.check()  # a typo fails before any work; the method's defaults filled in
    run_config = spec.run_config()
    prints = fingerprints(run_config)
    done = completed(out_dir, run_config)
    if done is not None and done[0] == "complete":
        return _result_from_json(out_dir, done[1], status="complete", results_dir=done[2])
    if done is not None:  # trained under this training configuration: score it, no training
        return evaluate_trained(spec, out_dir=out_dir, record=record, progress=progress)
    dist = distributed.init_from_env()  # torchrun: join the process group (idempotent)
    if dist.is_main:
        claim_run_folder(out_dir)  # a user's folder is refused before anything is written
    model, fit = fit_model(
        spec, out_dir, checkpoint_config=training_config(run_config),
        config_file=run_config | prints, dist=dist, progress=progress, callbacks=callbacks,
        accept_hashes=(prints["config_sha256"],),  # a checkpoint from before the split
    )  # fmt: skip
    result = _evaluate_and_record(model, spec, fit, run_config, prints, out_dir, record)
    status = "resumed" if fit.resumed_from else "trained"
    return dataclasses.replace(result, status=status, resumed_from=fit.resumed_from)


def fit_model(
    spec: RunSpec,
    out_dir: Path,
    *,
    checkpoint_config: Mapping[str, Any],
    config_file: Mapping[str, Any] | None = None,
    accept_hashes: tuple[str, ...] = (),
    dist: DistContext | None = None,
    progress: bool = False,
    callbacks: Sequence[EpochCallback] = (),
) -> tuple[SequentialRecommender, FitResult]:
    """The one training entry (a run's and a tuning trial's): build `spec`'s model
    (`recsys.factory.build_model`) and train it into `out_dir` (`Trainer.fit`: checkpoints,
    metrics.jsonl, resuming a checkpoint made under the same configuration).

    Args:
        spec: the run's settings.
        out_dir: where the trainer writes.
        checkpoint_config: the configuration checkpoints hold and are matched by on resume.
        config_file: written to ``out_dir/config.json`` (rank 0) once the model is built.
        accept_hashes: other configuration hashes whose checkpoints may be resumed.
        dist: rank context (None: a single process).
        progress: progress bars.
        callbacks: per-epoch hooks (trackers, a tuning trial's pruning).

    Returns:
        The trained model (best weights loaded by the trainer) and what the fit did.
    """
    spec = spec.resolved()
    device = resolve_device(spec.train.device)
    model = build_model(spec, device=device, dist=dist, progress=progress)
    if config_file is not None and (dist or current()).is_main:
        atomic_write_json(Path(out_dir) / "config.json", dict(config_file))
    fit = Trainer(
        model, spec.split, spec.train, spec.evaluation, seed=spec.seed, out_dir=out_dir,
        run_config=checkpoint_config, device=device, progress=progress,
        accept_hashes=accept_hashes, callbacks=callbacks,
    ).fit()  # fmt: skip
    return model, fit


def _evaluate_and_record(
    model: SequentialRecommender,
    spec: RunSpec,
    fit: Any,
    run_config: Mapping[str, Any],
    prints: Mapping[str, str],
    out_dir: Path,
    record: Mapping[str, Any] | None,
    evaluated_from: Mapping[str, Any] | None = None,
) -> RunResult:
    """Evaluate the best weights on validation and test; write results (rank 0)."""
    split, evaluation = spec.split, spec.evaluation
    model.eval()
    item_table = distributed.embed_all(model.item_tower, split.num_items)
    valid = evaluate(model, split, "valid", evaluation, item_table=item_table)
    test = evaluate(model, split, "test", evaluation, item_table=item_table)
    efficiency = dict(fit.efficiency) | {"test_eval_seconds": test.seconds}
    results = {
        "protocol": split.protocol,
        "split": split_record(split),
        "method": run_config["method"],
        "seed": run_config["seed"],
        "config": dict(run_config),
        **prints,
        "dataset": {
            "users": split.num_users,
            "items": split.num_items,
            "items_defined": split.defined_items or split.num_items,
            "catalogue": split.catalogue_note(),
            "dropped_users": split.dropped_users,
            "catalogue_sha256": split.catalogue.content_hash,
            "split_fingerprint": run_config["split"]["fingerprint"],
        },
        "masking": test.masking,
        "valid": valid.metrics,
        "test": test.metrics,
        "buckets": buckets_record(test.protocol, evaluation.buckets, valid, test),
        "beyond": beyond_record(valid, test),  # None under eval.beyond = false
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "stop_reason": fit.stop_reason,
        "efficiency": efficiency,
        "params": fit.params,
        "tower": model.item_tower.describe(),
        "record": dict(record or {}),
        "toolkit_version": version(),
        "code": code_identity(),  # what a grid compares cells by (scenarios.grid.run)
        "per_user_file": "test_per_user.csv",
    }
    if split.withheld is not None:
        results["new_items"] = new_items_record(split, valid, test)
    if evaluated_from is not None:
        results["evaluated_from"] = dict(evaluated_from)
    if current().is_main:
        write_per_user_csv(out_dir / "test_per_user.csv", test, split)
        atomic_write_json(out_dir / "results.json", results)  # last: marks the run complete
    distributed.barrier()  # other ranks return only once the run folder is complete
    return _result_from_json(out_dir, results)


def evaluate_trained(
    spec: RunSpec,
    *,
    out_dir: Path,
    users: Sequence[str] | None = None,
    device: str | None = None,
    record: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> RunResult:
    """Score a finished run's best checkpoint under `spec.evaluation`, without training.

    `spec` must describe the run's training (the evaluation settings that select the epoch
    may differ: the checkpoint the run selected is scored under the new ones, and
    `evaluated_from.selection` records the run's). Writes
    ``out_dir/eval-<hash>/results.json`` (a run's keys, `train_sha256` the run's) and its
    ``test_per_user.csv``; the run's own files are never touched. The model is rebuilt by the
    one factory and its checkpoint loaded strictly (`recsys.factory.build_trained`).

    Args:
        users: score only these users (ids of the split); their count and hash join the
            evaluation fingerprint (as `evaluation.users`).
        device: where to score (default: the run's `train.device`; not part of any hash).

    Raises:
        ConfigError: no finished run in `out_dir`, one of another training configuration,
            or a user id that is not in the split.
        CheckpointError: the best checkpoint is missing, damaged or does not fit the model.
    """
    out_dir = Path(out_dir)
    spec = spec.resolved()
    run_config = spec.run_config()
    scored = spec
    if users is not None:
        kept = restrict_users(spec.split, users)
        scored = dataclasses.replace(spec, split=kept)
        subset = {"count": kept.num_users, "sha256": sha256_json(sorted(kept.user_ids))}
        run_config["evaluation"] = run_config["evaluation"] | {"users": subset}
    done = completed(out_dir, run_config, scoring=True)
    if done is None:
        raise ConfigError(f"{out_dir}: no results.json: not a finished run (train it first)")
    status, trained, folder = done
    if status == "complete":
        return _result_from_json(out_dir, trained, status="complete", results_dir=folder)
    device = resolve_device(device or spec.train.device)
    model = build_trained(spec, out_dir, device=device, progress=progress)
    return _record_scoring(model, scored, run_config, trained, out_dir, record)


def _record_scoring(
    model: SequentialRecommender,
    spec: RunSpec,
    run_config: dict[str, Any],
    trained: Mapping[str, Any],
    out_dir: Path,
    record: Mapping[str, Any] | None,
) -> RunResult:
    """Score a trained run's model and write ``eval-<hash>/``; the run's training facts
    (selected epoch, epochs, efficiency, parameters) are carried over from its results."""
    held = recorded_fingerprints(trained) or {}
    prints = fingerprints(run_config) | {"train_sha256": held["train_sha256"]}
    fit = FitResult(
        best_epoch=int(trained["best_epoch"]),
        epochs_run=int(trained["epochs_run"]),
        best_valid=dict(trained["valid"]),
        history=[],
        stop_reason=str(trained.get("stop_reason", "max_epochs")),
        efficiency={k: v for k, v in trained["efficiency"].items() if k != "test_eval_seconds"},
        params=dict(trained["params"]),
    )
    source = {
        "run_dir": "..",
        "checkpoint": "checkpoint/best.safetensors",
        "eval_sha256": held["eval_sha256"],
        "selection": training_config(trained["config"])["selection"],
        "valid_at_selection": dict(trained["valid"]),
    }
    label = eval_label(trained["config"].get("evaluation") or {}, run_config["evaluation"])
    target = eval_dir(out_dir, prints["eval_sha256"], label)
    result = _evaluate_and_record(
        model, spec, fit, run_config, prints, target, record, evaluated_from=source
    )
    return dataclasses.replace(result, out_dir=out_dir, status="evaluated")
