"""docs/RELIABILITY.md names the test behind every row; each named test must exist."""

from __future__ import annotations

import re

from reliability_helpers import ROOT


def test_every_test_the_reliability_table_names_exists() -> None:
    text = (ROOT / "docs" / "RELIABILITY.md").read_text(encoding="utf-8")
    defined = {
        match
        for path in (ROOT / "tests").rglob("test_*.py")
        for match in re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M)
    }
    named = set(re.findall(r"\b(test_\w+)\b(?!\.py)", text))
    named -= {"test_per_user"}  # the test_per_user.csv file
    files = set(re.findall(r"(tests/[\w/]+\.py)", text))
    assert len(named) > 40 and len(files) > 10
    assert sorted(named - defined) == []
    assert sorted(f for f in files if not (ROOT / f).exists()) == []
