"""The one error type of scenario and grid files."""

from __future__ import annotations

from pathlib import Path


class ScenarioError(ValueError):
    """A scenario file or override is invalid; the message names file, key and valid values.

    Args:
        source: the scenario file (or "<overrides>" / "<grid>").
        key: dotted path of the offending key, "" for the whole file.
        message: what is wrong and what would be valid.
    """

    def __init__(self, source: str | Path, key: str, message: str) -> None:
        self.source = str(source)
        self.key = key
        self.message = message
        where = f"{self.source}: {key}" if key else self.source
        super().__init__(f"{where}: {message}")
