"""What `toolkit tune` prints when it ends: the chosen values, and the test numbers of the
final run of best.toml (or, without one, the best trial's validation score and the exact
command that computes its test numbers)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from scenarios.run.summary import summary_metrics
from scenarios.tune.spec import OBJECTIVE, TuneResult


def _value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def final_runs(result: TuneResult) -> dict[str, str]:
    """seed -> run folder of the final runs, as tuning.json records them."""
    try:
        summary = json.loads((result.out_dir / "tuning.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {seed: run["run_dir"] for seed, run in (summary.get("final_runs") or {}).items()}


def tune_end_lines(result: TuneResult) -> list[str]:
    """The closing lines of a study: chosen values, best valid score, best.toml, and per
    final run (seed) its test metrics at every cut-off."""
    chosen = ", ".join(f"{k}={_value(v)}" for k, v in result.best_params.items())
    trials = len(result.trials)
    lines = [
        f"chosen values: {chosen or '(none searched)'}",
        f"best valid {OBJECTIVE} {result.best_value:.4f} ({trials} trials); "
        f"scenario: {result.best_file}",
    ]
    if not result.final:
        command = shlex.join(["toolkit", "run-scenario", str(result.best_file)])
        return [*lines, f"no test numbers yet; to compute them: {command}"]
    runs = final_runs(result)
    for seed, results in sorted(result.final.items()):
        test = results.get("test") or {}
        numbers = ", ".join(
            f"{key} {test[key]:.4f}" for key, _ in summary_metrics(list(test)) if key in test
        )
        run_dir = runs.get(str(seed), result.out_dir / "best")
        lines.append(f"test of the chosen values (seed {seed}, {run_dir}): {numbers}")
    return lines
