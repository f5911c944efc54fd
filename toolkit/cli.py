"""The `toolkit` command: the app of toolkit.app with the commands of toolkit.commands.

Each command parses, validates, calls one library function and says where the outputs went.
Heavy libraries (torch, transformers) are imported inside the commands, so `toolkit --help`
stays fast."""

from __future__ import annotations

from toolkit.app import app

# Importing a command module registers its commands; this order is `toolkit --help`'s.
# isort: off
from toolkit.commands import run  # noqa: F401
from toolkit.commands import tune  # noqa: F401
from toolkit.commands import caption  # noqa: F401
from toolkit.commands import grid  # noqa: F401
from toolkit.commands import results  # noqa: F401
from toolkit.commands import demo  # noqa: F401
from toolkit.commands import data  # noqa: F401
from toolkit.commands import cache  # noqa: F401
# isort: on

__all__ = ["INTERRUPTED", "app", "main"]

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def _interrupted_line(argv: list[str]) -> str:
    """What Ctrl-C stopped, what is kept, and the command that resumes (the same one)."""
    import shlex

    command = shlex.join(["toolkit", *argv])
    return (
        f"interrupted: {command}; finished work is kept (a run keeps the checkpoint of its "
        "last finished epoch, a cache or caption store the items already done); "
        f"to resume, run the same command: {command}"
    )


def main() -> None:
    """Console-script entry point; Ctrl-C ends with one line on stderr and exit code 130
    (typer turns the KeyboardInterrupt into that exit code and says nothing)."""
    import sys

    try:
        app()
    except SystemExit as exc:
        if exc.code == INTERRUPTED:
            print(_interrupted_line(sys.argv[1:]), file=sys.stderr, flush=True)
        raise


if __name__ == "__main__":
    main()
