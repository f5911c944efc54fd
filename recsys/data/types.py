"""The in-memory dataset: a catalogue of items and each user's interactions in time order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from media.hashing import sha256_lines
from recsys.config import PROTOCOL_NAMES
from recsys.errors import UnknownItemError

FieldValue = str | tuple[str, ...]
"""One item's value of a text field: a string, or a tuple of strings for a list field
(Amazon's `features`, `categories`); "" or () when the item has none."""


@dataclass(frozen=True)
class TextField:
    """A named item text field beyond the title (description, brand, categories, ...).

    Attributes:
        name: the field name templates use (`{description}`).
        values: one value per catalogue item, in catalogue order.
    """

    name: str
    values: tuple[FieldValue, ...]


@dataclass(frozen=True)
class Catalogue:
    """Items in a fixed order. Dense index `i + 1` is `item_ids[i]`; index 0 is padding.

    Attributes:
        item_ids: external item ids, unique.
        titles: one title per item (HTML entities already unescaped).
        image_paths: cover image per item, or None when the item has none.
        video_paths: video per item, or None when the item has none.
        text_fields: further text fields, in source column order (none for the IISAN and
            MicroLens formats).
        image_urls: remote cover image URL per item (None when it has none), recorded from
            the source (Amazon Reviews 2023) and never fetched; () when the source has none.
    """

    item_ids: tuple[str, ...]
    titles: tuple[str, ...]
    image_paths: tuple[Path | None, ...]
    video_paths: tuple[Path | None, ...]
    text_fields: tuple[TextField, ...] = ()
    image_urls: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        if not (len(self.titles) == len(self.image_paths) == len(self.video_paths) == n):
            raise ValueError("Catalogue columns must all have one entry per item")
        if any(len(f.values) != n for f in self.text_fields) or len(self.image_urls) not in (0, n):
            raise ValueError("Catalogue text fields and image URLs need one entry per item")

    @property
    def field_names(self) -> tuple[str, ...]:
        """Names of the extra text fields, in order."""
        return tuple(f.name for f in self.text_fields)

    def field_values(self, name: str) -> tuple[FieldValue, ...]:
        """The values of one extra text field; KeyError when the catalogue has no such field."""
        for text_field in self.text_fields:
            if text_field.name == name:
                return text_field.values
        raise KeyError(name)

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
            text_fields=tuple(
                TextField(f.name, tuple(f.values[r] for r in rows)) for f in self.text_fields
            ),
            image_urls=tuple(self.image_urls[r] for r in rows) if self.image_urls else (),
        )

    @cached_property
    def content_hash(self) -> str:
        """sha256 over ids and titles in order, then each extra text field that has a value
        (media bytes are hashed by the cache; image URLs are not model inputs). A catalogue
        without such fields hashes exactly as before they existed, so existing caches stay
        valid, and the same items hash alike in every format."""
        lines = (f"{i}\t{t}" for i, t in zip(self.item_ids, self.titles, strict=True))
        base = sha256_lines(lines)
        filled = [f for f in self.text_fields if any(f.values)]
        if not filled:
            return base
        extra = (f"{f.name}\t{json.dumps(f.values, ensure_ascii=False)}" for f in filled)
        return sha256_lines([base, *extra])


