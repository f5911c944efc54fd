"""The fine-tuning baselines: what trains, what stays bit-identical, where training starts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recsys.adapters.baselines import build_tuned_tower
from recsys.adapters.houlsby import HoulsbyAdapter
from recsys.errors import ConfigError
from recsys.methods import get_method

METHODS = ("fft", "adapter", "lora", "bitfit")
ITEMS = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 2]])  # two "users", one padded position


def _names(tower: nn.Module) -> dict[int, str]:
    return {id(p): n for n, p in tower.named_parameters()}


def _trainable_names(tower) -> set[str]:
    names = _names(tower)
    return {names[id(p)] for g in tower.param_groups() for p in g.params}


def _train_steps(tower, steps: int = 3) -> None:
    tower.train()
    params = [p for g in tower.param_groups() for p in g.params]
    opt = torch.optim.Adam(params, lr=1e-2)
    target = torch.randn(*ITEMS.shape, tower.out_dim, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        opt.zero_grad()
        loss = ((tower(ITEMS) - target) ** 2).mean()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("multimodal", [False, True], ids=["text", "text+image"])
@pytest.mark.parametrize("method", METHODS)
def test_only_declared_parameters_change(make_ctx, method: str, multimodal: bool) -> None:
    tower = get_method(method).builder(make_ctx(multimodal))
    declared = [p for g in tower.param_groups() for p in g.params]
    assert len({id(p) for p in declared}) == len(declared), "a parameter is listed twice"
    assert {id(p) for p in declared} == {id(p) for p in tower.parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in tower.named_parameters()}
    trained = _trainable_names(tower)
    _train_steps(tower)
    for name, param in tower.named_parameters():
        if name in trained:
            assert not torch.equal(param, before[name]), f"{name} did not train"
        else:
            assert torch.equal(param, before[name]), f"frozen {name} changed"
    frozen_ids = {id(p) for m in tower.frozen_modules() for p in m.parameters()}
    assert not frozen_ids & {id(p) for p in declared}
    out = tower(ITEMS)
    assert out.shape == (2, 4, 64) and torch.isfinite(out).all()
    # padding (and missing media) get a zero state, as in `frozen`: the projection's bias
    assert torch.allclose(out[0, 3], tower.projection.bias)


def _encoder_trainable(tower, channel: int = 0) -> dict[str, nn.Parameter]:
    enc = tower.channels[channel].encoder.model
    return {n: p for n, p in enc.named_parameters() if p.requires_grad}


def test_fft_trains_every_used_encoder_tensor(make_ctx) -> None:
    tower = build_tuned_tower(make_ctx(multimodal=True), "fft")
    bert = tower.channels[0].encoder.model
    unused = {n for n, p in bert.named_parameters() if not p.requires_grad}
    assert unused == {"pooler.dense.weight", "pooler.dense.bias"}  # BERT's pooler is unused
    vit = tower.channels[1].encoder.model
    unused = {n for n, p in vit.named_parameters() if not p.requires_grad}
    # the last hidden state is taken before ViT's final LayerNorm; the pooler is unused
    assert unused == {
        "layernorm.weight",
        "layernorm.bias",
        "pooler.dense.weight",
        "pooler.dense.bias",
    }
    groups = {g.name: g for g in tower.param_groups()}
    assert groups["fft_encoder"].role == "adapter"
    assert groups["projection"].role == "recommender"


def test_bitfit_trains_only_biases(make_ctx) -> None:
    tower = build_tuned_tower(make_ctx(multimodal=True), "bitfit")
    for k in (0, 1):
        enc = tower.channels[k].encoder.model
        trainable = _encoder_trainable(tower, k)
        assert trainable and all(n.endswith(".bias") for n in trainable)
        used_biases = {
            n
            for n, _ in enc.named_parameters()
            if n.endswith(".bias") and not n.startswith("pooler")
        }
        if k == 1:
            used_biases -= {"layernorm.bias"}
        assert set(trainable) == used_biases


def test_adapter_placement_and_frozen_layernorms(make_ctx) -> None:
    tower = build_tuned_tower(make_ctx(multimodal=True), "adapter")
    for k in (0, 1):
        enc = tower.channels[k].encoder.model
        adapters = [m for m in enc.modules() if isinstance(m, HoulsbyAdapter)]
        assert len(adapters) == 4  # 2 blocks x (attention, FFN)
        assert all(a.down.out_features == 64 and not a.up.weight.any() for a in adapters)
        own = {id(p) for a in adapters for p in a.parameters()}
        assert own == {id(p) for p in _encoder_trainable(tower, k).values()}
        norms = [m for m in enc.modules() if isinstance(m, nn.LayerNorm)]
        assert norms and not any(p.requires_grad for m in norms for p in m.parameters())
    bert_layer = tower.channels[0].encoder.model.encoder.layer[0]
    assert type(bert_layer.attention.output.dropout).__name__ == "AdaptedOutput"
    assert type(bert_layer.output.dropout).__name__ == "AdaptedOutput"


@pytest.mark.parametrize("method", ["adapter", "lora"])
def test_starts_from_the_pretrained_function(make_ctx, method: str) -> None:
    reference = build_tuned_tower(make_ctx(multimodal=True), "none").eval()
    tower = build_tuned_tower(make_ctx(multimodal=True), method).eval()
    with torch.no_grad():
        assert torch.allclose(tower(ITEMS), reference(ITEMS), atol=1e-6)
        assert torch.allclose(tower.embed_all(6), reference.embed_all(6), atol=1e-6)


def test_lora_keeps_the_pretrained_weights(make_ctx, model_dirs) -> None:
    from transformers import BertModel

    tower = build_tuned_tower(make_ctx(r=4, alpha=8), "lora")
    _train_steps(tower)
    pretrained = BertModel.from_pretrained(model_dirs["bert"]).state_dict()
    layer = tower.channels[0].encoder.model.encoder.layer[1].attention.self
    for proj in ("query", "value"):
        base = getattr(layer, proj).base_layer
        assert torch.equal(base.weight, pretrained[f"encoder.layer.1.attention.self.{proj}.weight"])
        assert torch.equal(base.bias, pretrained[f"encoder.layer.1.attention.self.{proj}.bias"])
        assert getattr(layer, proj).r["default"] == 4
    names = set(_encoder_trainable(tower))
    assert len(names) == 2 * 2 * 2  # 2 layers x (query, value) x (A, B)
    assert all(".lora_A." in n or ".lora_B." in n for n in names)


@pytest.mark.parametrize("method", METHODS)
def test_checkpoint_holds_only_trained_tensors(make_ctx, method: str, tmp_path) -> None:
    from recsys.train.checkpoint import copy_into, load_weights, save_weights, trainable_named

    tower = build_tuned_tower(make_ctx(multimodal=True), method)
    _train_steps(tower)
    params = [p for g in tower.param_groups() for p in g.params]
    save_weights(tmp_path / "w.safetensors", trainable_named(tower, params), {"m": method})
    tensors, _ = load_weights(tmp_path / "w.safetensors")
    frozen = {n for n, p in tower.named_parameters() if not p.requires_grad}
    assert set(tensors) == _trainable_names(tower) and not set(tensors) & frozen
    if method == "lora":  # LoRA stores only A/B matrices besides the projection
        encoder_keys = {n for n in tensors if not n.startswith("projection.")}
        assert len(encoder_keys) == 2 * 2 * 2 * 2  # 2 channels x 2 layers x (q, v) x (A, B)
        assert all(".lora_A.default." in n or ".lora_B.default." in n for n in encoder_keys)
    fresh = build_tuned_tower(make_ctx(multimodal=True), method).eval()
    fresh_params = [p for g in fresh.param_groups() for p in g.params]
    copy_into(trainable_named(fresh, fresh_params), tensors, tmp_path / "w.safetensors")
    with torch.no_grad():
        assert torch.equal(fresh(ITEMS), tower.eval()(ITEMS))  # save -> load, same scores


def test_matches_the_frozen_method_at_init(make_ctx) -> None:
    """Adapter and LoRA at init compute what `frozen` (live encoders) computes."""
    frozen = get_method("frozen").builder(make_ctx(multimodal=True, cached=False)).eval()
    for method in ("adapter", "lora"):
        tower = build_tuned_tower(make_ctx(multimodal=True), method).eval()
        tower.projection.load_state_dict(frozen.projection.state_dict())
        with torch.no_grad():  # frozen rounds states to fp16, the cache dtype
            assert torch.allclose(tower(ITEMS), frozen(ITEMS), atol=2e-3, rtol=1e-3)


def test_embeddings_do_not_depend_on_the_batch(make_ctx) -> None:
    tower = build_tuned_tower(make_ctx(multimodal=True), "fft").eval()
    with torch.no_grad():
        alone = torch.cat([tower(torch.tensor([i])) for i in range(1, 7)])
        together = tower(torch.arange(1, 7))
        chunked = tower.embed_all(6, batch_size=4)[1:]
    assert torch.allclose(alone, together, atol=1e-5)  # per-batch token trimming is exact
    assert torch.allclose(chunked, together, atol=1e-5)
    tower.encode_batch = 2  # evaluation in chunks of two items
    with torch.no_grad():
        assert torch.allclose(tower(torch.arange(1, 7)), together, atol=1e-5)


def test_missing_image_is_counted_and_seeded_projection_match(make_ctx) -> None:
    a = build_tuned_tower(make_ctx(multimodal=True), "bitfit")
    b = build_tuned_tower(make_ctx(multimodal=True), "adapter")
    assert a.describe()["channels"][1]["missing_media"] == 1
    assert a.describe()["channels"][1]["inputs"] == "precomputed"
    assert torch.equal(a.projection.weight, b.projection.weight)


def test_media_on_the_fly_equals_the_store(make_ctx) -> None:
    stored = build_tuned_tower(make_ctx(multimodal=True), "fft").eval()
    live = build_tuned_tower(make_ctx(multimodal=True, input_store_mb=0), "fft").eval()
    assert live.describe()["channels"][1]["inputs"] == "on_the_fly"
    with torch.no_grad():  # the store keeps pixels in fp16
        assert torch.allclose(stored(ITEMS), live(ITEMS), atol=2e-3)
    assert live.channels[1].inputs.missing == 1


def test_unknown_option_lists_valid_ones(make_ctx) -> None:
    with pytest.raises(ConfigError, match="bottleneck"):
        build_tuned_tower(make_ctx(rank=3), "adapter")
