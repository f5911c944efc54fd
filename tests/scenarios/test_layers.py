"""The application layer's sub-packages import only those before them (scenarios/__init__.py):
schema < run < tune < report < grid. Read with `ast`, nothing imported."""

from __future__ import annotations

import ast
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
ORDER = ("schema", "run", "tune", "report", "grid")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    found += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    return found


def test_each_sub_package_imports_only_those_before_it() -> None:
    climbs = []
    for package in ORDER:
        for path in sorted((SCENARIOS / package).rglob("*.py")):
            for module in _imports(path):
                parts = [*module.split("."), ""]
                later = parts[1] in ORDER and ORDER.index(parts[1]) > ORDER.index(package)
                if parts[0] == "scenarios" and later:
                    climbs.append(f"{path.relative_to(SCENARIOS)} imports {module}")
    assert climbs == []


def test_the_shipped_files_are_data_apart_from_the_code() -> None:
    assert not list(SCENARIOS.glob("*.toml"))
    assert not list((SCENARIOS / "shipped").rglob("*.py"))
    assert (SCENARIOS / "shipped" / "title.toml").is_file()
