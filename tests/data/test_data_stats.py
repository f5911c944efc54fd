"""`dataset_stats` / `format_stats` on a toy dataset, and `toolkit data stats` end to end."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from recsys.data import load_dataset
from recsys.data.stats import dataset_stats, format_stats
from tests.data.conftest import write_files
from toolkit.cli import app


def _toy(tmp_path: Path) -> Path:
    return write_files(
        tmp_path,
        {
            "items.tsv": "a\tAlpha\nb\tBeta\nc\tGamma\nd\tDelta\n",
            "users.tsv": "u1\ta b a\nu2\ta c\nu3\ta b c a a\nu4\tzz a\n",
        },
    )


def test_stats_hand_computed(tmp_path: Path) -> None:
    stats = dataset_stats(load_dataset(_toy(tmp_path), on_unknown="drop"))
    assert (stats["users"], stats["items"], stats["interactions"]) == (4, 4, 11)
    seq = stats["sequence_length"]
    assert (seq["min"], seq["median"], seq["mean"], seq["max"]) == (1, 2.5, 2.75, 5)
    pop = stats["popularity"]
    assert [(r["item_id"], r["count"]) for r in pop["top_items"]] == [
        ("a", 7),
        ("b", 2),
        ("c", 2),
        ("d", 0),
    ]
    # 4 items: the top 1% and the top 10% are both the single most popular item.
    assert pop["interaction_share"] == {
        "top_1pct_items": round(7 / 11, 4),
        "top_10pct_items": round(7 / 11, 4),
    }
    assert pop["items_never_interacted"] == 1
    assert stats["repeats"] == {"repeat_interactions": 3, "users_with_repeats": 2}
    assert stats["split"]["users"] == 2 and stats["split"]["dropped_users"] == 2
    assert stats["split"]["items"] == 3 and stats["split"]["kept_interactions"] == 8
    assert stats["load_report"]["dropped_unknown"] == 1
    text = format_stats(stats)
    assert "users          4" in text and "interactions   11" in text
    assert "top 1% of items: 63.6%" in text and "dropped        1 unknown-item" in text


def test_cli_data_stats(tmp_path: Path) -> None:
    root = _toy(tmp_path)
    runner = CliRunner()
    failed = runner.invoke(app, ["data", "stats", str(root)])
    assert failed.exit_code == 2 and "users.tsv:4" in failed.output and "'zz'" in failed.output
    ok = runner.invoke(app, ["data", "stats", str(root), "--drop-unknown"])
    assert ok.exit_code == 0, ok.output
    assert "items          4" in ok.output and "repeats        3 repeat interactions" in ok.output


def test_cli_data_stats_previews_a_temporal_split(tmp_path: Path) -> None:
    from tests.data.conftest import write_catalogue

    root = write_catalogue(tmp_path / "tiny", "tables")  # interaction times: a temporal split
    runner = CliRunner()
    args = ["data", "stats", str(root), "--set", "split.kind=temporal"]
    ok = runner.invoke(app, [*args, "--set", "split.valid_cut=0.85"])
    assert ok.exit_code == 0, ok.output
    split = next(line for line in ok.stdout.splitlines() if line.startswith("split "))
    assert split.startswith("split          temporal, validation from 2023-11-14T23:20:28+00:00")
    assert split.endswith(": 1 users (5 dropped), 8 of 8 items ranked, 6 kept interactions")
    assert "warning: the split dropped 5 of 6 users (83%)" in ok.stderr
    plain = runner.invoke(app, ["data", "stats", str(root)])  # leave-one-out: nothing dropped
    assert "6 users (0 dropped), 8 of 8 items ranked" in plain.stdout and not plain.stderr
    bad = runner.invoke(app, [*args, "--set", "split.valid_cut=0.95"])  # after the test cut
    assert bad.exit_code == 0 and "split          not possible: split.test_cut: 0.9" in bad.stdout
    assert (
        "split.kindx: unknown key" in runner.invoke(app, [*args, "--set", "split.kindx=1"]).output
    )
