"""The `toolkit` command. Each command parses, validates, calls one library function and
says where the outputs went. Heavy libraries (torch, transformers) are imported inside the
commands, so `toolkit --help` stays fast."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit import executor_options as ex

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


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _console(progress: bool | None, verbose: bool) -> None:
    from plumbing.console import quiet_libraries, set_bars

    set_bars(progress)
    if not verbose:
        quiet_libraries()


def _show_runs(runs: list, as_json: bool) -> None:
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


_DATA_HELP = (
    "Dataset folder or file: IISAN/Amazon TSV, MicroLens CSV, interactions + items tables "
    "(CSV/TSV/Parquet), Amazon Reviews 2023 JSONL, RecBole .inter/.item."
)
_SET_HELP = "A [dataset] setting key=value, e.g. format=tables, columns.user=uid, kcore=5."
_STATS_SET_HELP = (
    _SET_HELP[:-1] + "; or a split.* setting for the split preview, e.g. split.kind=temporal."
)


@data_app.command("stats")
def data_stats(
    path: Path | None = typer.Argument(None, help=_DATA_HELP + " Default: the embedded sample."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=_STATS_SET_HELP),
    drop_unknown: bool = typer.Option(
        False, help="Drop interactions with unknown items instead of failing."
    ),
) -> None:
    """Print users, items, interactions, sequence-length and popularity summaries, and the
    split a run would make (leave-one-out unless --set split.* says otherwise)."""
    from recsys.data.stats import dataset_stats, format_stats
    from recsys.errors import RecsysError
    from scenarios.run.datasets import open_dataset, split_settings
    from scenarios.run.summary import split_warnings
    from scenarios.schema.scenario import ScenarioError

    try:
        settings, split = split_settings(set_)
        dataset = open_dataset(path, [*settings, *(["on_unknown=drop"] if drop_unknown else [])])
    except (RecsysError, ScenarioError) as exc:
        _fail(str(exc))
    stats = dataset_stats(dataset, split)
    typer.echo(format_stats(stats))
    preview = stats["split"]
    if "error" not in preview:
        kept = {"items_ranked": preview["items"], **preview}
        for warning in split_warnings(kept):
            typer.secho(warning, fg=typer.colors.YELLOW, err=True)


@data_app.command("convert")
def data_convert(
    src: Path = typer.Argument(..., help=_DATA_HELP),
    dst: Path = typer.Argument(..., help="Output folder (canonical layout, Parquet)."),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=_SET_HELP),
) -> None:
    """Write a dataset as items.parquet + interactions.parquet (+ media), which loads fast."""
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.run.datasets import convert_dataset
    from scenarios.schema.scenario import ScenarioError

    try:
        done = convert_dataset(src, dst, set_)
    except (RecsysError, ScenarioError, OutputError) as exc:
        _fail(str(exc))
    typer.echo(
        f"wrote {done.items:,} items, {done.interactions:,} interactions and "
        f"{done.media:,} media files to {done.folder}"
    )
    for note in done.notes:
        typer.echo(f"note: {note}")


def _scenario_help() -> str:
    from scenarios.schema.scenario import shipped_scenarios

    names = [p.stem for p in shipped_scenarios()]
    return "Scenario TOML file, or a shipped scenario's name: " + ", ".join(names) + "."


@data_app.command("show")
def data_show(
    item_id: str = typer.Argument(..., help="An item id of the scenario's dataset."),
    scenario: str = typer.Option(..., help="Scenario file or shipped name, e.g. title."),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Scenario override, e.g. channels.text.template=..."
    ),
    data: Path | None = typer.Option(None, help="Dataset path; overrides the scenario's."),
) -> None:
    """Show an item's text as each text channel of a scenario feeds it to its encoder: the
    template filled, its token count, and what max_tokens cuts off."""
    from recsys.errors import RecsysError
    from scenarios.run.item_preview import preview_item, preview_lines
    from scenarios.schema.scenario import ScenarioError

    try:
        preview = preview_item(item_id, scenario, set_, data=data)
    except (ScenarioError, RecsysError) as exc:
        _fail(str(exc))
    for line in preview_lines(preview):
        typer.echo(line)


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
    from scenarios.schema.scenario import ScenarioError, load_scenario

    _console(progress, verbose)
    try:
        scenario = load_scenario(file, overrides or [])
        result = run_scenario(scenario, data=data, out=out, wait=not no_wait)
    except (ScenarioError, RecsysError, OutputError) as exc:
        _fail(str(exc))
    if result.skipped:  # on stdout with the table; with --json stdout holds JSON only
        typer.echo(result.skipped, err=as_json)
    _show_runs([result.runs[seed] for seed in scenario.seeds], as_json)


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
    from scenarios.schema.scenario import ScenarioError

    _console(None, verbose)
    try:
        run = evaluate_run(run_dir, overrides or [], users_file=users, data=data, device=device)
    except (ScenarioError, RecsysError, OutputError) as exc:
        _fail(str(exc))
    if note := withdrawn_note(run):
        typer.echo(note, err=True)
    _show_runs([run], as_json)


@cache_app.command("list")
def cache_list_cmd(
    folder: Path | None = typer.Option(
        None, "--dir", help="Cache folder (default: the user's, see `output.cache_dir`)."
    ),
) -> None:
    """List the caches with their sizes, last use and what built them."""
    from plumbing.cachedir import user_cache_dir
    from scenarios.run.caches import cache_entries, entries_table

    root = folder or user_cache_dir()
    typer.echo(entries_table(cache_entries(root), root))


@cache_app.command("clean")
def cache_clean_cmd(
    folder: Path | None = typer.Option(None, "--dir", help="Cache folder (default: the user's)."),
    older_than: str | None = typer.Option(
        None,
        help="Only entries not used for this long: a number and a unit, s (seconds), "
        "m (minutes), h (hours), d (days) or w (weeks), e.g. 30d, 12h, 2w.",
    ),
    kind: list[str] = typer.Option([], help="Only this kind: states, captions, models."),
    all_: bool = typer.Option(False, "--all", help="Remove every entry (of --kind)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would go."),
) -> None:
    """Remove caches (each is rebuilt when next needed; captions by a large model are costly)."""
    from plumbing.cachedir import user_cache_dir
    from plumbing.console import human_size
    from scenarios.run.caches import KINDS, clean_caches, parse_age

    if (older_than is None) == (not all_):
        _fail("give --older-than AGE or --all")
    root = folder or user_cache_dir()
    try:
        age = parse_age(older_than) if older_than is not None else None
        removed = clean_caches(root, older_than=age, kinds=tuple(kind) or KINDS, dry_run=dry_run)
    except ValueError as exc:
        _fail(str(exc))
    for entry in removed:
        typer.echo(
            f"{'would remove' if dry_run else 'removed'} {entry.path} ({human_size(entry.size)})"
        )
    total = human_size(sum(e.size for e in removed))
    typer.echo(f"{len(removed)} entries, {total}{' (dry run)' if dry_run else ''}")


@app.command("tune")
def tune_cmd(
    file: Path = typer.Argument(..., help="Scenario TOML file (see scenarios/shipped/*.toml)."),
    overrides: list[str] = typer.Argument(
        None, help="Dotted overrides applied before the searched values, e.g. train.epochs=20."
    ),
    trials: int = typer.Option(..., min=1, help="Trials (the budget); a rerun resumes."),
    data: Path | None = typer.Option(None, help="Dataset path; overrides the scenario's."),
    out: Path | None = typer.Option(None, help="Study folder (default: runs/tune-<scenario>)."),
    workers: int = typer.Option(1, min=1, help="Workers on one shared study (--executor)."),
    storage: str | None = typer.Option(
        None, help="The shared study: an RDB URL or a journal file (default: <out>/study.db)."
    ),
    executor: str = ex.EXECUTOR,
    cpus: int = ex.CPUS,
    gpus: float = ex.GPUS,
    memory_gb: float | None = ex.MEMORY_GB,
    ray_address: str | None = ex.RAY_ADDRESS,
    attempts: int = ex.ATTEMPTS,
    slurm_partition: str | None = ex.SLURM_PARTITION,
    slurm_time: int = ex.SLURM_TIME,
    slurm_account: str | None = ex.SLURM_ACCOUNT,
) -> None:
    """Search the method's hyper-parameters on validation NDCG@10 (Optuna), write the best
    configuration as best.toml, then compute its test metrics once."""
    from plumbing.console import show_bars
    from recsys.errors import RecsysError
    from scenarios.schema.scenario import ScenarioError
    from scenarios.tune.end import tune_end_lines
    from scenarios.tune.run import TuneSpec, default_study_dir, tune_scenario

    _console(None, False)  # bars only on a terminal; no library INFO lines in a log
    try:
        out_dir = out or default_study_dir(file, overrides or [])
        where = ex.executor_of(
            executor, workers, cpus=cpus, gpus=gpus, memory_gb=memory_gb,
            ray_address=ray_address, max_retries=attempts - 1, slurm_partition=slurm_partition,
            slurm_time=slurm_time, slurm_account=slurm_account,
        )  # fmt: skip
        if workers > 1 or storage or executor != "local":
            from scenarios.tune.workers import tune_in_workers

            result = tune_in_workers(
                file, overrides or [], spec=TuneSpec(trials=trials), out_dir=out_dir, data=data,
                storage=storage, executor=where, echo=typer.echo,
            )  # fmt: skip
        else:
            result = tune_scenario(
                file, overrides or [], spec=TuneSpec(trials=trials), out_dir=out_dir, data=data,
                echo=typer.echo, progress=show_bars(),
            )  # fmt: skip
    except (ScenarioError, RecsysError, ValueError) as exc:
        _fail(str(exc))
    for line in tune_end_lines(result):
        typer.echo(line)


def _captioner_help() -> str:
    from captioning.registry import captioner_names  # light: lists names, imports no model code

    return "Registered captioner: " + ", ".join(captioner_names()) + "."


@app.command("caption")
def caption_cmd(
    images: Path | None = typer.Option(None, help="Folder of images (item id = file stem)."),
    videos: Path | None = typer.Option(None, help="Folder of videos (item id = file stem)."),
    data: Path | None = typer.Option(None, help="Dataset path: caption its covers and videos."),
    captioner: str = typer.Option("baseline", help=_captioner_help()),
    model: str | None = typer.Option(None, help="Hub id or local folder of the model."),
    prompt: str = typer.Option("short", help="Preset (short, detailed, title) or own text."),
    store: Path = typer.Option(Path("captions"), help="Caption store folder."),
    batch_size: int = typer.Option(8, min=1, help="Media per generate() call."),
    max_new_tokens: int = typer.Option(30, min=1, help="Generation length limit."),
    num_beams: int = typer.Option(1, min=1, help="Beam count (1 = greedy)."),
    num_frames: int = typer.Option(8, min=1, help="Frames sampled per video."),
    workers: int = typer.Option(2, min=1, help="Decode threads."),
    shard: str | None = typer.Option(None, help="i/n: caption shard i (0-based) of n."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    dtype: str = typer.Option("float32", help="float32, float16 or bfloat16."),
    reuse_across_versions: bool = typer.Option(
        False,
        "--reuse-across-versions",
        help="Count captions made with the same model and settings under other torch / "
        "transformers versions as done (default: caption again).",
    ),
    executor: str = typer.Option("local", help="local, or ray: shards as Ray tasks."),
    ray_address: str | None = ex.RAY_ADDRESS,
    shards: int | None = typer.Option(
        None, min=1, help="Ray tasks (default: one per GPU, or CPU)."
    ),
    gpus: float = ex.GPUS,
) -> None:
    """Caption images and video frames into a resumable caption store (shard parts are
    joined by `toolkit caption-merge`)."""
    from captioning.api import caption_items, list_media, parse_shard
    from captioning.base import CaptioningError
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.run.captions import dataset_media

    try:
        if sum(x is not None for x in (images, videos, data)) != 1:
            _fail("give exactly one of --images, --videos, --data")
        if data:
            items = dataset_media(data)
            if not items:
                _fail(f"{data}: the dataset names no images or videos")
        else:
            items = list_media(images or videos, "image" if images else "video")
            if not items:
                _fail(f"no {'images' if images else 'videos'} found in {images or videos}")
        options = dict(
            captioner=captioner, store=store, model=model, prompt=prompt,
            max_new_tokens=max_new_tokens, num_beams=num_beams, batch_size=batch_size,
            device=device, dtype=dtype, num_frames=num_frames, num_workers=workers,
            reuse_across_versions=reuse_across_versions,
        )  # fmt: skip
        if executor not in ("local", "ray"):
            _fail(f"caption --executor must be local or ray, got {executor!r}")
        if executor == "ray":
            from captioning.ray_shards import RayCaptioning, caption_on_ray, joined

            where = RayCaptioning(ray_address, shards, gpus=gpus)
            summary = joined(caption_on_ray(items, where, **options))
        else:
            summary = caption_items(items, shard=parse_shard(shard) if shard else None, **options)
    except (CaptioningError, RecsysError, OutputError, ValueError) as exc:
        _fail(str(exc))
    if summary.version_drift:
        typer.echo(
            f"note: captions of these settings made under {', '.join(summary.version_drift)} "
            "were not reused (--reuse-across-versions reuses them)"
        )
    typer.echo(
        f"{summary.done} captioned, {summary.skipped} skipped, {summary.failed} failed "
        f"-> {summary.write_file}"
    )


@app.command("caption-merge")
def caption_merge_cmd(store: Path = typer.Argument(..., help="Caption store folder.")) -> None:
    """Join the shard part files of a caption store into its main file."""
    from captioning.base import CaptioningError
    from captioning.store import merge_parts
    from plumbing.errors import OutputError

    try:
        merged = merge_parts(store)
    except (CaptioningError, OutputError) as exc:
        _fail(str(exc))
    typer.echo(f"merged {merged} records into {store}")


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@app.command("grid")
def grid_cmd(
    files: list[Path] = typer.Argument(..., help="A grid TOML, or several scenario files."),
    methods: str | None = typer.Option(None, help="Comma-separated methods to sweep."),
    seeds: str | None = typer.Option(None, help="Comma-separated seeds, e.g. 0,1,2."),
    data: Path | None = typer.Option(None, help="Dataset for every scenario."),
    out: Path | None = typer.Option(None, help="Output folder (default runs/grid-<name>)."),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="Override for every scenario: key=value."
    ),
    workers: int = typer.Option(1, min=1, help="Cells at once (local processes, Ray, SLURM)."),
    executor: str = ex.EXECUTOR,
    cpus: int = ex.CPUS,
    gpus: float = ex.GPUS,
    memory_gb: float | None = ex.MEMORY_GB,
    ray_address: str | None = ex.RAY_ADDRESS,
    attempts: int = ex.ATTEMPTS,
    slurm_partition: str | None = ex.SLURM_PARTITION,
    slurm_time: int = ex.SLURM_TIME,
    slurm_account: str | None = ex.SLURM_ACCOUNT,
    tune: int | None = typer.Option(
        None, min=1, help="First tune every (scenario, method) with this many trials."
    ),
    tune_workers: int = typer.Option(
        1, min=1, help="Workers of each tuning study (one shared study, on --executor)."
    ),
    commands: bool = typer.Option(
        False, "--commands", help="Print one run-scenario line per cell (for a scheduler)."
    ),
    no_run: bool = typer.Option(
        False,
        "--no-run",
        "--report-only",
        help="Only write the report from finished cells; train nothing (after a Ray or SLURM "
        "run, from any machine that sees the grid folder).",
    ),
    report_eval: list[str] = typer.Option(
        [],
        "--report-eval",
        help="Report under this eval.* setting: each finished cell's checkpoint is scored "
        "under it without training (repeatable).",
    ),
    rerun_other_code: bool = typer.Option(
        False, "--rerun-other-code", help="Rerun finished cells that other library code made."
    ),
    allow_mixed_code: bool = typer.Option(
        False, "--allow-mixed-code", help="Give verdicts across cells of different code."
    ),
    baseline: str | None = typer.Option(
        None, help="Compare with: a scenario, scenario/method or scenario/method/encoders."
    ),
    progress: bool | None = PROGRESS_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Run scenarios x methods x encoders x seeds; write runs.csv, report.md and a plot.

    A cell whose folder holds a finished run of another configuration (a changed override,
    seed or dataset) is stale: it is moved aside and run again (with --no-run, listed)."""
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.grid.run import (
        grid_commands,
        grid_from_files,
        is_grid_file,
        load_grid,
        run_grid,
        with_axes,
        with_tune,
    )
    from scenarios.schema.scenario import ScenarioError

    try:
        try:
            seed_list = [int(s) for s in _csv(seeds)]
        except ValueError:
            raise ValueError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
        if len(files) == 1 and is_grid_file(files[0]):
            spec = load_grid(files[0], set_)
        else:
            spec = grid_from_files(files, overrides=set_)
        spec = with_axes(
            spec, methods=_csv(methods), seeds=seed_list, report_eval=report_eval, baseline=baseline
        )
        spec = with_tune(spec, tune)
        if commands:
            for line in grid_commands(spec, out_dir=out, data=data):
                typer.echo(line)
            return
        _console(progress, verbose)
        where = ex.executor_of(
            executor, workers, cpus=cpus, gpus=gpus, memory_gb=memory_gb,
            ray_address=ray_address, max_retries=attempts - 1, slurm_partition=slurm_partition,
            slurm_time=slurm_time, slurm_account=slurm_account,
        )  # fmt: skip
        result = run_grid(
            spec, out_dir=out, data=data, echo=typer.echo, workers=workers, run=not no_run,
            progress=bool(progress), verbose=verbose, rerun_other_code=rerun_other_code,
            allow_mixed_code=allow_mixed_code, executor=where, tune_workers=tune_workers,
        )  # fmt: skip
    except (ScenarioError, RecsysError, OutputError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"report written to {result.report} ({len(result.failed)} failed runs)")
    if result.failed:
        raise typer.Exit(code=1)


