"""The grid report's beyond-accuracy section, from hand-written run folders: the table's
means ± seed std, the per-user comparisons (the paired seed-aware statistics, one family),
the list-set deltas over seeds, the plot, and old runs without these metrics ("–")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenarios.report.beyond import beyond_groups, seed_delta, write_beyond_report
from scenarios.report.stats import compare_seeded

USERS = 12


def _run(tmp: Path, name: str, tail, beyond: dict | None, **fields) -> dict[str, str]:
    folder = tmp / name
    folder.mkdir()
    tail = np.asarray(tail, dtype=np.float64)
    lines = ["user_id,ndcg@10" + (",arp@10,tail@10,novelty@10" if beyond else "")]
    for i, t in enumerate(tail.tolist()):
        extra = f",{10 - 5 * t!r},{t!r},{1 + t!r}" if beyond else ""
        lines.append(f"u{i},0.1{extra}")
    (folder / "test_per_user.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = {"test": {"ndcg@10": 0.1}} | ({"beyond": {"test": beyond}} if beyond else {})
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    row = {
        "scenario": "title",
        "method": "iisan_versa",
        "text_encoder": "minilm",
        "vision_encoder": "",
        "protocol": "leave_one_out_full_ranking",
        "seed": "0",
        "status": "done",
        "test_ndcg@10": "0.1",
        "run_dir": str(folder),
    }
    return row | fields


def _beyond(coverage: float, tail: float) -> dict[str, float]:
    names = ("coverage", "gini", "entropy", "arp", "tail", "novelty")
    return {f"{n}@10": v for n, v in zip(names, (coverage, 0.5, 3.0, 7.5, tail, 1.5), strict=True)}


@pytest.fixture
def grid(tmp_path: Path):
    rng = np.random.default_rng(0)
    base = {s: rng.uniform(0.0, 0.3, USERS) for s in (0, 1)}
    wide = {s: base[s] + 0.2 + rng.uniform(0, 0.01, USERS) for s in (0, 1)}
    cover = {"title": (0.10, 0.12), "frozen": (0.30, 0.36)}
    rows = [
        _run(tmp_path, f"t{s}", base[s], _beyond(cover["title"][s], base[s].mean()), seed=str(s))
        for s in (0, 1)
    ]
    rows += [
        _run(
            tmp_path,
            f"f{s}",
            wide[s],
            _beyond(cover["frozen"][s], wide[s].mean()),
            seed=str(s),
            scenario="frozen",
        )  # fmt: skip
        for s in (0, 1)
    ]
    rows.append(_run(tmp_path, "old", base[0], None, scenario="old"))  # before the metrics
    return tmp_path, rows, base, wide


def test_table_plot_and_old_runs(grid) -> None:
    out, rows, base, wide = grid
    text = write_beyond_report(out, rows, "title")
    title = next(line for line in text.splitlines() if line.startswith("| title |"))
    assert f"| {0.11:.4f} ± {np.std([0.10, 0.12], ddof=1):.4f} |" in title  # coverage@10
    old = next(line for line in text.splitlines() if line.startswith("| old |"))
    assert old.endswith("| – | – | – | – | – | – |")
    assert "nan" not in text.lower()
    for suffix in ("png", "pdf", "svg"):
        assert (out / f"beyond.{suffix}").stat().st_size > 0
    assert "![accuracy vs coverage and tail share](beyond.png)" in text
    groups = {g["scenario"]: g for g in beyond_groups(rows)}
    assert groups["old"]["seeds"] == 1 and "coverage" not in groups["old"]


def test_per_user_comparisons_use_the_paired_statistics(grid) -> None:
    out, rows, base, wide = grid
    text = write_beyond_report(out, rows, "title", correction="holm")
    assert "| higher |" in text and "| better |" not in text  # a direction, not a judgement
    assert "`toolkit evaluate <run folder>`" in text  # the old run's missing columns
    found = json.loads((out / "comparisons_beyond.json").read_text(encoding="utf-8"))
    tail = next(c for c in found if c["scenario"] == "frozen" and c["metric"] == "tail@10")
    expected = compare_seeded(base, wide).to_dict()
    assert tail["diff"] == pytest.approx(expected["diff"])
    assert tail["p_value"] == pytest.approx(expected["p_value"])
    assert {c["family_size"] for c in found if "error" not in c} == {3}  # arp, tail, novelty
    old = [c for c in found if c["scenario"] == "old"]
    assert len(old) == 3 and all("no column" in c["error"] for c in old)


def test_list_set_deltas_are_over_seeds(grid) -> None:
    out, rows, _, _ = grid
    text = write_beyond_report(out, rows, "title")
    assert "compared over seeds only" in text
    delta = seed_delta({0: 0.10, 1: 0.12}, {0: 0.30, 1: 0.36})
    assert delta["diff"] == pytest.approx(0.22)  # mean of 0.20 and 0.24
    half = 12.706204736 * np.std([0.20, 0.24], ddof=1) / np.sqrt(2)  # t(0.975, 1 df)
    assert delta["ci"] == pytest.approx([0.22 - half, 0.22 + half])
    frozen = [line for line in text.splitlines() if line.startswith("| frozen |")][-1]
    assert f"| +0.2200 [{0.22 - half:+.4f}, {0.22 + half:+.4f}] (2 seeds) |" in frozen


def test_verdicts_of_beyond_metrics_are_directions() -> None:
    from scenarios.report.beyond import directional

    table = "| a | better |\n| b | worse |"
    assert directional(table, "tail@10") == "| a | higher |\n| b | lower |"
    assert directional(table, "ndcg@10") == table  # accuracy keeps better / worse
