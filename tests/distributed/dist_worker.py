"""What each rank runs in the 2-process tests (launched by torchrun), and the shared fixtures.

    python -m torch.distributed.run --nproc_per_node 2 tests/distributed/dist_worker.py SPEC

SPEC is a JSON file naming the tiny encoder, the media to caption and the output folders.
The single-process reference runs the same functions in the pytest process.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NUM_USERS, NUM_ITEMS, CACHE_CHUNK = 40, 30, 8


def make_split():  # -> recsys.data.types.Split
    """40 users over 30 items, 5-9 interactions each, deterministic."""
    import numpy as np

    from recsys.config import SplitConfig
    from recsys.data import Catalogue, Dataset, make_split

    rng = np.random.default_rng(7)
    words = "red blue green glass steel lab kit beaker flask lens clamp gloves".split()  # noqa: SIM905
    ids = tuple(f"it{i:02d}" for i in range(NUM_ITEMS))
    titles = tuple(" ".join(rng.choice(words, size=2 + i % 3)) for i in range(NUM_ITEMS))
    catalogue = Catalogue(ids, titles, (None,) * NUM_ITEMS, (None,) * NUM_ITEMS)
    sequences = {
        f"u{u:02d}": tuple(ids[int(j)] for j in rng.choice(NUM_ITEMS, 5 + u % 5, replace=False))
        for u in range(NUM_USERS)
    }
    return make_split(Dataset("dist", catalogue, sequences, Path("dist")), SplitConfig(max_len=6))


def channels(split, bert: str) -> tuple:
    from recsys.channels import ChannelInput, EncoderSpec

    spec = EncoderSpec(bert)
    return (ChannelInput("text", "text", spec, texts=split.catalogue.titles),)


def run(split, method: str, bert: str, out: Path, cache: Path, device: str = "cpu") -> Any:
    """One tiny run: dropout off, AMP off, 2 epochs, global batches of 13 users (13, 13, 13, 1:
    on 2 ranks the last step leaves rank 1 without rows)."""
    from recsys.config import SASRecConfig, TrainConfig
    from recsys.run import run_experiment
    from recsys.spec import RunSpec

    return run_experiment(
        RunSpec(
            split=split,
            method=method,
            channels=channels(split, bert) if method != "id" else (),
            sasrec=SASRecConfig(dim=32, ffn_dim=64, dropout=0.0),
            train=TrainConfig(epochs=2, batch_size=13, device=device, patience=5, amp=False),
            seed=3,
            cache_dir=cache,
        ),
        out_dir=out,
        progress=False,
    )


def build_cache(split, bert: str, cache: Path):  # -> CachedStates
    """The channel's cache in chunks of 8 items (4 chunks: both ranks get work)."""
    from recsys.cache import build_or_load_cache

    (channel,) = channels(split, bert)
    return build_or_load_cache(channel, cache_dir=cache, chunk_size=CACHE_CHUNK, progress=False)


def caption(images: list[str], store: Path) -> Any:
    """Baseline captions of the images (sharded by RANK / WORLD_SIZE when launched so)."""
    from captioning.api import caption_items
    from captioning.items import MediaItem

    items = [MediaItem(Path(p).stem, Path(p), "image") for p in images]
    return caption_items(items, captioner="baseline", store=store, progress=False, num_workers=1)


class _Stop(Exception):
    """Raised after the first epoch's checkpoint to simulate a job that was cut off."""


def run_cut_after_first_epoch(split, bert: str, out: Path, cache: Path) -> None:
    from recsys.train.trainer import Trainer

    original = Trainer._save

    def save_then_stop(self, epoch, state, improved):
        original(self, epoch, state, improved)
        raise _Stop

    Trainer._save = save_then_stop
    try:
        run(split, "iisan_versa", bert, out, cache)
    except _Stop:
        pass
    finally:
        Trainer._save = original


def main(spec_path: str) -> None:
    from recsys import distributed

    spec = json.loads(Path(spec_path).read_text())
    root, device = Path(spec["root"]), spec.get("device", "cpu")
    if spec.get("images"):
        caption(spec["images"], root / "captions")  # captioning needs no process group
    distributed.init_from_env()
    split = make_split()
    build_cache(split, spec["bert"], root / "cache")
    run(split, "iisan_versa", spec["bert"], root / "iisan", root / "cache", device)
    run(split, "id", spec["bert"], root / "id", root / "cache", device)
    if spec.get("cut", True):
        run_cut_after_first_epoch(split, spec["bert"], root / "cut", root / "cache")
    distributed.barrier()
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
