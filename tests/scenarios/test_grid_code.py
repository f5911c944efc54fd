"""A grid whose finished cells come from different library code (issue 26, item 1): the
report says so at the top and gives no verdict unless mixing is allowed, and
`rerun_other_code` sets the cells of other code aside and runs them again."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from provenance import source_sha256
from scenarios.grid.plan import GridSpec
from scenarios.grid.run import run_grid

from .test_scenarios_grid import _fake_run, _rows

OTHER = "f" * 64  # a source hash no library has
SPEC = GridSpec(scenarios=("title", "title+image"), seeds=(0, 1), baseline="title")


def _record_code(out: Path, codes: dict[tuple[str, int], str]) -> None:
    """Give every finished cell the current code identity, or the one `codes` names."""
    for scenario in ("title", "title+image"):
        for seed in (0, 1):
            path = out / "runs" / scenario / f"iisan_versa-s{seed}" / "results.json"
            results = json.loads(path.read_text(encoding="utf-8"))
            sha = codes.get((scenario, seed), source_sha256())
            results["code"] = {
                "version": "x",
                "commit": "a" * 40,
                "dirty": False,
                "source_sha256": sha,
            }
            path.write_text(json.dumps(results), encoding="utf-8")


@pytest.fixture
def mixed_grid(tiny_data: Path, tmp_path: Path) -> Path:
    run_grid(SPEC, out_dir=tmp_path, data=tiny_data, echo=lambda _: None, run_cell=_fake_run(""))
    _record_code(tmp_path, {("title+image", 1): OTHER})
    return tmp_path


def _verdicts(out: Path) -> list[str]:
    comparisons = json.loads((out / "comparisons.json").read_text(encoding="utf-8"))
    return [c.get("no_verdict", "") for c in comparisons]


def test_a_report_of_mixed_code_says_so_first_and_gives_no_verdict(
    mixed_grid: Path, tiny_data: Path
) -> None:
    kept = run_grid(SPEC, out_dir=mixed_grid, data=tiny_data, echo=lambda _: None, run=False)
    assert {o.status for o in kept.outcomes} == {"skipped"}  # kept: training is expensive
    report = (mixed_grid / "report.md").read_text(encoding="utf-8")
    assert report.splitlines()[2].startswith("**Mixed code.** The finished cells come from 2")
    # each cell named as the grid names it, encoders included (a sweep over encoders has cells
    # that differ only there)
    other = "title+image / iisan_versa [minilm + tiny-vit] / seed 1"
    assert f"- `{OTHER[:12]}` (commit {'a' * 12}): {other}" in report
    assert f"- `{source_sha256()[:12]}` (commit {'a' * 12}) — this library: title /" in report
    table = report.split("## Against the baseline")[1].splitlines()
    row = next(line for line in table if line.startswith("| title+image |"))
    assert row.endswith("| mixed code: no verdict |"), row
    assert _verdicts(mixed_grid) == ["mixed code"]
    assert {r["code"] for r in _rows(mixed_grid)} == {OTHER, source_sha256()}

    run_grid(
        SPEC, out_dir=mixed_grid, data=tiny_data, echo=lambda _: None, run=False,
        allow_mixed_code=True,
    )  # fmt: skip
    report = (mixed_grid / "report.md").read_text(encoding="utf-8")
    assert "`--allow-mixed-code` was given" in report.splitlines()[2]
    assert "no verdict |" not in report and _verdicts(mixed_grid) == [""]


def test_one_code_identity_gives_no_warning(mixed_grid: Path, tiny_data: Path) -> None:
    _record_code(mixed_grid, {})
    run_grid(SPEC, out_dir=mixed_grid, data=tiny_data, echo=lambda _: None, run=False)
    report = (mixed_grid / "report.md").read_text(encoding="utf-8")
    assert "Mixed code" not in report and "mixed code: no verdict" not in report


def test_rerun_other_code_sets_the_other_codes_cell_aside_and_reruns_it(
    mixed_grid: Path, tiny_data: Path
) -> None:
    lines: list[str] = []
    result = run_grid(
        SPEC, out_dir=mixed_grid, data=tiny_data, echo=lines.append, run_cell=_fake_run(""),
        rerun_other_code=True,
    )  # fmt: skip
    statuses = {(o.cell.scenario.name, o.cell.seed): o.status for o in result.outcomes}
    assert statuses == {
        ("title", 0): "skipped",
        ("title", 1): "skipped",
        ("title+image", 0): "skipped",
        ("title+image", 1): "done",
    }
    moved = mixed_grid / "runs" / "title+image" / "iisan_versa-s1.stale-1" / "results.json"
    assert json.loads(moved.read_text(encoding="utf-8"))["code"]["source_sha256"] == OTHER
    assert any(f"finished by other code (source {OTHER[:12]})" in line for line in lines)


def test_the_grid_command_passes_both_flags(
    monkeypatch: pytest.MonkeyPatch, tiny_data: Path, tmp_path: Path
) -> None:
    import scenarios.grid.run
    from toolkit.cli import app

    seen: dict = {}

    def capture(spec, **kwargs):
        seen.update(kwargs)
        return SimpleNamespace(report=tmp_path / "report.md", failed=[])

    monkeypatch.setattr(scenarios.grid.run, "run_grid", capture)
    args = ["grid", "title", "--data", str(tiny_data), "--out", str(tmp_path), "--no-run"]
    done = CliRunner().invoke(app, [*args, "--rerun-other-code", "--allow-mixed-code"])
    assert done.exit_code == 0, done.output
    assert seen["rerun_other_code"] is True and seen["allow_mixed_code"] is True
