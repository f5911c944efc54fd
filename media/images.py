"""Safe image loading: fully decoded RGB images with a decompression-bomb limit."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from media.errors import MediaError

DEFAULT_MAX_PIXELS = 64_000_000


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open an image file and decode it completely into an RGB image.

    `Image.verify()` accepts truncated JPEGs, so the pixels are decoded here with `load()`;
    any failure becomes a `MediaError` naming the file and the reason.

    Args:
        path: image file.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        A fully loaded RGB `PIL.Image.Image`, detached from the file.

    Raises:
        MediaError: missing, empty, truncated, non-image, undecodable or too-large file.
    """
    file = Path(path)
    if not file.exists():
        raise MediaError(file, "file not found")
    if not file.is_file():
        raise MediaError(file, "not a regular file")
    if file.stat().st_size == 0:
        raise MediaError(file, "empty file")
    try:
        with Image.open(file) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise MediaError(
                    file, f"image too large: {width}x{height} exceeds {max_pixels} pixels"
                )
            with warnings.catch_warnings():
                # Pillow warns (then errors) on bombs itself; our limit is the one that counts
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
                rgb = image.convert("RGB")
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
