"""Conformance of the IISAN-Versa and frozen towers over every encoder kind."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from recsys.channels import ChannelInput, EncoderSpec
from recsys.methods import MethodContext, get_method
from recsys.models.recommender import SequentialRecommender
from recsys.models.sasrec import SASRec

# name -> channels as (modality, zoo role, encoder kind)
CASES = {
    "bert": [("text", "bert", "auto")],
    "bert+vit": [("text", "bert", "auto"), ("image", "vit", "auto")],
    "llama+vit": [("text", "llama", "auto"), ("image", "vit", "auto")],
    "mpnet+vit": [("text", "mpnet", "auto"), ("image", "vit", "auto")],
    "wide_text+narrow_vision": [("text", "wide_bert", "auto"), ("image", "vit", "auto")],
    "open_clip": [("image", "open_clip", "open_clip")],
    "text+image+video": [
        ("text", "bert", "auto"),
        ("image", "vit", "auto"),
        ("video", "vit", "auto"),
    ],
}


def _channels(split, zoo: dict[str, str], case: str) -> tuple[ChannelInput, ...]:
    cat = split.catalogue
    out = []
    for modality, role, kind in CASES[case]:
        spec = EncoderSpec(zoo[role], kind=kind, num_frames=2)
        if modality == "text":
            out.append(ChannelInput(modality, modality, spec, texts=cat.titles))
        else:
            paths = cat.image_paths if modality == "image" else cat.video_paths
            out.append(ChannelInput(modality, modality, spec, paths=paths))
    return tuple(out)


def _tower(method: str, split, channels, tmp: Path, **options: object):
    ctx = MethodContext(
        split=split,
        channels=channels,
        options=options,
        device=torch.device("cpu"),
        cache_dir=tmp / "cache",
        progress=False,
    )
    torch.manual_seed(0)
    return get_method(method).builder(ctx)


def _trainable(tower) -> dict[str, torch.Tensor]:
    ids = {id(p) for g in tower.param_groups() for p in g.params}
    return {n: p for n, p in tower.named_parameters() if id(p) in ids}


def _scores(tower, n: int) -> torch.Tensor:
    tower.eval()
    return tower.embed_all(n)


@pytest.mark.parametrize("case", list(CASES))
def test_iisan_versa_conformance(
    media_split, zoo: dict[str, str], case: str, tmp_path: Path
) -> None:
    split, n = media_split, media_split.num_items
    channels = _channels(split, zoo, case)
    cached = _tower("iisan_versa", split, channels, tmp_path)
    live = _tower("iisan_versa", split, channels, tmp_path, cached=False)
    assert not cached.frozen_modules() and len(live.frozen_modules()) == len(channels)
    expected_inter = len(channels) > 1
    assert (cached.adapter.inter is not None) == expected_inter

    # cached == uncached for the same weights (live states rounded to fp16, dropout off)
    live.adapter.load_state_dict(cached.adapter.state_dict())
    emb = _scores(cached, n)
    assert emb.shape == (n + 1, 64) and torch.isfinite(emb).all()
    assert torch.allclose(_scores(live, n), emb, atol=1e-5, rtol=1e-4)

    # a few optimiser steps on the live tower: only declared parameters move
    backbone = {
        f"{i}.{k}": v.clone()
        for i, m in enumerate(live.frozen_modules())
        for k, v in m.state_dict().items()
    }
    before = {k: v.detach().clone() for k, v in _trainable(live).items()}
    model = SequentialRecommender(live, SASRec(64, 2, 2, 256, 10, 0.1))
    model.train()
    params = [p for g in live.param_groups() for p in g.params] + list(model.sasrec.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)
    log_pop = torch.tensor(split.log_popularity(), dtype=torch.float32)
    seqs = torch.as_tensor(split.train_seqs)
    for _ in range(3):
        opt.zero_grad()
        model.loss(seqs, "inbatch_logq", log_pop).backward()
        opt.step()
    after = {
        f"{i}.{k}": v
        for i, m in enumerate(live.frozen_modules())
        for k, v in m.state_dict().items()
    }
    assert all(torch.equal(backbone[k], after[k]) for k in backbone)
    changed = [k for k, v in _trainable(live).items() if not torch.equal(before[k], v)]
    assert len(changed) == len(before)  # every adapter tensor learned, gates included
    assert any("gate_logits" in k for k in changed)
    if expected_inter:
        assert any("mix_logits" in k for k in changed)

    # save -> load (trainable tensors only) gives identical scores
    path = tmp_path / "adapter.safetensors"
    save_file({k: v.detach().contiguous() for k, v in _trainable(live).items()}, path)
    fresh = _tower("iisan_versa", split, channels, tmp_path)
    missing = fresh.load_state_dict(load_file(path), strict=False)
    assert not missing.unexpected_keys
    assert not [k for k in missing.missing_keys if k in _trainable(fresh)]
    assert torch.allclose(_scores(fresh, n), _scores(live, n), atol=1e-5, rtol=1e-4)
    reloaded = _tower("iisan_versa", split, channels, tmp_path)
    reloaded.load_state_dict(load_file(path), strict=False)
    assert torch.equal(_scores(reloaded, n), _scores(fresh, n))
    assert all(not k.startswith("sources") for k in load_file(path))  # no backbone tensor


def test_live_states_equal_cached_states_inside_a_training_autocast(
    media_split, zoo: dict[str, str], tmp_path: Path
) -> None:
    """A training step under autocast (bf16, here on CPU as a trainer does on CUDA) must feed
    the adapter the same states as the cache: the frozen encoder runs outside autocast, at
    its own dtype, and its states are rounded to fp16 like the cache's."""
    split = media_split
    channels = _channels(split, zoo, "bert+vit")
    cached = _tower("iisan_versa", split, channels, tmp_path)
    live = _tower("iisan_versa", split, channels, tmp_path, cached=False)
    seen: list[list[torch.Tensor]] = []
    live.adapter.register_forward_pre_hook(lambda _, args: seen.append(list(args[0])))
    model = SequentialRecommender(live, SASRec(64, 2, 2, 256, 10, 0.1)).train()
    log_pop = torch.tensor(split.log_popularity(), dtype=torch.float32)
    seqs = torch.as_tensor(split.train_seqs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.loss(seqs, "inbatch_logq", log_pop).float().backward()
    [live_states] = seen
    items = torch.unique(seqs[seqs > 0])
    for source, state in zip(cached.sources, live_states, strict=True):
        assert state.dtype == torch.float32
        assert torch.equal(state, source(items))  # fp16-rounded fp32 on both sides


def test_frozen_tower_cached_equals_live_and_trains_only_the_projection(
    media_split, zoo: dict[str, str], tmp_path: Path
) -> None:
    split, n = media_split, media_split.num_items
    channels = _channels(split, zoo, "bert+vit")
    cached = _tower("frozen", split, channels, tmp_path)
    live = _tower("frozen", split, channels, tmp_path, cached=False)
    assert cached.projection.in_features == 64
    assert sum(p.numel() for g in cached.param_groups() for p in g.params) == 64 * 64 + 64
    live.projection.load_state_dict(cached.projection.state_dict())
    assert torch.allclose(_scores(live, n), _scores(cached, n), atol=1e-5, rtol=1e-4)


def test_builders_reject_unknown_options(media_split, zoo: dict[str, str], tmp_path: Path) -> None:
    from recsys.errors import ConfigError

    channels = _channels(media_split, zoo, "bert+vit")
    with pytest.raises(ConfigError, match="method_options.ranks: unknown key.*valid keys"):
        _tower("iisan_versa", media_split, channels, tmp_path, ranks=8)
    with pytest.raises(ConfigError, match="method_options.rank: unknown key"):
        _tower("frozen", media_split, channels, tmp_path, rank=8)


def test_a_current_cache_trains_without_loading_the_backbone(
    media_split, zoo: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import recsys.adapters.sources as sources
    import recsys.cache.build as build_mod

    channels = _channels(media_split, zoo, "bert+vit")
    first = _tower("iisan_versa", media_split, channels, tmp_path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a backbone was loaded")

    monkeypatch.setattr(sources, "build_encoder", refuse)
    monkeypatch.setattr(build_mod, "build_encoder", refuse)
    again = _tower("iisan_versa", media_split, channels, tmp_path)
    n = media_split.num_items
    assert torch.equal(_scores(again, n), _scores(first, n))  # same seed, same states


@pytest.mark.parametrize("case", ["bert", "bert+vit"])
def test_baselines_can_take_iisan_versas_head_and_fusion(
    media_split, zoo: dict[str, str], case: str, tmp_path: Path
) -> None:
    """`head = "iisan"`: per-channel Linear(d -> d) -> Linear(d -> 64), concatenation and a
    fusion Linear with two channels or more; with one channel the head is IISAN-Versa's
    exactly, so head capacity cannot explain a difference between the two."""
    split = media_split
    channels = _channels(split, zoo, case)
    widths = [s.width for s in _tower("iisan_versa", split, channels, tmp_path).sources]
    per_channel = sum(w * w + w + w * 64 + 64 for w in widths)
    fusion = (len(widths) * 64 * 64 + 64) if len(widths) > 1 else 0
    frozen = _tower("frozen", split, channels, tmp_path, head="iisan")
    assert sum(p.numel() for p in frozen.head_parameters()) == per_channel + fusion
    linear = _tower("frozen", split, channels, tmp_path)
    assert sum(p.numel() for p in linear.head_parameters()) == sum(widths) * 64 + 64
    assert torch.isfinite(_scores(frozen, split.num_items)).all()
    if len(channels) == 1:
        iisan = _tower("iisan_versa", split, channels, tmp_path)
        assert sum(p.numel() for p in iisan.head_parameters()) == per_channel
