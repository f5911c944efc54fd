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
from recsys.eval.buckets import bucket_metrics
from recsys.eval.history import history_pairs, masking_convention, repeat_record
from recsys.eval.metrics import per_user_metrics, summarise

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
            target's occurrences in the training part, `split.train_counts`).
        protocol: the split's protocol name (`Split.protocol`, recsys.config.PROTOCOL_NAMES).
        masking: the history convention, spelled out, with the repeat-target counts.
        num_users: users evaluated.
        seconds: wall time of the evaluation.
        rows: the split rows (users) evaluated, ascending: every user, except under the
            new-item protocol.
        buckets: the metrics by popularity bucket (recsys.eval.buckets.bucket_metrics).
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


def _mask_chunk(
    scores: torch.Tensor,
    offset: int,
    rows: np.ndarray,
    cols: np.ndarray,
) -> None:
    """Set scores of (row, global item col) pairs that fall in this chunk to -inf."""
    width = scores.shape[1]
    inside = (cols >= offset) & (cols < offset + width)
    if inside.any():
        r = torch.from_numpy(rows[inside]).to(scores.device)
        c = torch.from_numpy(cols[inside] - offset).to(scores.device)
        scores[r, c] = float("-inf")


_ROW_BLOCK = 128  # users ranked per matmul: keeps a [block, chunk] score matrix cache-sized
_EXACT_FP32_COUNT = 1 << 24  # fp32 sums of +-1 stay exact below this many items per chunk


