"""`toolkit cache list|clean`: show and remove the toolkit's caches."""

from __future__ import annotations

from pathlib import Path

import typer

from toolkit.app import cache_app, fail


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
        fail("give --older-than AGE or --all")
    root = folder or user_cache_dir()
    try:
        age = parse_age(older_than) if older_than is not None else None
        removed = clean_caches(root, older_than=age, kinds=tuple(kind) or KINDS, dry_run=dry_run)
    except ValueError as exc:
        fail(str(exc))
    for entry in removed:
        typer.echo(
            f"{'would remove' if dry_run else 'removed'} {entry.path} ({human_size(entry.size)})"
        )
    total = human_size(sum(e.size for e in removed))
    typer.echo(f"{len(removed)} entries, {total}{' (dry run)' if dry_run else ''}")
