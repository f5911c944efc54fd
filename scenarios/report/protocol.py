"""Which protocol a run was evaluated under, and what the report says about it.

A protocol label is the split's protocol name plus the history convention
(`recsys.config.EvalConfig.history`): `leave_one_out_full_ranking/history=masked`. Runs
under different labels are never averaged or compared. Runs recorded before the convention
was named keep the label they had, which has no `/history=`: by default they masked the
history *except the target*, a convention that looks at the target and is withdrawn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["is_withdrawn", "protocol_note", "report_folder"]


def is_withdrawn(protocol: str) -> bool:
    """A protocol label of a run recorded before `eval.history` (see `protocol_of`)."""
    return bool(protocol) and "/history=" not in protocol


def protocol_note(rows: Sequence[dict[str, Any]]) -> str:
    """One sentence per protocol of the finished rows: the convention and how many test
    users have a target that repeats a history item (what the convention decides)."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("protocol") and row.get("test_users") not in ("", None):
            seen.setdefault(row["protocol"], row)
    notes = []
    for protocol, row in sorted(seen.items()):
        users, repeats = int(row["test_users"]), int(row["repeat_targets"])
        share = repeats / users if users else 0.0
        fate = (
            "they count as misses (every history item is masked)"
            if protocol.endswith("/history=masked")
            else "they are ranked among the other history items (nothing is masked)"
        )
        notes.append(
            f"Under `{protocol}`, {repeats:,} of {users:,} test users ({share:.1%}) have a "
            f"target that repeats an item of their input history: {fate}."
        )
    withdrawn = sorted({r["protocol"] for r in rows if is_withdrawn(str(r.get("protocol", "")))})
    if withdrawn:
        notes.append(
            "Rows under " + ", ".join(f"`{p}`" for p in withdrawn) + " were recorded before "
            "the history convention was named (by default every history item but the target "
            "was masked, which looks at the target): they are never compared with other "
            "rows; `toolkit evaluate RUN` re-scores a run under `eval.history=masked`."
        )
    return " ".join(notes)


def report_folder(report_eval: Sequence[str] = ()) -> str:
    """Where the grid report goes, relative to the grid folder: "" (the grid folder itself),
    or under `report_eval` settings a folder of its own (``report_eval-history=unmasked``)
    holding its report.md, runs.csv, runs.json and figures, so the grid's own files (the
    runs as trained) stay as they are."""
    if not report_eval:
        return ""
    slug = "-".join(
        re.sub(r"[\[\]\s\"']", "", item.strip().removeprefix("eval.")) for item in report_eval
    )
    return f"report_eval-{re.sub(r'[^A-Za-z0-9=,._-]+', '_', slug)[:80]}"
