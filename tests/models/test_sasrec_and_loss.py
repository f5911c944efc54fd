"""SASRec causality/padding, the ID tower, and both losses against naive loops."""

from __future__ import annotations

import math

import pytest
import torch

from recsys.models.id_tower import IdTower
from recsys.models.recommender import SequentialRecommender
from recsys.models.sasrec import SASRec


def _model(num_items: int = 30, dim: int = 16, max_len: int = 6) -> SequentialRecommender:
    torch.manual_seed(0)
    sasrec = SASRec(dim, num_blocks=2, num_heads=2, ffn_dim=32, max_len=max_len, dropout=0.1)
    return SequentialRecommender(IdTower(num_items, dim), sasrec, num_items=num_items)


def test_parameter_count_matches_reference() -> None:
    sasrec = SASRec(64, 2, 2, 256, 10, 0.1)
    assert sum(p.numel() for p in sasrec.parameters()) == 100_224  # iisan_reference §2.7


def test_output_at_t_ignores_later_items() -> None:
    model = _model().eval()
    history = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]])
    changed = history.clone()
    changed[:, 4:] = torch.tensor([[7, 8], [9, 10]])
    with torch.no_grad():
        emb_a, emb_b = model.item_tower(history), model.item_tower(changed)
        out_a = model.sasrec(emb_a, history == 0)
        out_b = model.sasrec(emb_b, changed == 0)
    torch.testing.assert_close(out_a[:, :4], out_b[:, :4])
    assert not torch.allclose(out_a[:, 4:], out_b[:, 4:])


def test_padding_content_does_not_leak() -> None:
    model = _model().eval()
    history = torch.tensor([[0, 0, 3, 4, 5, 6]])
    emb = model.item_tower(history)
    noisy = emb.clone()
    noisy[:, :2] = torch.randn(1, 2, emb.shape[-1]) * 5
    with torch.no_grad():
        a = model.sasrec(emb, history == 0)
        b = model.sasrec(noisy, history == 0)
    torch.testing.assert_close(a[:, 2:], b[:, 2:])
    assert torch.isfinite(a).all()


def test_shorter_inputs_take_the_last_positions() -> None:
    model = _model().eval()
    long = torch.tensor([[0, 0, 0, 4, 5, 6]])
    with torch.no_grad():
        a = model.user_state(long)
        b = model.user_state(long[:, 3:])
    torch.testing.assert_close(a, b)


def test_id_tower_padding_row_is_zero_and_registered() -> None:
    from recsys.methods import get_method

    entry = get_method("id")
    assert entry.defaults.batch_size == 256 and entry.defaults.loss == "full_softmax"
    assert entry.needs_channels is False
    tower = IdTower(5, 4)
    assert torch.count_nonzero(tower(torch.tensor([0]))) == 0
    assert [p for g in tower.param_groups() for p in g.params] == [tower.embedding.weight]


BATCH = torch.tensor(
    [
        [0, 0, 3, 4, 3, 5, 6],  # repeats item 3
        [1, 2, 3, 7, 8, 9, 10],  # shares item 3 with user 0 (an accidental hit)
        [0, 0, 0, 0, 11, 6, 12],  # shares item 6
    ]
)


def _states_and_emb(model: SequentialRecommender, batch: torch.Tensor):
    emb = model.item_tower(batch)  # padding row is zero for the ID tower
    states = model.sasrec(emb[:, :-1], batch[:, :-1] == 0)
    return states, model.item_tower.embedding.weight


def test_full_softmax_matches_naive_loop() -> None:
    model = _model()
    torch.manual_seed(1)
    loss = model.loss(BATCH, "full_softmax", None)
    torch.manual_seed(1)  # same dropout draws
    states, table = _states_and_emb(model, BATCH)
    terms = []
    for b in range(BATCH.shape[0]):
        for j in range(BATCH.shape[1] - 1):
            if BATCH[b, j] == 0 or BATCH[b, j + 1] == 0:
                continue
            logits = torch.stack([states[b, j] @ table[i] for i in range(1, 31)])
            terms.append(-torch.log_softmax(logits, 0)[BATCH[b, j + 1] - 1])
    torch.testing.assert_close(loss, torch.stack(terms).mean())


