"""Typed, frozen configuration of the recommendation side. Modules never see these;
builders turn them into explicit arguments.

Each dataclass checks its own values (`check(prefix)`, raising `ConfigError` with the dotted
key), and every list of valid choices is a constant here or a `Literal` annotation: the
scenario loader, the split, the trainer and the encoders all call these, so a rule has one
home.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from media.typed import invalid_choice
from recsys.errors import ConfigError

SasrecInit = Literal["xavier", "normal"]
# Weight-initialisation schemes of the learned recommender parts (SASRec, the `id` table).
SASREC_INITS: tuple[str, ...] = get_args(SasrecInit)
# The default before "normal" was: run configs and scenario fingerprints that do not name an
# init were recorded with it, so it is the one left out of hashes (old runs stay resumable).
UNRECORDED_INIT = "xavier"
LOSS_KINDS = ("inbatch_logq", "full_softmax")  # train.loss; "auto" takes the method's
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ConfigError(message, field=field)


def check_init(init: str, field: str = "") -> None:
    """Raise ConfigError unless `init` names a scheme in `SASREC_INITS`."""
    valid = ", ".join(SASREC_INITS)
    _require(init in SASREC_INITS, field, f"unknown init {init!r}; valid choices: {valid}")


@dataclass(frozen=True)
class NewItemsConfig:
    """The new-item protocol (`recsys.data.split.withhold_items`): a seeded fraction of the
    catalogue is withheld from training entirely, and only users whose test target is one of
    those items are tested, over the full catalogue."""

    fraction: float = 0.1  # share of the split's catalogue withheld, in (0, 1)
    seed: int = 0  # which items: the same seed withholds the same items for every run seed

    def check(self, prefix: str = "split.new_items") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on an impossible setting."""
        _require(
            0.0 < self.fraction < 1.0,
            f"{prefix}.fraction",
            f"is {self.fraction!r}; must lie strictly between 0 and 1",
        )


@dataclass(frozen=True)
class SplitConfig:
    """The leave-one-out protocol."""

    keep_last: int = 13  # interactions kept per user (most recent), as IISAN
    max_len: int = 10  # history window fed to SASRec
    min_len: int = 3  # users with fewer interactions are dropped (and counted)
    # the new-item protocol; None (default) = plain leave-one-out. `[split.new_items]` in a
    # scenario, or `split.new_items.fraction=0.1` on the command line, turns it on.
    new_items: NewItemsConfig | None = None

    def check(self, prefix: str = "split") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on an impossible protocol."""
        _require(
            self.min_len >= 3, f"{prefix}.min_len", "must be >= 3 (train, validation and test)"
        )
        _require(self.keep_last >= self.min_len, f"{prefix}.keep_last", "must be >= min_len")
        _require(self.max_len >= 1, f"{prefix}.max_len", "must be >= 1")
        if self.new_items is not None:
            self.new_items.check(f"{prefix}.new_items")


def split_record(plain: dict[str, Any]) -> dict[str, Any]:
    """A SplitConfig's plain form as scenario fingerprints hash it: `new_items` is left out
    while it is off, so leave-one-out scenarios keep the fingerprints they had before the
    new-item protocol existed."""
    return {k: v for k, v in plain.items() if not (k == "new_items" and v is None)}


@dataclass(frozen=True)
class SASRecConfig:
    """The user encoder."""

    dim: int = 64  # item/user embedding width
    num_blocks: int = 2  # transformer blocks
    num_heads: int = 2  # attention heads
    ffn_dim: int = 256  # feed-forward inner width
    dropout: float = 0.1  # dropout on embeddings, attention and FFN
    # "normal" (N(0, 0.02), RecBole's) trains better here than the IISAN reference's "xavier":
    # Scientific test NDCG@10 IISAN-Versa 0.0814 -> 0.0866 (3 seeds), ID-SASRec 0.0674 -> 0.0786.
    init: SasrecInit = "normal"

    def check(self, prefix: str = "model") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on an impossible user encoder."""
        for name in ("dim", "num_blocks", "ffn_dim"):
            _require(getattr(self, name) >= 1, f"{prefix}.{name}", "must be >= 1")
        _require(
            self.num_heads >= 1 and self.dim % self.num_heads == 0,
            f"{prefix}.num_heads",
            "must divide model.dim",
        )
        _require(0.0 <= self.dropout < 1.0, f"{prefix}.dropout", "must be in [0, 1)")
        check_init(self.init, f"{prefix}.init")


