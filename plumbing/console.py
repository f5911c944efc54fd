"""What the toolkit shows while it works: status lines, progress bars and library noise.

One home for the rules every command follows:

* status lines (`say`) go to stderr, written between progress bars (`tqdm.write`), so a
  command's stdout holds only its result (the summary table, or JSON with `--json`);
* progress bars are drawn only when stderr is a terminal (`show_bars`), unless a command
  forces them on or off (`--progress` / `--no-progress`, `set_bars`): in a log file every
  redraw of a bar would be kept, so there the trainer writes one line per epoch instead;
* transformers' and huggingface_hub's own progress bars and warnings ("Loading weights",
  advisory notes) are quieted (`quiet_libraries`) unless a command runs with `--verbose`;
  so are the native decoders' raw stderr lines (FFmpeg's `[h264 @ 0x...]`, decord's
  `[hh:mm:ss] video_reader.cc:...`): `media.video` captures them while it decodes and puts
  them in the item's error message instead.
"""

from __future__ import annotations

import os
import sys

_FORCED_BARS: bool | None = None  # set by the command line; None: bars iff stderr is a tty

# Read by transformers and huggingface_hub when they are imported (and inherited by grid
# worker processes); `quiet_libraries` also switches libraries already imported.
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "MMREC_QUIET_DECODERS": "1",  # media.video: capture FFmpeg / decord stderr lines
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # no "INFO ... Creating initial MLflow database tables"
}


def set_bars(forced: bool | None) -> None:
    """Force progress bars on (True) or off (False); None: draw them iff stderr is a tty."""
    global _FORCED_BARS
    _FORCED_BARS = forced


def show_bars() -> bool:
    """Whether progress bars should be drawn (see `set_bars`)."""
    if _FORCED_BARS is not None:
        return _FORCED_BARS
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def say(line: str) -> None:
    """One status line on stderr, between progress bars (never through a bar)."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def quiet_libraries() -> None:
    """Turn off transformers' and huggingface_hub's own bars and warnings (imported or not):
    with them, a log holds a "Loading weights" bar per model load between the toolkit's
    lines."""
    os.environ.update(QUIET_ENV)
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "mlflow" in sys.modules:
        import logging

        logging.getLogger("mlflow").setLevel(logging.WARNING)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


def human_size(num_bytes: float) -> str:
    """1536 -> "1.5 kB" (decimal units, as `du -h --si` and file managers print them)."""
    value = float(num_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """252 -> "4 min 12 s"; 3.4 -> "3.4 s"; 7260 -> "2 h 1 min"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
