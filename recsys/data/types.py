"""The in-memory dataset: a catalogue of items and each user's interactions in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from media.hashing import sha256_lines
from recsys.config import PROTOCOL_NAME
from recsys.errors import UnknownItemError


@dataclass(frozen=True)
class Catalogue:
    """Items in a fixed order. Dense index `i + 1` is `item_ids[i]`; index 0 is padding.

    Attributes:
        item_ids: external item ids, unique.
        titles: one title per item (HTML entities already unescaped).
        image_paths: cover image per item, or None when the item has none.
        video_paths: video per item, or None when the item has none.
    """

    item_ids: tuple[str, ...]
    titles: tuple[str, ...]
    image_paths: tuple[Path | None, ...]
    video_paths: tuple[Path | None, ...]

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if not (len(self.titles) == len(self.image_paths) == len(self.video_paths) == n):
            raise ValueError("Catalogue columns must all have one entry per item")

    def __len__(self) -> int:
        return len(self.item_ids)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {item: i + 1 for i, item in enumerate(self.item_ids)}

    def index_of(self, item_id: str) -> int:
        """Dense 1-based index of `item_id`; raises UnknownItemError when absent."""
        try:
            return self._index[item_id]
        except KeyError:
            raise UnknownItemError("<catalogue>", f"unknown item id {item_id!r}") from None

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def subset(self, item_ids: list[str]) -> Catalogue:
        """A new catalogue with just `item_ids`, in the given order."""
        rows = [self._index[i] - 1 for i in item_ids]
        return Catalogue(
            item_ids=tuple(self.item_ids[r] for r in rows),
            titles=tuple(self.titles[r] for r in rows),
            image_paths=tuple(self.image_paths[r] for r in rows),
            video_paths=tuple(self.video_paths[r] for r in rows),
        )

    @cached_property
    def content_hash(self) -> str:
        """sha256 over ids and titles in order (media bytes are hashed by the cache)."""
        return sha256_lines(f"{i}\t{t}" for i, t in zip(self.item_ids, self.titles, strict=True))


@dataclass(frozen=True)
class LoadReport:
    """What the loader skipped or repaired, so a run can say so.

    Attributes:
        dropped_unknown: interactions dropped because their item is not in the catalogue
            (only when the loader was told to drop them instead of failing).
        notes: human-readable notes ("3 users had no interactions", ...).
    """

    dropped_unknown: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset.

    Attributes:
        name: short name (folder name by default).
        catalogue: every item the items file defines, in file order.
        sequences: user id -> item ids, oldest first.
        source: where it was read from.
        report: what the loader dropped or noticed.
    """

    name: str
    catalogue: Catalogue
    sequences: dict[str, tuple[str, ...]]
    source: Path
    report: LoadReport = field(default_factory=LoadReport)

    @cached_property
    def content_hash(self) -> str:
        """sha256 over the catalogue hash and every user's sequence, in user order."""
        lines = [self.catalogue.content_hash]
        lines.extend(f"{u}\t{' '.join(s)}" for u, s in self.sequences.items())
        return sha256_lines(lines)


@dataclass(frozen=True)
class WithheldItems:
    """The items the new-item protocol withholds from training (`split.withhold_items`).

    Attributes:
        items: sorted dense indices (1..N) of the withheld items.
        fraction: the share of the catalogue asked for (`NewItemsConfig.fraction`).
        seed: the seed that drew them.
    """

    items: np.ndarray
    fraction: float
    seed: int


@dataclass(frozen=True)
class Split:
    """The leave-one-out split (IISAN protocol) with dense item indices, 0 = padding.

    Every array row is one kept user, in `user_ids` order. Histories are left-padded.

    Attributes:
        catalogue: items occurring in the kept interactions, in items-file order;
            dense index `i + 1` is `catalogue.item_ids[i]`.
        user_ids: kept users.
        train_seqs: [U, L+1] the last L+1 items of `seq[:-2]`; inputs are `[:, :-1]`,
            next-item targets `[:, 1:]`.
        valid_history: [U, L] last L items of `seq[:-2]`.
        valid_target: [U] `seq[-2]`.
        test_history: [U, L] last L items of `seq[:-1]`.
        test_target: [U] `seq[-1]`.
        valid_seen: per user, the items to mask when ranking for validation (`seq[:-2]`
            within the kept window), as CSR (indptr [U+1], indices).
        test_seen: same for test (`seq[:-1]`).
        train_counts: [N+1] item counts over the training parts; index 0 unused (0).
        dropped_users: users dropped for having fewer than `min_len` interactions.
        keep_last, max_len, min_len: the protocol parameters used.
        withheld: the new-item protocol's withheld items, absent from every training and
            validation array (and counted 0 in train_counts); None for plain leave-one-out.
    """

    catalogue: Catalogue
    user_ids: tuple[str, ...]
    train_seqs: np.ndarray
    valid_history: np.ndarray
    valid_target: np.ndarray
    test_history: np.ndarray
    test_target: np.ndarray
    valid_seen: tuple[np.ndarray, np.ndarray]
    test_seen: tuple[np.ndarray, np.ndarray]
    train_counts: np.ndarray
    dropped_users: int
    keep_last: int
    max_len: int
    min_len: int
    withheld: WithheldItems | None = None

    @property
    def protocol(self) -> str:
        """The protocol name results carry: runs under different protocols never mix."""
        if self.withheld is None:
            return PROTOCOL_NAME
        w = self.withheld
        return f"{PROTOCOL_NAME}+new_items(fraction={w.fraction:g},seed={w.seed})"

    @property
    def num_items(self) -> int:
        """Number of real items N (dense indices 1..N)."""
        return len(self.catalogue)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    def log_popularity(self) -> np.ndarray:
        """[N+1] log of the train popularity p(i) used by the logQ correction.

        Items never seen in training get the smallest observed probability, so their
        correction is finite; index 0 (padding) gets log 1 = 0, as in the reference.
        """
        counts = self.train_counts.astype(np.float64).copy()
        counts[0] = 0.0
        total = counts.sum()
        if total <= 0:
            return np.zeros_like(counts)
        prob = counts / total
        floor = prob[prob > 0].min()
        prob[1:] = np.maximum(prob[1:], floor)
        prob[0] = 1.0
        return np.log(prob)
