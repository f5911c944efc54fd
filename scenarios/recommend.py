"""`recommend`: top-K items from a trained run, with titles, for a user or a list of items.

The run folder's results.json records the scenario and the dataset it was trained on; the
model is rebuilt by the factory training used (`recsys.factory`; hidden-state caches are
reused), the best checkpoint's trainable tensors are loaded strictly, and the catalogue is
scored in one pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.schema import ScenarioError, parse_scenario


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


def _load_model(run_dir: Path, results: dict[str, Any], scenario: Any, prepared: Any) -> Any:
    """The trained model of a run: built by the same factory as training, the best
    checkpoint loaded strictly (a missing or unexpected tensor is an error, never a silently
    untrained one)."""
    from recsys.errors import CheckpointError
    from recsys.factory import build_model, load_trained

    config = results["config"]
    model = build_model(
        prepared.split,
        method=results["method"],
        channels=prepared.channels,
        method_options=config.get("method_options", {}),
        sasrec=scenario.model,
        seed=int(results.get("seed", 0)),
        cache_dir=Path(scenario.output.cache_dir) / "states",
    )
    path = run_dir / "checkpoint" / "best.safetensors"
    if not path.exists():
        raise ScenarioError(run_dir, "", "no checkpoint/best.safetensors: the run did not finish")
    try:
        load_trained(model, path)
    except CheckpointError as exc:  # another catalogue, method or model size, or a damaged file
        raise ScenarioError(path, "", str(exc).removeprefix(f"{path}: ")) from None
    return model.eval()


def _history_ids(
    run_dir: Path, prepared: Any, user: str | None, items: list[str] | None
) -> list[str]:
    """The item ids to condition on: the user's kept sequence, or the given list."""
    catalogue = prepared.split.catalogue
    if (user is None) == (items is None):
        raise ScenarioError(run_dir, "", "give exactly one of a user id or a list of item ids")
    if user is not None:
        sequence = prepared.dataset.sequences.get(user)
        if sequence is None:
            raise ScenarioError(run_dir, "user", f"unknown user {user!r}")
        return [i for i in sequence[-prepared.split.keep_last :] if i in catalogue]
    unknown = [i for i in items or [] if i not in catalogue]
    if unknown:
        raise ScenarioError(run_dir, "items", f"unknown item ids {unknown[:5]}")
    return list(items or [])


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

    from scenarios.runner import prepare

    run_dir = Path(run_dir)
    results_file = run_dir / "results.json"
    if not results_file.exists():
        raise ScenarioError(run_dir, "", "no results.json: not a finished run folder")
    results = json.loads(results_file.read_text(encoding="utf-8"))
    record = results.get("record", {})
    if "scenario" not in record:
        raise ScenarioError(results_file, "record.scenario", "run not made by run-scenario/grid")
    plain = {k: v for k, v in record["scenario"].items() if k != "source"}
    scenario = parse_scenario(plain, source=str(results_file))
    data_path = data or Path(record["dataset"]["path"])
    prepared = prepare(scenario, data=data_path, progress=False)
    split, catalogue = prepared.split, prepared.split.catalogue
    trained_on = results.get("dataset", {}).get("catalogue_sha256")
    if trained_on and catalogue.content_hash != trained_on:  # indices would no longer match
        raise ScenarioError(
            run_dir,
            "data",
            f"{data_path} is another dataset than the run was trained on (catalogue "
            f"{catalogue.content_hash[:12]}, trained on {trained_on[:12]}); "
            "pass --data with the run's dataset",
        )
    history_ids = _history_ids(run_dir, prepared, user, items)
    window = history_ids[-split.max_len :]
    dense = [catalogue.index_of(i) for i in window]
    history = torch.tensor([[0] * (split.max_len - len(dense)) + dense])  # [1, L]
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the printed list is the output; no loading bars
    model = _load_model(run_dir, results, scenario, prepared)
    with torch.no_grad():
        table = model.item_tower.embed_all(split.num_items).float()  # [N+1, d]
        scores = model.score_all(history, table)[0].numpy().astype(np.float64)  # [N+1]
    scores[0] = -np.inf
    if not include_seen:
        scores[[catalogue.index_of(i) for i in history_ids]] = -np.inf
    order = np.argsort(-scores, kind="stable")[:k]
    ranked = tuple(
        Recommendation(r + 1, catalogue.item_ids[i - 1], catalogue.titles[i - 1], float(scores[i]))
        for r, i in enumerate(order)
        if np.isfinite(scores[i])
    )
    past = tuple((i, catalogue.titles[catalogue.index_of(i) - 1]) for i in window)
    return Recommendations(history=past, items=ranked)
