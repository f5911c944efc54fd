"""A model-free captioner: names what the pixels alone show.

For a drawing on a plain background it finds the foreground (pixels far from the border's
median colour, cleaned by a 3x3 majority filter so JPEG/H.264 ringing does not count), names
its median colour by the nearest colour in `PALETTE`, and guesses the shape from how the
foreground fills its bounding box (square ~1.0, circle ~0.785, triangle ~0.5) or from several
separated bands per row or column (stripes). For a clip it votes over frames and reads the
motion from the shifts that best overlay consecutive foreground masks. Photos without a
plain border get a colour-and-brightness description. Needs numpy and Pillow only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from media.palette import SAMPLE_COLOURS

PALETTE: dict[str, tuple[int, int, int]] = {
    **SAMPLE_COLOURS,  # the sample's colours first: nearest-colour ties go to them
    "pink": (240, 140, 190),
    "brown": (125, 80, 40),
    "cyan": (40, 200, 210),
    "black": (20, 20, 20),
    "grey": (128, 128, 128),
    "light grey": (200, 200, 200),
    "white": (245, 245, 245),
}
_NAMES = list(PALETTE)
_COLOURS = np.array([PALETTE[n] for n in _NAMES], dtype=np.float64)  # [C, 3]

FOREGROUND_DISTANCE = 45.0  # RGB distance from the background; codec noise stays well below
BORDER_SPREAD_LIMIT = 30.0  # median distance of border pixels from their median: "plain" below
MIN_FOREGROUND = 0.004  # fraction of pixels; less than this reads as a plain image
ANALYSIS_SIDE = 96  # frames are analysed at most this large: faster, and codec noise averages out
MOTION_FRACTION = 0.06  # travel, as a fraction of the frame side, that counts as motion


@dataclass(frozen=True)
class FrameReading:
    """What one frame shows. `shape`/`mask` are None when there is no clear foreground."""

    background: str  # "white", "light", "grey" or "dark"
    colour: str
    shape: str | None
    mask: np.ndarray | None  # cleaned foreground [h, w] on the analysis grid
    plain_border: bool
    brightness: str  # "bright", "dark" or "" (medium)


def nearest_colour(rgb: Sequence[float]) -> str:
    """Name of the palette colour nearest to `rgb` (Euclidean in RGB)."""
    distances = np.linalg.norm(_COLOURS - np.asarray(rgb, dtype=np.float64), axis=1)  # [C]
    return _NAMES[int(np.argmin(distances))]


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _background_word(rgb: np.ndarray) -> str:
    lum = float(_luminance(rgb))
    chroma = float(rgb.max() - rgb.min())
    if lum > 235 and chroma < 25:
        return "white"
    if lum > 150:
        return "light"
    return "dark" if lum < 80 else "grey"


def _majority3(mask: np.ndarray) -> np.ndarray:
    """3x3 majority filter: a pixel is kept when at least 5 of its 9 neighbours are set."""
    padded = np.pad(mask.astype(np.int16), 1)
    height, width = mask.shape
    total = sum(
        padded[dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)
    )  # [H, W]
    return total >= 5


def _runs(line: np.ndarray) -> int:
    """Number of separated runs of True in a 1-D boolean array."""
    if not line.any():
        return 0
    starts = np.diff(np.concatenate([[0], line.astype(np.int8)])) == 1
    return int(starts.sum())


def classify_shape(mask: np.ndarray) -> str:
    """Shape word for a cleaned foreground mask [H, W] (see the module docstring)."""
    rows = [_runs(row) for row in mask if row.any()]
    cols = [_runs(col) for col in mask.T if col.any()]
    if np.median(rows) >= 2 or np.median(cols) >= 2:
        return "stripes"
    ys, xs = np.nonzero(mask)
    height = ys.max() - ys.min() + 1
    width = xs.max() - xs.min() + 1
    fill = mask.sum() / float(height * width)
    elongated = max(height, width) / min(height, width) > 1.4
    if fill >= 0.86:
        return "rectangle" if elongated else "square"
    if fill >= 0.64:
        return "oval" if elongated else "circle"
    if fill >= 0.35:
        return "triangle"
    return "shape"


def read_frame(pixels: np.ndarray) -> FrameReading:
    """Analyse one RGB frame, uint8 [H, W, 3] (large frames are shrunk to ANALYSIS_SIDE)."""
    if max(pixels.shape[:2]) > ANALYSIS_SIDE:
        image = Image.fromarray(pixels)
        image.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE), Image.Resampling.BILINEAR)
        pixels = np.asarray(image)
    rgb = pixels.astype(np.float64)  # [h, w, 3]
    border = np.concatenate(
        [
            rgb[:2].reshape(-1, 3),
            rgb[-2:].reshape(-1, 3),
            rgb[:, :2].reshape(-1, 3),
            rgb[:, -2:].reshape(-1, 3),
        ]
    )  # [N, 3]
    background = np.median(border, axis=0)  # [3]
    spread = float(np.median(np.linalg.norm(border - background, axis=1)))
    mean_lum = float(_luminance(rgb).mean())
    brightness = "bright" if mean_lum > 170 else "dark" if mean_lum < 70 else ""
    mask = _majority3(np.linalg.norm(rgb - background, axis=2) > FOREGROUND_DISTANCE)  # [H, W]
    plain = spread < BORDER_SPREAD_LIMIT
    if not plain or mask.mean() < MIN_FOREGROUND:
        # no drawing on a plain ground: name the commonest colour of the whole frame
        names = Counter(nearest_colour(p) for p in rgb.reshape(-1, 3)[::7])
        return FrameReading(
            _background_word(background), names.most_common(1)[0][0], None, None, plain, brightness
        )
    colour = nearest_colour(np.median(rgb[mask], axis=0))
    return FrameReading(
        _background_word(background),
        colour,
        classify_shape(mask),
        mask,
        plain,
        brightness,
    )


def _subject(colour: str, shape: str) -> str:
    """ "red stripes" (a plural takes no article), "an orange circle", "a red square"."""
    if shape == "stripes":
        return f"{colour} stripes"
    article = "an" if colour[0] in "aeiou" else "a"
    return f"{article} {colour} {shape}"


def caption_image_array(pixels: np.ndarray) -> str:
    """Caption one RGB image, uint8 [H, W, 3]."""
    reading = read_frame(pixels)
    if reading.shape is None:
        if reading.plain_border:
            return f"a plain {reading.background} image"
        opening = f"a {reading.brightness} image" if reading.brightness else "an image"
        return f"{opening} with mostly {reading.colour} tones"
    return f"{_subject(reading.colour, reading.shape)} on a {reading.background} background"


def _shift(previous: np.ndarray, current: np.ndarray, limit: int) -> tuple[int, int]:
    """Integer (dx, dy) within +-limit that best maps mask `previous` onto `current`."""
    best, best_score = (0, 0), -1.0
    height, width = previous.shape
    for dy in range(-limit, limit + 1):
        for dx in range(-limit, limit + 1):
            # overlap of previous shifted by (dx, dy) with current, on the shared window
            a = previous[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)]
            b = current[max(0, dy) : height - max(0, -dy), max(0, dx) : width - max(0, -dx)]
            score = float(np.logical_and(a, b).sum()) - 0.01 * (abs(dx) + abs(dy))
            if score > best_score:
                best, best_score = (dx, dy), score
    return best


def motion_word(masks: Sequence[np.ndarray]) -> str:
    """Direction of travel over a clip's foreground masks: left/right/up/down/still.

    The frame-to-frame shift that best overlaps consecutive masks is summed over the clip;
    this follows a single shape as well as a band of stripes (whose centroid barely moves).
    """
    if len(masks) < 2:
        return "still"
    side = min(masks[0].shape)
    limit = max(2, side // 8)
    travel = np.zeros(2)
    for previous, current in zip(masks[:-1], masks[1:], strict=True):
        travel += _shift(previous, current, limit)
    if np.abs(travel).max() < MOTION_FRACTION * side:
        return "still"
    if abs(travel[0]) >= abs(travel[1]):
        return "right" if travel[0] > 0 else "left"
    return "down" if travel[1] > 0 else "up"  # image rows grow downwards


def caption_video_array(frames: np.ndarray) -> str:
    """Caption one clip, uint8 [T, H, W, 3]: colour and shape by vote, motion by mask shifts."""
    readings = [read_frame(frame) for frame in frames]
    with_shape = [r for r in readings if r.shape is not None]
    if not with_shape:
        colour = Counter(r.colour for r in readings).most_common(1)[0][0]
        return f"a video with mostly {colour} scenes"
    colour = Counter(r.colour for r in with_shape).most_common(1)[0][0]
    shape = Counter(r.shape for r in with_shape).most_common(1)[0][0]
    motion = motion_word([r.mask for r in readings if r.mask is not None])
    movement = "standing still" if motion == "still" else f"moving {motion}"
    return f"a video of {_subject(colour, shape)} {movement}"


class BaselineCaptioner:
    """The registered `baseline` captioner (ignores prompt and generation settings)."""

    supports_video = True

    def caption_images(self, images: Sequence[Image.Image]) -> list[str]:
        """Caption RGB images."""
        return [caption_image_array(np.asarray(image.convert("RGB"))) for image in images]

    def caption_videos(self, videos: Sequence[np.ndarray]) -> list[str]:
        """Caption clips, each uint8 [T, H, W, 3]."""
        return [caption_video_array(np.asarray(video)) for video in videos]
