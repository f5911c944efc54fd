"""Scale-out with PyTorch's own distributed stack (torchrun + torch.distributed).

Launch any command that trains under ``torchrun``; every rank runs the same code and this
module supplies the few collective steps that make the result independent of the number of
ranks (beyond floating-point summation order):

* ``init_from_env`` starts the process group from torchrun's environment (nccl on CUDA,
  gloo on CPU; ``TOOLKIT_DIST_BACKEND`` overrides) and pins each rank to its local GPU.
* ``local_slice`` gives each rank a contiguous slice of the *global* batch. Every rank draws
  the same per-epoch permutation (the trainer seeds it with ``[seed, epoch]``), which is what
  ``DistributedSampler`` with ``set_epoch`` does, except that the global batch stays the
  single-process batch: the batch size is global, not per rank.
* ``global_batch_loss`` computes the in-batch loss over the global batch: distinct item
  embeddings are gathered from every rank with gradient support
  (``torch.distributed.nn.functional.all_gather``), each rank scores its own positions
  against the global candidate columns, and the loss is scaled by local / global positions,
  so the sum over ranks is the single-process mean.
* ``all_reduce_grads`` sums gradients (the equivalent of DistributedDataParallel's
  all-reduce; DDP itself is not used because the trainer calls ``model.loss``, not
  ``forward``, and the sum, not DDP's mean, is what the scaled loss needs).
* ``shard_blocks`` / ``all_reduce_arrays`` shard evaluation by blocks of users and reduce
  integer rank counts exactly; ``embed_all`` shards the item table by the same 4096-item
  blocks a single process uses, so it is bit-identical.

Single process (no torchrun), every helper is the identity and no collective is issued.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch

from plumbing.ranks import launcher_rank
from recsys.errors import ConfigError

BACKEND_ENV = "TOOLKIT_DIST_BACKEND"  # force "gloo" or "nccl"
TIMEOUT_ENV = "TOOLKIT_DIST_TIMEOUT_S"  # collective timeout (default 1800 s)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly single-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> DistContext:
    """The context of this process: torch.distributed when initialised, else the launcher's
    environment (`plumbing.ranks`), known before any process group exists."""
    import torch.distributed as tdist

    env = launcher_rank()
    if tdist.is_available() and tdist.is_initialized():
        return DistContext(tdist.get_rank(), tdist.get_world_size(), env.local_rank)
    return DistContext(env.rank, env.world_size, env.local_rank)


def is_active() -> bool:
    """True when a process group with more than one rank is initialised."""
    import torch.distributed as tdist

    return tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1


def init_from_env() -> DistContext:
    """Initialise torch.distributed from torchrun's env vars (idempotent).

    Does nothing when WORLD_SIZE is absent or 1. On CUDA machines each rank is pinned to
    ``cuda:LOCAL_RANK`` (so ``train.device = "auto"`` / ``"cuda"`` means this rank's GPU).

    Raises:
        ConfigError: torch.distributed is unavailable or the backend name is unknown.
    """
    import torch.distributed as tdist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or (tdist.is_available() and tdist.is_initialized()):
        return current()
    if not tdist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = os.environ.get(BACKEND_ENV) or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend not in ("nccl", "gloo"):
        raise ConfigError(f"{BACKEND_ENV}={backend!r}; valid: gloo, nccl")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "1800")))
    tdist.init_process_group(backend=backend, timeout=timeout)
    return current()


def active_context() -> DistContext:
    """Rank and world size of the initialised process group; (0, 1) when none is active.

    Unlike `current` it ignores launcher env vars without a process group, so work is never
    split across ranks that cannot meet at a barrier.
    """
    return current() if is_active() else DistContext()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_active():
        import torch.distributed as tdist

        tdist.barrier()


def shutdown() -> None:
    """Destroy the process group when one was initialised."""
    import torch.distributed as tdist

    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


def local_slice(batch: np.ndarray, ctx: DistContext | None = None) -> np.ndarray:
    """This rank's contiguous part of a global batch (np.array_split: sizes differ by <= 1)."""
    ctx = ctx or current()
    if ctx.world_size == 1:
        return batch
    return np.array_split(batch, ctx.world_size)[ctx.rank]


def shard_blocks(starts: Sequence[int], ctx: DistContext | None = None) -> Sequence[int]:
    """Every world_size-th block start, beginning at this rank's index (round robin)."""
    ctx = ctx or current()
    return starts if ctx.world_size == 1 else list(starts)[ctx.rank :: ctx.world_size]


def collective_device() -> torch.device:
    """Where collective buffers live: this rank's GPU under nccl, else the CPU."""
    import torch.distributed as tdist

    if is_active() and tdist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(value: float) -> float:
    """Sum of a Python number over ranks (float64)."""
    if not is_active():
        return value
    import torch.distributed as tdist

    t = torch.tensor([value], dtype=torch.float64, device=collective_device())
    tdist.all_reduce(t)
    return float(t.item())


def all_reduce_arrays(*arrays: np.ndarray) -> list[np.ndarray]:
    """Element-wise sums over ranks of numeric/bool arrays (bools OR-ed via int64 sums).

    Each rank fills its own entries and leaves the others zero, so the sum is the exact
    single-process array (integers: no rounding).
    """
    if not is_active():
        return list(arrays)
    import torch.distributed as tdist

    out = []
    for a in arrays:
        t = torch.from_numpy(
            np.ascontiguousarray(a).astype(np.int64 if a.dtype == bool else a.dtype)
        )
        t = t.to(collective_device())
        tdist.all_reduce(t)
        r = t.cpu().numpy()
        out.append(r > 0 if a.dtype == bool else r.astype(a.dtype))
    return out


def all_reduce_grads(params: Sequence[torch.nn.Parameter]) -> None:
    """Sum gradients over ranks in one flat buffer (missing grads count as zero)."""
    if not is_active():
        return
    import torch.distributed as tdist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1).to(torch.float32) for g in grads])
    tdist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads, strict=True):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).to(p.dtype)
        offset += n


