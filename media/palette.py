"""The embedded sample's colours: the generator draws with them, the baseline captioner
names them, and the tests check both against them."""

from __future__ import annotations

SAMPLE_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
}
