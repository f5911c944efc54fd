"""Scenarios join captioning and recsys: the scenario schema and shipped files, the runner,
the evaluation grid and its report, `recommend` and the demo."""
