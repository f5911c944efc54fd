"""Every baseline over the other encoder kinds: a decoder LLM (mean pooling), open_clip, video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recsys.adapters.baselines import build_tuned_tower
from recsys.channels import ChannelInput, EncoderSpec
from recsys.errors import ConfigError
from recsys.methods import MethodContext

from .conftest import TITLES, tiny_split

ITEMS = torch.tensor([[1, 2, 3], [4, 5, 6]])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tests.support.tiny_models import (
        register_tiny_open_clip,
        write_tiny_llama,
        write_tiny_mpnet,
        write_tiny_vit,
    )

    root = tmp_path_factory.mktemp("zoo")
    return {
        "llama": str(write_tiny_llama(root / "llama", layers=2)),
        "mpnet": str(write_tiny_mpnet(root / "mpnet", layers=2)),
        "vit": str(write_tiny_vit(root / "vit")),
        "open_clip": register_tiny_open_clip(root / "open_clip", name="tiny-oc-baselines"),
    }


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path | None, ...]:
    from media.video import write_video

    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    paths: list[Path | None] = []
    for i in range(len(TITLES) - 2):
        path = root / f"v{i}.mp4"
        write_video(path, rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8))
        paths.append(path)
    broken = root / "broken.mp4"
    broken.write_bytes(b"not a video")
    return (*paths, broken, None)


def _ctx(channel: ChannelInput, **options: object) -> MethodContext:
    return MethodContext(
        split=tiny_split(len(TITLES)),
        channels=(channel,),
        options=options,
        device=torch.device("cpu"),
        cache_dir=Path("/nonexistent-cache"),
        seed=3,
    )


def _channel(kind: str, zoo: dict[str, str], videos, image_paths) -> ChannelInput:
    if kind in ("llama", "mpnet"):
        return ChannelInput("text", "text", EncoderSpec(zoo[kind]), texts=TITLES)
    if kind == "open_clip":
        spec = EncoderSpec(zoo["open_clip"], kind="open_clip")
        return ChannelInput("image", "image", spec, paths=image_paths)
    spec = EncoderSpec(zoo["vit"], num_frames=2)
    return ChannelInput("video", "video", spec, paths=videos)


def _steps(tower) -> None:
    tower.train()
    params = [p for g in tower.param_groups() for p in g.params]
    opt = torch.optim.Adam(params, lr=1e-2)
    target = torch.randn(*ITEMS.shape, 64, generator=torch.Generator().manual_seed(0))
    for _ in range(2):
        opt.zero_grad()
        ((tower(ITEMS) - target) ** 2).mean().backward()
        opt.step()


@pytest.mark.parametrize("kind", ["llama", "mpnet", "open_clip", "video"])
@pytest.mark.parametrize("method", ["fft", "adapter", "lora", "bitfit"])
def test_baselines_over_encoder_kinds(method, kind, zoo, videos, image_paths) -> None:
    options = {}
    if method == "lora" and kind == "open_clip":  # packed q/k/v: name the targets
        options = {"target_modules": [f"transformer.resblocks.{i}.mlp.c_fc" for i in range(3)]}
    tower = build_tuned_tower(_ctx(_channel(kind, zoo, videos, image_paths), **options), method)
    trained = {id(p) for g in tower.param_groups() for p in g.params}
    before = {n: p.detach().clone() for n, p in tower.named_parameters()}
    _steps(tower)
    for name, param in tower.named_parameters():
        changed = not torch.equal(param, before[name])
        assert changed == (id(param) in trained), name
    with torch.no_grad():
        out = tower.eval()(ITEMS)
    assert out.shape == (2, 3, 64) and torch.isfinite(out).all()
    if kind == "video":  # the broken file and the missing video read as zero states
        assert tower.channels[0].inputs.missing == 2
        assert torch.allclose(out[1, 1], tower.projection.bias)
        assert torch.allclose(out[1, 2], tower.projection.bias)


def test_lora_on_open_clip_asks_for_targets(zoo, image_paths) -> None:
    spec = EncoderSpec(zoo["open_clip"], kind="open_clip")
    channel = ChannelInput("image", "image", spec, paths=image_paths)
    with pytest.raises(ConfigError, match="target_modules"):
        build_tuned_tower(_ctx(channel), "lora")


def _lora_encoder_params(tower) -> tuple[int, set[str]]:
    """How many trained encoder tensors a LoRA tower has, and the projections they adapt."""
    names = {n for n, p in tower.named_parameters() if p.requires_grad}
    encoder = {n for n in names if not n.startswith("projection.")}
    return len(encoder), {n.split(".lora_")[0].rsplit(".", 1)[1] for n in encoder}


def test_decoder_lora_targets_q_and_v(zoo) -> None:
    channel = ChannelInput("text", "text", EncoderSpec(zoo["llama"]), texts=TITLES)
    tower = build_tuned_tower(_ctx(channel), "lora")
    # 2 layers x (q_proj, v_proj) x (A, B)
    assert _lora_encoder_params(tower) == (2 * 2 * 2, {"q_proj", "v_proj"})
    assert tower.describe()["channels"][0]["encoder"]["pooling"] == "mean"


def test_mpnet_adapters_and_lora_sit_in_every_block(zoo) -> None:
    """MPNet (the `mpnet` alias's architecture): one Houlsby pair and LoRA on q and v per block."""
    channel = ChannelInput("text", "text", EncoderSpec(zoo["mpnet"]), texts=TITLES)
    lora = build_tuned_tower(_ctx(channel), "lora")
    assert _lora_encoder_params(lora) == (2 * 2 * 2, {"q", "v"})  # 2 layers x (q, v) x (A, B)
    adapter = build_tuned_tower(_ctx(channel), "adapter")
    adapted = {n.split(".adapter.")[0] for n, p in adapter.named_parameters() if ".adapter." in n}
    assert len(adapted) == 2 * 2, adapted  # 2 layers x (attention, feed-forward)
