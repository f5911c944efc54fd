"""`toolkit caption` and `toolkit caption-merge`: files written, counts reported, clear errors."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from caption_drawings import draw, moving_clip
from PIL import Image
from typer.testing import CliRunner

from captioning.store import CaptionStore
from media.video import write_video
from toolkit.cli import app

runner = CliRunner()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "covers"
    folder.mkdir()
    for i, colour in enumerate(["red", "blue", "green"]):
        Image.fromarray(draw("square", colour)).save(folder / f"{i}.jpg")
    (folder / "9.jpg").write_bytes(b"")
    return folder


def _captions(store: Path) -> dict[str, str]:
    return {r["item_id"]: r["caption"] for r in CaptionStore(store).records() if "caption" in r}


def test_help_lists_captioners_without_importing_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from toolkit.cli import app\n"
        "out = CliRunner().invoke(app, ['caption', '--help'], terminal_width=200).output\n"
        "assert 'baseline' in out and 'qwen2-vl' in out and 'llava-next-video' in out, out\n"
        "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_caption_images_folder(images: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = runner.invoke(app, ["caption", "--images", str(images), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "3 captioned, 0 skipped, 1 failed" in result.output
    assert _captions(store) == {
        "0": "a red square on a light background",
        "1": "a blue square on a light background",
        "2": "a green square on a light background",
    }
    again = runner.invoke(app, ["caption", "--images", str(images), "--store", str(store)])
    assert "0 captioned, 4 skipped, 0 failed" in again.output


def test_caption_videos_in_shards_then_merge(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    for motion in ("left", "up"):
        write_video(folder / f"{motion}.mp4", moving_clip("circle", "yellow", motion))
    store = tmp_path / "store"
    for shard in ("0/2", "1/2"):
        result = runner.invoke(
            app, ["caption", "--videos", str(folder), "--store", str(store), "--shard", shard]
        )
        assert result.exit_code == 0, result.output
    assert len(list((store / "parts").glob("*.jsonl"))) == 2
    merged = runner.invoke(app, ["caption-merge", str(store)])
    assert merged.exit_code == 0 and "merged 2 records" in merged.output
    assert not list((store / "parts").glob("*.jsonl"))
    assert _captions(store) == {
        "left": "a video of a yellow circle moving left",
        "up": "a video of a yellow circle moving up",
    }


def test_caption_dataset_media(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recsys.data

    catalogue = SimpleNamespace(
        item_ids=("a", "b", "c"),
        image_paths=(images / "0.jpg", None, images / "2.jpg"),
        video_paths=(None, None, None),
    )
    monkeypatch.setattr(
        recsys.data, "load_dataset", lambda path: SimpleNamespace(catalogue=catalogue)
    )
    store = tmp_path / "store"
    result = runner.invoke(app, ["caption", "--data", str(tmp_path), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert _captions(store) == {
        "a": "a red square on a light background",
        "c": "a green square on a light background",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--images", "x", "--videos", "y"], "exactly one of"),
        ([], "exactly one of"),
        (["--captioner", "nope"], "registered: baseline"),
        (["--shard", "3/2"], "0 <= i < n"),
        (["--prompt", " "], "empty prompt"),
        (["--videos", "EMPTY"], "no videos found"),
    ],
)
def test_usage_errors(images: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / "EMPTY") if a == "EMPTY" else a for a in args]
    if args and "--images" not in args and "--videos" not in args:
        args = ["--images", str(images), *args]
    result = runner.invoke(app, ["caption", "--store", str(tmp_path / "s"), *args])
    assert result.exit_code == 2
    assert message in result.output
