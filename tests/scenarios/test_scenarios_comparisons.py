"""Which baseline a comparison uses: same method, encoders and protocol, or none at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.comparisons import significance


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
    by_vision = {c["vision_encoder"]: c for c in significance(rows, "title", resamples=100)}
    assert by_vision["vit"]["diff"] == pytest.approx(0.2)
    assert by_vision["clip"]["diff"] == pytest.approx(0.1)
    assert by_vision["vit"]["n"] == 4 and by_vision["vit"]["single_seed"]


def test_seeds_without_a_partner_are_left_out(tmp_path: Path) -> None:
    rows = [
        _run(tmp_path, "b0", [0.1, 0.2], seed="0"),
        _run(tmp_path, "b1", [0.1, 0.2], seed="1"),
        _run(tmp_path, "x0", [0.2, 0.3], scenario="title+image", seed="0"),
        _run(tmp_path, "x2", [0.9, 0.9], scenario="title+image", seed="2"),
    ]
    [c] = significance(rows, "title", resamples=100)
    assert c["seeds"] == [0] and c["diff"] == pytest.approx(0.1)
