import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from recsys.cache import build_or_load_cache, cache_folder
from recsys.channels import ChannelInput, EncoderSpec
from recsys.encoders import build_encoder
from recsys.errors import CacheMismatchError

TEXTS = tuple(
    f"{w} glass beaker" + " lab kit" * (i % 5) for i, w in enumerate(["red", "blue"] * 20)
)


def _text_channel(model: str, **spec: object) -> ChannelInput:
    return ChannelInput("title", "text", EncoderSpec(model, **spec), texts=TEXTS)


class Counting:
    """Wraps an encoder's forward to count the items it encodes."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.items = 0
        original = encoder.forward

        def forward(**inputs: torch.Tensor) -> torch.Tensor:
            out = original(**inputs)
            self.items += out.shape[0]
            return out

        encoder.forward = forward


def test_build_stores_fp16_states_with_the_cls_step_once(
    zoo: dict[str, str], tmp_path: Path
) -> None:
    channel = _text_channel(zoo["bert"])
    cache = build_or_load_cache(channel, cache_dir=tmp_path, batch_size=8, progress=False)
    enc = build_encoder(channel.encoder, modality="text")
    direct = enc.encode(list(TEXTS)).half().numpy()  # [40, 3, 32]
    assert cache.states.shape == (41, 2, 32) and cache.states.dtype == np.float16
    assert cache.shared.shape == (1, 32) and cache.num_steps == 3
    full = cache.gather(np.arange(41))
    assert not full[0].any()  # padding row
    np.testing.assert_allclose(full[1:].astype(np.float32), direct.astype(np.float32), atol=2e-3)
    manifest = json.loads((cache.folder / "manifest.json").read_text())
    fields = manifest["fields"]
    assert fields["layers"] == [0, 1, 2] and fields["pooling"] == "cls"
    assert fields["max_tokens"] == 30 and fields["cache_dtype"] == "float16"
    assert fields["revision"] == enc.revision and manifest["missing"] == 0
    assert not (cache.folder / "partial").exists()


def test_reuse_does_not_encode_again(zoo: dict[str, str], tmp_path: Path) -> None:
    channel = _text_channel(zoo["bert"])
    first = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    enc = build_encoder(channel.encoder, modality="text")
    counter = Counting(enc)
    again = build_or_load_cache(channel, cache_dir=tmp_path, progress=False, encoder=enc)
    assert counter.items == 0 and again.fingerprint == first.fingerprint


def test_building_and_reusing_say_so_with_date_and_size(
    zoo: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import re
    from datetime import datetime

    channel = _text_channel(zoo["bert"])
    first = build_or_load_cache(channel, cache_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert re.search(rf"cache built in \d+\.\d s: {re.escape(str(first.folder))} \(\d", err)
    assert not re.search(r"cache title: +\d+%", err)  # stderr is no terminal: no bar
    built = datetime.fromisoformat(first.manifest["build"]["built_at"]).astimezone()
    size = sum(p.stat().st_size for p in first.folder.iterdir() if p.is_file())
    encoders = (None, build_encoder(channel.encoder, modality="text"))
    capsys.readouterr()  # the model library's own loading output
    for encoder in encoders:  # reused without loading the encoder, and with one given
        build_or_load_cache(channel, cache_dir=tmp_path, progress=True, encoder=encoder)
        assert capsys.readouterr().err.strip() == (
            f"cache reused: {first.folder} (built {built:%Y-%m-%d %H:%M}, {size / 1000:.1f} kB)"
        )
    build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_other_layers_are_refused_or_rebuilt(zoo: dict[str, str], tmp_path: Path) -> None:
    build_or_load_cache(_text_channel(zoo["bert"]), cache_dir=tmp_path, progress=False)
    other = _text_channel(zoo["bert"], layers=(0, 2), max_tokens=12)
    with pytest.raises(
        CacheMismatchError, match=r"layers: cached \[0, 1, 2\] != wanted \[0, 2\]"
    ) as err:
        build_or_load_cache(other, cache_dir=tmp_path, rebuild=False, progress=False)
    assert "max_tokens" in str(err.value) and "revision" not in str(err.value)
    rebuilt = build_or_load_cache(other, cache_dir=tmp_path, rebuild=True, progress=False)
    assert rebuilt.manifest["fields"]["layers"] == [0, 2] and rebuilt.num_steps == 2


def test_another_encoder_never_reuses_a_cache(zoo: dict[str, str], tmp_path: Path) -> None:
    from tests.support.tiny_models import write_tiny_bert

    a = build_or_load_cache(_text_channel(zoo["bert"]), cache_dir=tmp_path, progress=False)
    b = build_or_load_cache(_text_channel(zoo["llama"]), cache_dir=tmp_path, progress=False)
    assert a.folder != b.folder and b.manifest["fields"]["encoder"] == zoo["llama"]
    # the same folder re-written with other weights: a revision mismatch, refused
    model = write_tiny_bert(tmp_path / "m", seed=0)
    build_or_load_cache(_text_channel(str(model)), cache_dir=tmp_path, progress=False)
    write_tiny_bert(model, seed=3)
    with pytest.raises(CacheMismatchError, match="revision"):
        build_or_load_cache(
            _text_channel(str(model)), cache_dir=tmp_path, rebuild=False, progress=False
        )


def test_missing_and_corrupt_media_get_zero_states(zoo: dict[str, str], tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    paths: list[Path | None] = []
    for i in range(5):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths += [None, tmp_path / "bad.jpg", tmp_path / "gone.png"]
    channel = ChannelInput("cover", "image", EncoderSpec(zoo["vit"]), paths=tuple(paths))
    cache = build_or_load_cache(channel, cache_dir=tmp_path / "c", batch_size=3, progress=False)
    assert cache.missing == 3 and cache.manifest["missing_items"] == [6, 7, 8]
    assert cache.valid.tolist() == [False] + [True] * 5 + [False] * 3
    full = cache.gather(np.arange(9))
    assert not full[6:].any() and full[1:6, 1:].any()


def test_cache_folder_is_named_by_the_full_fingerprint(zoo: dict[str, str], tmp_path: Path) -> None:
    from media.hashing import sha256_json
    from recsys.cache import fingerprint_fields

    a = _text_channel(zoo["bert"])
    variants = (
        a,
        replace(a, texts=TEXTS[:-1] + ("changed",)),
        replace(a, source_fingerprint="captions-v2"),
        _text_channel(zoo["bert"], pooling="mean"),  # same shape as cls: its own folder too
        _text_channel(zoo["bert"], layers=(0, 2)),
    )
    folders = set()
    for channel in variants:
        enc = build_encoder(channel.encoder, modality="text")
        fingerprint = sha256_json(fingerprint_fields(channel, enc))
        folder = cache_folder(tmp_path, channel, fingerprint)
        assert folder.name == f"title--bert--{fingerprint[:16]}"
        folders.add(folder)
    assert len(folders) == len(variants)


_CHILD = """
import sys, time, torch
from recsys.cache import build_or_load_cache
from recsys.channels import ChannelInput, EncoderSpec
from recsys.encoders import build_encoder
texts = tuple(f"item {i} " + "lab " * (i % 4) for i in range(120))
channel = ChannelInput("title", "text", EncoderSpec(sys.argv[1]), texts=texts)
enc = build_encoder(channel.encoder, modality="text")
original = enc.forward
def slow(**inputs):
    time.sleep(0.3)
    return original(**inputs)
