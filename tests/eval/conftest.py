"""Shared set-up of the chunked-ranking tests: a toy split whose scores tie often."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch


@pytest.fixture
def tied_toy(make_toy_split) -> Callable[[int], tuple[Any, torch.Tensor, torch.Tensor]]:
    """`tied_toy(seed)` -> (split, item table, user states): 40 users over 12 items, and
    integer-valued embeddings in {-2..2} x {-1..1}, which make exact score ties common."""

    def build(seed: int) -> tuple[Any, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed)
        letters = [chr(ord("a") + i) for i in range(12)]
        seqs = {f"u{u}": list(rng.choice(letters, size=rng.integers(3, 9))) for u in range(40)}
        split = make_toy_split(seqs, max_len=4)
        table = torch.from_numpy(rng.integers(-2, 3, size=(split.num_items + 1, 3))).float()
        states = torch.from_numpy(rng.integers(-1, 2, size=(split.num_users, 3))).float()
        return split, table, states

    return build
