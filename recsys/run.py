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
import hashlib
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
from recsys.channels import ChannelInput
from recsys.config import (
    EvalConfig,
    SASRecConfig,
    TrainConfig,
    eval_record,
    sasrec_record,
)
from recsys.data.split import restrict_users
from recsys.data.types import Split
from recsys.distributed import current
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
from recsys.methods import get_method, parse_method_options
from recsys.models.recommender import SequentialRecommender
from recsys.train.trainer import (
    EpochCallback,
    FitResult,
    Trainer,
    resolve_device,
    resolve_train_config,
)


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


def split_fingerprint(split: Split) -> str:
    """sha256 over the catalogue and every array that defines the split; a split other than
    leave-one-out also hashes its kind, cut times and validation histories, and one under
    the new-item protocol its protocol name and withheld items (leave-one-out fingerprints
    stay what they were before either existed)."""
    digest = hashlib.sha256(split.catalogue.content_hash.encode())
    for array in (split.train_seqs, split.valid_target, split.test_target, *split.test_seen):
        digest.update(array.astype("int64").tobytes())
    digest.update("\n".join(split.user_ids).encode())
    if split.kind != "leave_one_out":
        digest.update(json.dumps([split.kind, split.cuts]).encode())
        for array in split.valid_seen:
            digest.update(array.astype("int64").tobytes())
    if split.withheld is not None:
        digest.update(f"\n{split.protocol}\n".encode())
        digest.update(split.withheld.items.astype("int64").tobytes())
    return digest.hexdigest()


def split_record(split: Split) -> dict[str, Any]:
    """What results.json says about the split under its `split` key: kind, protocol name,
    fingerprint, parameters and, for a temporal split, the cut times (epoch seconds and ISO);
    under the new-item protocol the withheld fraction, seed and item count."""
    record: dict[str, Any] = {
        "kind": split.kind,
        "protocol": split.protocol,
        "fingerprint": split_fingerprint(split),
        "keep_last": split.keep_last,
        "max_len": split.max_len,
        "min_len": split.min_len,
        **({"filtering": split.filtering} if split.filtering else {}),  # temporal
    }
    if split.cuts is not None:
        record["cuts"] = list(split.cuts)
        record["valid_start"], record["test_start"] = (_iso(t) for t in split.cuts)
    if split.withheld is not None:
        w = split.withheld
        record["new_items"] = {"fraction": w.fraction, "seed": w.seed, "items": len(w.items)}
    return record


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def _config_split(split: Split) -> dict[str, Any]:
    """The split part of the run configuration; only a split other than leave-one-out adds
    its kind and cuts, and only the new-item protocol its `new_items`, so existing run
    folders keep their configuration hash."""
    record = split_record(split)
    keys = ["fingerprint", "keep_last", "max_len", "min_len"]
    if split.kind != "leave_one_out":
        keys += ["kind", "cuts"]
    if split.withheld is not None:
        keys.append("new_items")
    return {k: record[k] for k in keys}


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


def _channel_record(channel: ChannelInput) -> dict[str, Any]:
    return {
        "name": channel.name,
        "modality": channel.modality,
        "encoder": dataclasses.asdict(channel.encoder),
        "source_fingerprint": channel.source_fingerprint,
    }


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


def run_config_for(
    split: Split,
    *,
    method: str,
    channels: tuple[ChannelInput, ...],
    method_options: Mapping[str, Any] | None,
    sasrec: SASRecConfig,
    train: TrainConfig,
    evaluation: EvalConfig,
    seed: int,
) -> dict[str, Any]:
    """The resolved configuration a run records and hashes (`fingerprints`); `train` must
    already carry the method's defaults (`resolve_train_config`)."""
    return {
        "protocol": split.protocol,
        "method": method,
        "method_options": dict(method_options or {}),
        "channels": [_channel_record(c) for c in channels],
        "sasrec": sasrec_record(dataclasses.asdict(sasrec)),
        "train": dataclasses.asdict(train),
        "evaluation": eval_record(dataclasses.asdict(evaluation)),
        "seed": seed,
        "split": _config_split(split),
    }


