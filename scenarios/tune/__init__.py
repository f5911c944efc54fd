"""Hyper-parameter search with Optuna at an equal budget: the study's data (`spec`), the trial
loop (`study`), the entry point (`run`), N workers on one shared study (`workers`) and what
`toolkit tune` prints at the end (`end`). Imports `scenarios.schema` and `scenarios.run`."""
