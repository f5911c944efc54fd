"""What commands show while they work: bars only on a terminal unless forced, status lines
on stderr, the model libraries quieted, durations and sizes in words."""

from __future__ import annotations

import io
import os

import pytest

from plumbing import console


def test_bars_follow_the_terminal_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(console, "_FORCED_BARS", None)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert console.show_bars() is False  # a log file
    monkeypatch.setattr("sys.stderr", Terminal())
    assert console.show_bars() is True
    console.set_bars(False)  # --no-progress
    assert console.show_bars() is False
    monkeypatch.setattr("sys.stderr", io.StringIO())
    console.set_bars(True)  # --progress
    assert console.show_bars() is True
    console.set_bars(None)


def test_status_lines_go_to_stderr(capsys: pytest.CaptureFixture) -> None:
    console.say("cache reused: x")
    out, err = capsys.readouterr()
    assert (out, err) == ("", "cache reused: x\n")


def test_quiet_libraries_silences_transformers_and_the_hub(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars
    from transformers.utils import logging as hf_logging

    for name in console.QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    before = hf_logging.get_verbosity()
    try:
        console.quiet_libraries()
        assert {k: os.environ[k] for k in console.QUIET_ENV} == console.QUIET_ENV
        assert not hf_logging.is_progress_bar_enabled() and are_progress_bars_disabled()
        assert hf_logging.get_verbosity() == hf_logging.ERROR
    finally:
        hf_logging.set_verbosity(before)
        hf_logging.enable_progress_bar()
        enable_progress_bars()


def test_durations_and_sizes_read_as_words() -> None:
    assert console.human_duration(252) == "4 min 12 s"
    assert console.human_duration(3.44) == "3.4 s"
    assert console.human_duration(7260) == "2 h 1 min"
    assert console.human_size(999) == "999 B"
    assert console.human_size(1536) == "1.5 kB"
    assert console.human_size(2.5e9) == "2.5 GB"
