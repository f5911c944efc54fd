"""The one training loop every method uses.

AdamW over the tower's declared parameter groups plus SASRec, with no weight decay on
embedding tables (recsys.train.optim), AMP on CUDA only, gradient clipping, early stopping
on a validation metric, a progress bar, per-epoch metrics in ``metrics.jsonl``, and an
atomic checkpoint of the trainable state after every epoch. The run state between epochs
(best epoch, patience, history) is kept by recsys.train.epochs.

Determinism and resume: epoch e shuffles users with ``numpy.random.default_rng([seed, e])``
and seeds dropout with ``torch.manual_seed(seed * 1_000_003 + e)``, so no RNG state has to
be saved: resuming from the checkpoint after epoch k replays epochs k+1, ... exactly as an
uninterrupted run would (bit-identical on CPU).

Rank-aware: only rank 0 writes files or shows progress. Under torchrun every rank draws the
same permutation, trains on its slice of each global batch, computes its share of the
global-batch loss and sums gradients with the others (recsys.distributed), so a run on N
ranks follows the single-process run up to floating-point summation order.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from media.hashing import sha256_json
from plumbing.console import say, show_bars
from plumbing.io import append_jsonl, atomic_write_text
from recsys import distributed
from recsys.config import EvalConfig, TrainConfig, check_select_metric
from recsys.data.types import Split
from recsys.errors import ConfigError, RecsysError
from recsys.eval.efficiency import EfficiencyMeter, Stopwatch, count_parameters
from recsys.eval.evaluator import evaluate
from recsys.models.recommender import SequentialRecommender
from recsys.train import checkpoint as ckpt
from recsys.train.determinism import deterministic_kernels
from recsys.train.epochs import end_epoch, fresh_state, json_line, report_epoch
from recsys.train.losses import check_loss_kind
from recsys.train.optim import build_optimizer
from recsys.train.structure import assert_frozen_unchanged, frozen_checksum, trainable_groups


class TrainingDivergedError(RecsysError):
    """The loss became NaN or infinite."""


EpochCallback = Callable[[Mapping[str, Any]], bool | None]
"""Called with each epoch's record (the `metrics.jsonl` line); returning True stops training
after that epoch (stop_reason "callback"). Epochs trained before a resume are replayed to
callbacks first, so a callback sees every epoch of the run once per process."""


@dataclass(frozen=True)
class FitResult:
    """What training produced (the model holds the best-validation weights afterwards).

    Attributes:
        best_epoch: 1-based epoch with the best validation `select_metric`.
        epochs_run: epochs trained in total (over resumes).
        best_valid: validation metrics at the best epoch.
        history: one record per epoch (loss, seconds, validation metrics).
        stop_reason: "early_stopping" or "max_epochs".
        efficiency: the efficiency record (recsys.eval.efficiency).
        params: {"trainable", "total"}.
        resumed_from: epochs a checkpoint already held when this fit started (0: fresh).
    """

    best_epoch: int
    epochs_run: int
    best_valid: dict[str, float]
    history: list[dict[str, Any]]
    stop_reason: str
    efficiency: dict[str, Any]
    params: dict[str, int]
    resumed_from: int = 0


def resolve_device(name: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; otherwise torch.device(name)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"train.device={name!r} is not a device ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r} but CUDA is not available; use 'cpu' or 'auto'")
    return device


class Trainer:
    """Trains a SequentialRecommender on a split (see module docstring).

    Args:
        model: the recommender, already on `device`.
        split: training sequences and validation users.
        train: resolved TrainConfig (batch_size, lr and loss set, not None/"auto").
        evaluation: the evaluation protocol used for model selection.
        seed: run seed.
        out_dir: run folder (metrics.jsonl, checkpoint/); None writes nothing.
        run_config: the resolved run configuration, stored in checkpoints; a checkpoint made
            under another configuration is refused on resume.
        device: where the model lives.
        progress: report progress (rank 0 only): a bar per epoch where stderr is a terminal
            (`plumbing.console.show_bars`), and one line per epoch.
        accept_hashes: hashes other than sha256(run_config) under which a checkpoint is
            this configuration (one recorded by an earlier release), so it resumes.
        callbacks: per-epoch hooks (`EpochCallback`: pruners, experiment trackers).
    """

    def __init__(
        self,
        model: SequentialRecommender,
        split: Split,
        train: TrainConfig,
        evaluation: EvalConfig,
        *,
        seed: int,
        out_dir: Path | None,
        run_config: Mapping[str, Any],
        device: torch.device,
        progress: bool = True,
        accept_hashes: tuple[str, ...] = (),
        callbacks: Sequence[EpochCallback] = (),
    ) -> None:
        if train.batch_size is None or train.lr is None:
            raise ConfigError("Trainer needs a resolved TrainConfig (batch_size and lr set)")
        self.loss_kind = check_loss_kind(train.loss)  # resolved: "auto" is not a loss
        train.check()
        evaluation.check()
        check_select_metric(train, evaluation)
        self.model, self.split, self.cfg, self.evaluation = model, split, train, evaluation
        self.seed, self.device = seed, device
        self.dist = distributed.init_from_env()  # torchrun: join the process group
        self.writes = out_dir is not None and self.dist.is_main
        self.out_dir = out_dir
        self.progress = progress and self.dist.is_main
        self.run_config = dict(run_config)
        self.callbacks = tuple(callbacks)
        self.config_hash = sha256_json(self.run_config)
        self.accept_hashes = (self.config_hash, *accept_hashes)
        self.groups = trainable_groups(model)
        self.named = ckpt.trainable_named(model, [p for g in self.groups for p in g["params"]])
        self.optimizer = build_optimizer(model, self.groups, train)  # recsys.train.optim
        self.use_amp = train.amp and device.type == "cuda"
        bf16 = self.use_amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and not bf16)
        self.log_pop = torch.from_numpy(split.log_popularity()).float().to(device)
        seqs = split.train_seqs.astype(np.int64)
        self.rows = np.flatnonzero((seqs != 0).sum(1) >= 2)  # users with >= 1 training pair
        if len(self.rows) == 0:
            raise ConfigError("no user has two training items; nothing to train on")
        self.seqs = torch.from_numpy(seqs).to(device)
        # new-item protocol: the withheld items are no full-softmax candidate either
        held = split.withheld
        self.exclude = None if held is None else torch.from_numpy(held.items).to(device)
        self.meter = EfficiencyMeter(device)
        self._best_memory: dict[str, torch.Tensor] | None = None
        self.params = count_parameters([model, *model.item_tower.frozen_modules()])
        self.params["head"] = sum(p.numel() for p in model.item_tower.head_parameters())

    # ---- files --------------------------------------------------------------------------
    @property
    def ckpt_dir(self) -> Path:
        assert self.out_dir is not None
        return self.out_dir / "checkpoint"

    def _meta(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "config": self.run_config,
            "config_sha256": self.config_hash,
            "tower": self.model.item_tower.describe(),
        }

    def _save(self, epoch: int, state: dict[str, Any], improved: bool) -> None:
        if improved and not self.writes:  # no files: keep the best weights in memory
            self._best_memory = {n: p.detach().clone() for n, p in self.named.items()}
            state.pop("best_weights", None)  # a resumed rank > 0: rank 0 replaces that file
        if not self.writes:
            return
        folder = self.ckpt_dir
        weights, optim = f"epoch-{epoch:04d}.safetensors", f"epoch-{epoch:04d}.optim.pt"
        ckpt.save_weights(folder / weights, self.named, self._meta(epoch))
        ckpt.save_optimizer(
            folder / optim,
            {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict()},
        )
        if improved:
            best = f"best-{epoch:04d}.safetensors"
            ckpt.save_weights(folder / best, self.named, self._meta(epoch))
            state["best_weights"] = best
        state.update(weights=weights, optim=optim)
        ckpt.write_pointer(folder, state)

    def _resume(self) -> dict[str, Any]:
        fresh = fresh_state(self.config_hash)
        if self.out_dir is None:
            return fresh
        state = ckpt.read_pointer(self.ckpt_dir)
        if state is None:
            if self.writes and (self.out_dir / "metrics.jsonl").exists():
                # lines of an attempt that died before its first checkpoint
                atomic_write_text(self.out_dir / "metrics.jsonl", "")
            return fresh
        if state.get("config_sha256") not in self.accept_hashes:
            raise ConfigError(
                f"{self.ckpt_dir}: holds a checkpoint of another configuration; "
                "choose another output folder or delete this one"
            )
        ckpt.load_trainable(self.named, self.ckpt_dir / state["weights"])
        optim = ckpt.load_optimizer(self.ckpt_dir / state["optim"])
        self.optimizer.load_state_dict(optim["optimizer"])
        self.scaler.load_state_dict(optim["scaler"])
        if self.writes:  # the log may hold epochs after the checkpoint (crash in between)
            lines = "".join(json_line(r) for r in state["history"])
            atomic_write_text(self.out_dir / "metrics.jsonl", lines)
        return state

    # ---- training -----------------------------------------------------------------------
    def _epoch_rows(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        return self.rows[rng.permutation(len(self.rows))]

    def _step(self, batch: torch.Tensor) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=self.amp_dtype, enabled=self.use_amp):
            if distributed.is_active():  # this rank's share of the global-batch loss
                loss = distributed.global_batch_loss(
                    self.model, batch, self.loss_kind, self.log_pop, self.exclude
                )
            else:
                loss = self.model.loss(batch, self.loss_kind, self.log_pop, self.exclude)
        self.scaler.scale(loss).backward()
        distributed.all_reduce_grads(list(self.named.values()))  # no-op in one process
        if self.cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.named.values(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return distributed.all_reduce_sum(loss.item())

    def _train_epoch(self, epoch: int) -> tuple[float, int, float]:
        """One pass over the users; returns (mean loss, steps, training seconds)."""
        from tqdm.auto import tqdm

        self.model.train()
        torch.manual_seed(self.seed * 1_000_003 + epoch)
        order = self._epoch_rows(epoch)
        size = self.cfg.batch_size
        starts = range(0, len(order), size)
        if self.cfg.max_steps_per_epoch is not None:
            starts = starts[: self.cfg.max_steps_per_epoch]
        bar = tqdm(
            starts,
            desc=f"epoch {epoch}",
            disable=not (self.progress and show_bars()),
            leave=False,
            unit="step",
        )
        total, steps = 0.0, 0
        with self.meter.training_epoch(), Stopwatch(self.meter) as watch, deterministic_kernels():
            for start in bar:
                local = distributed.local_slice(order[start : start + size], self.dist)
                rows = torch.from_numpy(local).to(self.device)
                loss = self._step(self.seqs[rows])
                if not math.isfinite(loss):
                    raise TrainingDivergedError(
                        f"loss became {loss} at epoch {epoch}, step {steps + 1}; "
                        "try a lower train.lr or train.grad_clip"
                    )
                total, steps = total + loss, steps + 1
                self.meter.sample()
                bar.set_postfix(loss=f"{total / steps:.4f}")
        bar.close()
        self.meter.add_epoch(watch.seconds, steps)
        return total / max(steps, 1), steps, watch.seconds

    def _validate(self) -> tuple[dict[str, float], float]:
        with Stopwatch(self.meter) as watch:
            quick = dataclasses.replace(self.evaluation, beyond=False)  # no top-K lists
            result = evaluate(self.model, self.split, "valid", quick)
        self.meter.add_eval(watch.seconds)
        return result.metrics, watch.seconds

    def fit(self) -> FitResult:
        """Train until early stopping or the epoch limit; load the best weights at the end."""
        before = frozen_checksum(self.model.item_tower.frozen_modules())
        state = self._resume()
        resumed_from = state["epoch"]
        if resumed_from and self.progress:
            finished = state["done"] or resumed_from >= self.cfg.epochs
            say(
                f"training had finished ({resumed_from} epochs); evaluating"
                if finished
                else f"resuming at epoch {resumed_from + 1} of {self.cfg.epochs}"
            )
        for record in state["history"]:  # epochs of an earlier attempt, then the new ones
            self._notify(record)
        self.meter.start_training()
        while not state["done"] and state["epoch"] < self.cfg.epochs:
            epoch = state["epoch"] + 1
            loss, steps, seconds = self._train_epoch(epoch)
            valid, eval_seconds = self._validate()
            record, improved = end_epoch(
                state, epoch, (loss, steps, seconds, eval_seconds), valid,
                metric=self.cfg.select_metric, patience=self.cfg.patience,
            )  # fmt: skip
            if self._notify(record) and not state["done"]:
                state.update(done=True, stop_reason="callback")
            if self.writes:
                append_jsonl(self.out_dir / "metrics.jsonl", record)
            self._save(epoch, state, improved)
            if self.progress:
                report_epoch(record, self.cfg.select_metric)
        assert_frozen_unchanged(before, frozen_checksum(self.model.item_tower.frozen_modules()))
        return dataclasses.replace(self._finish(state), resumed_from=resumed_from)

    def _notify(self, record: Mapping[str, Any]) -> bool:
        """Every callback sees the record; True when one of them asks to stop."""
        return any([bool(callback(record)) for callback in self.callbacks])

    def _finish(self, state: dict[str, Any]) -> FitResult:
        if state["epoch"] == 0:
            raise ConfigError("train.epochs must be at least 1")
        self._load_best(state)
        history = state["history"]
        best = next(r for r in history if r["epoch"] == state["best_epoch"])
        return FitResult(
            best_epoch=state["best_epoch"],
            epochs_run=state["epoch"],
            best_valid=dict(best["valid"]),
            history=list(history),
            stop_reason=state.get("stop_reason", "max_epochs"),
            efficiency=self.meter.record(self.params, history),
            params=dict(self.params),
        )

    def _load_best(self, state: dict[str, Any]) -> None:
        """Restore the best epoch's weights (from disk, or memory when nothing is written)."""
        best_file = state.get("best_weights")
        if self.out_dir is not None and best_file and (self.ckpt_dir / best_file).exists():
            ckpt.load_trainable(self.named, self.ckpt_dir / best_file)
            if self.writes:
                ckpt.save_weights(
                    self.ckpt_dir / "best.safetensors", self.named, self._meta(state["best_epoch"])
                )
        elif self._best_memory is not None:
            ckpt.copy_into(self.named, self._best_memory, Path("<memory>"))
        else:
            raise RecsysError("the best epoch's weights are not available to this process")


def resolve_train_config(train: TrainConfig, defaults: Any) -> TrainConfig:
    """Fill None / "auto" fields of `train` from a method's MethodDefaults."""
    return dataclasses.replace(
        train,
        batch_size=train.batch_size if train.batch_size is not None else defaults.batch_size,
        lr=train.lr if train.lr is not None else defaults.lr,
        loss=defaults.loss if train.loss == "auto" else train.loss,
    )