def run_experiment(
    split: Split,
    *,
    method: str,
    channels: tuple[ChannelInput, ...] = (),
    method_options: Mapping[str, Any] | None = None,
    sasrec: SASRecConfig = SASRecConfig(),
    train: TrainConfig = TrainConfig(),
    evaluation: EvalConfig = EvalConfig(),
    seed: int = 0,
    out_dir: Path,
    cache_dir: Path,
    record: Mapping[str, Any] | None = None,
    progress: bool = True,
    callbacks: Sequence[EpochCallback] = (),
) -> RunResult:
    """Train `method` on `split`, select on validation, evaluate test, record everything.

    Args:
        split: the leave-one-out split.
        method: a registered method name (recsys.methods.method_names()).
        channels: input channels for content methods (empty for `id`).
        method_options: the method's raw option table (`recsys.methods.parse_method_options`).
        sasrec: user-encoder configuration.
        train: optimisation; None / "auto" fields take the method's defaults.
        evaluation: ranking protocol options.
        seed: seeds initialisation, shuffling and dropout.
        out_dir: the run folder (created; a finished run there is returned as is, or, when
            only scoring settings differ, scored under them without training).
        cache_dir: where methods keep hidden-state caches.
        record: caller facts stored verbatim in results.json (scenario name, ...).
        progress: show progress bars.
        callbacks: per-epoch hooks handed to the trainer (experiment trackers).

    Returns:
        The RunResult; its `status` says what this call did.
    """
    out_dir = Path(out_dir)
    entry = get_method(method)
    if entry.needs_channels and not channels:
        raise ConfigError(f"method {method!r} needs at least one input channel")
    parse_method_options(method, method_options)  # a typo fails before any work
    train = resolve_train_config(train, entry.defaults)
    run_config = run_config_for(
        split, method=method, channels=channels, method_options=method_options,
        sasrec=sasrec, train=train, evaluation=evaluation, seed=seed,
    )  # fmt: skip
    prints = fingerprints(run_config)
    done = completed(out_dir, run_config)
    if done is not None and done[0] == "complete":
        return _result_from_json(out_dir, done[1], status="complete", results_dir=done[2])
    if done is not None:  # trained under this training configuration: score it, no training
        return evaluate_trained(
            split, method=method, channels=channels, method_options=method_options,
            sasrec=sasrec, train=train, evaluation=evaluation, seed=seed, out_dir=out_dir,
            cache_dir=cache_dir, record=record, progress=progress,
        )  # fmt: skip
    dist = distributed.init_from_env()  # torchrun: join the process group (idempotent)
    if dist.is_main:
        claim_run_folder(out_dir)  # a user's folder is refused before anything is written
    device = resolve_device(train.device)
    model = build_model(
        split, method=method, channels=channels, method_options=method_options, sasrec=sasrec,
        seed=seed, device=device, cache_dir=cache_dir, dist=dist, progress=progress,
    )  # fmt: skip
    if dist.is_main:
        atomic_write_json(out_dir / "config.json", run_config | prints)
    fit = Trainer(
        model, split, train, evaluation, seed=seed, out_dir=out_dir,
        run_config=training_config(run_config), device=device, progress=progress,
        accept_hashes=(prints["config_sha256"],),  # a checkpoint from before the split
        callbacks=callbacks,
    ).fit()  # fmt: skip
    result = _evaluate_and_record(
        model, split, evaluation, fit, run_config, prints, out_dir, record
    )
    status = "resumed" if fit.resumed_from else "trained"
    return dataclasses.replace(result, status=status, resumed_from=fit.resumed_from)


def _evaluate_and_record(
    model: SequentialRecommender,
    split: Split,
    evaluation: EvalConfig,
    fit: Any,
    run_config: Mapping[str, Any],
    prints: Mapping[str, str],
    out_dir: Path,
    record: Mapping[str, Any] | None,
    evaluated_from: Mapping[str, Any] | None = None,
) -> RunResult:
    """Evaluate the best weights on validation and test; write results (rank 0)."""
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
    split: Split,
    *,
    method: str,
    channels: tuple[ChannelInput, ...] = (),
    method_options: Mapping[str, Any] | None = None,
    sasrec: SASRecConfig = SASRecConfig(),
    train: TrainConfig = TrainConfig(),
    evaluation: EvalConfig = EvalConfig(),
    seed: int = 0,
    out_dir: Path,
    cache_dir: Path,
    users: Sequence[str] | None = None,
    device: str | None = None,
    record: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> RunResult:
    """Score a finished run's best checkpoint under `evaluation`, without training.

    The other arguments are `run_experiment`'s and must describe the run's training (the
    evaluation settings that select the epoch may differ: the checkpoint the run selected is
    scored under the new ones, and `evaluated_from.selection` records the run's). Writes
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
    train = resolve_train_config(train, get_method(method).defaults)
    run_config = run_config_for(
        split, method=method, channels=channels, method_options=method_options, sasrec=sasrec,
        train=train, evaluation=evaluation, seed=seed,
    )  # fmt: skip
    scored = split
    if users is not None:
        scored = restrict_users(split, users)
        subset = {"count": scored.num_users, "sha256": sha256_json(sorted(scored.user_ids))}
        run_config["evaluation"] = run_config["evaluation"] | {"users": subset}
    done = completed(out_dir, run_config, scoring=True)
    if done is None:
        raise ConfigError(f"{out_dir}: no results.json: not a finished run (train it first)")
    status, trained, folder = done
    if status == "complete":
        return _result_from_json(out_dir, trained, status="complete", results_dir=folder)
    model = build_trained(
        split, out_dir, method=method, channels=channels, method_options=method_options,
        sasrec=sasrec, seed=seed, device=resolve_device(device or train.device),
        cache_dir=cache_dir, progress=progress,
    )  # fmt: skip
    return _record_scoring(model, scored, evaluation, run_config, trained, out_dir, record)


def _record_scoring(
    model: SequentialRecommender,
    split: Split,
    evaluation: EvalConfig,
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
        model, split, evaluation, fit, run_config, prints, target, record, evaluated_from=source
    )
    return dataclasses.replace(result, out_dir=out_dir, status="evaluated")
