"""Each scenario of a grid against the text-only baseline, with seed-aware statistics.

A comparison pairs a configuration (scenario, method, encoders, protocol) with the baseline
scenario trained by the same method, with the same text encoder, the same vision encoder
(or none), under the same protocol, over the seeds both finished; users are paired by id
(`test_per_user.csv`). When no such baseline exists the comparison says so: a baseline with
another encoder or protocol would confound the difference, so it is never used instead.
The statistics are `scenarios.report.stats.compare_seeded`. With a `bucket` (a training-count
range, recsys.eval.buckets), only the users whose test target falls in it are compared.
The report's tables of these comparisons, adjusted for multiplicity, are
`scenarios.report.tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.run.results import NAMES, ConfigKey, read_per_user
from scenarios.schema.specs import scenario_summary

GroupKey = ConfigKey  # scenario, method, text enc., vision enc., protocol


def group_key(row: dict[str, Any]) -> GroupKey:
    """The configuration a runs.csv row belongs to (seeds aside)."""
    return ConfigKey.of(row)


Bucket = tuple[int, int | None]  # inclusive training-count range of the target; None = open
COUNT_COLUMN = "target_train_count"  # test_per_user.csv: the target's training count


def user_metrics(run_dir: Path, metric: str, bucket: Bucket | None = None) -> dict[str, float]:
    """Per-test-user values of `metric` from a run's `test_per_user.csv` (user id -> value),
    only the users whose target's training count is in `bucket` when one is given."""
    wanted = (metric, COUNT_COLUMN) if bucket is not None else (metric,)
    table = read_per_user(run_dir, "test", wanted)
    if bucket is None:
        return table.values(metric)
    from recsys.eval.buckets import in_bucket

    counts = np.array(table.columns[COUNT_COLUMN], dtype=np.int64)
    return table.values(metric, list(in_bucket(counts, bucket)))


def pair_users(
    base: Mapping[int, Mapping[str, float]], other: Mapping[int, Mapping[str, float]]
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], int]:
    """Two sides' per-user values (seed -> user id -> value) aligned by user id over their
    common seeds and the users present in every run: (seed -> array per side, users)."""
    seeds = sorted(set(base) & set(other))
    every = [*(base[s] for s in seeds), *(other[s] for s in seeds)]
    users = sorted(set(every[0]).intersection(*every[1:])) if every else []
    a = {s: np.array([base[s][u] for u in users]) for s in seeds}
    b = {s: np.array([other[s][u] for u in users]) for s in seeds}
    return a, b, len(users)


def pick_baseline(cells: Sequence[Any], requested: str | None) -> str | None:
    """The baseline label: the requested one (`scenarios.report.baselines`), else the first
    text-only scenario (None when there is none).

    Raises:
        ValueError: the requested label names no configuration of `cells`, or several.
    """
    if requested:
        from scenarios.report.baselines import cell_config, resolve_label

        resolve_label([cell_config(c) for c in cells], requested)
        return requested
    for cell in cells:
        if scenario_summary(cell.scenario)["text_only"]:
            return cell.scenario.name
    return None


def _matches(base: GroupKey, other: GroupKey, baseline: str) -> bool:
    """`base` is the baseline scenario's configuration that `other` may be compared with:
    same method, text encoder and protocol, and the same vision encoder or none."""
    return (
        base[0] == baseline
        and base[1] == other[1]
        and base[2] == other[2]
        and base[3] in ("", other[3])
        and base[4] == other[4]
    )


def _per_seed_arrays(
    base: Sequence[dict[str, Any]],
    other: Sequence[dict[str, Any]],
    metric: str,
    bucket: Bucket | None = None,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], int]:
    """Seed -> per-user metric for both sides, over the users present in every run."""
    seeds = sorted({int(r["seed"]) for r in base} & {int(r["seed"]) for r in other})

    def run_of(side: Sequence[dict[str, Any]], seed: int) -> dict[str, float]:
        row = next(r for r in side if int(r["seed"]) == seed)
        return user_metrics(row["run_dir"], metric, bucket)

    return pair_users({s: run_of(base, s) for s in seeds}, {s: run_of(other, s) for s in seeds})