def _count_block(
    scores: torch.Tensor, target_score: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(higher, tied incl. the target) per row, in one in-place pass over `scores`.

    sign(s - s_t) is +1 above, 0 tied, -1 below (masked -inf included); with
    a = sum(sign) and b = sum(|sign|): higher = (a + b) / 2, tied = width - b. For IEEE
    floats with subnormals, s - s_t == 0 exactly when s == s_t, so ties are exact (with
    denormals flushed to zero, gaps below ~1e-38 would count as ties).
    Destroys `scores`.
    """
    width = scores.shape[1]
    signs = scores.sub_(target_score[:, None]).sign_()  # [b, chunk]
    total = signs.sum(1)
    magnitude = signs.abs_().sum(1)
    higher = ((total + magnitude) / 2).round().long()
    tied = (width - magnitude).round().long()
    return higher, tied


def rank_counts(
    user_states: torch.Tensor,
    item_table: torch.Tensor,
    targets: np.ndarray,
    mask_rows: np.ndarray,
    mask_cols: np.ndarray,
    item_chunk: int,
    excluded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Count, per user, items scored above and tied with the target (excluding itself).

    Masked pairs (mask_rows[i], mask_cols[i]), the `excluded` items (for every user) and
    column 0 are excluded from both counts.
    The target's score is read from the same matmul as the other items, so equal scores
    are equal bit for bit. With several item chunks a first pass collects target scores.

    Args:
        user_states: [b, d] user states.
        item_table: [N+1, d] item embeddings, row 0 = padding.
        targets: [b] target indices (1..N); must not be among the masked pairs.
        mask_rows, mask_cols: masked (user row, item) pairs.
        item_chunk: items scored per matmul.
        excluded: items masked for every user (never a target); None = none.

    Returns:
        (higher [b], tied [b]) int64 arrays.
    """
    item_chunk = min(item_chunk, _EXACT_FP32_COUNT)
    b = user_states.shape[0]
    higher = np.zeros(b, dtype=np.int64)
    tied = np.zeros(b, dtype=np.int64)
    order = np.argsort(mask_rows, kind="stable")
    mask_rows, mask_cols = mask_rows[order], mask_cols[order]
    for lo in range(0, b, _ROW_BLOCK):
        hi = min(lo + _ROW_BLOCK, b)
        a, z = np.searchsorted(mask_rows, [lo, hi])
        h, t = _rank_rows(
            user_states[lo:hi],
            item_table,
            targets[lo:hi],
            mask_rows[a:z] - lo,
            mask_cols[a:z],
            item_chunk,
            np.zeros(0, dtype=np.int64) if excluded is None else excluded,
        )
        higher[lo:hi], tied[lo:hi] = h, t
    return higher, tied


def _rank_rows(
    user_states: torch.Tensor,
    item_table: torch.Tensor,
    targets: np.ndarray,
    mask_rows: np.ndarray,
    mask_cols: np.ndarray,
    item_chunk: int,
    excluded: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """`rank_counts` for one block of users."""
    b, n_plus_1 = user_states.shape[0], item_table.shape[0]
    device = user_states.device
    tgt = torch.from_numpy(targets.astype(np.int64)).to(device)
    bounds = [(s, min(s + item_chunk, n_plus_1)) for s in range(0, n_plus_1, item_chunk)]
    rows = torch.arange(b, device=device)
    gone = np.concatenate([[0], excluded]).astype(np.int64)  # padding and excluded items
    gone_cols = {
        start: torch.from_numpy(gone[(gone >= start) & (gone < stop)] - start).to(device)
        for start, stop in bounds
    }

    def chunk_scores(start: int, stop: int) -> torch.Tensor:
        scores = user_states @ item_table[start:stop].T  # [b, chunk]
        scores[:, gone_cols[start]] = float("-inf")
        return scores

    target_score = torch.empty(b, device=device, dtype=user_states.dtype)
    if len(bounds) > 1:
        for start, stop in bounds:
            inside = (tgt >= start) & (tgt < stop)
            if inside.any():
                scores = chunk_scores(start, stop)
                target_score[inside] = scores[rows[inside], tgt[inside] - start]
    higher = torch.zeros(b, dtype=torch.int64, device=device)
    tied = torch.zeros(b, dtype=torch.int64, device=device)
    for start, stop in bounds:
        scores = chunk_scores(start, stop)
        if len(bounds) == 1:
            target_score = scores[rows, tgt].clone()
        _mask_chunk(scores, start, mask_rows, mask_cols)
        h, t = _count_block(scores, target_score)
        higher += h
        tied += t
    tied -= 1  # the target equals itself
    return higher.cpu().numpy(), tied.cpu().numpy()


def _rank_all(
    state_fn: Any,
    arrays: tuple[np.ndarray, np.ndarray, tuple],
    config: EvalConfig,
    item_table: torch.Tensor,
    excluded: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(higher, tied, repeat) of every evaluated user, in user blocks."""
    history, targets, seen = arrays
    n_users = history.shape[0]
    higher = np.zeros(n_users, dtype=np.int64)
    tied = np.zeros(n_users, dtype=np.int64)
    repeat = np.zeros(n_users, dtype=bool)
    # Under torchrun each rank ranks every world_size-th user block; the counts are integers,
    # so summing the ranks' arrays is the single-process result exactly.
    for start in distributed.shard_blocks(range(0, n_users, config.user_batch)):
        stop = min(start + config.user_batch, n_users)
        hist = torch.from_numpy(history[start:stop].astype(np.int64)).to(item_table.device)
        states = state_fn(hist, start, stop).to(item_table.dtype)
        rows, cols, again = history_pairs(seen, start, stop, targets[start:stop], config.history)
        h, t = rank_counts(
            states, item_table, targets[start:stop], rows, cols, config.item_chunk, excluded
        )
        higher[start:stop], tied[start:stop], repeat[start:stop] = h, t, again
    return distributed.all_reduce_arrays(higher, tied, repeat)


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
        why = (
            "no test target is a withheld item; withhold a larger fraction"
            if which == "test"
            else "every validation target is withheld; withhold a smaller fraction"
        )
        raise ConfigError(
            f"no {which} user to evaluate under {split.protocol}: {why}", field="split.new_items"
        )
    arrays = _select(*_split_arrays(split, which), rows)
    excluded = excluded_items(split, which)
    higher, tied, repeat = _rank_all(state_fn, arrays, config, item_table, excluded)
    missed = repeat if config.history == "masked" else np.zeros_like(repeat)
    per_user = per_user_metrics(higher, tied, tuple(config.ks), missed)
    metrics = {k: v for k, v in per_user.items() if k != "rank"}
    counts = split.train_counts[arrays[1]].astype(np.int64)  # [users] target's training count
    per_user.update(higher=higher, tied=tied, missed=missed, repeat=repeat, train_count=counts)
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