@app.command("compare")
def compare_cmd(
    paths: list[Path] = typer.Argument(..., help="Finished run folders or grid output folders."),
    baseline: str = typer.Option(..., help="A run folder, or a label: scenario[/method[/enc]]."),
    metric: str = typer.Option("ndcg@10", help="Per-user test metric compared."),
    correction: str = typer.Option("holm", help="Family adjustment: holm, bh or none."),
    out: Path | None = typer.Option(None, help="Also write compare.md and compare.json here."),
) -> None:
    """Compare runs with a baseline run or configuration, across methods and encoders
    (paired over test users, seeds counted); other protocols, datasets or code are refused."""
    from scenarios.report.compare import compare_runs
    from scenarios.report.multiplicity import CORRECTIONS

    try:
        if correction not in CORRECTIONS:
            raise ValueError(f"--correction must be one of {', '.join(CORRECTIONS)}")
        result = compare_runs(paths, baseline, metric=metric, correction=correction)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        _fail(str(exc).strip("'\""))
    typer.echo(result.markdown())
    if out is not None:
        typer.echo(f"written to {result.write(out)} and compare.json")


@app.command("results")
def results_cmd(
    paths: list[Path] = typer.Argument(..., help="Folders searched for runs and grids."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV instead of a markdown table."),
    as_json: bool = typer.Option(False, "--json", help="JSON (a list of rows)."),
    markdown: bool = typer.Option(False, "--markdown", help="A markdown table (the default)."),
    out: Path | None = typer.Option(None, help="Write the table to this file, not stdout."),
    plot: Path | None = typer.Option(None, help="Also write the figures (PNG, PDF, SVG) here."),
    bucket_scale: str = typer.Option("linear", help="Bucket figure's y axis: linear or log."),
) -> None:
    """One table of every finished run under the folders (one row per run: configuration,
    data, protocol, seed, test metrics, cost, code); unfinished runs are listed on stderr."""
    from scenarios.report.results_table import plot_results, results_table

    if as_csv + as_json + markdown > 1:
        _fail("choose one of --csv, --json, --markdown")
    fmt = "csv" if as_csv else "json" if as_json else "markdown"
    try:
        table = results_table(paths)
        figures = plot_results(table, plot, yscale=bucket_scale) if plot else []
    except ValueError as exc:
        _fail(str(exc))
    for line in table.skipped:
        typer.echo(line, err=True)
    if out is None:
        typer.echo(table.render(fmt), nl=False)
    else:
        typer.echo(f"{len(table.rows)} runs written to {table.write(out, fmt)}")
    for path in figures:
        typer.echo(f"figure: {path}")


@app.command("recommend")
def recommend_cmd(
    run_dir: Path = typer.Argument(..., help="A finished run folder."),
    user: str | None = typer.Option(None, help="User id of the run's dataset."),
    items: str | None = typer.Option(None, help="Comma-separated item ids (oldest first)."),
    k: int = typer.Option(10, min=1, help="How many items to list."),
    include_seen: bool = typer.Option(False, help="Also rank items already in the history."),
) -> None:
    """Print the top-K items, with titles, that a trained run recommends."""
    from recsys.errors import RecsysError
    from scenarios.run.recommend import recommend
    from scenarios.schema.scenario import ScenarioError

    try:
        recs = recommend(
            run_dir, user=user, items=_csv(items) if items else None, k=k, include_seen=include_seen
        )
    except (ScenarioError, RecsysError) as exc:
        _fail(str(exc))
    typer.echo(recs.history_heading())
    for item_id, title in recs.history:
        typer.echo(f"      {item_id}  {title}")
    typer.echo(f"top {k}:")
    for rec in recs.items:
        typer.echo(f"  {rec.rank:>3}. {rec.item_id}  {rec.title}  ({rec.score:.3f})")


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo_out"), help="Output folder."),
    seeds: str | None = typer.Option(
        None,
        help="Comma-separated seeds per scenario (default 0,1,2,3,4: a verdict needs several).",
    ),
) -> None:
    """Caption the sample, then compare title-only with image, video and captions."""
    from plumbing.errors import OutputError
    from recsys.errors import RecsysError
    from scenarios.grid.demo import DEMO_SEEDS, run_demo
    from scenarios.schema.scenario import ScenarioError

    try:
        chosen = tuple(int(s) for s in _csv(seeds)) if seeds else DEMO_SEEDS
        result = run_demo(out, seeds=chosen, echo=typer.echo)
    except (ScenarioError, RecsysError, OutputError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"demo outputs in {result.out_dir} (report: {result.report})")


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
