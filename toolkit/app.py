"""The Typer apps the `toolkit` commands register on (toolkit.commands.*), and the options,
checks and printing those commands share. Only typer here: no model library is imported."""

from __future__ import annotations

from typing import Any, NoReturn

import typer

app = typer.Typer(
    help="Multimodal sequential recommendation: caption item media, train IISAN-Versa and "
    "baselines over scenario files, and compare text-only with multimodal inputs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain text: a usage error ends in one "Error: ..." line, no box
)
data_app = typer.Typer(
    help="Inspect and convert datasets.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(data_app, name="data")
cache_app = typer.Typer(
    help="Show and remove the toolkit's caches (hidden states, captions, generated models).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(cache_app, name="cache")

PROGRESS_OPTION = typer.Option(
    None,
    "--progress/--no-progress",
    help="Draw progress bars (default: only when stderr is a terminal; otherwise one line "
    "per epoch).",
)
VERBOSE_OPTION = typer.Option(
    False, "--verbose", help="Keep transformers' and huggingface_hub's own bars and warnings."
)
JSON_OPTION = typer.Option(False, "--json", help="Print the summary as JSON (one line a run).")


def fail(message: str) -> NoReturn:
    """One red `error: ...` line on stderr, exit code 2."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def console(progress: bool | None, verbose: bool) -> None:
    """Progress bars on or off (None: only on a terminal); quiet libraries unless verbose."""
    from plumbing.console import quiet_libraries, set_bars

    set_bars(progress)
    if not verbose:
        quiet_libraries()


def csv_list(text: str | None) -> list[str]:
    """The non-empty, stripped parts of a comma-separated option."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def show_runs(runs: list[Any], as_json: bool) -> None:
    """Each run's status line (stderr), then the summary table or JSON (stdout), then any
    warning about a split that dropped much of the data (stderr)."""
    import json

    from scenarios.run.summary import run_summary, status_line, summary_table

    summaries = [run_summary(run) for run in runs]
    for run, summary in zip(runs, summaries, strict=True):
        typer.echo(status_line(summary, run.resumed_from), err=True)
    if as_json:
        for summary in summaries:
            typer.echo(json.dumps(summary))
    else:
        typer.echo(summary_table(summaries))
    for warning in dict.fromkeys(w for s in summaries for w in s["warnings"]):
        typer.secho(warning, fg=typer.colors.YELLOW, err=True)
