"""IISAN-Versa side networks: SAN blocks, gated intra-modal and N-channel inter-modal networks.

Every module takes explicit widths and counts; none sees a config object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn

from recsys.errors import ConfigError

Mode = Literal["intra_inter", "intra", "inter"]
MODES: tuple[str, ...] = get_args(Mode)  # the ablations: both side networks, intra, inter
HeadKind = Literal["linear", "iisan"]


class SANB(nn.Module):
    """Side adapter block `x + W_up ReLU(W_down x)`, width -> rank -> width.

    Weights start N(0, 0.01^2) and biases 0, so the block starts close to the identity.
    """

    def __init__(self, width: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(width, rank)
        self.up = nn.Linear(rank, width)
        for layer in (self.down, self.up):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, width] -> [B, width]
        return x + self.up(torch.relu(self.down(x)))


class IntraSideNetwork(nn.Module):
    """One channel's side network at its native width.

    `s <- SANB_k(g_k h_k + (1 - g_k) s)`, `s = 0` at the start, `g_k = sigmoid(w_k / T)`,
    `w_k = 0` at init (so every gate starts at 0.5).
    """

    def __init__(self, width: int, num_steps: int, rank: int, temperature: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SANB(width, rank) for _ in range(num_steps))
        self.gate_logits = nn.Parameter(torch.zeros(num_steps))
        self.temperature = temperature

    def gates(self) -> torch.Tensor:  # [num_steps]
        return torch.sigmoid(self.gate_logits / self.temperature)

    def forward(self, states: torch.Tensor) -> torch.Tensor:  # [B, steps, W] -> [B, W]
        gates = self.gates()
        side = states.new_zeros(states.shape[0], states.shape[2])
        for k, block in enumerate(self.blocks):
            side = block(gates[k] * states[:, k] + (1 - gates[k]) * side)
        return side


class InterSideNetwork(nn.Module):
    """The inter-modal side network at the smallest channel width `d_min`.

    `s <- SANB_k(s + sum_c softmax(u_k / T)_c P_{c,k} h_{c,k})`. `P_{c,k}` is a per-step
    Linear(d_c -> d_min) (the dimension transformation layer) for channels wider than
    `d_min` and the identity otherwise. The last channel's logit is fixed at 0, so there are
    N-1 free logits per step (zero at init): with two channels the mix is exactly the
    paper's gate `sigmoid(u_k / T)` on channel 0 and its complement on channel 1.

    Args:
        widths: width of each channel.
        num_steps: steps of the network (the channels' top `num_steps` states pair up).
        rank: SANB bottleneck.
        temperature: softmax temperature T.
    """

    def __init__(
        self, widths: Sequence[int], num_steps: int, rank: int, temperature: float
    ) -> None:
        super().__init__()
        if len(widths) < 2:
            raise ValueError("an inter-modal side network needs two channels or more")
        self.width = min(widths)
        self.blocks = nn.ModuleList(SANB(self.width, rank) for _ in range(num_steps))
        self.mix_logits = nn.Parameter(torch.zeros(num_steps, len(widths) - 1))
        self.projections = nn.ModuleDict(
            {
                str(c): nn.ModuleList(nn.Linear(w, self.width) for _ in range(num_steps))
                for c, w in enumerate(widths)
                if w > self.width
            }
        )
        self.temperature = temperature

    def mix_weights(self) -> torch.Tensor:  # [num_steps, N]
        fixed = self.mix_logits.new_zeros(self.mix_logits.shape[0], 1)
        return torch.softmax(torch.cat([self.mix_logits, fixed], dim=1) / self.temperature, dim=1)

    def forward(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        """`states[c]`: [B, num_steps, W_c] (already the top steps) -> [B, d_min]."""
        weights = self.mix_weights()
        side = states[0].new_zeros(states[0].shape[0], self.width)
        for k, block in enumerate(self.blocks):
            mix = 0.0
            for c, h in enumerate(states):
                proj = (
                    self.projections[str(c)][k](h[:, k]) if str(c) in self.projections else h[:, k]
                )
                mix = mix + weights[k, c] * proj
            side = block(side + mix)
        return side


def head(width: int, out_dim: int, fold: bool) -> nn.Module:
    """Linear(d -> d) -> Linear(d -> out) as in the reference, or one folded Linear."""
    if fold:
        return nn.Linear(width, out_dim)
    return nn.Sequential(nn.Linear(width, width), nn.Linear(width, out_dim))


def fusion(branches: int, out_dim: int) -> nn.Module:
    """The reference's `com_dense` over concatenated branch embeddings; nothing to fuse (the
    identity) for one branch."""
    return nn.Linear(branches * out_dim, out_dim) if branches > 1 else nn.Identity()


@dataclass(frozen=True)
class HeadOptions:
    """How a baseline tower turns per-channel states into item embeddings."""

    # "linear": concatenated states -> one Linear (the baselines' original head);
    # "iisan": IISAN-Versa's structure, so head capacity does not confound a comparison
    # (per-channel head Linear(d -> d) -> Linear(d -> 64), concatenation, fusion Linear).
    head: HeadKind = "linear"
    fold_heads: bool = False  # with head = "iisan": one Linear(d -> 64) per channel


class BranchHeads(nn.Module):
    """IISAN-Versa's head and fusion structure over branches of the given widths: each
    branch -> `head` -> concatenation -> `fusion` (identity for one branch)."""

    def __init__(self, widths: Sequence[int], out_dim: int, fold: bool) -> None:
        super().__init__()
        self.heads = nn.ModuleList(head(w, out_dim, fold) for w in widths)
        self.fusion = fusion(len(widths), out_dim)

    def forward(self, branches: Sequence[torch.Tensor]) -> torch.Tensor:  # -> [B, out_dim]
        outs = [h(x) for h, x in zip(self.heads, branches, strict=True)]
        return self.fusion(torch.cat(outs, dim=-1))


def item_head(widths: Sequence[int], out_dim: int, options: HeadOptions) -> nn.Module:
    """The head a baseline tower applies with `apply_head`: one Linear over the concatenated
    states, or `BranchHeads`."""
    if options.head == "iisan":
        return BranchHeads(widths, out_dim, options.fold_heads)
    return nn.Linear(sum(widths), out_dim)


def apply_head(module: nn.Module, states: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-channel states `[M, width_c]` -> item embeddings `[M, out_dim]` through `item_head`."""
    if isinstance(module, BranchHeads):
        return module(states)
    return module(torch.cat(list(states), dim=-1))


