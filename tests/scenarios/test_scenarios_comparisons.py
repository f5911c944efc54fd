"""Which baseline a comparison uses: same method, encoders and protocol, or none at all; and
how a table of comparisons reads: raw and adjusted p, verdicts from the adjusted one."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.report.comparisons import significance
from scenarios.report.multiplicity import adjust_family
from scenarios.report.tables import significance_table, verdict


def _run(tmp: Path, name: str, values: list[float], **fields: str) -> dict[str, str]:
    folder = tmp / name
    folder.mkdir()
    lines = ["user_id,ndcg@10"] + [f"u{i},{v}" for i, v in enumerate(values)]
    (folder / "test_per_user.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    row = {
        "scenario": "title",
        "method": "iisan_versa",
        "text_encoder": "minilm",
        "vision_encoder": "",
        "protocol": "leave_one_out_full_ranking",
        "seed": "0",
        "status": "done",
        "test_ndcg@10": str(sum(values) / len(values)),
        "run_dir": str(folder),
    }
    return row | fields


def test_another_text_encoder_is_never_the_baseline(tmp_path: Path) -> None:
    rows = [
        _run(tmp_path, "base", [0.1, 0.2, 0.3], text_encoder="other/bert"),
        _run(tmp_path, "img", [0.2, 0.3, 0.4], scenario="title+image", vision_encoder="vit"),
    ]
    [c] = significance(rows, "title")
    assert c["error"].startswith("no matching baseline: `title` was not run with method")
    assert "minilm + vit" in c["error"] and "p_value" not in c


def test_a_baseline_of_another_protocol_or_method_is_never_used(tmp_path: Path) -> None:
    rows = [
        _run(tmp_path, "base", [0.1, 0.2], protocol="leave_one_out_full_ranking+mask"),
        _run(tmp_path, "base2", [0.1, 0.2], method="frozen"),
        _run(tmp_path, "img", [0.2, 0.3], scenario="title+image", vision_encoder="vit"),
    ]
    [c] = significance(rows, "title")
    assert "no matching baseline" in c["error"]


def test_text_only_baseline_pairs_with_any_vision_encoder_and_prefers_the_same_one(
    tmp_path: Path,
) -> None:
    rows = [
        _run(tmp_path, "base", [0.1, 0.1, 0.1, 0.1]),
        _run(tmp_path, "a", [0.3, 0.3, 0.3, 0.3], scenario="title+image", vision_encoder="vit"),
        _run(tmp_path, "b", [0.2, 0.2, 0.2, 0.2], scenario="title+image", vision_encoder="clip"),
    ]
    by_vision = {c["vision_encoder"]: c for c in significance(rows, "title")}
    assert by_vision["vit"]["diff"] == pytest.approx(0.2)
    assert by_vision["clip"]["diff"] == pytest.approx(0.1)
    assert by_vision["vit"]["n"] == 4 and by_vision["vit"]["single_seed"]


def test_a_baseline_with_no_finished_run_is_reported_not_a_crash(tmp_path: Path) -> None:
    # A grid report (--no-run) before any baseline cell finished: every other configuration
    # says its baseline is missing (once raised KeyError from an empty set of candidates).
    rows = [
        _run(tmp_path, "id", [0.1, 0.2], scenario="id", method="id", text_encoder=""),
        _run(tmp_path, "base", [0.1, 0.2], status="failed"),
    ]
    [c] = significance(rows, "title")
    assert c["scenario"] == "id"
    assert c["error"].startswith("no matching baseline: `title`")


def test_seeds_without_a_partner_are_left_out(tmp_path: Path) -> None:
    rows = [
        _run(tmp_path, "b0", [0.1, 0.2], seed="0"),
        _run(tmp_path, "b1", [0.1, 0.2], seed="1"),
        _run(tmp_path, "x0", [0.2, 0.3], scenario="title+image", seed="0"),
        _run(tmp_path, "x2", [0.9, 0.9], scenario="title+image", seed="2"),
    ]
    [c] = significance(rows, "title")
    assert c["seeds"] == [0] and c["diff"] == pytest.approx(0.1)


def _tested(p: float, *, seeds: int = 3, diff: float = 0.01, needed: int | None = 3) -> dict:
    """A comparison dict as `significance` returns it (SeededComparison fields + names)."""
    return {
        "scenario": "title+image", "method": "iisan_versa", "text_encoder": "minilm",
        "vision_encoder": "vit", "protocol": "p", "baseline": "title", "metric": "ndcg@10",
        "n": 100, "seeds": list(range(seeds)), "mean_a": 0.1, "mean_b": 0.1 + diff,
        "diff": diff, "ci_low": diff - 0.005, "ci_high": diff + 0.005, "p_value": p,
        "per_seed": [diff] * seeds, "agree": seeds, "single_seed": seeds == 1,
        "significant": seeds > 1 and p < 0.05, "se_seed": 0.002, "se_user": 0.002,
        "df_seed": seeds - 1, "df_user": 99.0, "seeds_needed": needed,
    }  # fmt: skip


def test_verdicts_say_how_many_seeds_a_verdict_would_need() -> None:
    assert verdict(_tested(0.01)) == "better"
    assert verdict(_tested(0.01, diff=-0.01)) == "worse"
    assert verdict(_tested(0.3, needed=7)) == (
        "no significant difference; ≥ 7 seeds would be needed at this spread"
    )
    assert verdict(_tested(0.3, needed=None)) == (
        "no significant difference; more than 50 seeds would be needed at this spread"
    )
    # The user term alone (t_99 x 0.006 = 0.0119 > 0.01) covers the difference: more seeds,
    # which shrink only the seed term, cannot settle it.
    users_bound = _tested(0.3, needed=None) | {"se_user": 0.006}
    assert verdict(users_bound) == (
        "no significant difference; no number of seeds would settle it: the user-level "
        "uncertainty alone covers it"
    )
    assert verdict(_tested(0.3, needed=3)) == "no significant difference"  # has them: no note
    assert verdict(_tested(0.001, seeds=1)) == "one seed: no verdict"


def test_the_table_shows_the_raw_and_the_adjusted_p_and_decides_on_the_adjusted_one() -> None:
    broken = {**_tested(0.5), "error": "no matching baseline: ..."}
    rows = [_tested(0.03), _tested(0.2), _tested(0.3), _tested(0.4), _tested(0.001, seeds=1)]
    assert adjust_family([*rows, broken], "holm") == 4  # one seed, error: not in the family
    table = significance_table([*rows, broken], "holm")
    head, _, first, *_, single, error = table.splitlines()
    assert head.endswith("| 95% CI | p | p (Holm) | verdict |")
    assert first.endswith("| 0.03 | 0.12 | no significant difference after the Holm adjustment |")
    assert single.endswith("| 0.001 | – | one seed: no verdict |")
    assert all(line.count("|") == head.count("|") for line in table.splitlines())
    raw = [_tested(0.03), _tested(0.2), _tested(0.3), _tested(0.4)]
    adjust_family(raw, "none")
    head, _, first, *_ = significance_table(raw, "none").splitlines()
    assert head.endswith("| 95% CI | p | verdict |") and first.endswith("| 0.03 | better |")
