"""Video frame sampling: evenly spaced frames through decord, with PyAV behind the same interface.

Indices are `np.linspace(0, total - 1, k)` rounded, so the first and last decoded frames are
always included and a clip shorter than `k` frames repeats frames. The frame count is the
number of frames that actually decode, never the container's header.

The decoders write to the process's stderr (file descriptor 2) from C: FFmpeg's
`[h264 @ 0x...] no frame!` (decord's bundled FFmpeg; PyAV >= 13 keeps FFmpeg's log off) and
decord's own `[hh:mm:ss] video_reader.cc:83: ERROR opening`. Python's logging cannot reach
either, so with MMREC_QUIET_DECODERS=1 (`plumbing.console.quiet_libraries`, i.e. any command
without `--verbose`) fd 2 points at a temporary file while a video is read: those lines
end up in the MediaError (so in the item's error record), and anything else written
meanwhile (another thread's status line) is passed on to the real stderr.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from media.errors import MediaError
from media.kinds import check_media_file

BACKENDS = ("auto", "decord", "pyav")
DEFAULT_MAX_FRAME_PIXELS = 36_000_000  # 8K UHD (7680x4320) fits; a k-frame clip stays < 1 GB


QUIET_ENV = "MMREC_QUIET_DECODERS"
# FFmpeg's `[h264 @ 0x55..] msg`, decord's `[13:37:04] file.cc:83: msg`, FFmpeg's repeat note
_NOISE = re.compile(
    r"^(?:\[[\w,.-]+ @ 0x[0-9a-f]+\] |\[\d\d:\d\d:\d\d\] |\s*Last message repeated)"
)
# what the error record keeps of a line: `h264: no frame!`, `decord: ERROR opening: ...`
_PREFIXES = (
    (re.compile(r"^\[([\w,.-]+) @ 0x[0-9a-f]+\] "), r"\1: "),
    (re.compile(r"^\[\d\d:\d\d:\d\d\] \S+\.cc:\d+: "), "decord: "),
)
_CAPTURE = threading.Lock()
_STATE: dict[str, int] = {"depth": 0, "saved": -1, "file": -1}


def _redirect_in() -> int:
    """Point fd 2 at the shared capture file (first caller only); its size now."""
    with _CAPTURE:
        if _STATE["depth"] == 0:
            sys.stderr.flush()
            handle, _ = tempfile.mkstemp(prefix="decoders-", suffix=".log")
            _STATE.update(saved=os.dup(2), file=handle)
            os.dup2(handle, 2)
        _STATE["depth"] += 1
        return os.fstat(_STATE["file"]).st_size


def _redirect_out(start: int) -> list[str]:
    """The decoder lines written since `start` (others go on to the real stderr); the last
    caller restores fd 2."""
    with _CAPTURE:
        handle, saved = _STATE["file"], _STATE["saved"]
        size = os.fstat(handle).st_size
        text = os.pread(handle, size - start, start).decode("utf-8", "replace")
        other = [line for line in text.splitlines(keepends=True) if not _NOISE.match(line)]
        if other:
            os.write(saved, "".join(other).encode())
        _STATE["depth"] -= 1
        if _STATE["depth"] == 0:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(handle)
    return [line.strip() for line in text.splitlines() if _NOISE.match(line)]


def _plain(line: str) -> str:
    for pattern, replacement in _PREFIXES:
        line = pattern.sub(replacement, line)
    return line


@contextlib.contextmanager
def decoder_output(path: Path) -> Iterator[None]:
    """Read a video with the decoders' native stderr captured (see the module note); a
    MediaError raised inside gets their last distinct lines appended to its reason."""
    if os.environ.get(QUIET_ENV) != "1":
        yield
        return
    start = _redirect_in()
    failed: MediaError | None = None
    try:
        yield
    except MediaError as exc:
        failed = exc
    finally:
        lines = _redirect_out(start)
    if failed is not None:
        said = list(dict.fromkeys(_plain(line) for line in lines))[-3:]
        reason = f"{failed.reason} (decoder: {'; '.join(said)})" if said else failed.reason
        raise MediaError(path, reason) from None


def frame_indices(total: int, k: int) -> np.ndarray:
    """Evenly spaced frame indices, first and last included.

    Args:
        total: number of decodable frames (>= 1).
        k: number of frames wanted (>= 1).

    Returns:
        int64 array of shape [k], non-decreasing; repeats indices when `total < k`.
    """
    if total < 1:
        raise ValueError(f"total must be >= 1, got {total}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return np.rint(np.linspace(0, total - 1, k)).astype(np.int64)


def _check_header(path: Path, max_pixels: int) -> None:
    """Refuse, from the header alone, still images and clips whose frames are too large.

    FFmpeg opens a still image (whatever its name) as a one-frame "video" through an image
    demuxer ("jpeg_pipe", "image2", ...); that is no video. A small file can declare huge
    frames (the video form of a decompression bomb): decoding k of them would need
    k x width x height x 3 bytes. A header PyAV cannot read is left to the decoders.
    """
    import av

    try:
        with av.open(str(path)) as container:
            demuxer = container.format.name
            streams = container.streams.video
            width, height = (streams[0].width, streams[0].height) if streams else (0, 0)
            codec = streams[0].codec_context.name if streams else ""
    except Exception:  # a damaged header (PyAV may even lack .width): the decoders say why
        return
    if demuxer.endswith("_pipe") or demuxer in ("image2", "gif", "apng", "webp"):
        raise MediaError(path, f"not a video: {codec or demuxer} image data")
    if width * height > max_pixels:
        raise MediaError(
            path, f"video frames too large: {width}x{height} exceeds {max_pixels} pixels"
        )


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; valid: {', '.join(BACKENDS)}")


def _decord_reader(path: Path):  # noqa: ANN202 - decord has no type hints
    try:
        import decord
    except ImportError as exc:  # pragma: no cover - decord is a declared dependency
        raise MediaError(path, "decord is not installed (pip install decord)") from exc
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as exc:  # decord raises RuntimeError / DECORDError on bad input
        raise MediaError(path, f"undecodable video (decord): {exc}") from None


def _decord_count(path: Path) -> int:
    reader = _decord_reader(path)
    total = len(reader)
    if total < 1:
        raise MediaError(path, "zero frames")
    try:
        reader[total - 1]  # decord counts demuxed packets; make sure the last one decodes
    except Exception as exc:
        raise MediaError(path, f"last frame does not decode (decord): {exc}") from None
    return total


def _decord_sample(path: Path, k: int) -> np.ndarray:
    reader = _decord_reader(path)
    total = len(reader)
    if total < 1:
        raise MediaError(path, "zero frames")
    try:
        frames = reader.get_batch(frame_indices(total, k).tolist()).asnumpy()  # [k, H, W, 3]
    except Exception as exc:
        raise MediaError(path, f"frames do not decode (decord): {exc}") from None
    return frames


def _pyav_frames(path: Path):  # noqa: ANN202 - generator of av.VideoFrame
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(path, "no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from container.decode(stream)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(path, f"undecodable video (pyav): {exc}") from None


def _pyav_count(path: Path) -> int:
    total = sum(1 for _ in _pyav_frames(path))
    if total < 1:
        raise MediaError(path, "zero frames")
    return total


def _pyav_sample(path: Path, k: int) -> np.ndarray:
    indices = frame_indices(_pyav_count(path), k)
    wanted = set(indices.tolist())
    picked: dict[int, np.ndarray] = {}
    for position, frame in enumerate(_pyav_frames(path)):
        if position in wanted:
            picked[position] = frame.to_ndarray(format="rgb24")  # [H, W, 3]
        if position >= indices[-1]:
            break
    if len(picked) != len(wanted):
        raise MediaError(path, "video changed while decoding (frame count differs between passes)")
    return np.stack([picked[i] for i in indices.tolist()])  # [k, H, W, 3]


def count_frames(path: str | Path, backend: str = "auto") -> int:
    """Number of frames that decode (not the container's frame-count header).

    Args:
        path: video file.
        backend: "decord", "pyav", or "auto" (decord, then PyAV if decord fails).

    Raises:
        MediaError: missing, empty, undecodable or zero-frame video.
    """
    _check_backend(backend)
    file = Path(path)
    check_media_file(file, "video")
    with decoder_output(file):
        if backend == "pyav":
            return _pyav_count(file)
        try:
            return _decord_count(file)
        except MediaError:
            if backend == "decord":
                raise
            return _pyav_count(file)
    raise AssertionError("unreachable")  # pragma: no cover - mypy: the with may swallow


def sample_frames(
    path: str | Path,
    k: int,
    *,
    backend: str = "auto",
    max_pixels: int = DEFAULT_MAX_FRAME_PIXELS,
) -> np.ndarray:
    """Decode `k` evenly spaced RGB frames (see `frame_indices`).

    Args:
        path: video file.
        k: number of frames to return.
        backend: "decord", "pyav", or "auto" (decord, then PyAV if decord fails).
        max_pixels: refuse frames with more pixels than this (checked from the header).

    Returns:
        uint8 array of shape [k, H, W, 3].

    Raises:
        MediaError: missing, empty, corrupt, truncated, zero-frame or too-large video.
    """
    _check_backend(backend)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    file = Path(path)
    check_media_file(file, "video")
    with decoder_output(file):
        _check_header(file, max_pixels)
        if backend == "pyav":
            frames = _pyav_sample(file, k)
        else:
            try:
                frames = _decord_sample(file, k)
            except MediaError:
                if backend == "decord":
                    raise
                frames = _pyav_sample(file, k)
    return np.ascontiguousarray(frames, dtype=np.uint8)


def write_video(path: str | Path, frames: np.ndarray, *, fps: int = 8, crf: int = 18) -> None:
    """Encode RGB frames as an H.264 mp4 (atomically); used by tests, benchmarks and assets.

    Args:
        path: output .mp4 file.
        frames: uint8 array [T, H, W, 3]; H and W must be even (yuv420p).
        fps: frames per second.
        crf: x264 quality (lower is better; 18 is visually lossless).
    """
    import av

    from plumbing.io import atomic_path

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
