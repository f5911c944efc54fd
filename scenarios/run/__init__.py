"""One scenario from file to results: its inputs and each seed's run specification
(`prepared`), training each seed (`runner`), what its end shows (`summary`), re-scoring
(`evaluate`), `recommend`, caches, captions, datasets, item previews, experiment tracking,
and where independent tasks run (`executors` over a local `pool`, Ray or SLURM). Imports
`scenarios.schema` (and `scenarios.report` for reading results until those readers move
here); never `tune` or `grid`."""
