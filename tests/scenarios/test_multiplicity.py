"""Multiple-comparison adjustment (scenarios.report.multiplicity) against hand-worked examples, and
a family of comparison dicts: who is in it, what it gets, how its verdicts change."""

from __future__ import annotations

import pytest

from scenarios.report.multiplicity import CORRECTIONS, adjust, adjust_family, family_sentence


def test_holm_matches_a_hand_worked_example() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; the running
    # maximum lifts the last to 0.06. Back in the given order:
    assert adjust([0.01, 0.04, 0.03, 0.005], "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_matches_hand_worked_examples() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04.
    assert adjust([0.01, 0.04, 0.03, 0.005], "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # Sorted: 0.012, 0.04, 0.045, 0.2 times 4, 2, 4/3, 1 = 0.048, 0.08, 0.06, 0.2; the running
    # minimum from the top brings 0.08 down to 0.06.
    assert adjust([0.04, 0.045, 0.2, 0.012], "bh") == pytest.approx([0.06, 0.06, 0.2, 0.048])


def test_ties_get_equal_adjusted_values_whatever_their_order() -> None:
    assert adjust([0.01, 0.01, 0.01], "holm") == pytest.approx([0.03, 0.03, 0.03])
    assert adjust([0.02, 0.01, 0.02], "holm") == pytest.approx([0.04, 0.03, 0.04])
    assert adjust([0.02, 0.01, 0.02], "bh") == pytest.approx([0.02, 0.02, 0.02])


def test_adjusted_values_are_capped_at_one_and_never_below_the_raw_ones() -> None:
    assert adjust([0.5, 0.9], "holm") == [1.0, 1.0]
    assert adjust([1.0, 1.0, 0.2], "holm") == pytest.approx([1.0, 1.0, 0.6])
    assert adjust([1.0, 0.3], "bh") == pytest.approx([1.0, 0.6])
    raw = [0.001, 0.2, 0.04, 0.7, 0.04]
    for method in CORRECTIONS:
        assert all(a >= r for a, r in zip(adjust(raw, method), raw, strict=True))


def test_empty_family_none_and_bad_input() -> None:
    for method in CORRECTIONS:
        assert adjust([], method) == []
    assert adjust([0.03, 0.5], "none") == [0.03, 0.5]
    assert adjust([0.07], "holm") == [0.07]  # a family of one is the raw p
    with pytest.raises(ValueError, match="valid choices: holm, bh, none"):
        adjust([0.1], "bonferroni")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust([0.1, float("nan")], "holm")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust([1.2], "none")


def _comparison(p: float, seeds: int = 3, diff: float = 0.01) -> dict:
    return {
        "p_value": p,
        "seeds": list(range(seeds)),
        "single_seed": seeds == 1,
        "significant": seeds > 1 and p < 0.05,
        "diff": diff,
    }


def test_a_family_leaves_out_errors_and_single_seeds_and_redoes_the_verdicts() -> None:
    family = [_comparison(0.01), _comparison(0.04), _comparison(0.03), _comparison(0.005)]
    single = _comparison(0.0001, seeds=1)
    broken = {"error": "no matching baseline: ..."}
    size = adjust_family([*family, single, broken], "holm")
    assert size == 4
    assert [c["p_adjusted"] for c in family] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [c["significant"] for c in family] == [True, False, False, True]
    assert all(c["correction"] == "holm" and c["family_size"] == 4 for c in family)
    assert single["p_adjusted"] is None and not single["significant"]
    assert "correction" not in single and broken == {"error": "no matching baseline: ..."}


def test_no_correction_keeps_the_raw_verdicts() -> None:
    family = [_comparison(0.01), _comparison(0.04), _comparison(0.03), _comparison(0.005)]
    assert adjust_family(family, "none") == 4
    assert [c["p_adjusted"] for c in family] == [0.01, 0.04, 0.03, 0.005]
    assert all(c["significant"] for c in family)


def test_family_sentence_names_the_method_and_the_size() -> None:
    assert "3 comparisons" in family_sentence("holm", 3, "x") and "Holm" in family_sentence(
        "holm", 3, "x"
    )
    assert "Benjamini-Hochberg" in family_sentence("bh", 1, "x")
    assert "not adjusted" in family_sentence("none", 2, "x")
