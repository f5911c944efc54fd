"""The history convention of the evaluator (`recsys.config.EvalConfig.history`).

The input history is ``seq[:-2]`` for validation and ``seq[:-1]`` for test (within the kept
window). "masked" masks every history item whatever the target, so a target that repeats
one is a miss (the IISAN code's convention); "unmasked" masks nothing (RecBole's sequential
models). Neither looks at the target, unlike the withdrawn default that masked every
history item *except* the target: a model that scores its input history high then ranked
every repeated target first, which no real top-K list can do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from recsys.config import EvalConfig

WITHDRAWN_HISTORY = "withdrawn_target_unmasked"
"""What runs recorded before `EvalConfig.history` existed did by default: every history item
masked *except the target*. It looks at the target (a model that scores its history high
ranks every repeat target first), so it is no protocol of this toolkit: such runs keep their
record, are never compared with others, and are re-scored by `toolkit evaluate`."""
REMOVED_EVAL_KEYS = {
    "mask_repeat_targets": "eval.mask_repeat_targets was removed: the history is now masked "
    'whatever the target (eval.history = "masked", the default; a repeated target is a miss) '
    'or not at all (eval.history = "unmasked")',
}
"""Evaluation keys that no longer exist -> what to write instead (scenario loaders say it)."""


def history_of(evaluation: Mapping[str, Any]) -> str:
    """The history convention an evaluation record was made under, including records written
    before `history` existed: `mask_repeat_targets = true` then meant "masked" exactly;
    false (the old default) meant `WITHDRAWN_HISTORY`."""
    if "history" in evaluation:
        return str(evaluation["history"])
    return "masked" if evaluation.get("mask_repeat_targets") else WITHDRAWN_HISTORY


def masking_convention(
    config: EvalConfig, which: str, kind: str = "leave_one_out"
) -> dict[str, Any]:
    """How the history was treated, for the record (`convention` names it)."""
    if kind == "temporal":
        period = "validation" if which == "valid" else "test"
        history = f"the user's interactions before the {period} cut (within keep_last)"
    else:
        history = "seq[:-2]" if which == "valid" else "seq[:-1]"
    masked = config.history == "masked"
    return {
        "convention": config.history,
        "history_items": history,
        "history": "every history item masked, whatever the target"
        if masked
        else "nothing masked: every item ranked, history included",
        "target": "a target that repeats a history item is masked too (a miss)"
        if masked
        else "ranked among every item, history items included",
        "ties": "expectation under uniform random tie-breaking",
    }


def repeat_record(repeat: np.ndarray) -> dict[str, Any]:
    """How many evaluated users have a target that repeats an item of their input history."""
    count, users = int(np.count_nonzero(repeat)), len(repeat)
    return {
        "users": users,
        "repeat_targets": count,
        "repeat_share": count / users if users else 0.0,
    }


def history_pairs(
    seen: tuple[np.ndarray, np.ndarray],
    start: int,
    stop: int,
    targets: np.ndarray,
    history: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols) of the history pairs to mask for users [start, stop), and which users'
    targets repeat a history item.

    Under "masked" every history item is masked; a repeated target's own column is left out
    of the pairs (rank_counts reads the target's score from the same pass) and the user is
    scored as a miss afterwards (`missed` = `repeat`), which is the same as masking it.
    Under "unmasked" nothing is masked.
    """
    indptr, indices = seen
    lo, hi = indptr[start], indptr[stop]
    cols = indices[lo:hi].astype(np.int64)
    rows = np.repeat(np.arange(stop - start), np.diff(indptr[start : stop + 1]))
    is_target = cols == targets[rows]
    repeat = np.zeros(stop - start, dtype=bool)
    repeat[rows[is_target]] = True
    if history == "unmasked":
        return rows[:0], cols[:0], repeat
    keep = ~is_target
    return rows[keep], cols[keep], repeat
