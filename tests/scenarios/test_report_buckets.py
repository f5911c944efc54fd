"""The grid report's popularity-bucket section, from hand-written run folders: the table's
means, stds and user counts, empty buckets as "–" (never NaN), the per-bucket comparison
against the baseline (the seed-aware statistics over the bucket's users only, every
configuration × bucket adjusted as one family), the plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsys.eval.buckets import bucket_metrics
from scenarios.report.buckets import write_bucket_report
from scenarios.report.multiplicity import adjust
from scenarios.report.stats import compare_seeded

COUNTS = np.array([0, 0, 0, 2, 2, 3, 7, 7, 8, 9, 25, 30])  # cold 3, 1-4 3, 5-19 4, 20+ 2
BOUNDS = (1, 5, 20, 50)  # 50+ stays empty
LOO = "leave_one_out_full_ranking"


def _run(tmp: Path, name: str, values, *, counts=COUNTS, **fields) -> dict[str, str]:
    folder = tmp / name
    folder.mkdir()
    values = np.asarray(values, dtype=np.float64)
    lines = ["user_id,target_train_count,ndcg@10"]
    lines += [f"u{i},{c},{float(v)!r}" for i, (c, v) in enumerate(zip(counts, values, strict=True))]
    (folder / "test_per_user.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    buckets = bucket_metrics({"ndcg@10": values}, counts, BOUNDS)
    results = {"buckets": {"protocol": fields.get("protocol", LOO), "test": buckets}}
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    row = {
        "scenario": "title",
        "method": "iisan_versa",
        "text_encoder": "minilm",
        "vision_encoder": "",
        "protocol": LOO,
        "seed": "0",
        "status": "done",
        "test_ndcg@10": str(values.mean()),
        "run_dir": str(folder),
    }
    return row | fields


@pytest.fixture
def grid(tmp_path: Path):
    rng = np.random.default_rng(0)
    base = {s: rng.uniform(0.0, 0.5, size=12) for s in (0, 1)}
    lift = np.where(COUNTS == 0, 0.3, 0.01)  # the multimodal runs help cold targets most
    image = {s: base[s] + lift + rng.uniform(0, 0.01, size=12) for s in (0, 1)}
    rows = [_run(tmp_path, f"t{s}", base[s], seed=str(s)) for s in (0, 1)]
    rows += [
        _run(tmp_path, f"i{s}", image[s], seed=str(s), scenario="title+image", vision_encoder="vit")
        for s in (0, 1)
    ]
    rows.append(_run(tmp_path, "id0", rng.uniform(0, 0.2, 12), scenario="id", method="id"))
    return tmp_path, rows, base, image


def test_table_means_users_and_empty_buckets(grid) -> None:
    out, rows, base, image = grid
    text = write_bucket_report(out, rows, "title")
    head = next(line for line in text.splitlines() if line.startswith("| scenario | method |"))
    assert "| cold (n=3) | 1-4 (n=3) | 5-19 (n=4) | 20-49 (n=2) | 50+ (n=0) |" in head
    title = next(line for line in text.splitlines() if line.startswith("| title |"))
    cold = [base[s][:3].mean() for s in (0, 1)]
    assert f"| {np.mean(cold):.4f} ± {np.std(cold, ddof=1):.4f} |" in title
    assert title.endswith("| – |")  # the empty 50+ bucket
    assert "nan" not in text.lower()
    assert "`id`" in text and "random initialisation" in text  # content-free: stated
    assert (out / "buckets.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![ndcg@10 by popularity bucket](buckets.png)" in text


def test_per_bucket_comparison_pairs_only_the_buckets_users(grid) -> None:
    out, rows, base, image = grid
    text = write_bucket_report(out, rows, "title")
    by_bucket = json.loads((out / "comparisons_buckets.json").read_text(encoding="utf-8"))
    assert list(by_bucket) == ["cold", "1-4", "5-19", "20-49", "50+"]
    [cold] = [c for c in by_bucket["cold"] if c["scenario"] == "title+image"]
    cold_users = COUNTS == 0
    expected = compare_seeded(
        {s: base[s][cold_users] for s in (0, 1)},
        {s: image[s][cold_users] for s in (0, 1)},
    )
    assert cold["n"] == 3 and cold["diff"] == pytest.approx(expected.diff)
    assert cold["p_value"] == pytest.approx(expected.p_value)
    assert cold["ci_low"] == pytest.approx(expected.ci_low)
    [empty] = [c for c in by_bucket["50+"] if c["scenario"] == "title+image"]
    assert "error" in empty
    line = next(x for x in text.splitlines() if x.startswith("| title+image |") and "p=" in x)
    assert line.startswith(f"| title+image | iisan_versa | minilm + vit | {expected.diff:+.4f} [")
    assert line.endswith("| – |")
    ratio = expected.mean_b / expected.mean_a
    where = next(x for x in text.splitlines() if x.startswith("- title+image (iisan_versa"))
    assert f"`cold` {expected.diff:+.4f} ({ratio:.2g}×" in where and "`50+`" not in where


def test_protocols_stay_apart_and_old_runs_are_counted(grid) -> None:
    out, rows, base, _ = grid
    new = "leave_one_out_full_ranking+new_items(fraction=0.1,seed=0)"
    counts = np.zeros(4, dtype=np.int64)
    rows.append(_run(out, "n0", [0.1, 0.2, 0.3, 0.4], counts=counts, protocol=new))
    old = _run(out, "old", base[0])
    (Path(old["run_dir"]) / "results.json").write_text("{}", encoding="utf-8")
    rows.append(old)
    text = write_bucket_report(out, rows, "title")
    assert f"| title [{new}] | iisan_versa | minilm | 1 | 0.2500 ± 0.0000 (n=4) |" in text
    assert "| cold | 1-4 |" in text  # user counts differ between protocols: per cell
    assert "1 finished runs recorded no buckets" in text


def test_every_configuration_and_bucket_is_one_family(grid) -> None:
    out, rows, _, _ = grid
    text = write_bucket_report(out, rows, "title")
    by_bucket = json.loads((out / "comparisons_buckets.json").read_text(encoding="utf-8"))
    every = [c for found in by_bucket.values() for c in found if "error" not in c]
    # id/id (one seed, never run with title's method) against title's only configuration:
    # no verdict, not in the family
    assert all(c["single_seed"] and "p_adjusted" in c for c in every if c["scenario"] == "id")
    tested = [c for c in every if c["scenario"] != "id"]
    assert len(tested) == 4  # title+image in cold, 1-4, 5-19, 20-49 (50+ is empty)
    holm = adjust([c["p_value"] for c in tested], "holm")
    assert [c["p_adjusted"] for c in tested] == pytest.approx(holm)
    assert all(c["correction"] == "holm" and c["family_size"] == 4 for c in tested)
    assert all(c["significant"] == (c["p_adjusted"] < 0.05) for c in tested)
    line = next(x for x in text.splitlines() if x.startswith("| title+image |") and "p=" in x)
    assert ", p (Holm)=" in line and "4 comparisons with at least two seeds" in text
    text = write_bucket_report(out, rows, "title", correction="none")
    line = next(x for x in text.splitlines() if x.startswith("| title+image |") and "p=" in x)
    assert "p (" not in line and "not adjusted" in text
    by_bucket = json.loads((out / "comparisons_buckets.json").read_text(encoding="utf-8"))
    assert by_bucket["cold"][0]["p_adjusted"] == by_bucket["cold"][0]["p_value"]
