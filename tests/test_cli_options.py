"""Every count option of every `toolkit` command is validated by the CLI layer (issue 15,
item 5): the commands are walked from the Typer app itself (its registered commands and
sub-apps, their parameters' `typer.Option` declarations), so a command added later is
covered too."""

from __future__ import annotations

import inspect
import typing

import pytest
import typer
from typer.models import ArgumentInfo, OptionInfo
from typer.testing import CliRunner

from toolkit.cli import app


def _commands(application: typer.Typer, prefix: tuple[str, ...] = ()):
    """(command path, callback) for every command, sub-apps included."""
    for info in application.registered_commands:
        name = info.name or info.callback.__name__.replace("_", "-")
        yield (*prefix, name), info.callback
    for group in application.registered_groups:
        yield from _commands(group.typer_instance, (*prefix, group.name))


def _int_options(callback) -> list[tuple[str, OptionInfo]]:
    """(flag, declaration) of every int option of a command."""
    hints = typing.get_type_hints(callback)
    found = []
    for name, param in inspect.signature(callback).parameters.items():
        if isinstance(param.default, OptionInfo) and hints[name] in (int, int | None):
            declared = [d for d in param.default.param_decls if d.startswith("--")]
            flag = declared[0] if declared else f"--{name.replace('_', '-')}"
            found.append((flag, param.default))
    return found


COMMANDS = dict(_commands(app))
INT_OPTIONS = [(path, *option) for path, cb in COMMANDS.items() for option in _int_options(cb)]


def _required_arguments(callback) -> list[str]:
    return [
        "x"
        for param in inspect.signature(callback).parameters.values()
        if isinstance(param.default, ArgumentInfo) and param.default.default is ...
    ]


def test_the_walk_finds_every_command_and_its_counts() -> None:
    names = {" ".join(path) for path in COMMANDS}
    # Nested groups are walked too (`data stats`); commands added later are found the same way.
    assert names >= {"run-scenario", "caption", "caption-merge", "grid", "recommend", "demo",
                     "data stats", "data convert", "evaluate", "cache list",
                     "cache clean", "tune"}  # fmt: skip
    flags = {(" ".join(path), flag) for path, flag, _ in INT_OPTIONS}
    assert {("recommend", "--k"), ("caption", "--batch-size"), ("grid", "--workers")} <= flags
    assert len([f for f in flags if f[0] == "caption"]) == 6  # ... and --shards (Ray)
    assert {("tune", "--trials"), ("grid", "--tune")} <= flags


@pytest.mark.parametrize(
    ("path", "flag", "info"), INT_OPTIONS, ids=[f"{' '.join(p)} {f}" for p, f, _ in INT_OPTIONS]
)
def test_every_count_option_has_a_lower_bound_the_cli_enforces(path, flag, info) -> None:
    """No integer option of this CLI may be zero or negative (k, batch sizes, beams,
    frames, workers): each is declared with `min=1` and refused before the command runs."""
    assert info.min == 1, f"{' '.join(path)} {flag} needs min=1"
    arguments = _required_arguments(COMMANDS[path])
    for bad in ("0", "-2"):
        result = CliRunner().invoke(app, [*path, *arguments, flag, bad])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert _error_line(result.output).startswith(f"Error: Invalid value for '{flag}'")


def _error_line(output: str) -> str:
    """The one line that says what was wrong (after click's usage lines); no box drawing."""
    (line,) = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert not any(ch in output for ch in "╭│╰"), output
    return line


def test_recommend_k_minus_two_is_refused_not_186_items(tmp_path) -> None:
    result = CliRunner().invoke(app, ["recommend", str(tmp_path), "--user", "u1", "--k", "-2"])
    assert result.exit_code == 2
    assert _error_line(result.output).startswith("Error: Invalid value for '--k'")
