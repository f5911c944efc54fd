"""Streamed cache rows equal in-memory rows; single-process helpers are identities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch


def _cache(folder: Path, *, shared: bool):
    """A cache folder written by hand: 20 items, 3 stored steps, width 5, item 7 invalid."""
    from recsys.cache.states import MANIFEST, SHARED, STATES, VALID, open_cache

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    states = rng.standard_normal((21, 3, 5)).astype(np.float16)
    states[0] = 0
    valid = np.ones(21, dtype=bool)
    valid[[0, 7]] = False
    np.save(folder / STATES, states)
    np.save(folder / VALID, valid)
    if shared:
        np.save(folder / SHARED, rng.standard_normal((1, 5)).astype(np.float16))
    manifest = {"fingerprint": "f", "fields": {}, "stored_shape": [21, 3, 5], "missing": 1}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return open_cache(folder)


@pytest.mark.parametrize("shared", [False, True])
def test_streamed_source_reads_what_the_in_memory_source_holds(tmp_path, monkeypatch, shared):
    from recsys.adapters.sources import CachedSource
    from recsys.cache.stream import BUDGET_ENV, StreamedSource

    cache = _cache(tmp_path / "c", shared=shared)
    in_memory = CachedSource.from_cache(cache)
    assert isinstance(in_memory, CachedSource)
    monkeypatch.setenv(BUDGET_ENV, "0")  # any cache is over budget: stream it
    streamed = CachedSource.from_cache(cache)
    assert isinstance(streamed, StreamedSource) and streamed.info["streamed"]
    assert (streamed.width, streamed.num_steps) == (in_memory.width, in_memory.num_steps)
    items = torch.tensor([3, 0, 4, 5, 7, 3, 20, 19, 1, 12])  # runs, repeats, padding, invalid
    assert torch.equal(streamed(items), in_memory(items))
    assert torch.equal(streamed(torch.tensor([], dtype=torch.long)), in_memory(items[:0]))
    assert float(streamed(torch.tensor([7])).abs().sum()) == 0.0


def test_bad_budget_is_a_clear_error(monkeypatch):
    from recsys.cache.stream import BUDGET_ENV, ram_budget_bytes
    from recsys.errors import ConfigError

    monkeypatch.setenv(BUDGET_ENV, "lots")
    with pytest.raises(ConfigError, match=BUDGET_ENV):
        ram_budget_bytes()
    monkeypatch.setenv(BUDGET_ENV, "1.5")
    assert ram_budget_bytes() == int(1.5 * 1024 * 1024)


def test_slices_and_blocks_cover_every_row_once():
    from recsys.distributed import DistContext, local_slice, shard_blocks

    batch = np.arange(11)
    parts = [local_slice(batch, DistContext(rank=r, world_size=3)) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 3]
    assert np.array_equal(np.concatenate(parts), batch)  # contiguous, in order
    assert local_slice(batch) is batch  # one process: the whole batch
    blocks = [shard_blocks(range(0, 10), DistContext(rank=r, world_size=3)) for r in range(3)]
    assert blocks == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]


def test_single_process_collectives_are_identities():
    from recsys import distributed

    assert not distributed.is_active()
    a, b = np.array([1, 2]), np.array([True, False])
    assert distributed.all_reduce_arrays(a, b) == [a, b]
    assert distributed.all_reduce_sum(2.5) == 2.5
    distributed.barrier()  # no process group: returns at once
