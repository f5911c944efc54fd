"""Media that are not what they seem (issue 15, items 2-4): entries of a media folder that
are no regular files (a named pipe, a socket, a device, a folder), files whose names lie
about their kind, and images the loader used to distort silently (EXIF orientation, 16-bit
depth) or ignore (a .webp / .gif / .bmp / .tiff cover).

The pipe cases run the real `toolkit` in a subprocess with a timeout: before the fix the
caption job and the cache build opened the pipe to hash it and waited for ever.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import make_dataset, run_toolkit, scenario_text, subprocess_env

from media.errors import MediaError
from media.hashing import media_sha256, sha256_file
from media.images import load_image
from media.video import sample_frames, write_video

NOT_REGULAR = ("fifo", "socket", "device", "folder")


def _not_regular(path: Path, kind: str) -> bool:
    """Put a `kind` entry at `path`; False when this process may not make one."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))  # the socket file stays after close
        server.close()
    elif kind == "device":
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
        except (PermissionError, OSError):
            return False
    else:
        path.mkdir()
    return True


@pytest.fixture
def odd_dataset(tmp_path: Path) -> tuple[Path, list[str]]:
    """A 15-item dataset whose covers i1..i4 are a pipe, a socket, a device and a folder."""
    data = make_dataset(tmp_path / "data", items=15, users=24)
    odd = []
    for i, kind in enumerate(NOT_REGULAR, start=1):
        cover = data / "covers" / f"i{i}.png"
        cover.unlink()
        if _not_regular(cover, kind):
            odd.append(f"i{i}")
    return data, odd


def test_media_hashing_never_opens_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """In a subprocess with a timeout: opening the pipe would block it for ever."""
    for kind in NOT_REGULAR:
        _not_regular(tmp_path / kind, kind)
    (tmp_path / "real.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    code = (
        "import sys, json\nfrom media.hashing import media_sha256\n"
        "print(json.dumps({n: media_sha256(sys.argv[1] + '/' + n) for n in sys.argv[2:]}))\n"
    )
    names = [p.name for p in sorted(tmp_path.iterdir())]
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), *names, "missing"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    hashes = json.loads(done.stdout)
    assert hashes.pop("real.png") == sha256_file(tmp_path / "real.png")
    assert set(hashes.values()) == {None}


def test_media_hashes_are_memoised_by_path_size_and_mtime(tmp_path: Path, monkeypatch) -> None:
    import media.hashing

    opened = []
    real_open = media.hashing.open_regular
    monkeypatch.setattr(media.hashing, "open_regular", lambda p: opened.append(p) or real_open(p))
    path = tmp_path / "a.jpg"
    path.write_bytes(b"first version")
    first = media_sha256(path)
    assert media_sha256(tmp_path / "." / "a.jpg") == first and len(opened) == 1
    path.write_bytes(b"second, longer version")
    assert media_sha256(path) == sha256_file(path) != first and len(opened) == 2


