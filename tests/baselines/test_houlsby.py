"""Block anatomy across families: adapters start as the identity, LoRA targets are q/v."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recsys.adapters.houlsby import (
    HoulsbyAdapter,
    find_blocks,
    insert_houlsby_adapters,
    lora_targets,
)
from recsys.errors import ConfigError
from tests.support.tiny_models import SMALL, VISION


def _bert():
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=50, **SMALL)
    return BertModel(cfg).eval(), {"input_ids": torch.tensor([[2, 7, 9, 3]])}


def _llama():
    from transformers import LlamaConfig, LlamaModel

    cfg = LlamaConfig(vocab_size=50, num_key_value_heads=2, **SMALL)
    return LlamaModel(cfg).eval(), {"input_ids": torch.tensor([[1, 7, 9, 3]])}


def _distilbert():
    from transformers import DistilBertConfig, DistilBertModel

    cfg = DistilBertConfig(vocab_size=50, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    return DistilBertModel(cfg).eval(), {"input_ids": torch.tensor([[2, 7, 9, 3]])}


def _pixels() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))}


def _vit():
    from transformers import ViTConfig, ViTModel

    return ViTModel(ViTConfig(**VISION)).eval(), _pixels()


def _clip():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    return CLIPVisionModel(CLIPVisionConfig(**VISION)).eval(), _pixels()


def _open_clip():
    from open_clip.transformer import VisionTransformer

    model = VisionTransformer(
        image_size=32, patch_size=8, width=32, layers=2, heads=2, mlp_ratio=2.0, output_dim=16
    )
    return model.eval(), _pixels()


FAMILIES = {
    "bert": _bert,
    "llama": _llama,
    "distilbert": _distilbert,
    "vit": _vit,
    "clip": _clip,
    "open_clip": _open_clip,
}


def _output(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    if "pixel_values" in inputs and not hasattr(model, "config"):
        return model(inputs["pixel_values"])  # open_clip takes the tensor positionally
    return model(**inputs).last_hidden_state


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_adapters_start_as_identity_in_every_family(family: str) -> None:
    torch.manual_seed(0)
    model, inputs = FAMILIES[family]()
    blocks = find_blocks(model)
    assert [b.family.name for b in blocks] == [family, family]
    with torch.no_grad():
        before = _output(model, inputs)
    adapters = insert_houlsby_adapters(model, bottleneck=8)
    assert len(adapters) == 4 and all(isinstance(a, HoulsbyAdapter) for a in adapters)
    with torch.no_grad():
        assert torch.equal(_output(model, inputs), before)
        for adapter in adapters:  # a non-zero up-projection must change the output
            adapter.up.weight.normal_(0.0, 0.1)  # not constant: LayerNorm would cancel it
        assert not torch.allclose(_output(model, inputs), before)


@pytest.mark.parametrize("family", ["bert", "llama", "distilbert", "vit", "clip"])
def test_lora_targets_are_query_and_value(family: str) -> None:
    model, _ = FAMILIES[family]()
    targets = lora_targets(model)
    assert len(targets) == 4
    suffixes = {t.rsplit(".", 1)[1] for t in targets}
    assert suffixes in ({"query", "value"}, {"q_proj", "v_proj"}, {"q_lin", "v_lin"})
    assert all(isinstance(model.get_submodule(t), nn.Linear) for t in targets)


def test_packed_attention_needs_explicit_lora_targets() -> None:
    model, _ = _open_clip()
    with pytest.raises(ConfigError, match="target_modules"):
        lora_targets(model)


def test_unsupported_model_is_refused_with_the_supported_list() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    with pytest.raises(ConfigError, match="bert, vit, clip, llama, distilbert, mpnet, open_clip"):
        insert_houlsby_adapters(model)


def test_adapting_twice_is_refused() -> None:
    model, _ = _bert()
    insert_houlsby_adapters(model)
    with pytest.raises(ConfigError):
        insert_houlsby_adapters(model)


def test_adapter_arithmetic_by_hand() -> None:
    adapter = HoulsbyAdapter(width=2, bottleneck=1)
    with torch.no_grad():
        adapter.down.weight.copy_(torch.tensor([[1.0, -1.0]]))
        adapter.up.weight.copy_(torch.tensor([[2.0], [0.5]]))
        adapter.up.bias.copy_(torch.tensor([0.0, 1.0]))
    x = torch.tensor([[3.0, 1.0]])
    gelu2 = 2.0 * 0.5 * (1 + torch.erf(torch.tensor(2.0) / 2**0.5))  # GELU(3 - 1) = 1.9545
    expected = torch.tensor([[3.0 + 2.0 * gelu2, 1.0 + 0.5 * gelu2 + 1.0]])  # [6.909, 2.977]
    assert torch.allclose(adapter(x), expected, atol=1e-6)
