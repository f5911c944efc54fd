"""The one evaluator: full-catalogue ranking in chunks, history convention applied, ties in
expectation.

History convention (`EvalConfig.history`, recorded in every result): the input history is
``seq[:-2]`` for validation and ``seq[:-1]`` for test (within the kept window). Under
"masked" (the default) every history item is masked whatever the target, so a target that
repeats one counts as a miss; under "unmasked" nothing is masked and every item competes,
history included. Neither looks at the target. Padding (column 0) is always masked. Either
way each user whose target repeats a history item is marked (`repeat`) and counted.

Every evaluation also reports its metrics by popularity bucket of the target item
(recsys.eval.buckets), grouping the per-user values it computed (no second pass). Under
the new-item protocol (`Split.withheld`) test ranks exactly the users whose target is a
withheld item, over the full catalogue; validation ranks the others, without the withheld
items (they do not exist before the test).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from recsys import distributed
from recsys.config import EvalConfig
from recsys.data.types import Split
from recsys.errors import ConfigError
from recsys.eval.beyond import beyond_metrics
from recsys.eval.buckets import bucket_metrics
from recsys.eval.history import history_pairs, masking_convention, repeat_record
from recsys.eval.metrics import per_user_metrics, summarise
from recsys.eval.ranking import rank_counts

Which = Literal["valid", "test"]


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one evaluation.

    Attributes:
        which: "valid" or "test".
        metrics: means over users: ``hr@k``, ``ndcg@k`` (k in config.ks) and ``mrr``.
        per_user: per-user arrays, one entry per row of `rows`: the same metrics plus
            ``rank`` (expected rank; inf when the target was masked), ``higher``, ``tied``,
            ``missed`` (target masked: a repeat under the "masked" convention), ``repeat``
            (the target repeats an item of the input history) and ``train_count`` (the
            target's occurrences in the training part, `split.train_counts`); under
            `eval.beyond` also ``top`` ([users, max(ks)] item indices, the lists; 0 = empty
            slot) and the per-user beyond-accuracy metrics.
        protocol: the split's protocol name (`Split.protocol`, recsys.config.PROTOCOL_NAMES).
        masking: the history convention, spelled out, with the repeat-target counts.
        num_users: users evaluated.
        seconds: wall time of the evaluation.
        rows: the split rows (users) evaluated, ascending: every user, except under the
            new-item protocol.
        buckets: the metrics by popularity bucket (recsys.eval.buckets.bucket_metrics).
        beyond: the beyond-accuracy means (recsys.eval.beyond: ``coverage@k``, ``gini@k``,
            ``entropy@k``, ``arp@k``, ``tail@k``, ``novelty@k``; the per-user ones are also
            in `per_user`); empty under ``eval.beyond = false``.
    """

    which: str
    metrics: dict[str, float]
    per_user: dict[str, np.ndarray] = field(repr=False)
    protocol: str
    masking: dict[str, Any]
    num_users: int
    seconds: float
    rows: np.ndarray = field(repr=False)
    buckets: dict[str, dict[str, Any]]
    beyond: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-able summary (no per-user arrays)."""
        return {
            "which": self.which,
            "protocol": self.protocol,
            "masking": self.masking,
            "num_users": self.num_users,
            "seconds": self.seconds,
            **self.metrics,
            "buckets": self.buckets,
            **({"beyond": self.beyond} if self.beyond else {}),
        }


def _split_arrays(split: Split, which: str) -> tuple[np.ndarray, np.ndarray, tuple]:
    if which == "valid":
        return split.valid_history, split.valid_target, split.valid_seen
    if which == "test":
        return split.test_history, split.test_target, split.test_seen
    raise ConfigError(f"unknown evaluation set {which!r}; valid: valid, test")


def evaluated_rows(split: Split, which: str) -> np.ndarray:
    """Rows (users) ranked for `which`: every user, except under the new-item protocol,
    where test ranks exactly the users whose test target is withheld and validation the
    users whose validation target is not."""
    targets = split.test_target if which == "test" else split.valid_target
    if split.withheld is None:
        return np.arange(len(targets))
    new = np.isin(targets, split.withheld.items)
    return np.flatnonzero(new if which == "test" else ~new)


def excluded_items(split: Split, which: str) -> np.ndarray:
    """Items nobody may rank for `which`: the withheld ones at validation, none otherwise
    (the test always ranks the full catalogue)."""
    if split.withheld is None or which == "test":
        return np.zeros(0, dtype=np.int64)
    return split.withheld.items


def new_items_record(split: Split, valid: EvalResult, test: EvalResult) -> dict[str, Any]:
    """What the new-item protocol did, for results.json (`split.withheld` must be set)."""
    assert split.withheld is not None
    return {
        "fraction": split.withheld.fraction,
        "seed": split.withheld.seed,
        "withheld_items": len(split.withheld.items),
        "test_users": test.num_users,
        "valid_users": valid.num_users,
        "test": "users whose test target is a withheld item, ranked over the full catalogue",
        "valid": "users whose validation target is not withheld; withheld items not ranked",
        "training": "withheld items removed from every training sequence and history",
    }


def _select(
    history: np.ndarray, targets: np.ndarray, seen: tuple, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The arrays of the evaluated rows only (CSR rows re-packed)."""
    if len(rows) == len(targets):
        return history, targets, seen
    indptr, indices = seen
    lengths = np.diff(indptr)[rows]
    starts = np.repeat(indptr[rows] - np.cumsum(lengths) + lengths, lengths)
    packed = indices[np.arange(lengths.sum()) + starts]
    sub_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=sub_ptr[1:])
    return history[rows], targets[rows], (sub_ptr, packed)


