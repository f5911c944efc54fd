"""`toolkit data stats|convert|show`: inspect and convert datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.app import data_app, fail

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
    from scenarios.schema.errors import ScenarioError

    try:
        settings, split = split_settings(set_)
        dataset = open_dataset(path, [*settings, *(["on_unknown=drop"] if drop_unknown else [])])
    except (RecsysError, ScenarioError) as exc:
        fail(str(exc))
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
    from scenarios.schema.errors import ScenarioError

    try:
        done = convert_dataset(src, dst, set_)
    except (RecsysError, ScenarioError, OutputError) as exc:
        fail(str(exc))
    typer.echo(
        f"wrote {done.items:,} items, {done.interactions:,} interactions and "
        f"{done.media:,} media files to {done.folder}"
    )
    for note in done.notes:
        typer.echo(f"note: {note}")


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
    from scenarios.schema.errors import ScenarioError

    try:
        preview = preview_item(item_id, scenario, set_, data=data)
    except (ScenarioError, RecsysError) as exc:
        fail(str(exc))
    for line in preview_lines(preview):
        typer.echo(line)
