import pytest
import torch

from recsys.adapters import SANB, IISANVersa, InterSideNetwork, IntraSideNetwork
from recsys.errors import ConfigError
from recsys.methods import parse_method_options


def test_sanb_starts_near_identity_with_the_paper_init() -> None:
    torch.manual_seed(0)
    block = SANB(768, 64)
    for layer in (block.down, block.up):
        assert abs(layer.weight.std().item() - 0.01) < 5e-4
        assert not layer.bias.any()
    assert sum(p.numel() for p in block.parameters()) == 99_136
    x = torch.randn(4, 768)
    assert (block(x) - x).std() < 0.05 * x.std()  # a small residual perturbation
    assert torch.equal(block(x), x + block.up(torch.relu(block.down(x))))


def test_intra_gates_start_at_half_and_follow_the_recursion() -> None:
    torch.manual_seed(0)
    net = IntraSideNetwork(width=8, num_steps=3, rank=4, temperature=0.1)
    assert torch.equal(net.gates(), torch.full((3,), 0.5))
    with torch.no_grad():
        net.gate_logits.copy_(torch.tensor([0.05, -0.1, 0.2]))
    h = torch.randn(2, 3, 8)
    side = torch.zeros(2, 8)
    for k in range(3):
        g = torch.sigmoid(net.gate_logits[k] / 0.1)
        side = net.blocks[k](g * h[:, k] + (1 - g) * side)
    assert torch.allclose(net(h), side)


def test_two_channel_mix_is_exactly_the_paper_gate() -> None:
    torch.manual_seed(0)
    net = InterSideNetwork(widths=(8, 8), num_steps=3, rank=4, temperature=0.1)
    assert torch.equal(net.mix_weights(), torch.full((3, 2), 0.5))
    assert len(net.projections) == 0 and net.mix_logits.numel() == 3
    with torch.no_grad():
        net.mix_logits.copy_(torch.tensor([[0.03], [-0.2], [0.1]]))
    hv, ht = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    side = torch.zeros(2, 8)
    for k in range(3):
        g = torch.sigmoid(net.mix_logits[k, 0] / 0.1)
        side = net.blocks[k](side + g * hv[:, k] + (1 - g) * ht[:, k])
    assert torch.allclose(net([hv, ht]), side, atol=1e-6)


def test_dimension_transformation_only_for_wider_channels() -> None:
    net = InterSideNetwork(widths=(64, 32, 48), num_steps=2, rank=4, temperature=0.1)
    assert net.width == 32 and sorted(net.projections) == ["0", "2"]
    assert net.projections["0"][1].in_features == 64 and net.projections["2"][0].out_features == 32
    assert net.mix_weights().shape == (2, 3)
    assert torch.allclose(net.mix_weights(), torch.full((2, 3), 1 / 3))


def test_unequal_step_counts_pair_the_top_steps() -> None:
    torch.manual_seed(0)
    model = IISANVersa((16, 8), (5, 3), rank=4, mode="inter")
    text, image = torch.randn(2, 5, 16), torch.randn(2, 3, 8)
    out = model([text, image])
    early = text.clone()
    early[:, :2] += 5.0  # the two bottom text steps have no image partner
    assert torch.equal(model([early, image]), out)
    late = text.clone()
    late[:, 2] += 5.0
    assert not torch.allclose(model([late, image]), out)


def test_modes_and_branch_counts() -> None:
    assert IISANVersa((8, 8), (3, 3), mode="intra_inter").fusion.in_features == 3 * 64
    assert IISANVersa((8, 8), (3, 3), mode="intra").fusion.in_features == 2 * 64
    assert IISANVersa((8, 8), (3, 3), mode="inter").fusion.in_features == 64
    single = IISANVersa((8,), (3,))
    assert single.inter is None and isinstance(single.fusion, torch.nn.Identity)
    with pytest.raises(ConfigError, match="two channels"):
        IISANVersa((8,), (3,), mode="inter")
    with pytest.raises(ConfigError, match="intra_inter"):
        IISANVersa((8,), (3,), mode="both")
    folded = IISANVersa((8, 8), (3, 3), fold_heads=True)
    assert all(isinstance(h, torch.nn.Linear) for h in folded.intra_heads)