def test_pipes_sockets_and_devices_become_error_records_and_the_job_finishes(
    odd_dataset: tuple[Path, list[str]], tmp_path: Path
) -> None:
    from captioning.store import CaptionStore

    data, odd = odd_dataset
    store = tmp_path / "store"
    done = run_toolkit(["caption", "--data", str(data), "--store", str(store)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{15 - len(odd)} captioned, 0 skipped, {len(odd)} failed" in done.stdout
    errors = {r["item_id"]: r["error"] for r in CaptionStore(store).records() if "error" in r}
    assert errors == dict.fromkeys(odd, "not a regular file")


def test_a_scenario_over_a_pipe_in_the_covers_finishes_and_names_the_items(
    odd_dataset: tuple[Path, list[str]], tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    data, odd = odd_dataset
    (tmp_path / "s.toml").write_text(scenario_text(tiny_models, tmp_path / "cache"))
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(data), "--out", "run"]
    done = run_toolkit(args, tmp_path)
    assert done.returncode == 0, done.stderr
    (manifest,) = [
        json.loads(p.read_text())
        for p in (tmp_path / "cache").rglob("manifest.json")
        if p.parent.name.startswith("image--")
    ]
    assert manifest["missing_items"] == odd and manifest["missing"] == len(odd)


# ---- names that lie -------------------------------------------------------------------------


def _cover(path: Path, fmt: str = "PNG") -> Path:
    pixels = np.full((32, 32, 3), 230, dtype=np.uint8)
    pixels[8:24, 8:24] = (220, 40, 40)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _clip(path: Path) -> Path:
    frames = np.full((6, 32, 32, 3), 200, dtype=np.uint8)
    frames[:, 8:24, 8:24] = (40, 80, 220)
    write_video(path, frames, fps=6)
    return path


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("jpeg.mp4", lambda p: _cover(p, "JPEG"), "not a video: JPEG image data"),
        ("png.mp4", lambda p: _cover(p, "PNG"), "not a video: PNG image data"),
        ("gif.mkv", lambda p: _cover(p, "GIF"), "not a video: GIF image data"),
        ("ppm.mp4", lambda p: _cover(p, "PPM"), "not a video: ppm image data"),
        ("mp4.jpg", _clip, "not an image: ISO media (MP4) video data"),
    ],
)
def test_the_kind_comes_from_the_content_not_the_name(
    tmp_path: Path, name: str, make, expected: str
) -> None:
    """A JPEG named .mp4 used to decode as a one-frame "video" and be cached as valid. The
    PPM has no signature in media.kinds: FFmpeg's image demuxer gives it away."""
    path = make(tmp_path / name)
    with pytest.raises(MediaError) as info:
        sample_frames(path, 4) if name.endswith((".mp4", ".mkv")) else load_image(path)
    assert info.value.reason == expected and info.value.path == path