@torch.no_grad()
def embed_all(tower: Any, num_items: int, batch_size: int = 4096) -> torch.Tensor:
    """``tower.embed_all`` with its 4096-row blocks split round robin over ranks.

    Each block is computed exactly as a single process computes it, then gathered, so the
    table is bit-identical to ``tower.embed_all(num_items)`` (fp32).
    """
    if not is_active():
        return tower.embed_all(num_items, batch_size).float()
    import torch.distributed as tdist

    device = next(tower.parameters()).device
    starts = list(range(0, num_items + 1, batch_size))
    mine = shard_blocks(starts)
    rows = [
        tower(torch.arange(s, min(s + batch_size, num_items + 1), device=device)).float()
        for s in mine
    ]
    width = tower.out_dim
    table = torch.zeros(num_items + 1, width, device=device)
    for s, block in zip(mine, rows, strict=True):
        table[s : s + len(block)] = block
    tdist.all_reduce(table)  # every row is non-zero on exactly one rank
    return table


def _gather_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All ranks' rows [n_r, ...] concatenated, with gradient flowing back to the owner.

    Returns:
        (gathered [sum n_r, ...], sizes [world]).
    """
    import torch.distributed as tdist
    from torch.distributed.nn.functional import all_gather

    n = torch.tensor([rows.shape[0]], device=rows.device)
    sizes = [torch.zeros_like(n) for _ in range(tdist.get_world_size())]
    tdist.all_gather(sizes, n)
    counts = torch.cat(sizes)  # [world]
    longest = int(counts.max())
    pad = rows.new_zeros(longest - rows.shape[0], *rows.shape[1:])
    parts = all_gather(torch.cat([rows, pad]))  # world x [longest, ...], autograd-aware
    return torch.cat([p[: int(c)] for p, c in zip(parts, counts, strict=True)]), counts


def global_batch_loss(
    model: Any,
    seqs: torch.Tensor,
    kind: str,
    log_pop: torch.Tensor | None,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """This rank's share of the global-batch loss; the sum over ranks is the 1-process loss.

    Args:
        model: the SequentialRecommender (unwrapped).
        seqs: [b, L+1] this rank's rows of the global batch (b may be 0).
        kind: "inbatch_logq" or "full_softmax".
        log_pop: [N+1] log train popularity.
        exclude: no candidate of the full softmax (SequentialRecommender.loss).

    Returns:
        Scalar: (mean loss over local positions) x local / global positions, plus zero
        times every gathered tensor so each rank joins the backward collectives.
    """
    inputs, targets = seqs[:, :-1], seqs[:, 1:]
    supervised = (inputs != 0) & (targets != 0)  # [b, L]
    local = int(supervised.sum())
    total = all_reduce_sum(float(local))
    if kind == "full_softmax":
        if local == 0:  # nothing to gather: the table's grads are all-reduced as zeros
            return sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
        return model.loss(seqs, kind, log_pop, exclude) * (local / total)
    if log_pop is None:
        raise ValueError("the inbatch_logq loss needs log_pop (Split.log_popularity())")
    return _inbatch_share(model, seqs, supervised, local, total, log_pop)


def _inbatch_share(
    model: Any,
    seqs: torch.Tensor,
    supervised: torch.Tensor,
    local: int,
    total: float,
    log_pop: torch.Tensor,
) -> torch.Tensor:
    from recsys.train.losses import inbatch_logq_loss

    uniq = torch.unique(seqs)
    ids = uniq[uniq != 0]  # [c] this rank's distinct real items
    if len(ids):
        emb = model.item_tower(ids)  # [c, d]
    else:  # a leaf that requires grad, so this rank still runs the gather's backward
        emb = torch.zeros(0, model.sasrec.dim, device=seqs.device, requires_grad=True)
    all_emb, _ = _gather_rows(emb)  # [sum c, d]
    all_ids, _ = _gather_rows(ids)  # [sum c]
    cand, where = torch.unique(all_ids, return_inverse=True)  # [C] sorted global columns
    first = torch.full((len(cand),), len(all_ids), device=seqs.device, dtype=torch.long)
    first = first.scatter_reduce(0, where, torch.arange(len(all_ids), device=seqs.device), "amin")
    cand_emb = all_emb[first]  # [C, d] one copy per item (its owner gets the gradient)
    keep_alive = all_emb.sum() * 0.0
    real = seqs != 0
    cols = torch.searchsorted(cand, seqs.clamp(min=1))  # [b, L+1] global column
    counts = torch.zeros(len(cand), dtype=torch.long, device=seqs.device)
    counts.index_add_(0, cols[real], torch.ones_like(cols[real]))
    import torch.distributed as tdist

    tdist.all_reduce(counts)  # occurrences in the global batch (every rank joins)
    if local == 0:  # e.g. a last global batch smaller than the world
        return keep_alive
    own = torch.zeros(seqs.shape[0], len(cand), dtype=torch.bool, device=seqs.device)
    own[real.nonzero(as_tuple=True)[0], cols[real]] = True  # [b, C] the user's own items
    local_emb = emb[torch.searchsorted(ids, seqs[real])]  # [n_real, d]
    inputs_emb = emb.new_zeros(*seqs.shape, emb.shape[-1])
    inputs_emb[real] = local_emb  # [b, L+1, d], padding zero
    rows, pos = supervised.nonzero(as_tuple=True)  # [P]
    states = model.sasrec(inputs_emb[:, :-1], seqs[:, :-1] == 0)[rows, pos]  # [P, d]
    loss = inbatch_logq_loss(
        states, rows, cols[:, 1:][rows, pos], cand_emb, cand, counts, own, log_pop
    )
    return loss * (local / total) + keep_alive