def significance(
    rows: Sequence[dict[str, Any]],
    baseline: str,
    *,
    metric: str = "ndcg@10",
    bucket: Bucket | None = None,
) -> list[dict[str, Any]]:
    """Every non-baseline configuration against its baseline configuration (over the users
    whose test target's training count is in `bucket`, when one is given).

    `baseline` is a label (`scenarios.report.baselines`): a scenario pairs each configuration with
    its configuration of the same method, encoders and protocol (or its only one, when it was
    never run with that method); a configuration is compared with every other one of the
    same protocol.

    Returns one dict per configuration: `scenarios.report.stats.SeededComparison` fields plus the
    configuration's names, or an `error` ("no matching baseline ...", unreadable per-user
    files) in its place. Each p-value is raw: a report adjusts a table of them as one family
    (`scenarios.report.multiplicity.adjust_family`).

    Raises:
        ValueError: `baseline` names no configuration of `rows`, or several.
    """
    from scenarios.report.baselines import resolve_label

    done = [r for r in rows if r.get("status") != "failed" and r.get("test_ndcg@10") != ""]
    groups: dict[GroupKey, list[dict[str, Any]]] = {}
    for row in done:
        groups.setdefault(group_key(row), []).append(row)
    try:
        explicit = resolve_label(groups, baseline) if groups else None
    except ValueError:  # the baseline has no finished run (a label was checked when planned)
        if "/" in baseline:
            return [_unfinished(key, baseline, metric) for key in groups]
        explicit = None
    out = []
    for key, members in groups.items():
        if key[:4] == explicit or (explicit is None and key[0] == baseline):
            continue
        names = dict(zip(NAMES, key, strict=True))
        base_key, label = _partner(groups, key, baseline, explicit)
        entry: dict[str, Any] = {**names, "baseline": label, "metric": metric}
        base = groups[base_key] if base_key is not None else []
        out.append({**entry, **compare_runs_of(base, members, metric, bucket, baseline=label)})
        if base_key is None and explicit is None and label == baseline:
            out[-1]["error"] = _no_match(key, baseline, False)
    return out


def _partner(
    groups: dict[GroupKey, Any], key: GroupKey, baseline: str, explicit: tuple | None
) -> tuple[GroupKey | None, str]:
    """The baseline configuration `key` is compared with (None: none) and its label."""
    from scenarios.run.results import config_label

    if explicit is None:
        # One baseline configuration: the one with this vision encoder, else the text-only one.
        candidates = sorted(
            (k for k in groups if _matches(k, key, baseline)), key=lambda k: k[3] == ""
        )
        if candidates:
            return candidates[0], baseline
        configs = {k[:4] for k in groups if k[0] == baseline}
        if len(configs) != 1 or any(c[1] == key[1] for c in configs):
            return None, baseline  # none finished yet, or no single one to stand in
        explicit = configs.pop()  # never run with this method: its only configuration
    wanted = (*explicit, key[4])
    return (wanted if wanted in groups else None), config_label(explicit)


def compare_runs_of(
    base: Sequence[dict[str, Any]],
    other: Sequence[dict[str, Any]],
    metric: str,
    bucket: Bucket | None = None,
    *,
    baseline: str = "the baseline",
) -> dict[str, Any]:
    """`scenarios.report.stats.compare_seeded` of two configurations' runs (rows with `seed` and
    `run_dir`), over their common seeds and the users present in every run; or {"error": why}.
    """
    from scenarios.report.stats import compare_seeded

    seeds = {int(r["seed"]) for r in base} & {int(r["seed"]) for r in other}
    if not base:
        return {"error": f"no matching baseline: `{baseline}` was not run under this protocol"}
    if not seeds:
        return {"error": _no_match(("",) * 5, baseline, True)}
    try:
        a, b, users = _per_seed_arrays(base, other, metric, bucket)
    except (FileNotFoundError, KeyError) as exc:
        return {"error": str(exc).strip("'\"")}
    if users == 0:
        return {"error": "no test user in common with the baseline"}
    return compare_seeded(a, b).to_dict()


def _unfinished(key: GroupKey, baseline: str, metric: str) -> dict[str, Any]:
    return {
        **dict(zip(NAMES, key, strict=True)),
        "baseline": baseline,
        "metric": metric,
        "error": f"no matching baseline: `{baseline}` has no finished run",
    }


def _no_match(key: GroupKey, baseline: str, any_seed: bool) -> str:
    if any_seed:
        return f"no matching baseline: `{baseline}` has no seed in common with this configuration"
    encoders = " + ".join(x for x in key[2:4] if x) or "no encoder"
    return (
        f"no matching baseline: `{baseline}` was not run with method {key[1]}, encoders "
        f"{encoders} and protocol {key[4] or 'default'}"
    )
