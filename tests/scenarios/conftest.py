"""Fixtures of the scenario tests (helpers live in scenario_helpers.py): the tiny dataset,
written once per session, a shared cache folder, one torch thread per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scenario_helpers import make_tiny_dataset, one_thread


@pytest.fixture(scope="session", autouse=True)
def _hf_logs_on_session_stderr(hf_log_handler: None) -> None:
    """See tests/conftest.py: model loads through the CLI must not log to a closed stream."""


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    with one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder (tiny-vit weights, hidden states, captions) for the whole session."""
    return tmp_path_factory.mktemp("cache")
