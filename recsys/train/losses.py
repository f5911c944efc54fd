"""Training losses over the user states at every supervised position of a batch.

Two kinds (DESIGN.md's protocol table):

* ``inbatch_logq`` (content methods): softmax over the items of the batch, with the logQ
  popularity correction, the user's own other items masked and padding masked, as the
  IISAN code (iisan_reference.md §3.1), vectorised. One deliberate change: candidate columns
  are deduplicated by item id. The reference has one column per batch position (B·(L+1)),
  so an item occurring k times in the batch appears k times in every denominator. Here each
  distinct item is one column carrying ``+ log k`` on its logit, which gives every negative
  exactly the reference's denominator weight (k · exp(logit)) at a fraction of the width.
  The positive keeps weight 1 (no ``log k``): the reference would also count the positive's
  copies in *other* users' sequences as negatives ("accidental hits"), pushing the target
  against itself; that is removed, as samplers conventionally do. The user's own items are
  masked except the positive, exactly as the reference does.
* ``full_softmax`` (the ``id`` method): cross-entropy over the whole catalogue.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recsys.config import LOSS_KINDS
from recsys.errors import ConfigError


def check_loss_kind(kind: str) -> str:
    """Return `kind` if it is a known loss; raise ConfigError listing the valid kinds."""
    if kind not in LOSS_KINDS:
        raise ConfigError(f"unknown loss {kind!r} (train.loss); valid: {', '.join(LOSS_KINDS)}")
    return kind


def full_softmax_loss(
    states: torch.Tensor,
    targets: torch.Tensor,
    item_table: torch.Tensor,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy over the full catalogue.

    Args:
        states: [P, d] user states at supervised positions.
        targets: [P] dense item index (1..N) each position must predict.
        item_table: [N+1, d] item embeddings, row 0 = padding (never a candidate).
        exclude: dense indices that are no candidate either (never a target).

    Returns:
        Scalar loss.
    """
    logits = (states @ item_table[1:].T).float()  # [P, N]
    if exclude is not None and len(exclude):
        logits = logits.index_fill(1, exclude - 1, float("-inf"))
    return F.cross_entropy(logits, targets - 1)


def inbatch_logq_loss(
    states: torch.Tensor,
    rows: torch.Tensor,
    target_cols: torch.Tensor,
    cand_emb: torch.Tensor,
    cand_ids: torch.Tensor,
    cand_counts: torch.Tensor,
    own: torch.Tensor,
    log_pop: torch.Tensor,
) -> torch.Tensor:
    """Mean in-batch softmax cross-entropy with logQ correction over deduplicated columns.

    Logit of position p for candidate c: ``s_p · e_c − log p(c) + log k_c`` for negatives,
    ``s_p · e_t − log p(t)`` for the positive t; −inf for padding and for the user's own
    items other than t.

    Args:
        states: [P, d] user states at supervised positions.
        rows: [P] batch row (user) of each position.
        target_cols: [P] candidate column of each position's next item.
        cand_emb: [C, d] embeddings of the distinct batch items (column order).
        cand_ids: [C] dense item index of each column (0 = padding, never a candidate).
        cand_counts: [C] occurrences of each column's item at real batch positions.
        own: [B, C] bool, True where the column's item occurs in that user's sequence.
        log_pop: [N+1] log train popularity (Split.log_popularity()).

    Returns:
        Scalar loss.
    """
    log_k = torch.log(cand_counts.clamp(min=1).float())  # [C]
    bias = log_k - log_pop[cand_ids].float()  # [C]
    bias = bias.masked_fill(cand_ids == 0, float("-inf"))
    logits = (states @ cand_emb.T).float() + bias  # [P, C]
    pos = torch.arange(states.shape[0], device=states.device)
    # The positive counts once (its copies elsewhere are accidental hits, not negatives).
    logits[pos, target_cols] -= log_k[target_cols]
    mask = own[rows]  # [P, C]
    mask[pos, target_cols] = False
    logits = logits.masked_fill(mask, float("-inf"))
    return F.cross_entropy(logits, target_cols)