def test_parameter_budget_bert_base_vit_b16_is_4_113_877() -> None:
    from transformers import BertConfig, BertModel, ViTConfig, ViTModel

    from recsys.encoders import select_layers
    from recsys.models.sasrec import SASRec

    with torch.device("meta"):
        bert = BertModel(BertConfig())  # bert-base-uncased shape
        vit = ViTModel(ViTConfig(), add_pooling_layer=False)  # ViT-B/16, 224
    assert sum(p.numel() for p in bert.parameters()) == 109_482_240
    assert sum(p.numel() for p in vit.parameters()) == 85_798_656
    widths = (bert.config.hidden_size, vit.config.hidden_size)
    steps = (
        len(select_layers(bert.config.num_hidden_layers)),
        len(select_layers(vit.config.num_hidden_layers)),
    )
    adapter = IISANVersa(widths, steps, rank=64)
    sasrec = SASRec(dim=64, num_blocks=2, num_heads=2, ffn_dim=256, max_len=10, dropout=0.1)
    count = sum(p.numel() for p in adapter.parameters())
    blocks = 21 * 99_136
    heads = 3 * (768 * 768 + 768 + 768 * 64 + 64)
    assert heads == 1_919_424
    assert count == blocks + heads + 21 + 12_352
    assert sum(p.numel() for p in sasrec.parameters()) == 100_224
    assert count + 100_224 == 4_113_877


def test_dimension_transformation_cost_for_an_8192_wide_text_encoder() -> None:
    with torch.device("meta"):
        adapter = IISANVersa((8192, 768), (7, 7), rank=64)
    dtl = sum(p.numel() for p in adapter.inter.projections.parameters())
    assert dtl == 7 * (8192 * 768 + 768) == 44_045_568


def test_options_are_strict() -> None:
    assert parse_method_options("iisan_versa", {}).rank == 64
    assert parse_method_options("iisan_versa", {"gate_temperature": 1}).gate_temperature == 1.0
    with pytest.raises(ConfigError, match=r"method_options.rnak: unknown key.*'rank'.*valid keys"):
        parse_method_options("iisan_versa", {"rnak": 8})
    with pytest.raises(ConfigError, match="method_options.rank: expected integer"):
        parse_method_options("iisan_versa", {"rank": "8"})
    with pytest.raises(ConfigError, match="method_options.cached: expected boolean"):
        parse_method_options("iisan_versa", {"cached": 1})
    with pytest.raises(ConfigError, match="valid choices: 'intra_inter', 'intra', 'inter'"):
        parse_method_options("iisan_versa", {"mode": "all"})
    with pytest.raises(ConfigError, match="method_options.rank: must be >= 1"):
        parse_method_options("iisan_versa", {"rank": 0})


def test_single_branch_item_embedding_is_the_head_output_without_a_fusion_layer() -> None:
    # The plain text-only IISAN has no layer after the head; an extra default-initialised
    # Linear(64 -> 64) shrank the item embeddings and cost ~0.008 NDCG@10 on Scientific.
    torch.manual_seed(0)
    model = IISANVersa((8,), (3,), rank=4, fold_heads=True, out_dim=5)
    states = torch.randn(2, 3, 8)
    expected = model.intra_heads[0](model.intra[0](states))
    assert torch.equal(model([states]), expected)
    head = model.intra_heads[0]
    assert {id(p) for p in model.head_parameters()} == {id(p) for p in head.parameters()}
    n_side = sum(p.numel() for p in model.side_parameters())
    assert n_side == 3 * (8 * 4 + 4 + 4 * 8 + 8) + 3
    assert sum(p.numel() for p in model.parameters()) == n_side + 8 * 5 + 5
