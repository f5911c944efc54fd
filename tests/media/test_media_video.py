"""Frame sampling: indices read back from the pixels, both backends, bad files as MediaError."""

from pathlib import Path

import numpy as np
import pytest

from media.errors import MediaError
from media.video import count_frames, frame_indices, sample_frames, write_video

BACKENDS = ["decord", "pyav", "auto"]
BITS = 6  # frame index written as 6 black/white columns, 8 px wide: survives H.264


def _indexed_clip(frames: int) -> np.ndarray:
    clip = np.zeros((frames, 32, 64, 3), dtype=np.uint8)  # [T, H, W, 3]
    for t in range(frames):
        for bit in range(BITS):
            if (t >> bit) & 1:
                clip[t, :, bit * 8 : (bit + 1) * 8] = 255
    return clip


def _read_index(frame: np.ndarray) -> int:
    return sum(int(frame[:, b * 8 : (b + 1) * 8].mean() > 127) << b for b in range(BITS))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("clips")
    paths = {}
    for frames in (1, 5, 23):
        paths[frames] = folder / f"clip{frames}.mp4"
        write_video(paths[frames], _indexed_clip(frames))
    return paths


def test_frame_indices_by_hand() -> None:
    assert frame_indices(20, 7).tolist() == [0, 3, 6, 10, 13, 16, 19]
    assert frame_indices(3, 8).tolist() == [0, 0, 1, 1, 1, 1, 2, 2]  # short clip repeats
    assert frame_indices(1, 4).tolist() == [0, 0, 0, 0]
    assert frame_indices(100, 1).tolist() == [0]
    assert frame_indices(9, 9).tolist() == list(range(9))
    with pytest.raises(ValueError):
        frame_indices(0, 3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("frames", "k"), [(23, 8), (5, 8), (1, 3), (23, 23)])
def test_sampled_frames_are_the_expected_ones(
    clips: dict[int, Path], backend: str, frames: int, k: int
) -> None:
    sampled = sample_frames(clips[frames], k, backend=backend)
    assert sampled.shape == (k, 32, 64, 3) and sampled.dtype == np.uint8
    assert [_read_index(f) for f in sampled] == frame_indices(frames, k).tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_frames_decoded(clips: dict[int, Path], backend: str) -> None:
    assert [count_frames(clips[n], backend) for n in (1, 5, 23)] == [1, 5, 23]


def _bad_files(folder: Path, good: Path) -> dict[str, Path]:
    files = {
        "empty": folder / "empty.mp4",
        "random": folder / "random.mp4",
        "truncated": folder / "truncated.mp4",
        "missing": folder / "missing.mp4",
    }
    files["empty"].write_bytes(b"")
    files["random"].write_bytes(np.random.default_rng(1).bytes(5000))
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return files


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "missing"])
def test_bad_videos_raise_media_error(
    clips: dict[int, Path], tmp_path: Path, backend: str, kind: str
) -> None:
    path = _bad_files(tmp_path, clips[23])[kind]
    with pytest.raises(MediaError) as info:
        sample_frames(path, 4, backend=backend)
    assert info.value.path == path and info.value.reason
    with pytest.raises(MediaError):
        count_frames(path, backend)


def test_unknown_backend(clips: dict[int, Path]) -> None:
    with pytest.raises(ValueError, match="decord, pyav"):
        sample_frames(clips[5], 2, backend="opencv")


def test_auto_falls_back_to_pyav_when_decord_fails(
    clips: dict[int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import media.video

    def broken(path: Path, *args: object) -> None:
        raise MediaError(path, "decord says no")

    monkeypatch.setattr(media.video, "_decord_sample", broken)
    monkeypatch.setattr(media.video, "_decord_count", broken)
    sampled = sample_frames(clips[23], 5, backend="auto")
    assert [_read_index(f) for f in sampled] == frame_indices(23, 5).tolist()
    assert count_frames(clips[23], "auto") == 23
    with pytest.raises(MediaError, match="decord says no"):
        sample_frames(clips[23], 5, backend="decord")
