import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def media_split(tmp_path_factory: pytest.TempPathFactory):  # -> recsys.data.types.Split
    """12 items with a title, a cover image and a 4-frame video; 10 users."""
    import numpy as np
    from PIL import Image

    from media.video import write_video
    from recsys.data.splitting import make_split
    from recsys.data.types import Catalogue, Dataset

    folder = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    words = "red blue green glass steel lab kit beaker flask lens clamp gloves".split()  # noqa: SIM905
    ids, titles, images, videos = [], [], [], []
    for i in range(12):
        ids.append(f"it{i}")
        titles.append(" ".join(rng.choice(words, size=2 + i % 4)))
        image = folder / f"it{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(image)
        images.append(image)
        video = folder / f"it{i}.mp4"
        write_video(video, rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8))
        videos.append(video)
    catalogue = Catalogue(tuple(ids), tuple(titles), tuple(images), tuple(videos))
    sequences = {
        f"u{u}": tuple(f"it{(u * 3 + k * (1 + u % 3)) % 12}" for k in range(5 + u % 3))
        for u in range(10)
    }
    return make_split(Dataset("tiny", catalogue, sequences, folder))
