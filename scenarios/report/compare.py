"""Compare any finished runs with one baseline: `toolkit compare RUN_OR_GRID ... --baseline B`.

The inputs are run folders (a results.json) and grid output folders (a runs.csv: its
finished rows). Runs of one configuration (scenario, method, encoders) under one protocol,
dataset and code identity form a group, its seeds the members; the baseline is a run folder
(its group) or a label of one group (`scenarios.report.baselines`). Every other group is
compared with it by the grid report's paired, seed-aware test
(`scenarios.report.comparisons.compare_runs_of`:
`scenarios.report.stats.compare_seeded` over the common seeds and the users paired by id from each
run's test_per_user.csv), the comparisons adjusted as one family
(`scenarios.report.multiplicity.adjust_family`), across methods and encoders. A group of another
protocol (`scenarios.run.results.protocol_of`), dataset (`record.dataset.content_hash`,
else `dataset.catalogue_sha256`) or code identity (`code.source_sha256`; `unrecorded` is
one identity) is refused, and listed with the reason; with `allow_mixed_code` code is not part
of a group and the result lists the identities it mixed.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.report.baselines import Config, resolve_label
from scenarios.report.comparisons import compare_runs_of
from scenarios.report.multiplicity import DEFAULT_CORRECTION, adjust_family
from scenarios.run.results import (
    NAMES,
    ConfigKey,
    ResultsError,
    config_label,
    read_run,
)
from scenarios.run.rows import UNFINISHED, grid_run_dir

RULE = (
    "Every group of runs (a configuration's seeds under one protocol, dataset and code) is "
    "compared with the baseline's group, across methods and encoders; groups of another "
    "protocol, dataset or code are refused (listed below)."
)


@dataclass(frozen=True)
class CompareResult:
    """What `compare_runs` found: the comparisons (`significance`-style dicts, adjusted as one
    family) and the refused groups ({"label", "seeds", "reason"})."""

    baseline: str
    metric: str
    correction: str
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    mixed_code: dict[str, int] = field(default_factory=dict)  # identity -> runs, if allowed

    def markdown(self) -> str:
        """The comparison as markdown: what was tested, the table, the refused groups."""
        from scenarios.report.beyond import directional
        from scenarios.report.tables import significance_table, tested_paragraph

        size = sum("family_size" in c for c in self.comparisons)
        paragraph = tested_paragraph(
            self.metric, self.correction, size, "the rows of this table", rule=RULE
        )
        table = directional(significance_table(self.comparisons, self.correction), self.metric)
        lines = [f"# Against `{self.baseline}`", "", paragraph, "", table, ""]
        if len(self.mixed_code) > 1:
            made = ", ".join(f"`{code[:12]}` ({n} runs)" for code, n in self.mixed_code.items())
            lines += [
                f"**Mixed code** (`--allow-mixed-code`): the runs compared were made by "
                f"{len(self.mixed_code)} versions of the library: {made}.",
                "",
            ]
        if self.refused:
            lines += ["## Refused", ""]
            lines += [
                f"- {r['label']} (seeds {', '.join(map(str, r['seeds']))}): {r['reason']}"
                for r in self.refused
            ]
            lines.append("")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole result."""
        return {
            "baseline": self.baseline,
            "metric": self.metric,
            "correction": self.correction,
            "comparisons": self.comparisons,
            "refused": self.refused,
            "mixed_code": self.mixed_code,
        }

    def write(self, out_dir: Path) -> Path:
        """Write compare.md and compare.json into `out_dir`; returns compare.md."""
        from plumbing.io import atomic_write_json, atomic_write_text

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "compare.json", self.to_dict())
        atomic_write_text(out / "compare.md", self.markdown())
        return out / "compare.md"


def run_row(run_dir: Path) -> dict[str, Any]:
    """A runs.csv-style row for a finished run folder (`scenarios.run.results.read_run`),
    with its `dataset` and `code`.

    Raises:
        ValueError: the folder holds no readable results.json.
    """
    try:
        run = read_run(run_dir)
    except ResultsError:
        raise ValueError(f"{run_dir}: no readable results.json (not a finished run)") from None
    return {
        **run.key._asdict(),
        "seed": run.seed if run.seed is not None else 0,
        "status": "done",
        "test_ndcg@10": run.test.get("ndcg@10", ""),
        "run_dir": str(run_dir),
        "dataset": run.dataset_identity,
        "code": run.code.source,
    }


def _grid_rows(grid_dir: Path) -> list[dict[str, Any]]:
    """The finished rows of a grid's runs.csv, each with its run's dataset and code."""
    with open(grid_dir / "runs.csv", encoding="utf-8", newline="") as handle:
        listed = list(csv.DictReader(handle))
    rows = []
    for row in listed:
        if row.get("status") in UNFINISHED or row.get("test_ndcg@10") == "":
            continue
        found = run_row(grid_run_dir(grid_dir, row["run_dir"]))
        found.update({k: row[k] for k in NAMES if k in row})  # the grid's own names
        if row.get("code"):
            found["code"] = row["code"]
        rows.append(found)
    return rows


