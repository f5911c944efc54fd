"""Typed, frozen configuration of the recommendation side. Modules never see these;
builders turn them into explicit arguments.

Each dataclass checks its own values (`check(prefix)`, raising `ConfigError` with the dotted
key), and every list of valid choices is a constant here or a `Literal` annotation: the
scenario loader, the split, the trainer and the encoders all call these, so a rule has one
home.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from plumbing.typed import invalid_choice
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


SplitKind = Literal["leave_one_out", "temporal"]
# How validation and test targets are chosen (see recsys.data.split).
SPLIT_KINDS: tuple[str, ...] = get_args(SplitKind)
TEMPORAL_DEFAULT_CUTS = (0.8, 0.9)  # quantiles where validation and test start by default


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
    """The evaluation split: leave-one-out per user (IISAN) or a global temporal cut."""

    keep_last: int = 13  # interactions kept per user (most recent), as IISAN
    max_len: int = 10  # history window fed to SASRec
    min_len: int = 3  # users with fewer interactions are dropped (and counted)
    kind: SplitKind = "leave_one_out"  # "temporal": global time cuts (datasets with times)
    # temporal only: where validation starts, as a quantile in (0, 1) of all interaction
    # times or an ISO date / date-time (UTC unless it names a zone); None = 0.8
    valid_cut: float | str | None = None
    test_cut: float | str | None = None  # temporal only: where test starts; None = 0.9
    # the new-item protocol; None (default) = every item may train. `[split.new_items]` in a
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
        kinds = SPLIT_KINDS
        _require(self.kind in kinds, f"{prefix}.kind", invalid_choice(self.kind, kinds))
        given = []
        for name in ("valid_cut", "test_cut"):
            value = getattr(self, name)
            _require(
                value is None or self.kind == "temporal",
                f"{prefix}.{name}",
                "only applies to split.kind = 'temporal'",
            )
            given.append(cut_value(value, f"{prefix}.{name}"))
        _require(
            not all(isinstance(g, float) for g in given) or given[0] < given[1],
            f"{prefix}.test_cut",
            f"{self.test_cut!r} must come after split.valid_cut = {self.valid_cut!r}",
        )

    @property
    def cuts(self) -> tuple[float | str, float | str]:
        """(validation start, test start) with the defaults filled in."""
        low, high = TEMPORAL_DEFAULT_CUTS
        return (
            low if self.valid_cut is None else self.valid_cut,
            high if self.test_cut is None else self.test_cut,
        )


def cut_value(value: float | str | None, field: str) -> float | str | None:
    """A temporal cut as given, checked: a quantile strictly inside (0, 1), or an ISO date.

    Returns a quantile as float and a date as its canonical ISO form (UTC when naive).
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        _require(0.0 < value < 1.0, field, f"{value!r}: a quantile lies strictly between 0 and 1")
        return float(value)
    _require(isinstance(value, str), field, f"{value!r}: a quantile (0.8) or an ISO date")
    return parse_date(value, field).isoformat()


def iso_datetime(text: str) -> datetime:
    """An ISO date or date-time as an aware datetime (naive ones are UTC); ValueError if not."""
    raw = text.strip()
    # datetime.fromisoformat reads a trailing "Z" only from Python 3.11 on
    when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def parse_date(text: str, field: str) -> datetime:
    """`iso_datetime`, with a ConfigError naming `field` for text that is no ISO date."""
    try:
        return iso_datetime(text)
    except ValueError:
        raise ConfigError(
            f'{text!r} is neither a quantile nor an ISO date such as "2023-01-01" or '
            '"2023-01-01T12:00:00+02:00"',
            field=field,
        ) from None


