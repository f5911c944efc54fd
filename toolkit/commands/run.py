"""`toolkit run-scenario` and `toolkit evaluate`: train one scenario, or score a finished
run under other evaluation settings."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.app import JSON_OPTION, PROGRESS_OPTION, VERBOSE_OPTION, app, console, fail, show_runs


def _scenario_help() -> str:
    from scenarios.schema.shipped import shipped_scenarios

    names = [p.stem for p in shipped_scenarios()]
    return "Scenario TOML file, or a shipped scenario's name: " + ", ".join(names) + "."


@app.command("run-scenario")
def run_scenario_cmd(
    file: Path = typer.Argument(..., help=_scenario_help()),
    overrides: list[str] = typer.Argument(
        None, help="Dotted overrides applied before validation, e.g. train.epochs=5 seed=7."
    ),
    data: Path | None = typer.Option(None, help="Dataset path; overrides the scenario's."),
    out: Path | None = typer.Option(
        None, help="Run folder (default: runs/<scenario>/<method>-s<seed>)."
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Refuse when another process is writing the run folder."
    ),
    as_json: bool = JSON_OPTION,
    progress: bool | None = PROGRESS_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Train and evaluate one scenario; writes results.json, metrics and a checkpoint, and
    prints the test metrics. A finished run is not trained again; an interrupted one resumes.
    """
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.run.runner import run_scenario
    from scenarios.schema.errors import ScenarioError
    from scenarios.schema.scenario import load_scenario

    console(progress, verbose)
    try:
        scenario = load_scenario(file, overrides or [])
        result = run_scenario(scenario, data=data, out=out, wait=not no_wait)
    except (ScenarioError, RecsysError, OutputError) as exc:
        fail(str(exc))
    if result.skipped:  # on stdout with the table; with --json stdout holds JSON only
        typer.echo(result.skipped, err=as_json)
    show_runs([result.runs[seed] for seed in scenario.seeds], as_json)


@app.command("evaluate")
def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    overrides: list[str] = typer.Argument(
        None, help="Evaluation overrides, e.g. eval.history=unmasked eval.ks=[1,10,50]."
    ),
    users: Path | None = typer.Option(None, help="Score only these users (one id a line)."),
    data: Path | None = typer.Option(None, help="The run's dataset, when it moved."),
    device: str | None = typer.Option(None, help="Where to score (default: the run's)."),
    as_json: bool = JSON_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Score a finished run's best checkpoint under other evaluation settings, without
    training; writes <run>/eval-<settings>-<hash>/results.json (e.g. eval-ks=1,10,50-<hash>)
    and never touches the run's files."""
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.run.evaluate import evaluate_run, withdrawn_note
    from scenarios.schema.errors import ScenarioError

    console(None, verbose)
    try:
        run = evaluate_run(run_dir, overrides or [], users_file=users, data=data, device=device)
    except (ScenarioError, RecsysError, OutputError) as exc:
        fail(str(exc))
    if note := withdrawn_note(run):
        typer.echo(note, err=True)
    show_runs([run], as_json)