@dataclass(frozen=True)
class LoadReport:
    """What the loader skipped or repaired, so a run can say so.

    Attributes:
        dropped_unknown: interactions dropped because their item is not in the catalogue
            (only when the loader was told to drop them instead of failing).
        notes: human-readable notes ("3 users had no interactions", ...).
        kcore: what the k-core filter kept (`recsys.data.kcore.kcore_filter`), or None when
            none was applied: k, rounds, and users / items / interactions before and after.
    """

    dropped_unknown: int = 0
    notes: tuple[str, ...] = ()
    kcore: dict[str, int] | None = None
    users_sample: dict[str, int] | None = None  # recsys.data.users_sample: sample, seed, kept, of


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset.

    Attributes:
        name: short name (folder name by default).
        catalogue: every item the items file defines, in file order.
        sequences: user id -> item ids, oldest first (a user line without items in an
            IISAN users file gives an empty sequence; the split drops it as too short).
        source: where it was read from.
        report: what the loader dropped or noticed.
        timestamps: user id -> interaction times in seconds since the Unix epoch, parallel
            to `sequences`; None when the source has no times (IISAN users files).
        unfiltered: after a k-core filter, the dataset as read (a temporal split applies
            the filter to its training period alone); None otherwise. Not hashed.
    """

    name: str
    catalogue: Catalogue
    sequences: dict[str, tuple[str, ...]]
    source: Path
    report: LoadReport = field(default_factory=LoadReport)
    timestamps: dict[str, tuple[float, ...]] | None = None
    unfiltered: Dataset | None = field(default=None, repr=False, compare=False)

    @cached_property
    def content_hash(self) -> str:
        """sha256 over the catalogue hash and every user's sequence, in user order.

        Timestamps are left out (they order the sequences, which are hashed; a split that
        reads the times records its cut points in its own fingerprint), and so are users
        without interactions, so existing datasets keep their hashes."""
        lines = [self.catalogue.content_hash]
        lines.extend(f"{u}\t{' '.join(s)}" for u, s in self.sequences.items() if s)
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
    """An evaluation split with dense item indices, 0 = padding: leave-one-out (the IISAN
    protocol, described below) or temporal (`recsys.data.temporal.make_temporal_split`: the
    same arrays, with targets and histories taken on either side of two global time cuts).

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
        train_counts: [N+1] item counts over `train_seqs`, what the model trains on (the
            popularity of the `cold` bucket and the log-Q correction); index 0 unused (0).
        dropped_users: users dropped for having fewer than `min_len` interactions (temporal:
            users without a training, validation and test interaction).
        keep_last, max_len, min_len: the protocol parameters used.
        kind: "leave_one_out" or "temporal" (recsys.config.SPLIT_KINDS).
        cuts: temporal only: (validation start, test start) in seconds since the epoch.
        withheld: the new-item protocol's withheld items, absent from every training and
            validation array (and counted 0 in train_counts); None when every item may train.
        defined_items: items the dataset's items file defines (0: not known).
        filtering: temporal only: what the split kept, decided on the training period
            alone (`recsys.data.temporal`): the k-core's k (0: none) and rounds, training
            interactions before and after it, items defined and known (the catalogue), and
            later interactions dropped for an item outside it; results.json records it.
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
    kind: str = "leave_one_out"
    cuts: tuple[float, float] | None = None
    withheld: WithheldItems | None = None
    defined_items: int = 0
    filtering: dict[str, Any] | None = None

    @property
    def protocol(self) -> str:
        """The protocol name results carry ("leave_one_out_full_ranking", ...; with the
        new-item protocol "...+new_items(fraction=0.1,seed=0)"): runs under different
        protocols never mix."""
        name = PROTOCOL_NAMES[self.kind]
        if self.withheld is None:
            return name
        w = self.withheld
        return f"{name}+new_items(fraction={w.fraction:g},seed={w.seed})"

    @property
    def num_items(self) -> int:
        """Number of real items N (dense indices 1..N)."""
        return len(self.catalogue)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    def catalogue_note(self) -> str:
        """The ranked catalogue in words: how many items, and why not every defined one."""
        ranked, defined = self.num_items, self.defined_items
        if not defined or defined == ranked:
            return f"{ranked:,} items ranked"
        if self.filtering is not None:
            core = self.filtering["kcore"]
            after = f", after its {core}-core filter" if core else ""
            return (
                f"{ranked:,} of {defined:,} items ranked: those occurring in the "
                f"{self.filtering['decided_on']}{after}"
            )
        kept = (
            f"the last {self.keep_last} of each user with at least {self.min_len}"
            if self.kind == "leave_one_out"
            else "those of users with a training, validation and test interaction"
        )
        return (
            f"{ranked:,} of {defined:,} items ranked: those occurring in the kept interactions "
            f"({kept})"
        )

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