def drop_defaults(
    plain: dict[str, Any], defaults: dict[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """`plain` without those of `keys` whose value equals `defaults[key]`: options added
    after records were first hashed stay out of the hashes while unused, so records made
    before they existed keep their hashes (and new ones that use them differ)."""
    return {k: v for k, v in plain.items() if k not in keys or defaults[k] != v}


def split_record(plain: dict[str, Any]) -> dict[str, Any]:
    """A SplitConfig's plain form as scenario fingerprints hash it: the temporal keys and the
    new-item protocol are left out while they hold their defaults, so leave-one-out
    scenarios and grids recorded before either existed keep their fingerprints."""
    defaults = {"kind": "leave_one_out", "valid_cut": None, "test_cut": None, "new_items": None}
    return drop_defaults(plain, defaults, tuple(defaults))


TimestampUnit = Literal["s", "ms"]
TIMESTAMP_UNITS: tuple[str, ...] = get_args(TimestampUnit)  # numeric times in tables


@dataclass(frozen=True)
class TableColumns:
    """Column names of generic tables and RecBole atomic files (the other formats fix theirs)."""

    user: str = "user_id"  # interactions: the user id column
    item: str = "item_id"  # interactions and items: the item id column
    # interactions: the time column. Left at this default it may be absent (rows are then in
    # time order per user and the temporal split is unavailable); a name given must exist.
    timestamp: str = "timestamp"
    timestamp_unit: TimestampUnit = "s"  # numeric times (date-time strings carry their own)
    title: str = "title"  # items: the title column
    text: tuple[str, ...] | None = None  # items: text fields to keep; None = all other columns
    image: str = "image_path"  # items: cover path, relative to the items table's folder
    video: str = "video_path"  # items: video path, relative to the items table's folder

    def check(self, prefix: str = "dataset.columns") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on an impossible setting."""
        units = TIMESTAMP_UNITS
        _require(
            self.timestamp_unit in units,
            f"{prefix}.timestamp_unit",
            invalid_choice(self.timestamp_unit, units),
        )
        for name in ("user", "item", "title"):
            _require(bool(getattr(self, name).strip()), f"{prefix}.{name}", "must name a column")


@dataclass(frozen=True)
class SASRecConfig:
    """The user encoder."""

    dim: int = 64  # item/user embedding width
    num_blocks: int = 2  # transformer blocks
    num_heads: int = 2  # attention heads
    ffn_dim: int = 256  # feed-forward inner width
    dropout: float = 0.1  # dropout on embeddings, attention and FFN
    # "normal" (N(0, 0.02), RecBole's) trains better here than the IISAN reference's "xavier":
    # Scientific, history masked, test NDCG@10: IISAN-Versa MiniLM 0.0412 -> 0.0447 (3 seeds),
    # ID-SASRec 0.0268 -> 0.0370 (seed 12345); docs/methods.md.
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
        for name in ("lr", "adapter_lr"):  # inf and nan would only fail after training starts
            value = getattr(self, name)
            _require(
                value is None or (math.isfinite(value) and value > 0),
                f"{prefix}.{name}",
                f"must be a finite number > 0, got {value}",
            )
        _require(
            self.grad_clip is None or self.grad_clip > 0,
            f"{prefix}.grad_clip",
            "must be > 0 (omit it to turn clipping off)",
        )
        _require(
            math.isfinite(self.weight_decay) and self.weight_decay >= 0,
            f"{prefix}.weight_decay",
            f"must be a finite number >= 0, got {self.weight_decay}",
        )
        losses = ("auto", *LOSS_KINDS)
        _require(self.loss in losses, f"{prefix}.loss", invalid_choice(self.loss, losses))
        _require(
            bool(_DEVICE.match(self.device)),
            f"{prefix}.device",
            f"invalid value {self.device!r}; valid: auto, cpu, cuda, cuda:N, mps",
        )


HISTORY_CONVENTIONS = ("masked", "unmasked")
"""`EvalConfig.history`: the target-independent ways to treat the input history."""
DEFAULT_BUCKETS = (1, 5, 20)
"""Where the popularity buckets after `cold` start: 1-4, 5-19 and 20+ training interactions."""


@dataclass(frozen=True)
class EvalConfig:
    """Full-catalogue ranking."""

    ks: tuple[int, ...] = (5, 10, 20)  # cut-offs for HR@K and NDCG@K
    # What happens to the items of the user's input history (validation: seq[:-2], test:
    # seq[:-1]) when the catalogue is ranked; both conventions ignore the target:
    # "masked": every history item is masked, so a target that repeats one is a miss (the
    # IISAN code's convention); "unmasked": every item is ranked, history included (RecBole's
    # sequential models). HISTORY_CONVENTIONS lists them.
    history: str = "masked"
    user_batch: int = 1024  # users scored per chunk
    item_chunk: int = 200_000  # items scored per chunk (bounds memory on huge catalogues)
    # Metrics are also reported per popularity bucket of the target item (its occurrences in
    # the training part, split.train_counts): `cold` (0), then one bucket starting at each of
    # these counts, strictly increasing from 1; the last is open-ended.
    buckets: tuple[int, ...] = DEFAULT_BUCKETS
    # Beyond-accuracy metrics (coverage, Gini, entropy, ARP, tail share, novelty at each K)
    # from every user's top-K list, taken in the same ranking pass (docs/beyond-accuracy.md).
    beyond: bool = True

    def check(self, prefix: str = "eval") -> None:
        """Raise ConfigError (naming `<prefix>.<field>`) on an impossible setting."""
        _require(
            bool(self.ks) and min(self.ks) >= 1,
            f"{prefix}.ks",
            "a non-empty list of cut-offs >= 1",
        )
        _require(
            self.history in HISTORY_CONVENTIONS,
            f"{prefix}.history",
            invalid_choice(self.history, HISTORY_CONVENTIONS),
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


def _scenario_eval_record(plain: dict[str, Any]) -> dict[str, Any]:
    """`eval_record` less `beyond` when on (the default): scenarios written before it keep
    their fingerprints. Run records keep it: it joins the evaluation fingerprint
    (recsys.fingerprints.evaluation_settings), since it adds to the results files."""
    out = eval_record(plain)
    if out.get("beyond", True):
        out.pop("beyond", None)
    return out


def hashed_sections(plain: dict[str, Any]) -> dict[str, Any]:
    """A scenario's plain form with its `model`, `split` and `eval` tables as fingerprints
    hash them (`sasrec_record`, `split_record`, `eval_record`)."""
    records = {"model": sasrec_record, "split": split_record, "eval": _scenario_eval_record}
    return {k: records[k](v) if k in records else v for k, v in plain.items()}


# EvalConfig fields that change validation metrics, and so which epoch training selects and
# when it stops early: part of a run's training fingerprint. Every other field only changes
# how the selected checkpoint is scored, so a finished run is re-evaluated under it
# (`toolkit evaluate`, `recsys.run.evaluate_trained`) instead of trained again.
SELECTION_FIELDS: tuple[str, ...] = ("history",)
# EvalConfig fields that say how the ranking is chunked, not what it computes: left out of
# the evaluation fingerprint (changing them re-evaluates nothing).
EVAL_RUNTIME_FIELDS: tuple[str, ...] = ("user_batch", "item_chunk")


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
TEMPORAL_PROTOCOL_NAME = "temporal_full_ranking"
PROTOCOL_NAMES = {"leave_one_out": PROTOCOL_NAME, "temporal": TEMPORAL_PROTOCOL_NAME}
"""Split kind -> the protocol name results carry, so runs of different splits never pass
for comparable."""
