"""Shared fixtures: toy splits built through the real loader types and `make_split`, and
the zoo of tiny encoders (`tests.support.tiny_models`), written once per session.

The toolkit's user-level cache folder (`plumbing.cachedir.user_cache_dir`: where scenarios that
name no `output.cache_dir` keep hidden states, captions and generated models) points into a
temporary folder for the whole session, removed at its end, so the suite never writes into
the real ~/.cache; subprocesses inherit the variable."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from plumbing.cachedir import CACHE_ENV
from recsys.config import SplitConfig
from recsys.data import Catalogue, Dataset, make_split
from recsys.data.types import Split

SESSION_CACHE = Path(tempfile.mkdtemp(prefix="mmrec-test-cache-"))
os.environ[CACHE_ENV] = str(SESSION_CACHE)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


def toy_split(sequences: dict[str, list[str]], max_len: int = 10) -> Split:
    """A Split over item ids named in `sequences` (catalogue sorted by id)."""
    items = sorted({i for seq in sequences.values() for i in seq})
    catalogue = Catalogue(
        item_ids=tuple(items),
        titles=tuple(f"title {i}" for i in items),
        image_paths=(None,) * len(items),
        video_paths=(None,) * len(items),
    )
    dataset = Dataset(
        name="toy",
        catalogue=catalogue,
        sequences={u: tuple(s) for u, s in sequences.items()},
        source=Path("toy"),
    )
    return make_split(dataset, SplitConfig(max_len=max_len))


@pytest.fixture(scope="session")
def make_toy_split():
    return toy_split


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Spec `model` strings of every tiny encoder by role (see `write_tiny_zoo`)."""
    from tests.support.tiny_models import write_tiny_zoo

    return write_tiny_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="session")
def hf_log_handler() -> None:
    """Bind transformers' log handler to the session's stderr before any test runs a command.

    transformers creates its handler on first use, on whatever `sys.stderr` is then; when
    that first use happens inside a `CliRunner` invocation, the handler keeps the runner's
    stream, which is closed afterwards, and every later model load prints a "Logging error"
    traceback into the next command's output. Folders whose tests load models through the
    CLI use this fixture (autouse, in their conftest).
    """
    from transformers.utils import logging as hf_logging

    hf_logging.get_logger("transformers")
