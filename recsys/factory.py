"""The one place that turns a run's configuration into a model, and a trained run's
checkpoint back into that model.

Training (`recsys.run.run_experiment`) and every reader of a finished run (`toolkit
recommend`, re-evaluation) build the model here, so they cannot drift apart: same option
parsing, same initialisation order (item tower first, then SASRec, under the run's seed),
and the same strict loading as resume: every trainable tensor must be in the checkpoint
with its shape, and nothing else may be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from recsys.distributed import DistContext
from recsys.errors import CheckpointError, ConfigError
from recsys.methods import MethodContext, get_method, parse_method_options
from recsys.models.recommender import SequentialRecommender
from recsys.models.sasrec import SASRec
from recsys.spec import RunSpec
from recsys.train import checkpoint as ckpt
from recsys.train.structure import trainable_groups


def build_model(
    spec: RunSpec,
    *,
    device: torch.device | str = "cpu",
    dist: DistContext | None = None,
    progress: bool = False,
) -> SequentialRecommender:
    """The recommender a run of `spec` trains, freshly initialised under `spec.seed` (tower
    first, then SASRec), its tower sized by `spec.split`'s catalogue.

    Args:
        spec: the run's settings (method, channels, options, SASRec, seed, cache folder).
        device: where the model lives.
        dist: rank context (caches are built by every rank together).
        progress: progress bars while caches are built.

    Raises:
        ConfigError: unknown method or option, or a content method without channels.
    """
    split, sasrec, seed = spec.split, spec.sasrec, spec.seed
    entry = get_method(spec.method)
    if entry.needs_channels and not spec.channels:
        raise ConfigError(f"method {spec.method!r} needs at least one input channel")
    options = parse_method_options(spec.method, spec.method_options)
    sasrec.check()
    device = torch.device(device)
    torch.manual_seed(seed)  # initialisation: tower first, then SASRec
    ctx = MethodContext(
        split=split,
        channels=spec.channels,
        options=options,
        device=device,
        cache_dir=spec.cache_dir,
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


def build_trained(
    spec: RunSpec,
    run_dir: Path,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> SequentialRecommender:
    """The trained model of a finished run folder, in eval mode: built as training built it
    (`build_model`, the run's spec) with ``checkpoint/best.safetensors`` loaded strictly.

    Raises:
        CheckpointError: no best checkpoint (the run did not finish), a damaged one, or one
            that does not fit (another catalogue, method or model size).
    """
    path = Path(run_dir) / "checkpoint" / "best.safetensors"
    if not path.exists():
        raise CheckpointError(f"{path}: no best checkpoint: the run did not finish")
    model = build_model(spec, device=device, progress=progress)
    load_trained(model, path)
    return model.eval()
