"""`toolkit caption` and `toolkit caption-merge`: caption item media into a resumable store,
locally, as one torchrun shard, or as Ray tasks; join the shard parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from toolkit import executor_options as ex
from toolkit.app import app, fail

REUSE_ACROSS_VERSIONS = typer.Option(
    False,
    "--reuse-across-versions",
    help="Count captions made with the same model and settings under other torch / "
    "transformers versions as done (default: caption again).",
)


def _captioner_help() -> str:
    from captioning.registry import captioner_names  # light: lists names, imports no model code

    return "Registered captioner: " + ", ".join(captioner_names()) + "."


def _caption(
    items: list[Any],
    options: dict[str, Any],
    *,
    executor: str,
    shard: str | None,
    ray_address: str | None,
    shards: int | None,
    gpus: float,
) -> Any:
    """Caption `items` here (one shard of a torchrun job, or all) or as Ray tasks; the
    summary of all that was done. ValueError names a bad --executor or --shard."""
    from captioning.api import caption_items, parse_shard

    if executor not in ("local", "ray"):
        raise ValueError(f"caption --executor must be local or ray, got {executor!r}")
    if executor == "ray":
        from captioning.ray_shards import RayCaptioning, caption_on_ray, joined

        where = RayCaptioning(ray_address, shards, gpus=gpus)
        return joined(caption_on_ray(items, where, **options))
    return caption_items(items, shard=parse_shard(shard) if shard else None, **options)


@app.command("caption")
def caption_cmd(
    images: Path | None = typer.Option(None, help="Folder of images (item id = file stem)."),
    videos: Path | None = typer.Option(None, help="Folder of videos (item id = file stem)."),
    data: Path | None = typer.Option(None, help="Dataset path: caption its covers and videos."),
    captioner: str = typer.Option("baseline", help=_captioner_help()),
    model: str | None = typer.Option(None, help="Hub id or local folder of the model."),
    prompt: str = typer.Option("short", help="Preset (short, detailed, title) or own text."),
    store: Path = typer.Option(Path("captions"), help="Caption store folder."),
    batch_size: int = typer.Option(8, min=1, help="Media per generate() call."),
    max_new_tokens: int = typer.Option(30, min=1, help="Generation length limit."),
    num_beams: int = typer.Option(1, min=1, help="Beam count (1 = greedy)."),
    num_frames: int = typer.Option(8, min=1, help="Frames sampled per video."),
    workers: int = typer.Option(2, min=1, help="Decode threads."),
    shard: str | None = typer.Option(None, help="i/n: caption shard i (0-based) of n."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    dtype: str = typer.Option("float32", help="float32, float16 or bfloat16."),
    reuse_across_versions: bool = REUSE_ACROSS_VERSIONS,
    executor: str = typer.Option("local", help="local, or ray: shards as Ray tasks."),
    ray_address: str | None = ex.RAY_ADDRESS,
    shards: int | None = typer.Option(
        None, min=1, help="Ray tasks (default: one per GPU, or CPU)."
    ),
    gpus: float = ex.GPUS,
) -> None:
    """Caption images and video frames into a resumable caption store (shard parts are
    joined by `toolkit caption-merge`)."""
    from captioning.base import CaptioningError
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.run.captions import media_to_caption

    options = dict(
        captioner=captioner, store=store, model=model, prompt=prompt,
        max_new_tokens=max_new_tokens, num_beams=num_beams, batch_size=batch_size,
        device=device, dtype=dtype, num_frames=num_frames, num_workers=workers,
        reuse_across_versions=reuse_across_versions,
    )  # fmt: skip
    try:
        items = media_to_caption(images, videos, data)
        summary = _caption(
            items, options, executor=executor, shard=shard, ray_address=ray_address,
            shards=shards, gpus=gpus,
        )  # fmt: skip
    except (CaptioningError, RecsysError, OutputError, ValueError) as exc:
        fail(str(exc))
    if summary.version_drift:
        typer.echo(
            f"note: captions of these settings made under {', '.join(summary.version_drift)} "
            "were not reused (--reuse-across-versions reuses them)"
        )
    typer.echo(
        f"{summary.done} captioned, {summary.skipped} skipped, {summary.failed} failed "
        f"-> {summary.write_file}"
    )


@app.command("caption-merge")
def caption_merge_cmd(store: Path = typer.Argument(..., help="Caption store folder.")) -> None:
    """Join the shard part files of a caption store into its main file."""
    from captioning.base import CaptioningError
    from captioning.store import merge_parts
    from plumbing.errors import OutputError

    try:
        merged = merge_parts(store)
    except (CaptioningError, OutputError) as exc:
        fail(str(exc))
    typer.echo(f"merged {merged} records into {store}")
