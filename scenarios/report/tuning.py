"""The grid report's tuning section: what each (scenario, method) study chose, read from
its tuning.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scenarios.tune.spec import TEST_NOTE


def tuning_section(out_dir: Path, spec: Any) -> str:
    """The report's tuning section ("" when the grid does not tune)."""
    if getattr(spec, "tune", None) is None:
        return ""
    rows = []
    studies = [
        p
        for p in sorted(Path(out_dir).glob("tuning/*/*/tuning.json"))
        if ".stale-" not in p.parent.name
    ]
    for path in studies:
        summary = json.loads(path.read_text(encoding="utf-8"))
        chosen = ", ".join(
            f"`{k}={v:.3g}`" if isinstance(v, float) else f"`{k}={v}`"
            for k, v in summary["best"]["params"].items()
        )
        budget = summary["budget"]
        rows.append(
            f"| {summary['scenario']} | {summary['method']} | {budget['trials']} "
            f"| {summary['best']['value']:.4f} | {chosen} |"
        )
    if not rows:
        return ""
    first = json.loads(studies[0].read_text(encoding="utf-8"))["budget"]
    return "\n".join([
        "",
        "## Tuning",
        "",
        f"Every (scenario, method) was tuned before its seeded runs at the same budget: "
        f"{spec.tune.trials} trials, each at most {first['epochs']} epochs with early stopping "
        f"(patience {first['patience']}), on validation NDCG@10; sampler {first['sampler']}; "
        f"pruner {first['pruner']}. {TEST_NOTE}",
        "",
        "| scenario | method | trials | best valid NDCG@10 | chosen values |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ])  # fmt: skip
