import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.support.tiny_models import write_tiny_bert

    return str(write_tiny_bert(tmp_path_factory.mktemp("zoo") / "bert"))


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Seven small PNGs of plain colours (the baseline captioner names colours)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 240), (20, 20, 20)]
    colours += [(200, 200, 30), (120, 60, 200)]
    paths = []
    for i, colour in enumerate(colours):
        path = folder / f"img{i}.png"
        Image.new("RGB", (32, 32), colour).save(path)
        paths.append(str(path))
    return paths
