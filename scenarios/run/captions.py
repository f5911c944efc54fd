"""Caption resolution: the caption fields a scenario's text templates use, from the store.

For each caption field (`image_caption`, `video_caption`) the scenario names a captioner and
its settings; those settings make a caption key (`captioning.api.caption_key`). Items whose
(item id, media sha256) has no record under that key are captioned now with
`captioning.api.caption_items`, unless the scenario turned generation off, in which case
the run stops with the exact `toolkit caption` command that fills the store. The store's
fingerprint over the captions actually used is returned so the run (and the hidden-state
cache) record exactly which captions fed the model.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plumbing.console import say, show_bars
from recsys.data.types import Catalogue
from scenarios.schema.errors import ScenarioError
from scenarios.schema.specs import CAPTION_MEDIA, CaptionSpec, Scenario


class CaptionsMissingError(ScenarioError):
    """Captions are missing and the scenario says not to generate them here."""


@dataclass(frozen=True)
class FieldCaptions:
    """The captions of one caption field, in a form templates and records use.

    Attributes:
        field: "image_caption" or "video_caption".
        captions: item id -> caption; items without media or with an error record get "".
        key: the caption key fields (captioner, revision, prompt, generation).
        fingerprint: the store's sha256 over the (item, media hash, caption) triples used.
        generated: captions written by this call.
        failed_items: ids of items whose file gave an error record (bad media, a file that
            is no regular file), captioned as "".
        no_media_items: ids of items that have no file of this kind, captioned as "".
    """

    field: str
    captions: dict[str, str]
    key: dict[str, Any]
    fingerprint: str
    generated: int
    failed_items: tuple[str, ...] = ()
    no_media_items: tuple[str, ...] = ()

    @property
    def failed(self) -> int:
        """Items whose record is an error."""
        return len(self.failed_items)

    @property
    def no_media(self) -> int:
        """Items without a file of this kind."""
        return len(self.no_media_items)

    def record(self) -> dict[str, Any]:
        """What results.json keeps about this field (item ids, never row numbers)."""
        return {
            "key": self.key,
            "fingerprint": self.fingerprint,
            "captioned": sum(bool(c) for c in self.captions.values()),
            "generated": self.generated,
            "failed": self.failed,
            "no_media": self.no_media,
            "failed_items": list(self.failed_items),
            "no_media_items": list(self.no_media_items),
        }


def catalogue_media(
    catalogue: Catalogue, kinds: tuple[str, ...] = ("image", "video"), *, with_missing: bool = False
) -> list[Any]:
    """The catalogue's covers and videos as captioning `MediaItem`s, kind by kind in
    catalogue order; items without a file of a kind are left out unless `with_missing`."""
    from captioning.items import MediaItem

    columns = {"image": catalogue.image_paths, "video": catalogue.video_paths}
    return [
        MediaItem(item_id, path, kind)  # type: ignore[arg-type]
        for kind in kinds
        for item_id, path in zip(catalogue.item_ids, columns[kind], strict=True)
        if path is not None or with_missing
    ]


def dataset_media(data: Path) -> list[Any]:
    """Every cover image and video a dataset names, as captioning `MediaItem`s.

    Raises:
        RecsysError: the dataset does not load (file and line named).
    """
    from recsys.data import load_dataset

    return catalogue_media(load_dataset(data).catalogue)


def media_to_caption(images: Path | None, videos: Path | None, data: Path | None) -> list[Any]:
    """The media `toolkit caption` captions: a folder of images, a folder of videos, or a
    dataset's covers and videos (exactly one of the three), as captioning `MediaItem`s.

    Raises:
        ValueError: not exactly one source is given, or the source holds no media.
        RecsysError: the dataset does not load (file and line named).
    """
    from captioning.items import list_media

    if sum(x is not None for x in (images, videos, data)) != 1:
        raise ValueError("give exactly one of --images, --videos, --data")
    if data:
        items = dataset_media(data)
        if not items:
            raise ValueError(f"{data}: the dataset names no images or videos")
        return items
    folder, kind = (images, "image") if images else (videos, "video")
    assert folder is not None  # exactly one source was given
    items = list_media(folder, kind)  # type: ignore[arg-type]
    if not items:
        raise ValueError(f"no {kind}s found in {folder}")
    return items


def caption_store_dir(scenario: Scenario) -> Path:
    """The caption store folder a scenario uses."""
    if scenario.output.caption_store:
        return Path(scenario.output.caption_store)
    return scenario.output.cache_path() / "captions"


def caption_command(spec: CaptionSpec, data: Path, store: Path) -> str:
    """The `toolkit caption` command that fills the store for one caption field.

    It captions every cover and video of the dataset under exactly the key this field
    reads (captioner, model, prompt and generation settings).
    """
    parts = ["toolkit", "caption", "--data", str(data), "--captioner", spec.captioner]
    if spec.model:
        parts += ["--model", spec.model]
    parts += ["--prompt", spec.prompt, "--store", str(store)]
    parts += ["--max-new-tokens", str(spec.max_new_tokens), "--num-beams", str(spec.num_beams)]
    parts += ["--num-frames", str(spec.num_frames), "--dtype", spec.dtype]
    return shlex.join(parts)


def _drift_note(drift: list[str], field: str) -> str:
    if not drift:
        return ""
    return (
        f" (the store's captions of these settings were made under {', '.join(drift)}; "
        f"captions.{field}.reuse_across_versions = true uses them)"
    )


def _wait_for_main_rank() -> None:
    """Under torchrun, every rank waits until rank 0 has written the missing captions."""
    from recsys import distributed

    distributed.init_from_env()  # joins the process group (idempotent)
    distributed.barrier()


def resolve_captions(
    scenario: Scenario, catalogue: Catalogue, *, data: Path, progress: bool = True
) -> dict[str, FieldCaptions]:
    """Captions for every caption field the scenario's templates use.

    Under torchrun only rank 0 captions (into the main store file); the other ranks wait
    for it and then read the same store, so every rank builds identical text inputs.

    Args:
        scenario: the validated scenario (its `captions` tables and output folders).
        catalogue: the items to caption (the split's catalogue: items in kept interactions).
        data: the dataset path (only used to print the `toolkit caption` command).
        progress: show the captioner's progress bar.

    Raises:
        CaptionsMissingError: captions are missing and `generate = false` for that field.
        ScenarioError: the captioner is unknown or fails to load.
    """
    from captioning.base import CaptioningError

    resolved: dict[str, FieldCaptions] = {}
    for field in scenario.caption_fields:
        try:
            resolved[field] = _resolve_field(scenario, field, catalogue, data, progress)
        except CaptioningError as exc:
            raise ScenarioError(scenario.source, f"captions.{field}", str(exc)) from None
    return resolved


def _generate(spec: CaptionSpec, todo: list[Any], store_dir: Path, progress: bool) -> int:
    """Caption `todo` into the store; returns how many captions were written."""
    from captioning.api import caption_items

    summary = caption_items(
        todo,
        captioner=spec.captioner,
        store=store_dir,
        model=spec.model,
        prompt=spec.prompt,
        max_new_tokens=spec.max_new_tokens,
        num_beams=spec.num_beams,
        batch_size=spec.batch_size,
        device=spec.device,
        dtype=spec.dtype,
        num_frames=spec.num_frames,
        shard=(0, 1),  # the whole list here, even under torchrun (no part files)
        progress=progress and show_bars(),  # a bar in a log file keeps every redraw
    )
    return summary.done


def _spec_key(spec: CaptionSpec) -> Any:
    """The caption key (`captioning.api.caption_key`) of a scenario's caption settings."""
    from captioning.api import caption_key

    return caption_key(
        spec.captioner,
        spec.model,
        spec.prompt,
        spec.max_new_tokens,
        spec.num_beams,
        dtype=spec.dtype,
        num_frames=spec.num_frames,
    )


def _no_captions(
    scenario: Scenario, field: str, items: list[Any], store_dir: Path
) -> ScenarioError:
    """The error for a caption field no item has a caption of: no file of its media kind,
    or every one of them failed to caption."""
    kind = CAPTION_MEDIA[field]
    reason = (
        f"the dataset has no {kind} files"
        if all(it.path is None for it in items)
        else f"every {kind} failed to caption (see the error records in {store_dir})"
    )
    return ScenarioError(
        scenario.source,
        f"captions.{field}",
        f"no item has a {field}: {reason}; remove {{{field}}} from the templates",
    )


def _resolve_field(
    scenario: Scenario, field: str, catalogue: Catalogue, data: Path, progress: bool
) -> FieldCaptions:
    """One caption field: read the store, fill what is missing (or stop), fingerprint."""
    from captioning.items import media_sha
    from captioning.store import CaptionStore
    from recsys.distributed import current

    spec = scenario.captions[field]
    kind = CAPTION_MEDIA[field]
    items = catalogue_media(catalogue, (kind,), with_missing=True)
    pairs = [(it.item_id, media_sha(it.path)) for it in items]
    key = _spec_key(spec)
    store_dir = caption_store_dir(scenario)
    store = CaptionStore(store_dir)
    reuse = spec.reuse_across_versions
    done = store.done(key, reuse_versions=reuse)
    # a file that is no readable regular file is captioned too: it becomes an error record
    todo = [it for it, p in zip(items, pairs, strict=True) if p not in done and it.path]
    drift = store.version_drift(key) if todo and not reuse else []
    if todo and not spec.generate:
        command = caption_command(spec, data, store_dir)
        raise CaptionsMissingError(
            scenario.source,
            f"captions.{field}",
            f"{len(todo)} of {len(items)} items have no {field} in {store_dir} and "
            f"generation is off{_drift_note(drift, field)}; run:\n  {command}",
        )
    if drift:
        say(f"{field}: captioning {len(todo)} items again{_drift_note(drift, field)}")
    dist = current()
    generated = _generate(spec, todo, store_dir, progress) if todo and dist.is_main else 0
    if dist.distributed:  # one writer (rank 0); every rank meets here, whatever it found to do
        _wait_for_main_rank()
    found = store.captions(key, pairs, reuse_versions=reuse)
    errors = store.errors(key, pairs, reuse_versions=reuse)
    if not found:  # no text would carry this field: say so rather than train on blanks
        raise _no_captions(scenario, field, items, store_dir)
    return FieldCaptions(
        field=field,
        captions={it.item_id: found.get(it.item_id, "") for it in items},
        key=key.as_dict(),
        fingerprint=store.fingerprint(key, pairs, reuse_versions=reuse),
        generated=generated,
        failed_items=tuple(it.item_id for it in items if it.path and it.item_id in errors),
        no_media_items=tuple(it.item_id for it in items if it.path is None),
    )