def sasrec_record(plain: dict[str, Any]) -> dict[str, Any]:
    """A SASRecConfig's plain form as run configs and scenario fingerprints hash it: `init`
    is left out when it is `UNRECORDED_INIT`, so runs and grids recorded before the option
    existed keep their hashes, and new default runs never collide with them."""
    out = dict(plain)
    if out.get("init") == UNRECORDED_INIT:
        del out["init"]
    return out


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation. `None` means "the method's default" (content methods vs `id`)."""

    epochs: int = 100  # upper bound; early stopping usually ends sooner
    batch_size: int | None = None  # users per step; default 64 (content) / 256 (id)
    lr: float | None = None  # recommender LR; default 2e-4 (content) / 1e-3 (id)
    adapter_lr: float = 1e-4  # LR of adapter/encoder parameters
    loss: str = "auto"  # "inbatch_logq" | "full_softmax" | "auto" (method default)
    patience: int = 5  # epochs without validation improvement before stopping
    select_metric: str = "ndcg@10"  # validation metric for model selection
    grad_clip: float | None = 5.0  # max global grad norm; None disables clipping
    amp: bool = True  # autocast on CUDA (bf16 if supported, else fp16); ignored on CPU
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    max_steps_per_epoch: int | None = None  # cap steps per epoch (benchmarks, smoke runs)
    weight_decay: float = 0.0  # Adam weight decay (the reference uses none)

    def check(self, prefix: str = "train") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on an impossible setting."""
        for name in ("epochs", "patience"):
            _require(getattr(self, name) >= 1, f"{prefix}.{name}", "must be >= 1")
        for name in ("batch_size", "max_steps_per_epoch"):
            value = getattr(self, name)
            _require(value is None or value >= 1, f"{prefix}.{name}", "must be >= 1")
        _require(self.lr is None or self.lr > 0, f"{prefix}.lr", "must be > 0")
        _require(self.adapter_lr > 0, f"{prefix}.adapter_lr", "must be > 0")
        _require(
            self.grad_clip is None or self.grad_clip > 0,
            f"{prefix}.grad_clip",
            "must be > 0 (omit it to turn clipping off)",
        )
        _require(self.weight_decay >= 0, f"{prefix}.weight_decay", "must be >= 0")
        losses = ("auto", *LOSS_KINDS)
        _require(self.loss in losses, f"{prefix}.loss", invalid_choice(self.loss, losses))
        _require(
            bool(_DEVICE.match(self.device)),
            f"{prefix}.device",
            f"invalid value {self.device!r}; valid: auto, cpu, cuda, cuda:N, mps",
        )


DEFAULT_BUCKETS = (1, 5, 20)
"""Where the popularity buckets after `cold` start: 1-4, 5-19 and 20+ training interactions."""


@dataclass(frozen=True)
class EvalConfig:
    """Full-catalogue ranking."""

    ks: tuple[int, ...] = (5, 10, 20)  # cut-offs for HR@K and NDCG@K
    mask_repeat_targets: bool = False  # IISAN-code convention: also mask a target seen before
    user_batch: int = 1024  # users scored per chunk
    item_chunk: int = 200_000  # items scored per chunk (bounds memory on huge catalogues)
    # Metrics are also reported per popularity bucket of the target item (its occurrences in
    # the training part, split.train_counts): `cold` (0), then one bucket starting at each of
    # these counts, strictly increasing from 1; the last is open-ended.
    buckets: tuple[int, ...] = DEFAULT_BUCKETS

    def check(self, prefix: str = "eval") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on an impossible setting."""
        _require(
            bool(self.ks) and min(self.ks) >= 1,
            f"{prefix}.ks",
            "a non-empty list of cut-offs >= 1",
        )
        for name in ("user_batch", "item_chunk"):
            _require(getattr(self, name) >= 1, f"{prefix}.{name}", "must be >= 1")
        b = self.buckets
        _require(
            bool(b) and b[0] == 1 and all(x < y for x, y in zip(b, b[1:], strict=False)),
            f"{prefix}.buckets",
            f"is {list(b)!r}; the training counts where the buckets after `cold` (0) start: "
            "strictly increasing integers, the first 1 (e.g. [1, 5, 20])",
        )


# The default buckets are left out of run configs and scenario fingerprints: they change
# what a run reports, not what it trains or how it ranks, and runs recorded before buckets
# existed keep their hashes.
def eval_record(plain: dict[str, Any]) -> dict[str, Any]:
    """An EvalConfig's plain form as run configs and scenario fingerprints hash it."""
    out = dict(plain)
    if tuple(out.get("buckets", ())) == DEFAULT_BUCKETS:
        del out["buckets"]
    return out


def hashed_sections(plain: dict[str, Any]) -> dict[str, Any]:
    """A scenario's plain form with its `model`, `split` and `eval` tables as fingerprints
    hash them (`sasrec_record`, `split_record`, `eval_record`)."""
    records = {"model": sasrec_record, "split": split_record, "eval": eval_record}
    return {k: records[k](v) if k in records else v for k, v in plain.items()}


def metric_names(evaluation: EvalConfig) -> list[str]:
    """The metrics an evaluation under `evaluation` reports: hr@k, ndcg@k (k in ks), mrr."""
    return [f"hr@{k}" for k in evaluation.ks] + [f"ndcg@{k}" for k in evaluation.ks] + ["mrr"]


def check_select_metric(train: TrainConfig, evaluation: EvalConfig, prefix: str = "train") -> None:
    """`train.select_metric` must be one of the metrics the evaluation reports."""
    names = metric_names(evaluation)
    _require(
        train.select_metric in names,
        f"{prefix}.select_metric",
        invalid_choice(train.select_metric, names),
    )


PROTOCOL_NAME = "leave_one_out_full_ranking"
