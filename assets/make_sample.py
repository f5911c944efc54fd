"""Generate the embedded sample in `recsys/data/sample/` (MicroLens short-name format).

The sample is package data of `recsys.data` (so an installed wheel has it); this
generator and the truth file stay here, outside the packages. Deterministic: the same seed
and the same Pillow / PyAV (libx264) versions give the same bytes. Run from the repository
root:

    .venv/bin/python assets/make_sample.py [--seed 7] [--out recsys/data/sample]

It writes `pairs.csv`, `titles.csv`, `covers/<item>.jpg`, `videos/<item>.mp4` and
`assets/sample_truth.json` (the hidden attributes and user preferences, for tests and for
checking captioners; models must never read it, and the wheel does not ship it). See
assets/README.md for the design.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from media.palette import SAMPLE_COLOURS
from plumbing.io import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "recsys" / "data" / "sample"  # package data of recsys.data
TRUTH = HERE / "sample_truth.json"
NUM_ITEMS = 200
NUM_USERS = 380
SIDE = 64  # covers and video frames are SIDE x SIDE
FRAMES = 12  # video length
FPS = 8
BASE_MS = 1_600_000_000_000  # 2020-09-13, Unix ms

COLOURS = SAMPLE_COLOURS  # the baseline captioner names these (media/palette.py)
BACKGROUNDS = {"grey": (200, 200, 200), "white": (255, 255, 255)}
COVER_SHAPES = ("circle", "square", "triangle")
VIDEO_SHAPES = ("circle", "square", "triangle", "stripes")
MOTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}

# Titles: invented brands and product kinds; no word names a colour or a shape.
BRANDS = (
    "Vexa",
    "Lumo",
    "Corvin",
    "Kallo",
    "Nimbra",
    "Quorra",
    "Olvo",
    "Fenwick",
    "Darro",
    "Ispen",
)
CATEGORIES = (
    "desk organiser",
    "table lamp",
    "travel mug",
    "notebook",
    "wireless speaker",
    "backpack",
    "phone stand",
    "water bottle",
)
EXTRAS = ("", "", "", ", set of 2", ", compact edition", ", refill pack", " with travel case")

# How an interaction is drawn; see README.md.
P_COLOUR = 0.7  # the cover colour is the user's colour (else any colour)
P_SHAPE = 0.6  # the video shape is the user's shape (else any shape)
CATEGORY_BOOST = 2.0  # weight of items of the user's product kind (the title's weak signal)
POP_EXPONENT = 0.3  # popularity ~ 1 / rank**POP_EXPONENT (flat: co-occurrence is sparse)
MEAN_EXTRA = 7  # sequence length = 1 + Poisson(MEAN_EXTRA), clipped to 2..20
NEW_FRACTION = 0.3  # share of items released late ("new arrivals")
RELEASE_DAYS = (85.0, 98.0)  # new items appear uniformly in this window (days)
NEW_BOOST = 3.0  # a released new item is this much more likely to be picked (novelty)
END_DAYS = (90.0, 100.0)  # each user's last interaction falls in this window
GAP_DAYS = 5.0  # mean gap between a user's interactions (exponential)


@dataclass(frozen=True)
class Item:
    """An item's hidden attributes (what the media show) and its title."""

    item_id: str
    title: str
    category: str
    colour: str  # cover colour
    cover_shape: str
    cover_background: str
    video_shape: str
    video_colour: str
    motion: str
    video_background: str


def make_items(rng: np.random.Generator) -> list[Item]:
    """Items with balanced colours and video shapes, other attributes independent."""
    colours = np.resize(np.array(list(COLOURS)), NUM_ITEMS)
    shapes = np.resize(np.array(VIDEO_SHAPES), NUM_ITEMS)
    rng.shuffle(colours)
    rng.shuffle(shapes)
    ids = rng.choice(np.arange(1000, 10000), size=NUM_ITEMS, replace=False)
    items = []
    for k in range(NUM_ITEMS):
        category = CATEGORIES[rng.integers(len(CATEGORIES))]
        title = (
            f"{BRANDS[rng.integers(len(BRANDS))]} {category} model {rng.integers(2, 99)}"
            f"{EXTRAS[rng.integers(len(EXTRAS))]}"
        )
        items.append(
            Item(
                item_id=str(ids[k]),
                title=title,
                category=category,
                colour=str(colours[k]),
                cover_shape=COVER_SHAPES[rng.integers(len(COVER_SHAPES))],
                cover_background=list(BACKGROUNDS)[rng.integers(2)],
                video_shape=str(shapes[k]),
                video_colour=list(COLOURS)[rng.integers(len(COLOURS))],
                motion=list(MOTIONS)[rng.integers(len(MOTIONS))],
                video_background=list(BACKGROUNDS)[rng.integers(2)],
            )
        )
    return items


