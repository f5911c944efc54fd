"""Safe image loading: fully decoded RGB images with a decompression-bomb limit, upright
(EXIF orientation applied) and with high bit depths scaled, not clipped, to 8 bits."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from media.errors import MediaError
from media.kinds import check_media_file
from media.paths import open_regular

DEFAULT_MAX_PIXELS = 64_000_000


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image file and decode it completely into an RGB image.

    `Image.verify()` accepts truncated JPEGs, so the pixels are decoded here with `load()`;
    any failure becomes a `MediaError` naming the file and the reason. Nothing is opened
    before it is known to be a regular file whose content is not a video. The EXIF
    orientation is applied (a portrait photo stays portrait), and 16-bit or float images
    are scaled to 8 bits (Pillow's `convert("RGB")` would clip them to white).

    Args:
        path: image file.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        A fully loaded RGB `PIL.Image.Image`, detached from the file.

    Raises:
        MediaError: missing, empty, truncated, non-image, undecodable or too-large file.
    """
    file = Path(path)
    check_media_file(file, "image")
    try:
        with open_regular(file) as handle, Image.open(handle) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise MediaError(
                    file, f"image too large: {width}x{height} exceeds {max_pixels} pixels"
                )
            with warnings.catch_warnings():
                # Pillow warns (then errors) on bombs itself; our limit is the one that counts
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
                rgb = _to_rgb(_upright(image))
    except MediaError:
        raise
    except UnidentifiedImageError:
        raise MediaError(file, "not an image (unrecognised format)") from None
    except Image.DecompressionBombError as exc:
        raise MediaError(file, f"image too large: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncation as OSError("image file is truncated ...")
        reason = "truncated image" if "truncated" in str(exc).lower() else "undecodable image"
        raise MediaError(file, f"{reason}: {exc}") from None
    if rgb.width == 0 or rgb.height == 0:
        raise MediaError(file, "image has zero size")
    return rgb


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; unchanged when the EXIF is unreadable
    (a damaged tag must not cost the picture)."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, struct.error):
        return image


_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, 8 bits per channel; 16-bit and 32-bit images scaled to 0-255, not clipped.

    16-bit modes map 0-65535 to 0-255; "I" (what 16-bit PNG and TIFF files may load as)
    too when its values fit 16 bits; "F" maps 0-1 when its values lie there; anything else
    is stretched from its minimum to its maximum.
    """
    if image.mode not in _HIGH_DEPTH:
        return image.convert("RGB")
    values = np.nan_to_num(np.asarray(image, dtype=np.float64))  # [H, W]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and high <= 65535):
        low, top = 0.0, 65535.0
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, top = 0.0, 1.0
    else:
        top = max(high - low, 1e-12)
    grey = np.clip(np.rint((values - low) * (255.0 / top)), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")  # uint8 [H, W] -> "L"
