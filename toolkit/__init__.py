"""The `toolkit` command: a thin Typer front-end over captioning, recsys and scenarios
(`cli`: the entry point; `app`: the apps and shared options; `commands`: one module a job)."""
