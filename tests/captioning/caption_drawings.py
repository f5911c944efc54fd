"""Synthetic drawings with known answers: coloured shapes on plain grounds, and moving clips."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from media.palette import SAMPLE_COLOURS

COLOURS = SAMPLE_COLOURS
BACKGROUNDS = {"light": (200, 200, 200), "white": (255, 255, 255)}
SHAPES = ("circle", "square", "triangle", "stripes")
MOTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


def draw(
    shape: str,
    colour: str,
    background: str = "light",
    *,
    size: int = 64,
    centre: tuple[float, float] | None = None,
    radius: float = 13,
) -> np.ndarray:
    """One RGB drawing, uint8 [size, size, 3]."""
    image = Image.new("RGB", (size, size), BACKGROUNDS[background])
    pen = ImageDraw.Draw(image)
    fill = COLOURS[colour]
    cx, cy = centre if centre is not None else (size / 2, size / 2)
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    elif shape == "triangle":
        pen.polygon(
            [(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=fill
        )
    elif shape == "stripes":
        for k in range(-3, 4):  # vertical bands 5 px wide every 12 px around the centre
            left = cx + 12 * k - 2.5
            pen.rectangle((left, cy - 1.6 * radius, left + 5, cy + 1.6 * radius), fill=fill)
    else:
        raise ValueError(shape)
    return np.asarray(image)


def jpeg_roundtrip(pixels: np.ndarray, quality: int = 75) -> np.ndarray:
    """Encode as JPEG and decode again, to add realistic codec noise."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def moving_clip(
    shape: str,
    colour: str,
    motion: str,
    *,
    frames: int = 12,
    size: int = 64,
    background: str = "light",
) -> np.ndarray:
    """A clip of `shape` travelling across the frame, uint8 [frames, size, size, 3]."""
    dx, dy = MOTIONS[motion]
    span = size * 0.4
    clip = []
    for t in np.linspace(-0.5, 0.5, frames):
        centre = (size / 2 + dx * span * t, size / 2 + dy * span * t)
        clip.append(draw(shape, colour, background, size=size, centre=centre, radius=10))
    return np.stack(clip)
