"""The pixel baseline names colour, shape and motion of synthetic drawings through codec noise."""

from pathlib import Path

import numpy as np
import pytest
from caption_drawings import (
    BACKGROUNDS,
    COLOURS,
    MOTIONS,
    SHAPES,
    draw,
    jpeg_roundtrip,
    moving_clip,
)

from captioning.baseline import (
    BaselineCaptioner,
    caption_image_array,
    caption_video_array,
    classify_shape,
    nearest_colour,
)
from media.video import sample_frames, write_video


def test_palette_colours_name_themselves() -> None:
    for name, rgb in COLOURS.items():
        assert nearest_colour(rgb) == name
    assert nearest_colour((200, 200, 200)) == "light grey"
    assert nearest_colour((250, 250, 250)) == "white"
    assert nearest_colour((10, 10, 10)) == "black"


def test_fill_ratio_by_hand() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:25, 5:25] = True
    assert classify_shape(mask) == "square"
    mask[:] = False
    mask[5:15, 5:35] = True
    assert classify_shape(mask) == "rectangle"
    yy, xx = np.mgrid[:40, :40]
    assert classify_shape((yy - 20) ** 2 + (xx - 20) ** 2 <= 12**2) == "circle"  # fill 0.78
    assert classify_shape((xx <= yy) & (yy < 30) & (xx >= 5)) == "triangle"  # fill ~0.5
    assert classify_shape((xx % 10 < 4) & (yy > 5) & (yy < 35)) == "stripes"


@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("colour", sorted(COLOURS))
def test_images_through_jpeg(colour: str, shape: str, background: str) -> None:
    caption = caption_image_array(jpeg_roundtrip(draw(shape, colour, background), quality=60))
    assert caption == f"{_subject(colour, shape)} on a {background} background"


def test_plain_and_photo_like_images() -> None:
    plain = np.full((64, 64, 3), 200, dtype=np.uint8)
    assert caption_image_array(plain) == "a plain light image"
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 40, (64, 64, 3), dtype=np.uint8)
    busy[..., 2] += np.linspace(90, 210, 64).astype(np.uint8)  # blue ramp: no plain border
    assert caption_image_array(busy) == "a dark image with mostly blue tones"


def _subject(colour: str, shape: str) -> str:
    if shape == "stripes":
        return f"{colour} stripes"
    return f"{'an' if colour == 'orange' else 'a'} {colour} {shape}"


CASES = [
    (shape, colour, motion)
    for i, (shape, motion) in enumerate((s, m) for s in SHAPES for m in MOTIONS)
    for colour in [sorted(COLOURS)[i % len(COLOURS)]]
]


@pytest.mark.parametrize(("shape", "colour", "motion"), CASES)
def test_videos_through_h264(tmp_path: Path, shape: str, colour: str, motion: str) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, moving_clip(shape, colour, motion), crf=30)
    caption = caption_video_array(sample_frames(path, 8))
    assert caption == f"a video of {_subject(colour, shape)} moving {motion}"


def test_still_clip_and_captioner_class() -> None:
    still = np.stack([draw("circle", "red")] * 6)
    captioner = BaselineCaptioner()
    assert captioner.caption_videos([still]) == ["a video of a red circle standing still"]
    from PIL import Image

    assert captioner.caption_images([Image.fromarray(draw("square", "green"))]) == [
        "a green square on a light background"
    ]
