"""A cache belongs to one configuration and one version of the code that computed it.

Two guards, both needed: the folder is named by the full fingerprint, so two
configurations of one shape (cls vs mean pooling) never share, rebuild or read each other's
folder, and a reader keeps the one file it opened (and checked) for the whole run; and the
fingerprint holds a hash of the toolkit code that computes states, so a change there
rebuilds instead of waiting for someone to bump `FORMAT_VERSION`.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.cache import build_or_load_cache
from recsys.channels import ChannelInput, EncoderSpec

TEXTS = tuple(f"{w} glass beaker" + " lab kit" * (i % 5) for i, w in enumerate(["red", "blue"] * 8))

# Builds the cache of one pooling into a shared root, waits until the other process has
# built its own, then reads every row back through the streamed reader and compares it with
# the states computed directly. Exit status 0 only when they agree.
_CHILD = """
import sys, time
from pathlib import Path
import torch
from recsys.cache import build_or_load_cache
from recsys.cache.stream import StreamedSource
from recsys.channels import ChannelInput, EncoderSpec
from recsys.encoders import build_encoder
model, root, flags, pooling, other = sys.argv[1:6]
texts = tuple(f"{w} glass beaker" + " lab kit" * (i % 5) for i, w in enumerate(["red", "blue"] * 8))
channel = ChannelInput("title", "text", EncoderSpec(model, pooling=pooling), texts=texts)
enc = build_encoder(channel.encoder, modality="text")
direct = enc.encode(list(texts)).half().float()
cache = build_or_load_cache(channel, cache_dir=root, batch_size=4, chunk_size=4,
                            progress=False, encoder=enc)
Path(flags, pooling).write_text(str(cache.folder))
deadline = time.monotonic() + 300
while not Path(flags, other).exists():
    if time.monotonic() > deadline:
        sys.exit("the other process never built its cache")
    time.sleep(0.05)
time.sleep(0.5)  # the other one has built: anything it replaced is replaced by now
got = StreamedSource(cache, {})(torch.arange(len(texts) + 1))[1:]
torch.testing.assert_close(got, direct, atol=2e-3, rtol=0)
print("ok", pooling, cache.folder)
"""


def test_two_processes_with_two_configurations_each_read_their_own_states(
    zoo: dict[str, str], tmp_path: Path
) -> None:
    from scenarios.run.caches import cache_entries

    root, flags = tmp_path / "caches" / "states", tmp_path / "flags"
    flags.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    children = {
        pooling: subprocess.Popen(
            [sys.executable, "-c", _CHILD, zoo["bert"], str(root), str(flags), pooling, other],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pooling, other in (("cls", "mean"), ("mean", "cls"))
    }
    outputs = {p: c.communicate(timeout=400) for p, c in children.items()}
    for pooling, child in children.items():
        assert child.returncode == 0, f"{pooling}: {outputs[pooling][1][-3000:]}"
    folders = {p: Path((flags / p).read_text()) for p in children}
    assert folders["cls"] != folders["mean"]
    built_by = sorted(e.built_by for e in cache_entries(tmp_path / "caches"))
    assert len(built_by) == 2  # `toolkit cache list` tells the two apart from the manifests
    assert "cls pooling" in built_by[0] and "mean pooling" in built_by[1]


def _channel(model: str, **spec: object) -> ChannelInput:
    return ChannelInput("title", "text", EncoderSpec(model, **spec), texts=TEXTS)


def test_a_streamed_reader_keeps_the_file_it_opened(zoo: dict[str, str], tmp_path: Path) -> None:
    from recsys.cache.stream import StreamedSource

    cache = build_or_load_cache(_channel(zoo["bert"]), cache_dir=tmp_path, progress=False)
    source = StreamedSource(cache, {})
    items = torch.arange(len(TEXTS) + 1)
    before = source(items)
    assert before[1:].abs().sum() > 0
    # another build renames a new file over the path while this run still reads
    replacement = tmp_path / "replacement.npy"
    np.save(replacement, np.zeros(cache.states.shape, dtype=np.float16))
    os.replace(replacement, cache.folder / "states.npy")
    assert torch.equal(source(items), before)


def test_a_manifest_of_another_configuration_is_refused_at_open(
    zoo: dict[str, str], tmp_path: Path
) -> None:
    from recsys.cache import open_cache

    cls = build_or_load_cache(_channel(zoo["bert"]), cache_dir=tmp_path, progress=False)
    mean = build_or_load_cache(
        _channel(zoo["bert"], pooling="mean"), cache_dir=tmp_path, progress=False
    )
    assert cls.folder != mean.folder and cls.folder.parent == mean.folder.parent
    shutil.copy(mean.folder / "manifest.json", cls.folder / "manifest.json")
    with pytest.raises(ValueError, match="not the one of this folder"):
        open_cache(cls.folder)


def _copy_tree(files: tuple[str, ...], root: Path, extra: str) -> None:
    from recsys.cache.source import PACKAGE_ROOT

    for name in (*files, extra):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PACKAGE_ROOT / name, root / name)


def test_source_hash_follows_the_state_code_and_nothing_else(tmp_path: Path) -> None:
    from recsys.cache.source import PACKAGE_ROOT, STATE_SOURCES, source_sha256

    assert all((PACKAGE_ROOT / name).is_file() for name in STATE_SOURCES)  # none renamed away
    for required in ("recsys/encoders/base.py", "recsys/encoders/layers.py"):
        assert required in STATE_SOURCES  # pooling, layer selection
    assert "recsys/cache/build.py" in STATE_SOURCES  # the writer
    unrelated = "recsys/cache/lock.py"
    assert unrelated not in STATE_SOURCES
    _copy_tree(STATE_SOURCES, tmp_path, unrelated)
    first = source_sha256(STATE_SOURCES, tmp_path)
    assert first == source_sha256(STATE_SOURCES, PACKAGE_ROOT)  # bytes, not places
    with open(tmp_path / unrelated, "a") as handle:
        handle.write("\n# an unrelated edit\n")
    assert source_sha256(STATE_SOURCES, tmp_path) == first
    pooling = tmp_path / "recsys/encoders/base.py"
    pooling.write_bytes(pooling.read_bytes().replace(b"mean", b"meen", 1))
    changed = source_sha256(STATE_SOURCES, tmp_path)
    assert changed != first
    (tmp_path / "recsys/cache/build.py").unlink()
    assert source_sha256(STATE_SOURCES, tmp_path) not in (first, changed)


def test_changed_state_code_rebuilds_the_cache_under_a_new_folder(
    zoo: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recsys.cache.keys as keys
    from recsys.cache import open_current_cache
    from recsys.cache.source import state_source_sha256
    from recsys.errors import CacheMismatchError

    channel = _channel(zoo["bert"])
    first = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert first.manifest["fields"]["source_code"] == state_source_sha256()
    assert open_current_cache(channel, tmp_path) is not None
    monkeypatch.setattr(keys, "state_source_sha256", lambda: "0" * 64)  # pooling edited
    assert open_current_cache(channel, tmp_path) is None
    with pytest.raises(CacheMismatchError, match="source_code: cached"):
        build_or_load_cache(channel, cache_dir=tmp_path, rebuild=False, progress=False)
    rebuilt = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert rebuilt.folder != first.folder and rebuilt.fingerprint != first.fingerprint
    assert rebuilt.manifest["fields"]["source_code"] == "0" * 64
    assert rebuilt.manifest["build"]["computed_items"] == len(TEXTS)
