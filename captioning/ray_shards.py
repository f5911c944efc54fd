"""`toolkit caption --executor ray`: the shards of a media list as Ray tasks.

Shard i of n is one Ray task running `caption_items(..., shard=(i, n))`, exactly what rank i
of a torchrun job does: it appends to the store's part file i (`parts/part-0000i-of-0000n`)
under that part's lock, and skips what the store already holds. So a rerun resumes, a task
whose worker died is retried (`max_retries`) and picks up after its last written batch, and
the store ends with the captions a single local run writes (`toolkit caption-merge` joins the
parts into the main file, as after torchrun).

Ray is optional (`pip install 'mmrec-toolkit[ray]'`) and imported only in here, lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captioning.api import caption_items
from captioning.base import CaptioningError
from captioning.items import MediaItem
from captioning.job import CaptionSummary

__all__ = ["RayCaptioning", "caption_on_ray", "joined"]


@dataclass(frozen=True)
class RayCaptioning:
    """Where the shards run."""

    address: str | None = None  # a running Ray cluster ("auto"); None: a local Ray
    shards: int | None = None  # tasks; None: one per GPU of the cluster (else one per CPU)
    gpus: float = 0  # GPUs per task (a task per GPU: 1)
    cpus: float = 1  # CPUs per task
    max_retries: int = 2  # reruns of a task whose worker died (it resumes from the store)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise CaptioningError(
            "--executor ray needs Ray: pip install 'mmrec-toolkit[ray]'"
        ) from None
    return ray


def _shard(items: Sequence[MediaItem], index: int, count: int, options: dict) -> CaptionSummary:
    return caption_items(items, shard=(index, count), progress=False, **options)


def _shard_count(ray: Any, where: RayCaptioning) -> int:
    if where.shards is not None:
        return where.shards
    resources = ray.cluster_resources()
    if where.gpus > 0:
        return max(1, int(resources.get("GPU", 0) // where.gpus))
    return max(1, int(resources.get("CPU", 1) // where.cpus))


def caption_on_ray(
    items: Sequence[MediaItem], where: RayCaptioning, **options: Any
) -> list[CaptionSummary]:
    """Caption `items` in Ray tasks, one shard each; `options` as for `caption_items`
    (captioner, store, model, prompt, ...; not `shard` or `progress`).

    Returns:
        One summary per shard, in shard order.

    Raises:
        CaptioningError: Ray is missing, a bad setting, or a shard that failed past its
            retries (rerun the command: finished batches are kept).
    """
    if where.shards is not None and where.shards < 1:
        raise CaptioningError(f"--shards must be >= 1, got {where.shards}")
    from captioning.store import claim_store

    # Claimed (marked) here, once: shards claiming a new folder at once would see each
    # other's half-written marker as a stranger's file.
    claim_store(Path(options["store"]))
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        if where.address:
            ray.init(address=where.address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    try:
        count = _shard_count(ray, where)
        task = ray.remote(_shard).options(
            num_cpus=where.cpus, num_gpus=where.gpus, max_retries=where.max_retries
        )
        shared = ray.put(list(items))
        refs = [task.remote(shared, i, count, options) for i in range(count)]
        try:
            return list(ray.get(refs))
        except ray.exceptions.RayError as exc:
            reason = str(exc).splitlines()[0][:300]
            raise CaptioningError(f"a caption shard failed ({reason}); rerun to resume") from None
    finally:
        if started:
            ray.shutdown()


def joined(summaries: Sequence[CaptionSummary]) -> CaptionSummary:
    """One summary of the shards: counts added, `write_file` the store's parts folder."""
    import dataclasses

    first = summaries[0]
    return dataclasses.replace(
        first,
        write_file=first.write_file.parent,
        total=sum(s.total for s in summaries),
        done=sum(s.done for s in summaries),
        skipped=sum(s.skipped for s in summaries),
        failed=sum(s.failed for s in summaries),
        shard=None,
        seconds=max(s.seconds for s in summaries),
        version_drift=tuple(sorted({d for s in summaries for d in s.version_drift})),
    )
