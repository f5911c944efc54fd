"""The temporal split (`split.kind = "temporal"`), without look-ahead.

Two global cuts t_v < t_t split time into a training period (before t_v), a validation
period [t_v, t_t) and a test period (from t_t). A cut is an ISO date, or a quantile q of all
T interaction times of the dataset as read: the time of the interaction at position
floor(q*T) in time order.

Nothing after t_v decides what the split keeps. A k-core filter (`dataset.kcore`, applied
by the loader to the whole timeline) is redone on the training-period interactions alone,
starting from the dataset as read (`Dataset.unfiltered`). The ranked catalogue is the items
of the training period that survive it (in items-file order, re-indexed densely 1..N, 0 is
padding); later interactions with any other item, or of a user the filter removed, are
dropped and counted (`Split.filtering`, which results.json records).

Per user: the validation target is the first kept interaction of the validation period,
its history the training-period ones; the test target is the first kept interaction of the
test period, its history every kept one before t_t (validation period included); training
uses the training period only. Users need at least `min_len - 2` training interactions, one
validation and one test interaction; the others are dropped (and counted). `keep_last`
bounds histories and masks as in leave-one-out: the last `keep_last - 2` (validation) and
`keep_last - 1` (test) interactions before the cut.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from recsys.config import SplitConfig, parse_date
from recsys.data.kcore import core_mask
from recsys.data.split import _assemble, _dense, _right_aligned
from recsys.data.types import Dataset, Split
from recsys.errors import ConfigError, DataFormatError


def temporal_cuts(dataset: Dataset, config: SplitConfig) -> tuple[float, float]:
    """(validation start, test start) in seconds since the epoch (see the module docstring).

    Raises:
        DataFormatError: the dataset has no times, or the cuts leave a period empty.
    """
    if dataset.timestamps is None:
        raise DataFormatError(
            dataset.source,
            "split.kind = 'temporal' needs interaction times, and this dataset has none "
            "(an IISAN users file, or a table without a timestamp column); use "
            "split.kind = 'leave_one_out'",
        )
    times = np.sort(np.fromiter((t for ts in dataset.timestamps.values() for t in ts), float))
    cuts = []
    for key, value in zip(("split.valid_cut", "split.test_cut"), config.cuts, strict=True):
        if isinstance(value, str):
            cuts.append(parse_date(value, key).timestamp())
        else:
            cuts.append(float(times[min(len(times) - 1, int(np.floor(value * len(times))))]))
    if not cuts[0] < cuts[1]:
        raise ConfigError(
            f"{config.cuts[1]!r} falls at {_iso(cuts[1])}, not after split.valid_cut "
            f"{config.cuts[0]!r} at {_iso(cuts[0])}",
            field="split.test_cut",
        )
    return cuts[0], cuts[1]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def _training_core(source: Dataset, valid_start: float, k: int) -> tuple[dict, np.ndarray]:
    """Per user, the kept training-period positions (mask over `seq[:a]`), and the
    [N_defined+1] mask of known items: those with a kept training-period interaction."""
    index = source.catalogue._index
    users = list(source.sequences)
    ends = [
        int(np.searchsorted(np.asarray(source.timestamps[u], float), valid_start, side="left"))
        for u in users
    ]
    owner = np.repeat(np.arange(len(users)), ends)  # [T_train]
    item = np.fromiter(
        (index[i] for u, a in zip(users, ends, strict=True) for i in source.sequences[u][:a]),
        dtype=np.int64,
        count=int(sum(ends)),
    )
    alive, rounds = (
        core_mask(owner, item, len(users), len(source.catalogue), k)
        if k
        else (np.ones(len(item), dtype=bool), 0)
    )
    known = np.zeros(len(source.catalogue) + 1, dtype=bool)
    known[item[alive]] = True
    starts = np.cumsum(ends) - np.asarray(ends, dtype=np.int64)
    kept = {u: alive[s : s + a] for u, s, a in zip(users, starts, ends, strict=True)}
    facts = {"rounds": rounds, "train_interactions": len(item), "kept": int(alive.sum())}
    return {"mask": kept, "facts": facts}, known


def make_temporal_split(dataset: Dataset, config: SplitConfig) -> Split:
    """The temporal split (module docstring); same arrays and meaning as `make_split`'s,
    with `kind="temporal"`, the two cut times and `filtering` recorded."""
    k = dataset.report.kcore["k"] if dataset.unfiltered and dataset.report.kcore else 0
    source = dataset.unfiltered if k else dataset
    valid_start, test_start = temporal_cuts(source, config)
    core, known = _training_core(source, valid_start, k)
    index = source.catalogue._index
    need = max(1, config.min_len - 2)
    kept: list[str] = []
    rows: list[tuple[list[int], list[int], int, int]] = []  # train, before test, targets
    later_dropped = 0
    for user, seq in source.sequences.items():
        stamps = np.asarray(source.timestamps[user], dtype=np.float64)
        a = int(np.searchsorted(stamps, valid_start, side="left"))
        train = [index[i] for i, keep in zip(seq[:a], core["mask"][user], strict=True) if keep]
        later = [(index[i], t) for i, t in zip(seq[a:], stamps[a:], strict=True)]
        valid = [i for i, t in later if t < test_start and known[i]]
        test = [i for i, t in later if t >= test_start and known[i]]
        later_dropped += len(later) - len(valid) - len(test)
        if len(train) < need or not valid or not test:
            continue
        kept.append(user)
        rows.append(
            (
                train[-(config.keep_last - 2) :],
                [*train, *valid][-(config.keep_last - 1) :],
                valid[0],
                test[0],
            )
        )
    if not kept:
        raise DataFormatError(
            dataset.source,
            f"no user has {need} interaction(s) before {_iso(valid_start)}, one before "
            f"{_iso(test_start)} and one after; move the cuts (split.valid_cut, split.test_cut)",
        )
    catalogue, remap = _dense(source.catalogue, np.flatnonzero(known))
    parts = _parts(rows, remap, config.keep_last)
    filtering = _filtering(source, k, core["facts"], len(catalogue), later_dropped, valid_start)
    split = _assemble(
        catalogue,
        tuple(kept),
        parts,
        len(source.sequences) - len(kept),
        config,
        (valid_start, test_start),
        defined=len(source.catalogue),
        filtering=filtering,
    )
    return split


def _parts(
    rows: list[tuple[list[int], list[int], int, int]], remap: np.ndarray, keep_last: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train part [U, keep_last-2], test history [U, keep_last-1], valid targets [U], test
    targets [U]) in dense indices, histories right-aligned."""

    def aligned(lists: list[list[int]], width: int) -> np.ndarray:
        flat = np.fromiter((i for row in lists for i in row), dtype=np.int64)
        lengths = np.array([len(row) for row in lists], dtype=np.int64)
        return _right_aligned(remap[flat], lengths, width)

    train = aligned([r[0] for r in rows], keep_last - 2)
    seen_test = aligned([r[1] for r in rows], keep_last - 1)
    valid_target = remap[np.array([r[2] for r in rows], dtype=np.int64)]
    test_target = remap[np.array([r[3] for r in rows], dtype=np.int64)]
    return train, seen_test, valid_target, test_target


def _filtering(
    source: Dataset, k: int, core: dict[str, int], known: int, dropped: int, start: float
) -> dict[str, Any]:
    """What the split kept, decided on the training period alone (`Split.filtering`)."""
    return {
        "decided_on": f"training period (before {_iso(start)})",
        "kcore": k,
        "kcore_rounds": core["rounds"],
        "training_interactions": core["train_interactions"],
        "training_interactions_kept": core["kept"],
        "items_defined": len(source.catalogue),
        "items_known": known,
        "later_interactions_dropped": dropped,
    }
