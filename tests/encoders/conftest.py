import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from recsys.encoders.tiny import write_tiny_zoo

    return write_tiny_zoo(tmp_path_factory.mktemp("zoo"))