def load_runs(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every finished run of `paths` (run folders or grid output folders), once each.

    Raises:
        ValueError: a path is neither a run folder nor a grid output folder.
    """
    rows: dict[Path, dict[str, Any]] = {}
    for path in map(Path, paths):
        if (path / "results.json").exists():
            found = [run_row(path)]
        elif (path / "runs.csv").exists():
            found = _grid_rows(path)
        else:
            raise ValueError(f"{path}: not a run folder (results.json) or grid folder (runs.csv)")
        for row in found:
            rows.setdefault(Path(row["run_dir"]).resolve(), row)
    return list(rows.values())


GroupKey = tuple[str, ...]  # ConfigKey, then dataset and code


ANY_CODE = "any code"  # the code element of every group key under allow_mixed_code


def _key(row: dict[str, Any], allow_mixed_code: bool = False) -> GroupKey:
    code = ANY_CODE if allow_mixed_code else str(row["code"])
    return (*ConfigKey.of(row), str(row["dataset"]), code)


def _baseline_key(
    groups: dict[GroupKey, list], rows: list, baseline: str, allow_mixed_code: bool = False
) -> GroupKey:
    """The group the baseline (a run folder, or a label) names.

    Raises:
        ValueError: the label names nothing, or several groups.
    """
    if (Path(baseline) / "results.json").exists():
        row = run_row(Path(baseline))
        if not any(Path(r["run_dir"]).resolve() == Path(baseline).resolve() for r in rows):
            rows.append(row)
            groups.setdefault(_key(row, allow_mixed_code), []).append(row)
        return _key(row, allow_mixed_code)
    config: Config | None = resolve_label(groups, baseline)
    if config is None:  # a scenario: it must have one configuration
        configs = list(dict.fromkeys(k[:4] for k in groups if k[0] == baseline))
        if len(configs) > 1:
            names = ", ".join(config_label(c) for c in configs)
            raise ValueError(f"baseline {baseline!r} names several configurations: {names}")
        config = configs[0]
    keys = [k for k in groups if k[:4] == config]
    if len(keys) > 1:
        raise ValueError(
            f"baseline {baseline!r} has runs of several protocols, datasets or code "
            "identities: pass one of its run folders as the baseline"
        )
    return keys[0]


def _refusal(key: GroupKey, base: GroupKey) -> str:
    """Why group `key` cannot be compared with the baseline group `base` ("" when it can)."""
    reasons = []
    for i, what, shown in ((4, "protocol", None), (5, "dataset", 12), (6, "code", 12)):
        if key[i] != base[i]:
            reasons.append(f"another {what}: {key[i][:shown]} (baseline: {base[i][:shown]})")
    return "; ".join(reasons)


def compare_runs(
    paths: Sequence[Path],
    baseline: str,
    metric: str = "ndcg@10",
    correction: str = DEFAULT_CORRECTION,
    allow_mixed_code: bool = False,
) -> CompareResult:
    """Compare every group of runs in `paths` with the baseline's group.

    Args:
        paths: run folders (results.json) and grid output folders (runs.csv).
        baseline: a run folder, or a label of one group (`scenario`, `scenario/method`,
            `scenario/method/encoders`).
        metric: the per-user metric compared (a column of test_per_user.csv).
        correction: the family's correction (`scenarios.report.multiplicity.CORRECTIONS`).
        allow_mixed_code: compare runs whatever library code made them (the result lists
            the identities, `CompareResult.mixed_code`); else another code is refused.

    Returns:
        The comparisons, adjusted as one family, and the refused groups with their reasons.

    Raises:
        ValueError: a path is not a run or grid folder; the baseline names no group, or
            several.
    """
    rows = load_runs(paths)
    groups: dict[GroupKey, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(_key(row, allow_mixed_code), []).append(row)
    base_key = _baseline_key(groups, rows, baseline, allow_mixed_code)
    label = config_label(base_key)
    comparisons, refused = [], []
    for key, members in groups.items():
        if key == base_key:
            continue
        seeds = sorted(int(r["seed"]) for r in members)
        if reason := _refusal(key, base_key):
            refused.append({"label": config_label(key), "seeds": seeds, "reason": reason})
            continue
        entry = {**dict(zip(NAMES, key, strict=False)), "baseline": label, "metric": metric}
        found = compare_runs_of(groups[base_key], members, metric, baseline=label)
        comparisons.append({**entry, **found})
    adjust_family(comparisons, correction)
    compared = (r for k, m in groups.items() if not _refusal(k, base_key) for r in m)
    codes = Counter(str(r["code"]) for r in compared) if allow_mixed_code else {}
    return CompareResult(label, metric, correction, comparisons, refused, dict(codes))