def test_inbatch_logq_matches_naive_loop() -> None:
    model = _model()
    log_pop = torch.log(torch.linspace(0.01, 0.2, 31))
    torch.manual_seed(1)
    loss = model.loss(BATCH, "inbatch_logq", log_pop)
    torch.manual_seed(1)
    states, table = _states_and_emb(model, BATCH)
    real = BATCH[BATCH != 0].tolist()
    candidates = sorted(set(real))
    terms = []
    for b in range(BATCH.shape[0]):
        own = set(BATCH[b][BATCH[b] != 0].tolist())
        for j in range(BATCH.shape[1] - 1):
            if BATCH[b, j] == 0 or BATCH[b, j + 1] == 0:
                continue
            target = int(BATCH[b, j + 1])
            numerator = None
            denominator = 0.0
            for c in candidates:
                if c in own and c != target:
                    continue  # the user's own other items are masked
                logit = states[b, j] @ table[c] - log_pop[c]
                weight = 1 if c == target else real.count(c)  # multiplicity of negatives
                denominator = denominator + weight * torch.exp(logit)
                if c == target:
                    numerator = logit
            terms.append(torch.log(denominator) - numerator)
    torch.testing.assert_close(loss, torch.stack(terms).mean())


def test_inbatch_loss_has_gradients_and_needs_log_pop() -> None:
    model = _model()
    loss = model.loss(BATCH, "inbatch_logq", torch.zeros(31))
    loss.backward()
    assert model.item_tower.embedding.weight.grad is not None
    assert math.isfinite(loss.item())
    with pytest.raises(ValueError):
        model.loss(BATCH, "inbatch_logq", None)


def test_unknown_loss_lists_valid_kinds() -> None:
    from recsys.errors import ConfigError

    with pytest.raises(ConfigError, match="full_softmax"):
        _model().loss(BATCH, "bpr", None)


def test_last_only_equals_full_forward_last_position() -> None:
    model = _model().eval()
    history = torch.tensor([[0, 0, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]])
    emb = model.item_tower(history)
    with torch.no_grad():
        full = model.sasrec(emb, history == 0)[:, -1]
        last = model.sasrec(emb, history == 0, last_only=True)[:, -1]
    torch.testing.assert_close(full, last)


def _weight_std(module: torch.nn.Module) -> float:
    weights = [p.detach().flatten() for n, p in module.named_parameters() if "weight" in n]
    return torch.cat([w for w in weights if w.numel() > 1 and w.std() > 0]).std().item()


def test_init_normal_is_default_and_draws_std_002() -> None:
    torch.manual_seed(0)
    default = SASRec(64, 2, 2, 256, 10, 0.1)
    torch.manual_seed(0)
    normal = SASRec(64, 2, 2, 256, 10, 0.1, init="normal")
    xavier = SASRec(64, 2, 2, 256, 10, 0.1, init="xavier")
    for a, b in zip(default.parameters(), normal.parameters(), strict=True):
        torch.testing.assert_close(a, b)  # the default is RecBole's N(0, 0.02)
    # Xavier-normal std of a 64x64 projection is sqrt(2 / (64 + 64)) = 0.125.
    assert normal.blocks[0].attn.query.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert xavier.blocks[0].attn.query.weight.std().item() == pytest.approx(0.125, rel=0.1)
    assert normal.positions.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert normal.blocks[0].ffn[0].bias.abs().max().item() == 0.0
    ln = normal.blocks[0].attn_norm  # LayerNorm keeps its identity init under either scheme
    assert torch.equal(ln.weight, torch.ones(64)) and torch.equal(ln.bias, torch.zeros(64))


def test_id_table_follows_init_and_keeps_padding_row_zero() -> None:
    xavier, normal = IdTower(2000, 64, init="xavier"), IdTower(2000, 64)
    # Xavier-normal over a [2001, 64] table: sqrt(2 / 2065) ~ 0.0311.
    assert xavier.embedding.weight[1:].std().item() == pytest.approx(0.0311, rel=0.05)
    assert normal.embedding.weight[1:].std().item() == pytest.approx(0.02, rel=0.05)
    assert normal.embedding.weight[0].abs().max().item() == 0.0
    assert normal.describe()["init"] == "normal"


@pytest.mark.parametrize(
    "build",
    [lambda: SASRec(8, 1, 2, 16, 4, 0.0, init="kaiming"), lambda: IdTower(5, 8, init="kaiming")],
)
def test_unknown_init_lists_valid_choices(build) -> None:
    from recsys.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown init 'kaiming'; valid choices: xavier, normal"):
        build()
