"""Scenarios join captioning and recsys. The scenario files and their schema live here; the
application code is grouped by job, each sub-package importing only those before it:

* `scenarios.schema`: scenario and grid files loaded strictly (`scenario`), templates, item
  texts, overrides, encoder aliases (`models`) — no running, no results;
* `scenarios.run`: one scenario from file to results.json (`runner`), its summary, the
  typed results, `evaluate`, `recommend`, caches, captions, datasets, item previews, and
  where tasks run (`executors`, `pool`) with experiment `tracking`;
* `scenarios.tune`: hyper-parameter search with Optuna, alone or on N workers;
* `scenarios.report`: statistics (`stats`, `multiplicity`), comparisons, the grid report,
  `toolkit compare` and `toolkit results`, figures;
* `scenarios.grid`: grids of scenarios × methods × encoders × seeds, and the demo.

The shipped scenario and grid files (and tiny model configs) are data, in `shipped/`, found
through importlib.resources (`scenarios.schema.shipped.SHIPPED_DIR`).
"""
