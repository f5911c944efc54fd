"""Which library code made a grid's finished cells, and what the report says when it is
more than one.

A cell's code identity is the `code.source_sha256` its run folder's results.json records
(`provenance.source_sha256`: a hash of the library's .py files, which changes with any edit,
committed or not); a run recorded before it existed is `provenance.UNRECORDED`. A grid keeps
a finished cell whatever code made it (training is expensive), so a report can mix cells of
several identities: it says so at the top, lists which cells have which, and withholds every
verdict ("mixed code: no verdict") unless the grid is run with `--allow-mixed-code`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provenance import UNRECORDED, source_sha256
from scenarios.run.rows import cell_name

NO_VERDICT = "mixed code"  # the verdict column then reads "mixed code: no verdict"


def identities(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Code identity -> the finished rows (those with test metrics) that carry it."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("status") not in ("stale", "failed") and row.get("test_ndcg@10") not in (
            "",
            None,
        ):
            found.setdefault(row.get("code") or UNRECORDED, []).append(row)
    return found


def withheld(rows: Sequence[dict[str, Any]], allow_mixed_code: bool) -> str | None:
    """`NO_VERDICT` when the finished rows come from more than one code identity and mixing
    was not allowed; else None (verdicts as computed)."""
    return NO_VERDICT if len(identities(rows)) > 1 and not allow_mixed_code else None


def code_note(rows: Sequence[dict[str, Any]], allow_mixed_code: bool) -> str:
    """The report's opening warning when its finished cells come from more than one code
    identity (which cells have which), or "" when they share one."""
    found = identities(rows)
    if len(found) < 2:
        return ""
    current = source_sha256()
    lines = [
        f"**Mixed code.** The finished cells come from {len(found)} versions of the library "
        "(`code.source_sha256` in each results.json, a hash of the library's source; "
        f"`{UNRECORDED}`: recorded before it existed). "
        + (
            "`--allow-mixed-code` was given: the verdicts below compare cells of different code."
            if allow_mixed_code
            else "No verdict is given across them (`mixed code: no verdict`): "
            "`toolkit grid --rerun-other-code` retrains the cells of other code, "
            "`--allow-mixed-code` compares them anyway."
        ),
        "",
    ]
    for code, members in sorted(found.items(), key=lambda kv: kv[0] != current):
        name = code if code == UNRECORDED else code[:12]
        commits = sorted({r.get("commit") for r in members if r.get("commit")})
        where = f" (commit {', '.join(commits)})" if commits else ""
        this = " — this library" if code == current else ""
        cells = ", ".join(
            cell_name(r["scenario"], r["method"], r["seed"], _encoders(r)) for r in members
        )
        lines.append(f"- `{name}`{where}{this}: {cells}")
    return "\n".join(lines) + "\n"


def _encoders(row: dict[str, Any]) -> tuple[str, ...]:
    return (row.get("text_encoder") or "", row.get("vision_encoder") or "")
