"""Per-user test metrics on disk: ``test_per_user.csv`` (for paired significance tests).

Columns: ``user_id``, ``target`` (external item id), ``target_train_count`` (the target's
occurrences in the training part of the split, which decides its popularity bucket; 0 =
cold), ``rank_expectation`` (expected 1-based rank under random tie-breaking; ``inf`` when
the target was masked), ``hr@k`` and ``ndcg@k`` for every evaluated k, ``mrr``,
``target_masked`` (0/1: masked, so a miss), ``target_in_history`` (0/1: the target repeats an
item of the user's input history; under ``eval.history = "masked"`` these are exactly the
masked ones, under "unmasked" they are ranked among the other history items). Under
``eval.beyond`` (the default) ``arp@k``, ``tail@k`` and ``novelty@k`` follow for every k: the
user's top-k list's mean training count, tail share and novelty (recsys.eval.beyond); files
written before they existed simply lack these columns. Rows follow
the split's user order (only the evaluated users: under the new-item protocol those whose
target was withheld), so two runs on the same split pair up row by row (and by user_id).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from plumbing.io import atomic_write_text
from recsys.data.types import Split
from recsys.eval.beyond import PER_USER
from recsys.eval.evaluator import EvalResult


def _cutoffs(result: EvalResult) -> list[int]:
    """The cut-offs of a result, from its ``hr@k`` metrics."""
    return [int(name[3:]) for name in result.metrics if name.startswith("hr@")]


def write_per_user_csv(path: Path, result: EvalResult, split: Split) -> None:
    """Write one row per user of `result` (a test or validation EvalResult)."""
    targets = split.test_target if result.which == "test" else split.valid_target
    metric_cols = [c for c in result.metrics if c != "mrr"] + ["mrr"]
    beyond_cols = [f"{name}@{k}" for name in PER_USER for k in _cutoffs(result)]
    beyond_cols = [c for c in beyond_cols if c in result.per_user]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "user_id",
            "target",
            "target_train_count",
            "rank_expectation",
            *metric_cols,
            "target_masked",
            "target_in_history",
            *beyond_cols,
        ]
    )
    per_user = result.per_user
    for u, row in enumerate(result.rows):
        writer.writerow(
            [
                split.user_ids[row],
                split.catalogue.item_ids[int(targets[row]) - 1],
                int(per_user["train_count"][u]),
                repr(float(per_user["rank"][u])),
                *(repr(float(per_user[c][u])) for c in metric_cols),
                int(per_user["missed"][u]),
                int(per_user["repeat"][u]),
                *(repr(float(per_user[c][u])) for c in beyond_cols),
            ]
        )
    atomic_write_text(path, buffer.getvalue())


def read_per_user_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a per-user file: strings for ids, float64 for metrics, bool for masks,
    int64 for training counts."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    out: dict[str, np.ndarray] = {}
    for column in rows[0]:
        values = [r[column] for r in rows]
        if column in ("user_id", "target"):
            out[column] = np.array(values, dtype=object)
        elif column in ("target_masked", "target_in_history"):
            out[column] = np.array([v == "1" for v in values])
        elif column == "target_train_count":
            out[column] = np.array([int(v) for v in values], dtype=np.int64)
        else:
            out[column] = np.array([float(v) for v in values])
    return out
