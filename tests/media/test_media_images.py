"""load_image: fully decoded RGB, and a MediaError with a reason for every bad file."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media.errors import MediaError
from media.images import load_image


def _save(
    path: Path, mode: str = "RGB", size: tuple[int, int] = (16, 12), fmt: str = "PNG"
) -> Path:
    Image.new(mode, size, color=(10, 200, 30) if mode == "RGB" else 128).save(path, format=fmt)
    return path


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_any_mode_loads_as_rgb_with_pixels(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "x.png"
    image = Image.new("RGB", (16, 12))
    image.putpixel((3, 4), (200, 0, 0))
    image.convert(mode).save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (16, 12)
    assert np.asarray(loaded)[4, 3].max() > 0  # decoded, not a lazy header


def test_jpeg_pixels_survive(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.jpg", fmt="JPEG")
    pixels = np.asarray(load_image(path)).astype(int)
    assert np.abs(pixels - np.array([10, 200, 30])).max() <= 6


def _expect(path: Path, reason_part: str, **kwargs: int) -> None:
    with pytest.raises(MediaError) as info:
        load_image(path, **kwargs)
    assert info.value.path == path
    assert reason_part in info.value.reason


def test_missing_file(tmp_path: Path) -> None:
    _expect(tmp_path / "nope.jpg", "not found")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    _expect(path, "empty")


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "text.jpg"
    path.write_text("this is not a jpeg at all")
    _expect(path, "not an image")


def test_truncated_jpeg(tmp_path: Path) -> None:
    full = tmp_path / "full.jpg"
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(full, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    _expect(cut, "truncated")


def test_decompression_bomb_limit(tmp_path: Path) -> None:
    path = _save(tmp_path / "big.png", size=(100, 100))
    _expect(path, "too large", max_pixels=9_999)
    assert load_image(path, max_pixels=10_000).size == (100, 100)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    _expect(tmp_path, "not a regular file")