class IISANVersa(nn.Module):
    """Intra side networks per channel, one inter network (two channels or more), heads,
    concatenation and a final projection to the item embedding (only with two channels or
    more; a single channel's head output is the item embedding).

    Channels with different step counts pair their top steps in the inter network; intra
    networks always run over all of their channel's steps.

    Args:
        widths: hidden width of each channel's encoder.
        steps: number of selected hidden states of each channel.
        rank: SANB bottleneck r.
        mode: "intra_inter", "intra" or "inter" (ablations).
        fold_heads: one Linear(d -> out_dim) head instead of Linear(d -> d) -> Linear(d -> out).
        temperature: gate / mix temperature.
        out_dim: item embedding width.
    """

    def __init__(
        self,
        widths: Sequence[int],
        steps: Sequence[int],
        *,
        rank: int = 64,
        mode: str = "intra_inter",
        fold_heads: bool = False,
        temperature: float = 0.1,
        out_dim: int = 64,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"iisan_versa mode {mode!r} is not valid; choose {', '.join(MODES)}")
        if len(widths) != len(steps) or not widths:
            raise ValueError("widths and steps need one entry per channel")
        if mode == "inter" and len(widths) < 2:
            raise ConfigError("iisan_versa mode 'inter' needs two channels or more")
        self.widths, self.steps = tuple(widths), tuple(steps)
        self.inter_steps = min(steps)
        use_intra = mode in ("intra", "intra_inter")
        self.intra = (
            nn.ModuleList(
                IntraSideNetwork(w, s, rank, temperature)
                for w, s in zip(widths, steps, strict=True)
            )
            if use_intra
            else nn.ModuleList()
        )
        self.intra_heads = (
            nn.ModuleList(head(w, out_dim, fold_heads) for w in widths)
            if use_intra
            else nn.ModuleList()
        )
        self.inter = (
            InterSideNetwork(widths, self.inter_steps, rank, temperature)
            if mode != "intra" and len(widths) > 1
            else None
        )
        self.inter_head = head(self.inter.width, out_dim, fold_heads) if self.inter else None
        branches = len(self.intra) + (1 if self.inter else 0)
        self.out_dim = out_dim
        # A single channel (e.g. text only) has nothing to fuse and, as in the plain text-only
        # IISAN, no fusion layer: its head already ends in Linear -> out_dim, and a second
        # default-initialised Linear only shrinks the item embeddings (~1/sqrt(3)); on
        # Scientific it cost ~0.008 validation NDCG@10 at equal epochs
        # (benchmarks/results/iisan_gap_investigation.md). Two channels or more keep the
        # reference's com_dense, also in the one-branch `inter` ablation.
        self.fusion = nn.Linear(branches * out_dim, out_dim) if len(widths) > 1 else nn.Identity()
        # (`fusion(...)` builds the same layer for baselines; kept inline here so the `inter`
        # ablation, one branch over two channels, keeps its com_dense as in the reference.)

    def side_parameters(self) -> list[nn.Parameter]:
        """Side networks: SANBs, gates, mix logits and dimension transformation layers."""
        params = [p for net in self.intra for p in net.parameters()]
        if self.inter is not None:
            params += list(self.inter.parameters())
        return params

    def head_parameters(self) -> list[nn.Parameter]:
        """Heads and the fusion projection (none with a single channel)."""
        params = [p for h in self.intra_heads for p in h.parameters()]
        if self.inter_head is not None:
            params += list(self.inter_head.parameters())
        return params + list(self.fusion.parameters())

    def forward(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        """`states[c]`: [B, steps_c, width_c] fp32 -> item embeddings [B, out_dim]."""
        outs = [h(net(x)) for net, h, x in zip(self.intra, self.intra_heads, states, strict=False)]
        if self.inter is not None:
            top = [x[:, x.shape[1] - self.inter_steps :] for x in states]  # pair the top steps
            outs.append(self.inter_head(self.inter(top)))
        return self.fusion(torch.cat(outs, dim=-1))  # [B, out_dim]