def make_sequences(
    rng: np.random.Generator, items: list[Item]
) -> tuple[dict[str, list[tuple[int, int]]], dict[str, dict[str, str]], np.ndarray]:
    """Each user's (item row, time in ms) oldest first, hidden preferences, release days.

    Interactions are drawn as the P_* constants say, from the items released by then; new
    items (released late) get a novelty boost, so recent interactions often hit items that
    the training part has seen rarely or never: only their content can place them.
    """
    popularity = 1.0 / np.arange(1, NUM_ITEMS + 1) ** POP_EXPONENT
    popularity = popularity[rng.permutation(NUM_ITEMS)]
    release = np.full(NUM_ITEMS, -np.inf)  # old items: always available
    new = rng.choice(NUM_ITEMS, size=int(NEW_FRACTION * NUM_ITEMS), replace=False)
    release[new] = rng.uniform(RELEASE_DAYS[0], RELEASE_DAYS[1], size=len(new))
    boost = np.where(np.isfinite(release), NEW_BOOST, 1.0)
    attrs = {
        "colour": np.array([it.colour for it in items]),
        "shape": np.array([it.video_shape for it in items]),
        "category": np.array([it.category for it in items]),
    }
    sequences: dict[str, list[tuple[int, int]]] = {}
    prefs: dict[str, dict[str, str]] = {}
    for u in range(NUM_USERS):
        user = f"u{u + 1:04d}"
        pref = {
            "colour": list(COLOURS)[rng.integers(len(COLOURS))],
            "shape": VIDEO_SHAPES[rng.integers(len(VIDEO_SHAPES))],
            "category": CATEGORIES[rng.integers(len(CATEGORIES))],
        }
        # Lengths 2..20: a few users are too short (dropped by the split) and a few are
        # longer than the 13 the split keeps. Every user is active until near the end.
        length = int(np.clip(rng.poisson(MEAN_EXTRA) + 1, 2, 20))
        end = rng.uniform(END_DAYS[0], END_DAYS[1])
        gaps = rng.exponential(GAP_DAYS, size=length - 1)
        days = end - np.concatenate([np.cumsum(gaps[::-1])[::-1], [0.0]])  # ascending
        seq = []
        for day in days:
            colour = pref["colour"] if rng.random() < P_COLOUR else rng.choice(list(COLOURS))
            shape = pref["shape"] if rng.random() < P_SHAPE else rng.choice(VIDEO_SHAPES)
            match = (attrs["colour"] == colour) & (attrs["shape"] == shape)
            taste = np.where(attrs["category"] == pref["category"], CATEGORY_BOOST, 1.0)
            weights = popularity * boost * taste * (match & (release <= day))
            if weights.sum() == 0:  # nothing of that kind released yet: any released item
                weights = popularity * (release <= day)
            row = int(rng.choice(NUM_ITEMS, p=weights / weights.sum()))
            ms = BASE_MS + int(round(day * 86_400_000))
            seq.append((row, ms))
        sequences[user] = seq
        prefs[user] = pref
    return sequences, prefs, release