enc.forward = slow
build_or_load_cache(channel, cache_dir=sys.argv[2], batch_size=10, chunk_size=20,
                    progress=False, encoder=enc)
"""


def test_killed_build_resumes_without_recomputing_finished_chunks(
    zoo: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, zoo["bert"], str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240  # imports are slow on a loaded machine
    done: list[Path] = []
    while time.monotonic() < deadline and not done and child.poll() is None:
        done = sorted(tmp_path.glob("*/partial/chunk_*.npz"))
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert done, "the child never finished a chunk"
    finished = len(sorted(tmp_path.glob("*/partial/chunk_*.npz")))
    assert finished < 6 and not list(tmp_path.glob("*/manifest.json"))  # really interrupted

    texts = tuple(f"item {i} " + "lab " * (i % 4) for i in range(120))
    channel = ChannelInput("title", "text", EncoderSpec(zoo["bert"]), texts=texts)
    enc = build_encoder(channel.encoder, modality="text")
    counter = Counting(enc)
    cache = build_or_load_cache(
        channel, cache_dir=tmp_path, batch_size=10, chunk_size=20, progress=False, encoder=enc
    )
    assert counter.items == 120 - 20 * finished
    assert cache.manifest["build"]["computed_items"] == 120 - 20 * finished
    fresh = build_or_load_cache(
        channel, cache_dir=tmp_path / "fresh", batch_size=10, progress=False
    )
    np.testing.assert_array_equal(cache.gather(np.arange(121)), fresh.gather(np.arange(121)))


def _refuse_encoder(*args: object, **kwargs: object) -> None:
    raise AssertionError("the encoder was loaded")


def test_current_cache_opens_without_loading_the_encoder(
    zoo: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recsys.cache.build as build_mod
    from recsys.cache import open_current_cache

    channel = _text_channel(zoo["bert"])
    assert open_current_cache(channel, tmp_path) is None  # nothing built yet
    first = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    stamp = json.loads((first.folder / "quick_key.json").read_text())
    assert stamp["fingerprint"] == first.fingerprint
    monkeypatch.setattr(build_mod, "build_encoder", _refuse_encoder)
    again = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert again.fingerprint == first.fingerprint
    np.testing.assert_array_equal(again.gather(np.arange(41)), first.gather(np.arange(41)))
    # a setting the fingerprint covers, or a stamp of another build: back to the full check
    assert open_current_cache(_text_channel(zoo["bert"], max_tokens=12), tmp_path) is None
    assert open_current_cache(_text_channel(zoo["bert"], layers=(0, 2)), tmp_path) is None
    stale = dict(stamp, fingerprint="0" * 64)
    (first.folder / "quick_key.json").write_text(json.dumps(stale))
    assert open_current_cache(channel, tmp_path) is None
    with pytest.raises(AssertionError, match="the encoder was loaded"):
        build_or_load_cache(channel, cache_dir=tmp_path, progress=False)


def test_rewritten_weights_are_never_taken_for_current(zoo: dict[str, str], tmp_path: Path) -> None:
    from recsys.cache import open_current_cache
    from tests.support.tiny_models import write_tiny_bert

    model = write_tiny_bert(tmp_path / "m", seed=0)
    channel = _text_channel(str(model))
    build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert open_current_cache(channel, tmp_path) is not None
    write_tiny_bert(model, seed=3)  # same folder, other weights
    assert open_current_cache(channel, tmp_path) is None
    rebuilt = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert open_current_cache(channel, tmp_path).fingerprint == rebuilt.fingerprint


def test_hub_ids_are_identified_only_from_what_loading_would_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    from recsys.cache.keys import model_files_revision

    commit = "a" * 40
    repo = tmp_path / "hub" / "models--org--enc"
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert model_files_revision(EncoderSpec("org/enc")) == commit
    assert model_files_revision(EncoderSpec("org/absent")) is None
    assert model_files_revision(EncoderSpec("ViT-B-32", kind="open_clip")) is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # online, "main" may have moved since
    assert model_files_revision(EncoderSpec("org/enc")) is None
    assert model_files_revision(EncoderSpec("org/enc", revision=commit)) == commit


def test_a_cache_of_other_library_versions_is_named_and_rebuilt_or_reused_on_request(
    zoo: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import recsys.cache.keys as keys
    from recsys.cache import open_current_cache
    from recsys.cache.states import FORMAT_VERSION

    channel = _text_channel(zoo["bert"])
    first = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    versions = first.manifest["fields"]["versions"]
    assert set(versions) == {"torch", "transformers"}
    assert first.manifest["fields"]["format"] == FORMAT_VERSION
    upgraded = {**versions, "transformers": "99.0"}
    monkeypatch.setattr(keys, "library_versions", lambda names: {n: upgraded[n] for n in names})
    assert open_current_cache(channel, tmp_path) is None  # the fast path never takes it
    with pytest.raises(
        CacheMismatchError, match=r"transformers .* -> 99\.0.*reuse_across_versions"
    ):
        build_or_load_cache(channel, cache_dir=tmp_path, progress=False, rebuild=False)
    reused = build_or_load_cache(channel, cache_dir=tmp_path, progress=False, reuse_versions=True)
    assert reused.fingerprint == first.fingerprint
    assert "reused across library versions (transformers" in capsys.readouterr().err
    assert open_current_cache(channel, tmp_path) is None  # reuse does not make it current
    rebuilt = build_or_load_cache(channel, cache_dir=tmp_path, progress=False)
    assert f"{first.folder.name} was built for other settings (versions: transformers" in (
        capsys.readouterr().err
    )
    assert rebuilt.manifest["fields"]["versions"] == upgraded
    assert rebuilt.folder != first.folder and (first.folder / "manifest.json").exists()
    assert rebuilt.fingerprint != first.fingerprint


def test_states_that_overflow_float16_are_refused_naming_channel_layer_and_item(
    tmp_path: Path,
) -> None:
    from safetensors.torch import load_file, save_file

    from recsys.errors import CacheOverflowError
    from tests.support.tiny_models import write_tiny_bert

    model = write_tiny_bert(tmp_path / "loud", seed=0)
    weights = load_file(model / "model.safetensors")
    # An LLM-like outlier: the embedding LayerNorm scales one feature far past 65,504.
    name = next(k for k in weights if k.endswith("embeddings.LayerNorm.weight"))
    weights[name][3] = 1e6
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    ids = tuple(f"item{i}" for i in range(len(TEXTS)))
    channel = ChannelInput("title", "text", EncoderSpec(str(model)), texts=TEXTS, item_ids=ids)
    with pytest.raises(CacheOverflowError) as info:
        build_or_load_cache(channel, cache_dir=tmp_path / "cache", progress=False)
    message = str(info.value)
    assert message.startswith("cache title: hidden state 0 of item 'item")
    assert "float16 cannot store" in message and "encoder.layers" in message


def test_a_checkpoint_file_is_identified_by_its_content(tmp_path: Path) -> None:
    from plumbing.revision import files_revision

    checkpoint = tmp_path / "open_clip_vit.pt"
    checkpoint.write_bytes(b"weights-1" * 10)
    first = files_revision(checkpoint)
    assert first.startswith("file-")
    checkpoint.write_bytes(b"weights-2" * 10)  # replaced under the same path and size
    assert files_revision(checkpoint) not in (None, first)
    assert files_revision(tmp_path / "absent.pt") is None


def test_a_cache_lock_held_too_long_is_reported_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filelock import FileLock

    from recsys.cache.lock import TIMEOUT_ENV, folder_lock

    folder = tmp_path / "title--m--abc"
    monkeypatch.setenv(TIMEOUT_ENV, "0.2")
    held = FileLock(tmp_path / ".title--m--abc.lock")  # another builder holds it
    expected = pytest.raises(CacheMismatchError, match=f"building this cache.*{TIMEOUT_ENV}")
    with held, expected, folder_lock(folder):
        pass
    with folder_lock(folder):  # released: taken at once
        pass


def test_a_build_reports_the_texts_cut_at_max_tokens(
    zoo: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoTokenizer

    lengths = [
        len(row) for row in AutoTokenizer.from_pretrained(zoo["bert"])(list(TEXTS))["input_ids"]
    ]
    limit = sorted(lengths)[len(lengths) // 2]  # about half the texts are longer
    cut = sum(n > limit for n in lengths)
    assert 0.1 * len(TEXTS) < cut < len(TEXTS)
    channel = _text_channel(zoo["bert"], max_tokens=limit)
    cache = build_or_load_cache(channel, cache_dir=tmp_path, batch_size=8, progress=True)
    manifest = json.loads((cache.folder / "manifest.json").read_text())
    share = round(cut / len(TEXTS), 4)
    assert manifest["build"]["truncated"] == {"items": cut, "share": share, "max_tokens": limit}
    said = f"warning: cache title: {cut} of {len(TEXTS)} texts ({cut / len(TEXTS):.1%}) exceed "
    assert said + f"max_tokens = {limit} and are cut" in capsys.readouterr().err
    whole = _text_channel(zoo["bert"], max_tokens=max(lengths))  # nothing cut: no line
    cache = build_or_load_cache(whole, cache_dir=tmp_path, batch_size=8, progress=True)
    assert json.loads((cache.folder / "manifest.json").read_text())["build"]["truncated"] == {
        "items": 0, "share": 0.0, "max_tokens": max(lengths),
    }  # fmt: skip
    assert "exceed max_tokens" not in capsys.readouterr().err
