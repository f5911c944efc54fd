"""Every registered model family end to end with a tiny random model saved to a folder."""

from pathlib import Path

import numpy as np
import pytest
import torch
from caption_drawings import draw, moving_clip
from PIL import Image

from captioning.api import caption_items
from captioning.base import CaptionerOptions
from captioning.builtin import BUILTIN_CAPTIONERS
from captioning.hf import FAMILIES, HFCaptioner
from captioning.items import MediaItem
from captioning.prompts import resolve_prompt
from captioning.registry import captioner_names
from captioning.store import CaptionStore
from media.hashing import sha256_file
from media.video import write_video
from tests.support.tiny_captioners import build_tiny

NAMES = [f.name for f in FAMILIES]


def test_every_model_captioner_has_a_family_and_a_tiny_model() -> None:
    registered = {spec.name for spec in BUILTIN_CAPTIONERS if spec.needs_model}
    assert registered == set(NAMES)
    assert set(captioner_names()) >= {"baseline", *NAMES}


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {name: build_tiny(name, root / name) for name in NAMES}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> list[MediaItem]:
    folder = tmp_path_factory.mktemp("media")
    items = []
    for i, (shape, colour) in enumerate([("circle", "red"), ("square", "blue")]):
        path = folder / f"i{i}.jpg"
        Image.fromarray(draw(shape, colour)).save(path)
        items.append(MediaItem(f"i{i}", path, "image"))
    write_video(folder / "v.mp4", moving_clip("triangle", "green", "up", frames=6))
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff")
    return [
        *items,
        MediaItem("v", folder / "v.mp4", "video"),
        MediaItem("bad", folder / "bad.jpg", "image"),
    ]


@pytest.mark.parametrize("family", NAMES)
def test_family_end_to_end(
    family: str, tiny_models: dict[str, Path], media: list[MediaItem], tmp_path: Path
) -> None:
    summary = caption_items(
        media,
        captioner=family,
        model=str(tiny_models[family]),
        store=tmp_path,
        max_new_tokens=4,
        batch_size=2,
        num_frames=4,
        device="cpu",
        progress=False,
    )
    assert (summary.done, summary.failed) == (3, 1)
    assert summary.key.revision.startswith("local-")  # plumbing.revision.files_revision
    pairs = [(m.item_id, sha256_file(m.path)) for m in media]
    captions = CaptionStore(tmp_path).captions(summary.key, pairs)
    assert set(captions) == {"i0", "i1", "v"}
    assert all(isinstance(c, str) and "<" not in c and "[" not in c for c in captions.values())


def _inputs(kind: str) -> list:
    if kind == "image":  # three sizes: aspect-dependent token counts force real left padding
        sizes = [(64, 64), (40, 64), (64, 48)]
        return [Image.fromarray(draw("circle", "red", size=64)).resize(s) for s in sizes]
    clip = moving_clip("square", "orange", "left", frames=4)
    return [clip, clip[:, :48, :, :].copy()]


@pytest.mark.parametrize("family", NAMES)
def test_batched_equals_one_at_a_time(family: str, tiny_models: dict[str, Path]) -> None:
    spec = next(f for f in FAMILIES if f.name == family)
    options = CaptionerOptions(
        str(tiny_models[family]),
        resolve_prompt("title"),
        max_new_tokens=5,
        device="cpu",
        dtype="float64",
    )
    captioner = HFCaptioner(spec, options)
    for kind in ("image", "video") if spec.video_native else ("image",):
        inputs = _inputs(kind)
        batched = captioner.generate(inputs, kind, with_logits=True)
        if spec.echo == "input":  # the prompt really is echoed, so stripping it is right
            assert captioner.last_echo_matches
        for i, item in enumerate(inputs):
            single = captioner.generate([item], kind, with_logits=True)
            steps = single.logits[0].shape[0]
            np.testing.assert_allclose(
                batched.logits[i][:steps],
                single.logits[0],
                atol=1e-6,
                rtol=0,
                err_msg=f"{family} {kind} item {i}",
            )
            assert batched.texts[i] == single.texts[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("family", ["blip", "qwen2-vl", "llava-next-video"])
def test_family_on_gpu_in_half_precision(
    family: str, tiny_models: dict[str, Path], media: list[MediaItem], tmp_path: Path
) -> None:
    summary = caption_items(
        media,
        captioner=family,
        model=str(tiny_models[family]),
        store=tmp_path,
        max_new_tokens=4,
        batch_size=2,
        num_frames=4,
        device="cuda",
        dtype="bfloat16",
        progress=False,
    )
    assert (summary.done, summary.failed) == (3, 1)


def test_chat_family_without_chat_template_fails_clearly(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    from captioning.base import CaptioningError

    folder = tmp_path / "llava-no-template"
    shutil.copytree(tiny_models["llava"], folder)
    for template in folder.glob("*chat_template*"):
        template.unlink()
    spec = next(f for f in FAMILIES if f.name == "llava")
    with pytest.raises(CaptioningError, match="no chat template"):
        HFCaptioner(spec, CaptionerOptions(str(folder), resolve_prompt("short"), device="cpu"))
