"""Property-based fuzzing (issue 9) of the readers not fuzzed elsewhere: any input either
loads or raises the toolkit's own error type, never anything else.

Dataset parsers are fuzzed in tests/data/test_data_fuzz.py and scenario documents and
text in tests/scenarios/test_scenarios_fuzz.py; this adds raw bytes for scenario and grid
files, image and video decoding of mutated files, JSON-lines logs and caption stores, and
the item-id-to-file-name guard.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from media.errors import MediaError
from media.images import load_image
from media.paths import UnsafePathError, safe_child
from plumbing.io import read_jsonl

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _png_bytes() -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_bytes() -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


SEEDS = {"png": _png_bytes(), "jpeg": _jpeg_bytes(), "gif": b"GIF89a\x10\x00\x10\x00\x00\x00\x00;"}


@st.composite
def mutated(draw: st.DrawFn, seeds: dict[str, bytes]) -> bytes:
    """A valid file with a few bytes overwritten, cut short, or extended."""
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(1, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=8))


@SETTINGS
@given(data=st.one_of(mutated(SEEDS), st.binary(max_size=64)))
def test_any_image_bytes_load_as_rgb_or_raise_media_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.img"
        path.write_bytes(data)
        try:
            image = load_image(path, max_pixels=1_000_000)
        except MediaError as exc:
            assert exc.path == path and exc.reason
        else:
            assert image.mode == "RGB" and image.width * image.height <= 1_000_000


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from media.video import write_video

    path = tmp_path_factory.mktemp("clip") / "c.mp4"
    frames = np.random.default_rng(2).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    write_video(path, frames, fps=4)
    return path.read_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_video_bytes_give_frames_or_a_media_error(clip_bytes: bytes, data) -> None:
    from media.video import sample_frames

    content = data.draw(mutated({"mp4": clip_bytes}))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.mp4"
        path.write_bytes(content)
        try:
            frames = sample_frames(path, 3)
        except MediaError as exc:
            assert exc.path == path and exc.reason
        else:
            assert frames.dtype == np.uint8 and frames.shape[0] == 3 and frames.shape[-1] == 3


lines = st.one_of(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3).map(
        json.dumps
    ),
    st.sampled_from(['{"item_id": "a"', "[1, 2]", "null", '"text"', "{}", "", "\udcff"]),
    st.text(max_size=20),
)


@SETTINGS
@given(rows=st.lists(lines, max_size=8), tail=st.binary(max_size=10))
def test_any_jsonl_bytes_read_as_records_and_torn_lines(rows: list[str], tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        body = "".join(r + "\n" for r in rows).encode("utf-8", "surrogateescape") + tail
        path.write_bytes(body)
        records, torn = read_jsonl(path)
        assert all(isinstance(r, dict) for r in records)
        assert len(records) + torn <= body.count(b"\n") + 1


caption_fields = st.fixed_dictionaries(
    {},
    optional={
        "item_id": st.sampled_from(["a", "b", 3, None]),
        "media_sha256": st.sampled_from(["h", "none", 1]),
        "captioner": st.sampled_from(["baseline", "blip", 0]),
        "revision": st.sampled_from(["baseline-v1", ""]),
        "prompt": st.text(max_size=4),
        "generation": st.sampled_from([{}, {"num_frames": 8}, [], "x"]),
        "caption": st.text(max_size=6) | st.integers(),
        "error": st.text(max_size=6),
    },
)


@SETTINGS
@given(records=st.lists(caption_fields, max_size=8))
def test_a_caption_store_of_odd_records_reads_without_raising(records: list[dict]) -> None:
    from captioning.store import CaptionKey, CaptionStore

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        body = "".join(json.dumps(r) + "\n" for r in records)
        (store / "captions.jsonl").write_text(body)
        reader = CaptionStore(store)
        key = CaptionKey("baseline", "baseline-v1", "", {"num_frames": 8})
        pairs = [("a", "h"), ("b", "none"), ("3", "1")]
        captions = reader.captions(key, pairs)
        assert set(captions) <= {"a", "b", "3"} and all(isinstance(c, str) for c in captions)
        assert len(reader.fingerprint(key, pairs)) == 64


@SETTINGS
@given(data=st.binary(max_size=120) | st.text(max_size=80).map(str.encode))
@example(data=b"scenarios = [\xff]")
@example(data=b'scenarios = ["title"]\n[encoders]\ntext = 3')
def test_any_grid_file_loads_or_raises_scenario_error(data: bytes) -> None:
    from scenarios.grid.plan import GridSpec, load_grid
    from scenarios.schema.errors import ScenarioError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.toml"
        path.write_bytes(data)
        try:
            spec = load_grid(path)
        except ScenarioError as exc:
            assert str(path) in str(exc)
        else:
            assert isinstance(spec, GridSpec) and spec.scenarios


@SETTINGS
@given(data=st.binary(max_size=120))
@example(data=b'method = "id"\ndescription = "\xff\xfe"')
def test_any_scenario_bytes_load_or_raise_scenario_error(data: bytes) -> None:
    from scenarios.schema.errors import ScenarioError
    from scenarios.schema.scenario import load_scenario
    from scenarios.schema.specs import Scenario

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        path.write_bytes(data)
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            assert str(path) in str(exc)
        else:
            assert isinstance(scenario, Scenario)


@SETTINGS
@given(name=st.text(max_size=12) | st.sampled_from(["..", ".", "a/../..", "..\\x", "x\x00"]))
def test_an_item_id_is_a_child_of_its_folder_or_refused(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "media"
        root.mkdir()
        try:
            child = safe_child(root, name)
        except UnsafePathError:
            return
        assert child.parent == root.resolve() and child.name == name
