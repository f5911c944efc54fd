"""The one place that turns a run's configuration into a model, and a trained run's
checkpoint back into that model.

Training (`recsys.run.run_experiment`) and every reader of a finished run (`toolkit
recommend`, re-evaluation) build the model here, so they cannot drift apart: same option
parsing, same initialisation order (item tower first, then SASRec, under the run's seed),
and the same strict loading as resume: every trainable tensor must be in the checkpoint
with its shape, and nothing else may be.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from recsys.channels import ChannelInput
from recsys.config import SASRecConfig
from recsys.data.types import Split
from recsys.distributed import DistContext
from recsys.errors import ConfigError
from recsys.methods import MethodContext, get_method, parse_method_options
from recsys.models.recommender import SequentialRecommender
from recsys.models.sasrec import SASRec
from recsys.train import checkpoint as ckpt
from recsys.train.structure import trainable_groups


def build_model(
    split: Split,
    *,
    method: str,
    channels: tuple[ChannelInput, ...] = (),
    method_options: Mapping[str, Any] | None = None,
    sasrec: SASRecConfig = SASRecConfig(),
    seed: int = 0,
    device: torch.device | str = "cpu",
    cache_dir: Path,
    dist: DistContext | None = None,
    progress: bool = False,
) -> SequentialRecommender:
    """The recommender a run with these settings trains, freshly initialised.

    Args:
        split: the split (its catalogue sizes the tower and SASRec's positions).
        method: a registered method (recsys.methods).
        channels: input channels for content methods.
        method_options: the scenario's raw `[method_options]` table.
        sasrec: user-encoder configuration.
        seed: seeds the initialisation (tower first, then SASRec).
        device: where the model lives.
        cache_dir: where methods keep hidden-state caches.
        dist: rank context (caches are built by every rank together).
        progress: progress bars while caches are built.

    Raises:
        ConfigError: unknown method or option, or a content method without channels.
    """
    entry = get_method(method)
    if entry.needs_channels and not channels:
        raise ConfigError(f"method {method!r} needs at least one input channel")
    options = parse_method_options(method, method_options)
    sasrec.check()
    device = torch.device(device)
    torch.manual_seed(seed)  # initialisation: tower first, then SASRec
    ctx = MethodContext(
        split=split,
        channels=tuple(channels),
        options=options,
        device=device,
        cache_dir=Path(cache_dir),
        out_dim=sasrec.dim,
        init=sasrec.init,
        dist=dist or DistContext(),
        seed=seed,
        progress=progress,
    )
    tower = entry.builder(ctx)
    user_encoder = SASRec(
        sasrec.dim,
        sasrec.num_blocks,
        sasrec.num_heads,
        sasrec.ffn_dim,
        split.max_len,
        sasrec.dropout,
        init=sasrec.init,
    )
    return SequentialRecommender(tower, user_encoder, num_items=split.num_items).to(device)


def trainable_tensors(model: SequentialRecommender) -> dict[str, torch.nn.Parameter]:
    """Name -> parameter of everything the model trains (what checkpoints hold)."""
    params = [p for group in trainable_groups(model) for p in group["params"]]
    return ckpt.trainable_named(model, params)


def load_trained(model: SequentialRecommender, path: Path) -> dict[str, Any]:
    """Load a checkpoint's trainable tensors into `model`, strictly; returns its metadata.

    Raises:
        CheckpointError: unreadable file, a missing or unexpected tensor, or a shape that
            does not fit (another catalogue, method or model size).
    """
    return ckpt.load_trainable(trainable_tensors(model), Path(path))