def _rank_all(
    state_fn: Any,
    arrays: tuple[np.ndarray, np.ndarray, tuple],
    config: EvalConfig,
    item_table: torch.Tensor,
    excluded: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """(higher, tied, repeat, top-K lists) of every evaluated user, in user blocks; the
    lists are [users, max(ks)] under `config.beyond`, [users, 0] otherwise."""
    history, targets, seen = arrays
    n_users = history.shape[0]
    higher = np.zeros(n_users, dtype=np.int64)
    tied = np.zeros(n_users, dtype=np.int64)
    repeat = np.zeros(n_users, dtype=bool)
    top_k = max(config.ks) if config.beyond else 0
    lists = np.zeros((n_users, top_k), dtype=np.int64)
    # Under torchrun each rank ranks every world_size-th user block; the counts are integers,
    # so summing the ranks' arrays is the single-process result exactly.
    for start in distributed.shard_blocks(range(0, n_users, config.user_batch)):
        stop = min(start + config.user_batch, n_users)
        hist = torch.from_numpy(history[start:stop].astype(np.int64)).to(item_table.device)
        states = state_fn(hist, start, stop).to(item_table.dtype)
        rows, cols, again = history_pairs(seen, start, stop, targets[start:stop], config.history)
        hidden = again if config.history == "masked" else None  # a miss is never listed
        h, t, top = rank_counts(
            states, item_table, targets[start:stop], rows, cols, config.item_chunk, excluded,
            top_k=top_k, hidden=hidden,
        )  # fmt: skip
        higher[start:stop], tied[start:stop], repeat[start:stop] = h, t, again
        if top is not None:
            lists[start:stop] = top
    return distributed.all_reduce_arrays(higher, tied, repeat, lists)


def _no_users(split: Split, which: str) -> ConfigError:
    """The error for an evaluation without users (new-item protocol)."""
    why = (
        "no test target is a withheld item; withhold a larger fraction"
        if which == "test"
        else "every validation target is withheld; withhold a smaller fraction"
    )
    return ConfigError(
        f"no {which} user to evaluate under {split.protocol}: {why}", field="split.new_items"
    )


@torch.no_grad()
def evaluate_states(
    state_fn: Any,
    split: Split,
    which: Which,
    config: EvalConfig,
    item_table: torch.Tensor,
) -> EvalResult:
    """Rank every evaluated user's target given a function from history rows to states.

    Args:
        state_fn: callable(history [b, L] LongTensor on the table's device, start, stop)
            -> [b, d] user states; start:stop index the evaluated users (`rows`), which are
            all the split's users except under the new-item protocol.
        split: the split.
        which: "valid" or "test".
        config: cut-offs, history convention, chunk sizes, popularity buckets.
        item_table: [N+1, d] item embeddings.

    Raises:
        ConfigError: an invalid `config`, or no user to evaluate (new-item protocol).
    """
    started = time.perf_counter()
    config.check()
    rows = evaluated_rows(split, which)
    if len(rows) == 0:
        raise _no_users(split, which)
    arrays = _select(*_split_arrays(split, which), rows)
    excluded = excluded_items(split, which)
    higher, tied, repeat, lists = _rank_all(state_fn, arrays, config, item_table, excluded)
    missed = repeat if config.history == "masked" else np.zeros_like(repeat)
    per_user = per_user_metrics(higher, tied, tuple(config.ks), missed)
    metrics = {k: v for k, v in per_user.items() if k != "rank"}
    counts = split.train_counts[arrays[1]].astype(np.int64)  # [users] target's training count
    per_user.update(higher=higher, tied=tied, missed=missed, repeat=repeat, train_count=counts)
    beyond, users = beyond_metrics(
        lists, split.train_counts, config.ks, config.buckets, split.num_items - len(excluded)
    ) if config.beyond else ({}, {})  # fmt: skip
    per_user.update(users, **({"top": lists} if config.beyond else {}))
    masking = {
        **masking_convention(config, which, split.kind),
        **repeat_record(repeat),
        "masked_targets": int(missed.sum()),
    }
    if len(excluded):
        masking["excluded_items"] = f"{len(excluded)} withheld items (new-item protocol)"
    return EvalResult(
        which=which,
        metrics=summarise(metrics),
        per_user=per_user,
        protocol=split.protocol,
        masking=masking,
        num_users=len(rows),
        seconds=time.perf_counter() - started,
        rows=rows,
        buckets=bucket_metrics(metrics, counts, config.buckets),
        beyond=beyond,
    )


@torch.no_grad()
def evaluate(
    model: Any,
    split: Split,
    which: Which,
    config: EvalConfig,
    item_table: torch.Tensor | None = None,
) -> EvalResult:
    """Full-catalogue evaluation of a SequentialRecommender.

    Args:
        model: a SequentialRecommender (item_tower + user_state).
        split: the split whose valid or test users are ranked.
        which: "valid" or "test".
        config: cut-offs, history convention, chunk sizes.
        item_table: [N+1, d] precomputed item embeddings; computed once here (eval mode,
            fp32) when None.

    Returns:
        The EvalResult (means, per-user values, protocol and history convention recorded).
    """
    was_training = model.training
    model.eval()
    try:
        if item_table is None:
            item_table = distributed.embed_all(model.item_tower, split.num_items)

        def state_fn(hist: torch.Tensor, start: int, stop: int) -> torch.Tensor:
            return model.user_state(hist, item_table).float()

        return evaluate_states(state_fn, split, which, config, item_table)
    finally:
        model.train(was_training)


def most_popular(split: Split, which: Which, config: EvalConfig) -> EvalResult:
    """The no-training reference: every user gets items ranked by train popularity.

    Equal counts are ties, scored in expectation like any other tie.
    """
    counts = torch.from_numpy(split.train_counts.astype(np.float32))  # exact below 2**24
    table = counts[:, None]  # [N+1, 1]: score = count

    def state_fn(hist: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        return torch.ones(hist.shape[0], 1)

    return evaluate_states(state_fn, split, which, config, table)