def test_lying_names_become_error_records_and_zero_states(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from captioning.api import caption_items
    from captioning.items import MediaItem
    from captioning.store import CaptionStore
    from recsys.cache import build_or_load_cache
    from recsys.channels import ChannelInput, EncoderSpec

    still, clip = _cover(tmp_path / "still.mp4", "JPEG"), _clip(tmp_path / "clip.mp4")
    fake_cover, cover = _clip(tmp_path / "fake.jpg"), _cover(tmp_path / "cover.png")
    items = [
        MediaItem("still", still, "video"),
        MediaItem("clip", clip, "video"),
        MediaItem("fake", fake_cover, "image"),
        MediaItem("cover", cover, "image"),
    ]
    summary = caption_items(items, captioner="baseline", store=tmp_path / "s", progress=False)
    assert (summary.done, summary.failed) == (2, 2)
    records = CaptionStore(tmp_path / "s").records()
    errors = {r["item_id"]: r["error"] for r in records if "error" in r}
    assert errors == {
        "still": "not a video: JPEG image data",
        "fake": "not an image: ISO media (MP4) video data",
    }
    spec = EncoderSpec(str(tiny_models["vision"]), pooling="mean", num_frames=3)
    for modality, paths in (("video", (still, clip)), ("image", (fake_cover, cover))):
        channel = ChannelInput(modality, modality, spec, paths=paths, item_ids=("bad", "good"))
        cache = build_or_load_cache(channel, cache_dir=tmp_path / "c", progress=False)
        assert cache.valid[1:].tolist() == [False, True] and cache.manifest["missing_items"] == [
            "bad"
        ]


# ---- silent distortions ---------------------------------------------------------------------


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """Stored 40x20 (red left, blue right) with orientation 6 ("rotate 90 clockwise"): the
    photo is 20 wide and 40 tall, red on top."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (220, 40, 40)
    pixels[:, 20:] = (40, 80, 220)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    path = tmp_path / "portrait.jpg"
    Image.fromarray(pixels).save(path, quality=95, exif=exif)
    loaded = np.asarray(load_image(path)).astype(int)
    assert loaded.shape == (40, 20, 3)
    assert np.abs(loaded[5, 10] - (220, 40, 40)).max() < 20
    assert np.abs(loaded[35, 10] - (40, 80, 220)).max() < 20


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    """A 16-bit grey ramp 0..65535: Pillow's convert("RGB") clips it (every value above 255
    turns white); the loader maps it onto 0..255."""
    ramp = np.linspace(0, 65535, 64 * 16).reshape(16, 64).astype(np.uint16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")  # really 16 bits on disk
    loaded = np.asarray(load_image(path)).astype(int)  # [16, 64, 3]
    assert (loaded[..., 0] == loaded[..., 2]).all()
    assert np.abs(loaded[..., 0] - np.rint(ramp / 257.0)).max() <= 1
    assert loaded[0, 0, 0] == 0 and loaded[-1, -1, 0] == 255 and len(np.unique(loaded)) > 200


@pytest.mark.parametrize("fmt", ["webp", "gif", "bmp", "tiff"])
def test_amazon_covers_in_any_pillow_format_are_found(tmp_path: Path, fmt: str) -> None:
    from recsys.data import load_dataset

    (tmp_path / "images").mkdir()
    (tmp_path / "items.tsv").write_text("a\tA kit\nb\tB kit\n")
    (tmp_path / "users.tsv").write_text("u\ta b a\n")
    _cover(tmp_path / "images" / f"a.{fmt}", fmt.upper())
    _cover(tmp_path / "images" / "b.PNG", "PNG")
    catalogue = load_dataset(tmp_path).catalogue
    assert catalogue.image_paths == (
        (tmp_path / "images" / f"a.{fmt}").resolve(),
        (tmp_path / "images" / "b.PNG").resolve(),
    )
    assert load_image(catalogue.image_paths[0]).size == (32, 32)


# ---- say what was skipped -------------------------------------------------------------------


def test_a_run_says_which_inputs_fell_back_to_empty_and_lists_their_ids(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """Two covers missing, two broken: one line on stdout names the counts per channel and
    caption field and where the ids are; the manifest and results.json list ids, not rows."""
    data = make_dataset(tmp_path / "data", items=15, users=24)
    for name in ("i1", "i2"):
        (data / "covers" / f"{name}.png").unlink()
    for name in ("i3", "i4"):
        (data / "covers" / f"{name}.png").write_bytes(b"not a picture")
    text = scenario_text(tiny_models, tmp_path / "cache").replace(
        'template = "{title}"', 'template = "{title}. {image_caption}"'
    )
    (tmp_path / "s.toml").write_text(text + '\n[captions.image_caption]\ncaptioner = "baseline"\n')
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(data), "--out", "run"]
    done = run_toolkit(args, tmp_path)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    (image,) = [c for c in results["tower"]["channels"] if c["encoder"]["modality"] == "image"]
    manifest = Path(image["cache"]) / "manifest.json"
    assert _summary(done.stdout) == (
        f"inputs that fell back to empty, of {results['dataset']['items']} items: "
        "caption image_caption 4 (2 failed, 2 without a file; ids in run/results.json "
        f"record.captions.image_caption); channel image 4 (zero states; ids in {manifest} "
        "missing_items)"
    )
    assert sorted(json.loads(manifest.read_text())["missing_items"]) == ["i1", "i2", "i3", "i4"]
    captions = results["record"]["captions"]["image_caption"]
    assert (captions["failed_items"], captions["no_media_items"]) == (["i3", "i4"], ["i1", "i2"])
    (channel,) = [c for c in results["record"]["channels"] if c["name"] == "image"]
    assert channel["no_media_items"] == ["i1", "i2"]
    again = run_toolkit(args, tmp_path)  # a finished run says it again, from its results
    assert again.returncode == 0 and _summary(again.stdout) == _summary(done.stdout)


def _summary(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith("inputs that fell back")]
    return line
