"""Where the shipped scenario and grid files (and tiny model configs) are: package data in
`scenarios/shipped/`, found through importlib.resources so a wheel install finds them too.
Standard library only, so `toolkit --help` can list the shipped names without loading the
schema."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SHIPPED_DIR = Path(str(files("scenarios") / "shipped"))
"""Folder of the shipped scenario files, with `grids/` and `model_configs/` inside."""


def shipped_scenarios() -> list[Path]:
    """The scenario files shipped with the toolkit, sorted by name."""
    return sorted(SHIPPED_DIR.glob("*.toml"))
