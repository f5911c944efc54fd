"""`recommend`: top-K items from a trained run, with titles, for a user or a list of items.

The run folder's results.json records the scenario and the dataset it was trained on; the
model is rebuilt by the factory training used (`recsys.factory`; hidden-state caches are
reused), the best checkpoint's trainable tensors are loaded strictly, and the catalogue is
scored in one pass.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.schema.errors import ScenarioError


@dataclass(frozen=True)
class Recommendation:
    """One recommended item."""

    rank: int  # 1-based
    item_id: str
    title: str
    score: float


@dataclass(frozen=True)
class Recommendations:
    """What `recommend` returns: the history it conditioned on and the ranked items."""

    history: tuple[tuple[str, str], ...]  # (item id, title), oldest first
    items: tuple[Recommendation, ...]
    history_total: int = 0  # items in the whole history (the user's, or the list given)

    def history_heading(self) -> str:
        """The history's heading, saying when only the last items are shown (the
        model's window, or the split's `keep_last`)."""
        shown, total = len(self.history), max(self.history_total, len(self.history))
        cut = f" last {shown} of {total} items" if shown < total else ""
        return f"history (oldest first):{cut}"


def _title(text: str) -> str:
    """A title as people read it: HTML entities of the source data unescaped (`&amp;`)."""
    return html.unescape(text)


def _load_model(opened: Any) -> Any:
    """The trained model of a run: built by the same factory as training, the best
    checkpoint loaded strictly (a missing or unexpected tensor is an error, never a silently
    untrained one). `opened`: the run (`scenarios.run.evaluate.OpenedRun`)."""
    from recsys.errors import CheckpointError
    from recsys.factory import build_trained
    from scenarios.run.prepared import spec_for

    spec = spec_for(opened.scenario, opened.prepared, seed=opened.record.seed or 0)
    run_dir = opened.run_dir
    try:
        return build_trained(spec, run_dir)
    except CheckpointError as exc:  # another catalogue, method or model size, or a damaged file
        path = run_dir / "checkpoint" / "best.safetensors"
        raise ScenarioError(path, "", str(exc).removeprefix(f"{path}: ")) from None


def _history_ids(
    run_dir: Path, prepared: Any, user: str | None, items: list[str] | None
) -> tuple[list[str], int]:
    """The item ids to condition on (the user's kept sequence, or the given list) and how
    many items the whole history holds."""
    catalogue = prepared.split.catalogue
    if (user is None) == (items is None):
        raise ScenarioError(run_dir, "", "give exactly one of a user id or a list of item ids")
    if user is not None:
        sequence = prepared.dataset.sequences.get(user)
        if sequence is None:
            raise ScenarioError(run_dir, "user", f"unknown user {user!r}")
        kept = [i for i in sequence[-prepared.split.keep_last :] if i in catalogue]
        return kept, len(sequence)
    unknown = [i for i in items or [] if i not in catalogue]
    if unknown:
        raise ScenarioError(run_dir, "items", f"unknown item ids {unknown[:5]}")
    return list(items or []), len(items or [])


def recommend(
    run_dir: str | Path,
    *,
    user: str | None = None,
    items: list[str] | None = None,
    k: int = 10,
    include_seen: bool = False,
    data: Path | None = None,
) -> Recommendations:
    """Top-`k` items for a user of the run's dataset, or after a given list of item ids.

    Args:
        run_dir: a finished run folder (results.json and checkpoint/best.safetensors).
        user: a user id of the dataset: the history is the user's most recent items
            (up to the window length), test item included.
        items: item ids, oldest first, as an ad-hoc history (instead of `user`).
        k: how many items to return.
        include_seen: also rank items already in the history.
        data: dataset path when it moved since training (default: the recorded one).

    Raises:
        ScenarioError: unknown user or item, or an unfinished run.
    """
    import numpy as np
    import torch

    from plumbing.console import quiet_libraries
    from scenarios.run.evaluate import open_run

    opened = open_run(run_dir, data=data)
    run_dir, prepared = opened.run_dir, opened.prepared
    split, catalogue = prepared.split, prepared.split.catalogue
    history_ids, total = _history_ids(run_dir, prepared, user, items)
    window = history_ids[-split.max_len :]
    dense = [catalogue.index_of(i) for i in window]
    history = torch.tensor([[0] * (split.max_len - len(dense)) + dense])  # [1, L]
    quiet_libraries()  # the printed list is the output; no loading bars
    model = _load_model(opened)
    with torch.no_grad():
        table = model.item_tower.embed_all(split.num_items).float()  # [N+1, d]
        scores = model.score_all(history, table)[0].numpy().astype(np.float64)  # [N+1]
    scores[0] = -np.inf
    if not include_seen:
        scores[[catalogue.index_of(i) for i in history_ids]] = -np.inf
    order = np.argsort(-scores, kind="stable")[:k]
    ranked = tuple(
        Recommendation(
            r + 1, catalogue.item_ids[i - 1], _title(catalogue.titles[i - 1]), float(scores[i])
        )
        for r, i in enumerate(order)
        if np.isfinite(scores[i])
    )
    past = tuple((i, _title(catalogue.titles[catalogue.index_of(i) - 1])) for i in window)
    return Recommendations(history=past, items=ranked, history_total=total)
