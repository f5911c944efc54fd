"""Bad input (issue 9): every broken file gets a clear message naming it and the reason,
and the rest of the job finishes: captioning, hidden-state caches and a whole scenario run.
Also stale or damaged caches and run folders from another dataset or encoder.

Dataset-file faults (wrong column counts, non-UTF-8, duplicate ids, unknown items, empty
users) are tested line by line in tests/data; scenario-schema faults in tests/scenarios.
Here they go through the `toolkit` command, which must print one `error:` line, not a
traceback.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from reliability_helpers import make_dataset, scenario_text, write_cover
from typer.testing import CliRunner

from media.errors import MediaError
from media.images import load_image
from media.video import sample_frames, write_video


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header (with CRCs) that claims `width` x `height`: a cheap decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _clip(path: Path, colour: tuple[int, int, int]) -> Path:
    frames = np.full((6, 32, 32, 3), 200, dtype=np.uint8)
    frames[:, 8:24, 8:24] = colour
    write_video(path, frames, fps=6)
    return path


def _no_frames(path: Path) -> Path:
    """An mp4 with a header and no video samples (what an encoder killed at once leaves)."""
    container = av.open(str(path), "w", format="mp4")
    stream = container.add_stream("libx264", rate=8)
    stream.width = stream.height = 32
    stream.pix_fmt = "yuv420p"
    container.start_encoding()
    container.close()
    return path


HUGE_CLIP = """
import av, sys
with av.open(sys.argv[1], "w", format="mp4") as container:
    stream = container.add_stream("libx264", rate=1)
    stream.width, stream.height, stream.pix_fmt = 8192, 6144, "yuv420p"
    stream.options = {"preset": "ultrafast"}
    frame = av.VideoFrame(8192, 6144, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    for packet in [*stream.encode(frame), *stream.encode()]:
        container.mux(packet)
"""


def _huge_frames(path: Path) -> Path:
    """A ~150 KB mp4 of one black 8192x6144 frame (made in a subprocess: x264 needs ~350 MB)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", HUGE_CLIP, str(path)], check=True, timeout=120)
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


# name -> (kind, reason fragment); files are written by the `zoo` fixture.
BAD = {
    "corrupt.png": ("image", "not an image"),
    "garbage_pixels.png": ("image", "image"),
    "truncated.jpg": ("image", "truncated"),
    "empty.jpg": ("image", "empty file"),
    "text.jpg": ("image", "not an image"),
    "video.jpg": ("image", "not an image"),
    "bomb.png": ("image", "too large"),
    "bomb_9000.png": ("image", "too large"),
    "random.mp4": ("video", "undecodable video"),
    "truncated.mp4": ("video", "video"),
    "empty.mp4": ("video", "empty file"),
    "no_frames.mp4": ("video", "no video stream"),
    "audio_only.mp4": ("video", "no video stream"),
    "text.mp4": ("video", "undecodable video"),
    "huge_frames.mp4": ("video", "video frames too large: 8192x6144"),
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("zoo")
    rng = np.random.default_rng(0)
    good = {}
    for i, colour in enumerate([(220, 40, 40), (40, 80, 220), (40, 170, 60)]):
        write_cover(root / f"good{i}.png", colour)
        good[f"good{i}.png"] = root / f"good{i}.png"
        good[f"good{i}.mp4"] = _clip(root / f"good{i}.mp4", colour)
    noise = root / "noise.jpg"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(noise, quality=90)
    png = (root / "good0.png").read_bytes()
    files = {
        "corrupt.png": b"\x89PNG\r\n\x1a\n" + rng.bytes(300),
        "garbage_pixels.png": png[:40] + rng.bytes(len(png) - 52) + png[-12:],
        "truncated.jpg": noise.read_bytes()[: noise.stat().st_size // 2],
        "empty.jpg": b"",
        "text.jpg": b"definitely not a picture\n" * 10,
        "video.jpg": good["good0.mp4"].read_bytes(),
        "bomb.png": png_claiming(100_000, 100_000),
        "bomb_9000.png": png_claiming(9000, 9000),
        "random.mp4": rng.bytes(5000),
        "truncated.mp4": good["good1.mp4"].read_bytes()[:700],
        "empty.mp4": b"",
        "text.mp4": b"hello " * 200,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    _no_frames(root / "no_frames.mp4")
    _audio_only(root / "audio_only.mp4")
    _huge_frames(root / "huge_frames.mp4")
    return {**good, **{name: root / name for name in BAD}}


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_file_is_a_media_error_naming_it(zoo: dict[str, Path], name: str) -> None:
    kind, reason = BAD[name]
    with pytest.raises(MediaError) as info:
        load_image(zoo[name]) if kind == "image" else sample_frames(zoo[name], 4)
    assert info.value.path == zoo[name]
    assert reason in info.value.reason and str(zoo[name]) in str(info.value)


@pytest.mark.parametrize("name", ["bomb.png", "huge_frames.mp4"])
def test_bombs_are_refused_from_the_header(zoo: dict[str, Path], name: str) -> None:
    """10^10 pixels would need 30 GB, 8 frames of 8192x6144 1.2 GB; refusing costs nothing."""
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(MediaError, match="too large"):
        load_image(zoo[name]) if name.endswith(".png") else sample_frames(zoo[name], 8)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5_000_000 and zoo[name].stat().st_size < 200_000


def test_captioning_records_every_bad_file_and_captions_the_rest(
    zoo: dict[str, Path], tmp_path: Path
) -> None:
    from captioning.api import caption_items, caption_key
    from captioning.items import MediaItem
    from captioning.store import CaptionStore

    items = [
        MediaItem(name, path, "image" if name.endswith((".png", ".jpg")) else "video")
        for name, path in zoo.items()
    ]
    summary = caption_items(items, captioner="baseline", store=tmp_path / "s", progress=False)
    assert (summary.done, summary.failed) == (6, len(BAD))
    store, key = CaptionStore(tmp_path / "s"), caption_key("baseline")
    pairs = [(r["item_id"], r["media_sha256"]) for r in store.records()]
    captions, errors = store.captions(key, pairs), store.errors(key, pairs)
    assert sorted(captions) == sorted(n for n in zoo if n.startswith("good"))
    assert all(captions.values())
    assert sorted(errors) == sorted(BAD)
    for name, (_, reason) in BAD.items():
        assert reason in errors[name], (name, errors[name])


def test_cache_gives_bad_media_zero_states_and_counts_them(
    zoo: dict[str, Path], tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from recsys.cache import build_or_load_cache
    from recsys.channels import ChannelInput, EncoderSpec

    spec = EncoderSpec(str(tiny_models["vision"]), pooling="mean", num_frames=3)
    for modality, suffix in (("image", (".png", ".jpg")), ("video", (".mp4",))):
        names = sorted(n for n in zoo if n.endswith(suffix))
        channel = ChannelInput(modality, modality, spec, paths=tuple(zoo[n] for n in names))
        cache = build_or_load_cache(channel, cache_dir=tmp_path, batch_size=4, progress=False)
        expected = [n.startswith("good") for n in names]
        assert cache.valid[1:].tolist() == expected, modality
        assert cache.missing == expected.count(False)
        states = cache.gather(np.arange(1, len(names) + 1))
        assert not states[~np.array(expected)].any() and np.isfinite(states).all()


def test_scenario_with_broken_covers_finishes_and_reports_them(
    zoo: dict[str, Path], tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from scenarios.run.runner import run_scenario
    from scenarios.schema.scenario import load_scenario

    data = make_dataset(tmp_path / "data", items=15, users=24)
    broken = ["corrupt.png", "truncated.jpg", "empty.jpg", "bomb.png"]
    for i, name in enumerate(broken):
        shutil.copy(zoo[name], data / "covers" / f"i{i}.png")
    text = scenario_text(tiny_models, tmp_path / "cache").replace(
        'template = "{title}"', 'template = "{title}. {image_caption}"'
    )
    (tmp_path / "s.toml").write_text(text + '\n[captions.image_caption]\ncaptioner = "baseline"\n')
    scenario = load_scenario(tmp_path / "s.toml", ["train.epochs=1"])
    result = run_scenario(scenario, data=data, out=tmp_path / "run", progress=False)
    captions = result.results[0]["record"]["captions"]["image_caption"]
    assert (captions["failed"], captions["captioned"], captions["no_media"]) == (4, 11, 0)
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "cache").rglob("manifest.json")]
    image = [m for m in manifests if m["fields"]["modality"] == "image"]
    assert len(image) == 1 and image[0]["missing"] == 4
    assert np.isfinite(list(result.results[0]["test"].values())).all()


# ---- the command line: one clean error line per mistake ----------------------------------


def _cli(args: list[str]) -> tuple[int, str]:
    from toolkit.cli import app

    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("files", "where", "words"),
    [
        ({"items.tsv": "a\tA\tx\n", "users.tsv": "u\ta\n"}, "items.tsv:1", "found 3"),
        ({"items.tsv": b"a\tA\xff\n", "users.tsv": "u\ta\n"}, "items.tsv:1", "not UTF-8"),
        ({"items.tsv": "a\tA\na\tB\n", "users.tsv": "u\ta\n"}, "items.tsv:2", "duplicate"),
        ({"items.tsv": "a\tA\n", "users.tsv": "u\ta zz\n"}, "users.tsv:1", "item 'zz'"),
        ({"items.tsv": "a\tA\n", "users.tsv": "u\t \n"}, "users.tsv:1", "no interactions"),
        ({"pairs.csv": "user,item\nu,1\n", "titles.csv": "item,title\n1,A\n"}, "pairs.csv:1", ""),
    ],
)
@pytest.mark.parametrize("command", ["data stats", "run-scenario"])
def test_bad_dataset_files_give_one_error_line(
    tmp_path: Path, files: dict, where: str, words: str, command: str
) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    args = ["data", "stats", str(tmp_path)]
    if command == "run-scenario":
        args = ["run-scenario", "title", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    code, output = _cli(args)
    assert code == 2 and "Traceback" not in output
    assert output.startswith(f"error: {tmp_path / where.split(':')[0]}:{where.split(':')[1]}:")
    assert words in output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("toml", "key", "words"),
    [
        ('method = "id"\nepoch = 3\n', "epoch", "valid keys"),
        ('method = "id"\n[train]\nepochs = "many"\n', "train.epochs", "expected integer"),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title}"\n'
            'encoder = { model = "m", kind = "nope" }\n',
            "channels[0].encoder.kind",
            "valid",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title} {video_caption}"\n',
            "captions",
            "no [captions.video_caption] table",
        ),
        (
            '[[channels]]\nname = "t"\nmodality = "text"\ntemplate = "{title} {image_caption}"\n'
            '[captions.image_caption]\ncaptioner = "nosuch"\n',
            "captions.image_caption",
            "registered: baseline",
        ),
        ("this is = not [toml\n", "", "TOML"),
    ],
)
def test_bad_scenario_files_give_one_error_line(
    tmp_path: Path, tiny_data: Path, toml: str, key: str, words: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    args = ["run-scenario", str(path), "--data", str(tiny_data), "--out", str(tmp_path / "o")]
    code, output = _cli(args)
    assert code == 2 and "Traceback" not in output, output
    assert output.startswith(f"error: {path}: {key}" if key else f"error: {path}")
    assert words in output
    assert not (tmp_path / "o").exists()


# ---- stale and damaged caches, run folders of another configuration ------------------------


def _text_channel(tiny_models: dict[str, Path]):
    from recsys.channels import ChannelInput, EncoderSpec

    texts = tuple(f"lab kit number {i}" for i in range(9))
    return ChannelInput("text", "text", EncoderSpec(str(tiny_models["text"])), texts=texts)


def test_cache_of_another_format_version_is_refused_or_rebuilt(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from recsys.cache import build_or_load_cache
    from recsys.cache.states import FORMAT_VERSION
    from recsys.errors import CacheMismatchError

    channel = _text_channel(tiny_models)
    first = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    original = (first.folder / "states.npy").read_bytes()
    manifest = json.loads((first.folder / "manifest.json").read_text())
    manifest["fields"]["format"] = 0  # written by an older toolkit
    (first.folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CacheMismatchError, match=f"format: cached 0 != wanted {FORMAT_VERSION}"):
        build_or_load_cache(channel, cache_dir=tmp_path, rebuild=False, progress=False)
    again = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert again.manifest["fields"]["format"] == FORMAT_VERSION
    assert (again.folder / "states.npy").read_bytes() == original


@pytest.mark.parametrize("damage", ["truncate_states", "garbage_manifest", "drop_valid"])
def test_damaged_cache_is_refused_or_rebuilt_identically(
    tiny_models: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    from recsys.cache import build_or_load_cache
    from recsys.errors import CacheMismatchError

    channel = _text_channel(tiny_models)
    folder = build_or_load_cache(channel, cache_dir=tmp_path, progress=False).folder
    original = (folder / "states.npy").read_bytes()
    if damage == "truncate_states":
        (folder / "states.npy").write_bytes(original[: len(original) // 2])
    elif damage == "garbage_manifest":
        (folder / "manifest.json").write_text("{ not json")
    else:
        (folder / "valid.npy").unlink()
    with pytest.raises(CacheMismatchError, match="unreadable"):
        build_or_load_cache(channel, cache_dir=tmp_path, rebuild=False, progress=False)
    rebuilt = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert (rebuilt.folder / "states.npy").read_bytes() == original


def _copy_reference(reference: dict, tmp_path: Path, tiny_models: dict[str, Path]) -> Path:
    """The reference seed-0 run folder and its scenario, with a cache folder of our own."""
    run = tmp_path / "run"
    shutil.copytree(reference["runs"][0], run)
    (tmp_path / "s.toml").write_text(scenario_text(tiny_models, tmp_path / "cache"))
    return run


def test_run_folder_of_another_dataset_is_refused(
    reference: dict, tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    run = _copy_reference(reference, tmp_path, tiny_models)
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    titles = (other / "titles.csv").read_text().replace("i3,", "i3,renamed ", 1)
    (other / "titles.csv").write_text(titles)
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(other), "--out", str(run)]
    code, output = _cli(args)
    assert code == 2 and "finished run of another configuration" in output
    (run / "results.json").unlink()  # an interrupted run of the other dataset
    code, output = _cli(args)
    assert code == 2 and "holds a checkpoint of another configuration" in output
    code, output = _cli([*args[:3], str(tiny_data), *args[4:]])  # its own data: resumes
    assert code == 0, output
    results = json.loads((run / "results.json").read_text())
    assert results["test"] == reference["results"][0]["test"]


def test_run_folder_of_another_encoder_is_refused(
    reference: dict, tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    from tests.support.tiny_models import write_tiny_bert

    run = _copy_reference(reference, tmp_path, tiny_models)
    (run / "results.json").unlink()
    other = write_tiny_bert(tmp_path / "bert-seed1", seed=1)
    scenario = scenario_text({**tiny_models, "text": other}, tmp_path / "cache")
    (tmp_path / "other.toml").write_text(scenario)
    args = ["run-scenario", str(tmp_path / "other.toml"), "--data", str(tiny_data)]
    code, output = _cli([*args, "--out", str(run)])
    assert code == 2 and "holds a checkpoint of another configuration" in output


def test_damaged_checkpoint_is_a_clear_error(
    reference: dict, tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    run = _copy_reference(reference, tmp_path, tiny_models)
    (run / "results.json").unlink()
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    (run / "checkpoint" / state["weights"]).write_bytes(b"\x00" * 100)
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(tiny_data), "--out", str(run)]
    code, output = _cli(args)
    assert code == 2 and "Traceback" not in output
    assert "unreadable checkpoint" in output and state["weights"] in output


def test_checkpoint_of_another_format_is_refused(
    reference: dict, tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    run = _copy_reference(reference, tmp_path, tiny_models)
    (run / "results.json").unlink()
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    weights = run / "checkpoint" / state["weights"]
    with safe_open(str(weights), framework="pt") as handle:
        meta = dict(handle.metadata())
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(weights), metadata={**meta, "format": "mmrec-trainable-v0"})
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(tiny_data), "--out", str(run)]
    code, output = _cli(args)
    assert code == 2 and "mmrec-trainable-v0" in output


def test_damaged_results_file_is_a_clear_error(
    reference: dict, tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    run = _copy_reference(reference, tmp_path, tiny_models)
    (run / "results.json").write_text('{"valid": ')
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(tiny_data), "--out", str(run)]
    code, output = _cli(args)
    assert code == 2 and "Traceback" not in output
    assert str(run / "results.json") in output


def test_recommend_refuses_a_dataset_other_than_the_runs(
    reference: dict, tiny_data: Path, tmp_path: Path
) -> None:
    from scenarios.run.recommend import recommend
    from scenarios.schema.errors import ScenarioError

    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    titles = (other / "titles.csv").read_text().replace("i3,", "i3,renamed ", 1)
    (other / "titles.csv").write_text(titles)
    assert recommend(reference["runs"][0], user="u1", data=tiny_data).items
    with pytest.raises(ScenarioError, match="another dataset"):
        recommend(reference["runs"][0], user="u1", data=other)


@pytest.mark.parametrize("model", ["/nonexistent/model", "someorg/not-a-model"])
def test_missing_encoder_is_a_clear_error(
    tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path, model: str
) -> None:
    scenario = scenario_text({**tiny_models, "text": Path(model)}, tmp_path / "cache")
    (tmp_path / "s.toml").write_text(scenario)
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(tiny_data)]
    code, output = _cli([*args, "--out", str(tmp_path / "run")])
    assert code == 2 and "Traceback" not in output
    assert output.startswith("error: ") and f"cannot load encoder {model!r}" in output


def test_caption_field_without_media_is_a_clear_error(
    tiny_models: dict[str, Path], tiny_data: Path, tmp_path: Path
) -> None:
    text = scenario_text(tiny_models, tmp_path / "cache").replace(
        'template = "{title}"', 'template = "{title} {video_caption}"'
    )
    (tmp_path / "s.toml").write_text(text + '\n[captions.video_caption]\ncaptioner = "baseline"\n')
    args = ["run-scenario", str(tmp_path / "s.toml"), "--data", str(tiny_data)]
    code, output = _cli([*args, "--out", str(tmp_path / "run")])  # tiny_data has no videos
    assert code == 2 and "captions.video_caption" in output and "no video files" in output
    assert not (tmp_path / "run" / "results.json").exists()


def test_command_line_typos_are_named_and_create_nothing(tmp_path: Path) -> None:
    code, output = _cli(["caption-merge", str(tmp_path / "typo" / "store")])
    assert code == 2 and "no caption store here" in output
    assert not (tmp_path / "typo").exists()
    code, output = _cli(["grid", "title", "--seeds", "0,x", "--out", str(tmp_path / "g")])
    assert code == 2 and "--seeds must be comma-separated integers, got '0,x'" in output
