"""The `toolkit` command: a thin Typer front-end over captioning, recsys and scenarios."""
