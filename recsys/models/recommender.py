"""The sequential recommender: an item tower feeding SASRec. Models score; the evaluator
ranks, masks and measures."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from recsys.models.base import ItemTower
from recsys.models.sasrec import SASRec
from recsys.train.losses import check_loss_kind, full_softmax_loss, inbatch_logq_loss


class SequentialRecommender(nn.Module):
    """Item tower + SASRec user encoder; next-item prediction at every position.

    Padding (index 0) is never sent to the item tower: padded positions get a zero
    embedding (live encoders have no media for it), in training and in evaluation alike.

    Args:
        item_tower: maps dense item indices to embeddings of width `sasrec.dim`.
        sasrec: the user encoder.
        num_items: catalogue size N; needed by the full-softmax loss (otherwise inferred
            from `log_pop`).
    """

    def __init__(
        self, item_tower: ItemTower, sasrec: SASRec, *, num_items: int | None = None
    ) -> None:
        super().__init__()
        if item_tower.out_dim != sasrec.dim:
            raise ValueError(f"item tower width {item_tower.out_dim} != SASRec dim {sasrec.dim}")
        self.item_tower = item_tower
        self.sasrec = sasrec
        self.num_items = num_items

    def _embed_unique(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embed each distinct id of `items` once.

        Returns:
            (uniq [C], uniq_emb [C, d] with zero rows for padding, inverse [same as items]).
        """
        uniq, inverse = torch.unique(items, return_inverse=True)  # sorted: 0 first if present
        real = uniq != 0
        emb = self.item_tower(uniq[real])  # [C', d]
        if not bool(real.all()):
            emb = torch.cat([emb.new_zeros(1, emb.shape[-1]), emb])  # padding row first
        return uniq, emb, inverse

    def user_state(
        self, history: torch.Tensor, item_table: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[B, d] user states: SASRec's output at the last (most recent) position.

        Args:
            history: [B, L] left-padded dense item indices.
            item_table: optional [N+1, d] precomputed embeddings (evaluation); when None the
                distinct history items go through the tower.
        """
        if item_table is not None:
            emb = item_table[history] * (history != 0).unsqueeze(-1).to(item_table.dtype)
        else:
            _, uniq_emb, inverse = self._embed_unique(history)
            emb = uniq_emb[inverse]  # [B, L, d]
        return self.sasrec(emb, history == 0, last_only=True)[:, -1]

    def score_all(self, history: torch.Tensor, item_table: torch.Tensor) -> torch.Tensor:
        """[B, N+1] dot-product scores of every item (column 0 is padding; mask it)."""
        return self.user_state(history, item_table) @ item_table.T

    def loss(
        self,
        batch: torch.Tensor | Mapping[str, torch.Tensor],
        kind: str,
        log_pop: torch.Tensor | None,
        exclude: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-item loss at every position whose input and target are real items.

        Args:
            batch: [B, L+1] left-padded training sequences (Split.train_seqs rows), or a
                mapping with that tensor under "seqs".
            kind: "inbatch_logq" or "full_softmax" (see recsys.train.losses).
            log_pop: [N+1] log train popularity; required by "inbatch_logq".
            exclude: items that are no candidate of the full softmax and never go through
                the tower (the new-item protocol's withheld items); in-batch candidates are
                the batch's own items, so the batch decides there.

        Returns:
            Scalar mean loss.
        """
        seqs = batch["seqs"] if isinstance(batch, Mapping) else batch
        check_loss_kind(kind)
        inputs, targets = seqs[:, :-1], seqs[:, 1:]  # [B, L] each
        supervised = (inputs != 0) & (targets != 0)  # [B, L]
        rows, cols = supervised.nonzero(as_tuple=True)  # [P] each
        if kind == "full_softmax":
            table = self._full_table(log_pop, exclude)  # [N+1, d]
            states = self.sasrec(table[inputs], inputs == 0)[rows, cols]  # [P, d]
            return full_softmax_loss(states, targets[rows, cols], table, exclude)
        if log_pop is None:
            raise ValueError("the inbatch_logq loss needs log_pop (Split.log_popularity())")
        uniq, uniq_emb, inverse = self._embed_unique(seqs)  # [C], [C, d], [B, L+1]
        states = self.sasrec(uniq_emb[inverse[:, :-1]], inputs == 0)[rows, cols]  # [P, d]
        real = seqs != 0
        counts = torch.bincount(inverse[real], minlength=uniq.shape[0])  # [C]
        own = torch.zeros(seqs.shape[0], uniq.shape[0], dtype=torch.bool, device=seqs.device)
        own.scatter_(1, inverse, real)  # [B, C]; padding scatters False
        own[:, uniq == 0] = False
        return inbatch_logq_loss(
            states,
            rows,
            inverse[:, 1:][rows, cols],
            uniq_emb,
            uniq,
            counts,
            own,
            log_pop,
        )

    def _full_table(
        self, log_pop: torch.Tensor | None, exclude: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[N+1, d] every item through the tower (with gradients), row 0 zero; rows of
        `exclude` are zero and never reach the tower."""
        n = self.num_items if self.num_items is not None else None
        if n is None:
            if log_pop is None:
                raise ValueError("full_softmax needs num_items (constructor) or log_pop")
            n = log_pop.shape[0] - 1
        device = next(self.sasrec.parameters()).device
        if exclude is None or len(exclude) == 0:
            emb = self.item_tower(torch.arange(1, n + 1, device=device))  # [N, d]
            return torch.cat([emb.new_zeros(1, emb.shape[-1]), emb])
        keep = torch.ones(n + 1, dtype=torch.bool, device=device)
        keep[0] = False
        keep[exclude] = False
        ids = keep.nonzero().squeeze(1)  # [N - excluded]
        emb = self.item_tower(ids)
        return emb.new_zeros(n + 1, emb.shape[-1]).index_copy(0, ids, emb)
