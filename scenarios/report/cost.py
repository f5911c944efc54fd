"""Where a run's cost was measured (device and torch threads), so that seconds per epoch are
compared only between runs measured alike: a grid whose cells ran with 1 and with 2 torch
threads, or on CPU and GPU, says so in its report instead of ranking them side by side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def setting_of(row: dict[str, Any]) -> str:
    """The setting a run's cost was measured under: `cpu, 2 threads`, `cuda`, or "" when
    the run did not record it (runs.csv columns `device` and `torch_threads`; the thread
    count matters on CPU only, so a CPU run without one counts as unrecorded)."""
    device = str(row.get("device") or "")
    threads = row.get("torch_threads")
    if device != "cpu":
        return device
    if threads in ("", None):
        return ""
    threads = int(float(threads))
    return f"cpu, {threads} thread{'s' if threads != 1 else ''}"


def settings_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The recorded settings of `rows`, sorted, each once."""
    return sorted({setting_of(r) for r in rows} - {""})


def setting_counts(groups: Sequence[dict[str, Any]]) -> Counter[str]:
    """Setting -> how many configurations (`grid_report.aggregate`'s `settings`) it measured;
    more than one key: the grid's seconds per epoch are not comparable as they stand."""
    return Counter(s for g in groups for s in g.get("settings", ()))


def cost_note(groups: Sequence[dict[str, Any]]) -> str:
    """A paragraph when the configurations' seconds per epoch were measured under more than
    one setting, else ""."""
    counts = setting_counts(groups)
    if len(counts) < 2:
        return ""
    listed = "; ".join(
        f"{s}: {n} configuration{'s' if n != 1 else ''}" for s, n in sorted(counts.items())
    )
    return (
        f"Seconds per epoch were measured under {len(counts)} settings ({listed}), shown "
        "beside each figure: compare them, the plot's x-axis and TPME's time term only between "
        "configurations of one setting (runs.csv: `device`, `torch_threads`)."
    )
