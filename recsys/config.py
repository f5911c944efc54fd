"""Typed, frozen configuration of the recommendation side. Modules never see these;
builders turn them into explicit arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recsys.errors import ConfigError


@dataclass(frozen=True)
class NewItemsConfig:
    """The new-item protocol (`recsys.data.split.withhold_items`): a seeded fraction of the
    catalogue is withheld from training entirely, and only users whose test target is one of
    those items are tested, over the full catalogue."""

    fraction: float = 0.1  # share of the split's catalogue withheld, in (0, 1)
    seed: int = 0  # which items: the same seed withholds the same items for every run seed

    def check(self) -> None:
        """Raise ConfigError naming the `split.new_items.*` key of an impossible setting."""
        if not 0.0 < self.fraction < 1.0:
            raise ConfigError(
                f"split.new_items.fraction: is {self.fraction!r}; must lie strictly between 0 and 1"
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

    def check(self) -> None:
        """Raise ConfigError naming the `eval.*` key of the first impossible setting."""
        b = self.buckets
        rules = (
            ("ks", bool(self.ks) and min(self.ks) >= 1, "a non-empty list of cut-offs >= 1"),
            ("user_batch", self.user_batch >= 1, "must be >= 1"),
            ("item_chunk", self.item_chunk >= 1, "must be >= 1"),
            (
                "buckets",
                bool(b) and b[0] == 1 and all(x < y for x, y in zip(b, b[1:], strict=False)),
                "the training counts where the buckets after `cold` (0) start: strictly "
                "increasing integers, the first 1 (e.g. [1, 5, 20])",
            ),
        )
        for key, ok, message in rules:
            if not ok:
                value = getattr(self, key)
                shown = list(value) if isinstance(value, tuple) else value
                raise ConfigError(f"eval.{key}: is {shown!r}; {message}")


# The default buckets are left out of run configs and scenario fingerprints: they change
# what a run reports, not what it trains or how it ranks, and runs recorded before buckets
# existed keep their hashes.
def eval_record(plain: dict[str, Any]) -> dict[str, Any]:
    """An EvalConfig's plain form as run configs and scenario fingerprints hash it."""
    out = dict(plain)
    if tuple(out.get("buckets", ())) == DEFAULT_BUCKETS:
        del out["buckets"]
    return out


PROTOCOL_NAME = "leave_one_out_full_ranking"
