"""A user subsample for quick studies: `dataset.users.sample = N` keeps N users drawn at
random (`dataset.users.sample_seed`, default 0), after loading (and any k-core filter) and
before the split.

The draw is a function of the dataset's users in file order and the seed alone, so the same
settings keep the same users on every machine. The kept users change the dataset's
`content_hash` (it hashes every sequence), and the settings are part of the scenario
fingerprint, so caches and runs of different samples never mix. Asking for more users than
the dataset has is an error (a silent no-op would record a sample that is not one).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from recsys.data.types import Dataset
from recsys.errors import ConfigError


@dataclass(frozen=True)
class UsersSample:
    """`[dataset.users]`: which users a run keeps."""

    sample: int | None = None  # keep this many users drawn at random (None: every user)
    sample_seed: int = 0  # seed of the draw; another seed keeps other users

    def check(self, prefix: str = "dataset.users") -> None:
        """Raise ConfigError (naming `<prefix>.sample`) unless `sample` is None or >= 1."""
        if self.sample is not None and (isinstance(self.sample, bool) or self.sample < 1):
            raise ConfigError(
                f"is {self.sample!r}; must be an integer >= 1 (leave it out to keep every user)",
                field=f"{prefix}.sample",
            )


def sample_users(dataset: Dataset, sample: int, seed: int = 0) -> Dataset:
    """`dataset` with `sample` of its users, drawn without replacement by `seed`.

    The kept users stay in file order with their sequences (and times) untouched; the
    catalogue is kept whole (the split ranks the items the kept interactions name). The
    report records the draw (`users_sample`: sample, seed, kept, of) and a note says so.
    A k-core filter's `unfiltered` dataset is restricted to the same users.

    Raises:
        ConfigError: `sample` < 1, or more users than the dataset has.
    """
    UsersSample(sample, seed).check()
    users = [u for u, seq in dataset.sequences.items() if seq]
    if sample > len(users):
        raise ConfigError(
            f"is {sample:,} but dataset {dataset.name!r} has {len(users):,} users with "
            "interactions; ask for at most that many (or leave it out)",
            field="dataset.users.sample",
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(users), size=sample, replace=False))
    kept = {users[i] for i in chosen}
    facts = {"sample": sample, "seed": seed, "kept": sample, "of": len(users)}
    note = (
        f"user sample: kept {sample:,} of {len(users):,} users "
        f"(dataset.users.sample={sample}, sample_seed={seed})"
    )
    report = dataclasses.replace(
        dataset.report, notes=(*dataset.report.notes, note), users_sample=facts
    )
    return dataclasses.replace(
        _restricted(dataset, kept),
        report=report,
        unfiltered=_restricted(dataset.unfiltered, kept) if dataset.unfiltered else None,
    )


def describe(facts: dict[str, int]) -> str:
    """How reports name a sample (`Dataset.report.users_sample`, results.json
    `record.dataset.users_sample`): "sample: 2,000 of 12,076 users, seed 0"."""
    return f"sample: {facts['kept']:,} of {facts['of']:,} users, seed {facts['seed']}"


def _restricted(dataset: Dataset, kept: set[str]) -> Dataset:
    """`dataset` with only the users in `kept` (order, sequences and times unchanged)."""
    sequences = {u: s for u, s in dataset.sequences.items() if u in kept}
    stamps = dataset.timestamps
    if stamps is not None:
        stamps = {u: t for u, t in stamps.items() if u in kept}
    return dataclasses.replace(dataset, sequences=sequences, timestamps=stamps)