def _draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], fill: tuple
) -> None:
    """Draw a filled circle, square or upward triangle inside `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def render_cover(item: Item, rng: np.random.Generator) -> bytes:
    """A SIDE x SIDE JPEG: one shape in the item's colour on a plain background."""
    image = Image.new("RGB", (SIDE, SIDE), BACKGROUNDS[item.cover_background])
    size = int(rng.integers(26, 41))
    x0 = int(rng.integers(5, SIDE - 5 - size + 1))
    y0 = int(rng.integers(5, SIDE - 5 - size + 1))
    _draw_shape(
        ImageDraw.Draw(image),
        item.cover_shape,
        (x0, y0, x0 + size, y0 + size),
        COLOURS[item.colour],
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def video_frames(item: Item, rng: np.random.Generator) -> list[np.ndarray]:
    """FRAMES uint8 [SIDE, SIDE, 3] frames: the item's video shape moving in its direction."""
    speed = 2  # pixels per frame; stripes have period 10, so the motion is unambiguous
    travel = speed * (FRAMES - 1)
    size = int(rng.integers(26, 29))  # >= 26, the extent of three stripes
    dx, dy = MOTIONS[item.motion]
    lo, hi = 4, SIDE - 4 - size  # the shape's top-left corner stays in [lo, hi]
    along = lo if (dx + dy) > 0 else hi  # start at the side it moves away from
    across = int(rng.integers(lo, hi + 1))
    along += int(rng.integers(0, hi - lo - travel + 1)) * (1 if (dx + dy) > 0 else -1)
    colour = COLOURS[item.video_colour]
    frames = []
    for t in range(FRAMES):
        offset = along + speed * t * (dx + dy)
        x0, y0 = (offset, across) if dx else (across, offset)
        image = Image.new("RGB", (SIDE, SIDE), BACKGROUNDS[item.video_background])
        draw = ImageDraw.Draw(image)
        if item.video_shape == "stripes":
            for k in range(3):  # three bars across the direction of travel
                if dx:
                    draw.rectangle((x0 + 10 * k, y0, x0 + 10 * k + 5, y0 + size), fill=colour)
                else:
                    draw.rectangle((x0, y0 + 10 * k, x0 + size, y0 + 10 * k + 5), fill=colour)
        else:
            _draw_shape(draw, item.video_shape, (x0, y0, x0 + size, y0 + size), colour)
        frames.append(np.asarray(image))
    return frames


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    """Encode frames as H.264 (yuv420p) mp4, single-threaded so the bytes are reproducible."""
    with (
        atomic_path(path) as tmp,
        av.open(str(tmp), mode="w", format="mp4", options={"fflags": "+bitexact"}) as out,
    ):
        stream = out.add_stream("libx264", rate=Fraction(FPS, 1))
        stream.width = stream.height = SIDE
        stream.pix_fmt = "yuv420p"
        stream.thread_count = 1  # x264 with threads is not byte-reproducible
        stream.options = {"crf": "20", "preset": "medium", "x264-params": "threads=1"}
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_sample(out: Path, seed: int, truth_file: Path = TRUTH) -> dict[str, int]:
    """Generate the whole sample into `out` (replaced), and the truth file."""
    rng = np.random.default_rng(seed)
    items = make_items(rng)
    sequences, prefs, release = make_sequences(rng, items)
    staging = out.parent / f".{out.name}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    for k, item in enumerate(items):
        item_rng = np.random.default_rng([seed, k])  # media do not depend on the sequences
        atomic_write_bytes(staging / "covers" / f"{item.item_id}.jpg", render_cover(item, item_rng))
        write_video(staging / "videos" / f"{item.item_id}.mp4", video_frames(item, item_rng))
    titles = io.StringIO()
    writer = csv.writer(titles, lineterminator="\n")
    writer.writerow(["item", "title"])
    writer.writerows([item.item_id, item.title] for item in items)
    atomic_write_text(staging / "titles.csv", titles.getvalue())
    events = sorted(
        (ms, user, items[row].item_id) for user, seq in sequences.items() for row, ms in seq
    )
    pairs = io.StringIO()
    writer = csv.writer(pairs, lineterminator="\n")
    writer.writerow(["user", "item", "timestamp"])
    writer.writerows([user, item, ms] for ms, user, item in events)
    atomic_write_text(staging / "pairs.csv", pairs.getvalue())
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    truth = {
        "seed": seed,
        "note": "hidden attributes of the embedded sample; for tests and captioner checks only",
        "items": [
            {**asdict(item), "release_day": float(r) if np.isfinite(r) else None}
            for item, r in zip(items, release, strict=True)
        ],
        "users": prefs,
    }
    atomic_write_json(truth_file, truth, indent=1)
    return {"items": len(items), "users": len(sequences), "interactions": len(events)}


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--out", type=Path, default=SAMPLE, help="output folder")
    parser.add_argument("--truth", type=Path, default=TRUTH, help="truth file to write")
    args = parser.parse_args()
    counts = write_sample(args.out, args.seed, args.truth)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out}: {counts}, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
