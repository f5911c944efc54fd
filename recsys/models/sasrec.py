"""SASRec user encoder (Kang & McAuley 2018) as the IISAN code builds it (post-LN blocks)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from recsys.config import check_init

_LN_EPS = 1e-6  # as the reference encoder
_NORMAL_STD = 0.02  # RecBole's initializer_range


class _SelfAttention(nn.Module):
    """Multi-head self-attention with bias-free projections (reference parity)."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        # Separate projections (not one fused [3d, d] matrix) so Xavier init matches the
        # reference's per-projection fan-in/fan-out.
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, queries: int) -> torch.Tensor:
        """Attend from the last `queries` positions of x [B, L, d] to all of them."""
        b, length, dim = x.shape
        # [B, H, L, d/H] each (queries only for the last `queries` positions)
        q, k, v = (
            proj(t).view(b, t.shape[1], self.num_heads, -1).transpose(1, 2)
            for proj, t in ((self.query, x[:, length - queries :]), (self.key, x), (self.value, x))
        )
        p = self.dropout if self.training else 0.0
        mask = allowed[..., length - queries :, :]
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out(attended.transpose(1, 2).reshape(b, queries, dim))


class _Block(nn.Module):
    """Post-LN transformer block: LN(x + Drop(MHA(x))), then LN(x + Drop(FFN(x)))."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = _SelfAttention(dim, num_heads, dropout)
        self.attn_norm = nn.LayerNorm(dim, eps=_LN_EPS)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, dim))
        self.ffn_norm = nn.LayerNorm(dim, eps=_LN_EPS)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, queries: int) -> torch.Tensor:
        """Outputs [B, queries, d] for the last `queries` positions of x [B, L, d]."""
        residual = x[:, x.shape[1] - queries :]
        x = self.attn_norm(residual + self.drop(self.attn(x, allowed, queries)))
        return self.ffn_norm(x + self.drop(self.ffn(x)))


class SASRec(nn.Module):
    """Causal transformer over a left-padded sequence of item embeddings.

    The output at position t depends only on positions <= t (causal mask) that are not
    padding (key-padding mask); it is the user state used to predict item t + 1.

    Args:
        dim: embedding width d (inputs and outputs).
        num_blocks: transformer blocks.
        num_heads: attention heads per block.
        ffn_dim: feed-forward inner width.
        max_len: number of learned positions; inputs may be shorter (they take the last
            positions, so the most recent item always sits at position max_len - 1).
        dropout: dropout on the input, attention probabilities, attention output and FFN.
        init: weight initialisation of Linear and Embedding layers: "xavier" (Xavier-normal,
            the IISAN reference) or "normal" (N(0, 0.02), RecBole); biases start at zero.

    Raises:
        ConfigError: `init` is not a known scheme.
    """

    def __init__(
        self,
        dim: int,
        num_blocks: int,
        num_heads: int,
        ffn_dim: int,
        max_len: int,
        dropout: float,
        init: str = "normal",
    ) -> None:
        super().__init__()
        check_init(init)
        self.dim = dim
        self.max_len = max_len
        self.positions = nn.Embedding(max_len, dim)
        self.in_norm = nn.LayerNorm(dim, eps=_LN_EPS)
        self.in_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            _Block(dim, num_heads, ffn_dim, dropout) for _ in range(num_blocks)
        )
        self.apply(lambda module: init_weights(module, init))

    def forward(
        self, item_emb: torch.Tensor, pad_mask: torch.Tensor, *, last_only: bool = False
    ) -> torch.Tensor:
        """Encode a batch of sequences.

        Args:
            item_emb: [B, L, d] item embeddings, left-padded (L <= max_len).
            pad_mask: [B, L] bool, True at padding positions.
            last_only: return only the last position ([B, 1, d]); the last block then
                computes that position alone (evaluation needs nothing else).

        Returns:
            [B, L, d] states (position t summarises items 0..t), or [B, 1, d].
        """
        b, length, _ = item_emb.shape
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.max_len}")
        pos = torch.arange(self.max_len - length, self.max_len, device=item_emb.device)
        x = self.in_drop(self.in_norm(item_emb + self.positions(pos)))  # [B, L, d]
        causal = torch.ones(length, length, dtype=torch.bool, device=item_emb.device).tril()
        allowed = causal & ~pad_mask[:, None, :]  # [B, L(query), L(key)]
        # A padded query has no allowed key; letting it see itself avoids NaN rows. Real
        # queries never attend to padding, so this cannot leak into real outputs.
        allowed = allowed | torch.eye(length, dtype=torch.bool, device=item_emb.device)
        allowed = allowed[:, None]  # [B, 1, L, L], broadcast over heads
        for i, block in enumerate(self.blocks):
            last_block = i == len(self.blocks) - 1
            x = block(x, allowed, 1 if (last_only and last_block) else length)
        return x


def init_weights(module: nn.Module, init: str) -> None:
    """Initialise one Linear or Embedding in place (other modules are left alone).

    Args:
        module: the layer; only Linear and Embedding weights are touched, biases zeroed.
        init: "xavier" (Xavier-normal, the reference) or "normal" (N(0, 0.02), RecBole).
    """
    if isinstance(module, nn.Linear | nn.Embedding):
        if init == "normal":
            nn.init.normal_(module.weight, std=_NORMAL_STD)
        else:
            nn.init.xavier_normal_(module.weight)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
