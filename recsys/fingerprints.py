"""What identifies a run, and what a run folder already holds.

A run has two fingerprints. The training fingerprint (`train_sha256`) covers everything
that decides the trained weights and the selected epoch: the run configuration less its
evaluation settings, except those that change validation metrics
(`recsys.config.SELECTION_FIELDS`, recorded as `selection`). The evaluation fingerprint
(`eval_sha256`) covers how the selected checkpoint is scored: the evaluation settings less
the ones that only chunk the work (`recsys.config.EVAL_RUNTIME_FIELDS`), plus a user subset
when there is one. `config_sha256` stays one hash over the whole configuration.

Records written before the split hold only `config_sha256`, taken over the configuration
they record as `config`: their two fingerprints are derived from that `config` by the same
rule (`recorded_fingerprints`), so rerunning the command that made them finds them complete.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from media.hashing import sha256_json
from recsys.config import EVAL_RUNTIME_FIELDS, SELECTION_FIELDS, EvalConfig
from recsys.errors import ConfigError
from recsys.eval.history import history_of


def training_config(run_config: Mapping[str, Any], *, selection: bool = True) -> dict[str, Any]:
    """The part of a run configuration that decides the trained weights and the selected
    epoch (`selection=False`: the weights of every epoch, not which one is selected)."""
    evaluation = dict(run_config.get("evaluation") or {})
    defaults = dataclasses.asdict(EvalConfig())  # a record that predates a field has its default
    # ... except the history convention: a record from before it existed used another one.
    defaults["history"] = history_of(evaluation)
    out = {k: v for k, v in run_config.items() if k != "evaluation"}
    if selection:
        out["selection"] = {f: evaluation.get(f, defaults[f]) for f in SELECTION_FIELDS}
    return out


def evaluation_settings(evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """What decides how a selected checkpoint is scored: a run configuration's `evaluation`
    (an EvalConfig as a dict, plus `users` for a subset) with every EvalConfig field present
    (a record that predates one has its default), less `EVAL_RUNTIME_FIELDS`."""
    full = dataclasses.asdict(EvalConfig()) | dict(evaluation)
    full["history"] = history_of(evaluation)
    # beyond-accuracy metrics add to the results files; a record without the key predates
    # them (so had none), and "off" hashes as such records did
    if not evaluation.get("beyond", False):
        del full["beyond"]
    return {k: v for k, v in full.items() if k not in EVAL_RUNTIME_FIELDS}


def fingerprints(run_config: Mapping[str, Any]) -> dict[str, str]:
    """`config_sha256`, `train_sha256` and `eval_sha256` of a run configuration."""
    return {
        "config_sha256": sha256_json(run_config),
        "train_sha256": sha256_json(training_config(run_config)),
        "eval_sha256": sha256_json(evaluation_settings(run_config.get("evaluation") or {})),
    }


def eval_dir(out_dir: Path, eval_sha: str, label: str = "") -> Path:
    """Where a finished run scored under other evaluation settings keeps those results:
    ``eval-<label>-<hash>`` (`eval_label`), or ``eval-<hash>`` as before labels."""
    return Path(out_dir) / "-".join(["eval", *([label] if label else []), eval_sha[:12]])


def _label_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    if isinstance(value, dict) and "count" in value:  # a user subset: its size
        return str(value["count"])
    return str(value)


def eval_label(held: Mapping[str, Any], wanted: Mapping[str, Any], limit: int = 60) -> str:
    """The evaluation settings `wanted` changes from the run's own (`held`), readable in a
    folder name: ``history=unmasked-ks=1,10,50`` (the hash beside it stays the identity)."""
    before, after = evaluation_settings(held), evaluation_settings(wanted)
    parts = [
        re.sub(r"[^A-Za-z0-9=,._]+", "_", f"{key}={_label_value(after.get(key))}")
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    text = "-".join(parts)
    return text[:limit].rstrip("-_")


def read_results(path: Path) -> dict[str, Any] | None:
    """A results.json as a dict; None when there is none.

    Raises:
        ConfigError: the file is unreadable or not a JSON object.
    """
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable results file ({exc}); delete it to rerun") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a results file (a JSON object); delete it to rerun")
    return data


def _recorded_config(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The configuration a results.json records, when its `config_sha256` was taken over it."""
    config = data.get("config")
    if isinstance(config, dict) and sha256_json(config) == data.get("config_sha256"):
        return config
    return None


def recorded_fingerprints(data: Mapping[str, Any]) -> dict[str, str] | None:
    """The fingerprints a results.json records, or derives from its `config` when it was
    written before they were split (see the module docstring); None when neither works."""
    if isinstance(data.get("train_sha256"), str) and isinstance(data.get("eval_sha256"), str):
        return {k: str(data.get(k)) for k in ("config_sha256", "train_sha256", "eval_sha256")}
    config = _recorded_config(data)
    return fingerprints(config) if config is not None else None


def _changed_keys(held: Any, wanted: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain configurations."""
    if isinstance(held, dict) and isinstance(wanted, dict):
        out: list[str] = []
        for key in sorted(set(held) | set(wanted), key=str):
            out += _changed_keys(held.get(key), wanted.get(key), f"{prefix}{key}.")
        return out
    return [] if held == wanted else [prefix.rstrip(".")]


def _another_run(path: Path, data: Mapping[str, Any], run_config: Mapping[str, Any]) -> str:
    """The refusal, naming what differs (and `toolkit evaluate` when only selection does)."""
    message = f"{path}: this folder holds a finished run of another configuration"
    held = data.get("config")
    changed = []
    if isinstance(held, dict):
        changed = _changed_keys(training_config(held), training_config(run_config))
    if changed:
        message += f" (differs in {', '.join(changed[:6])})"
    if changed and all(k.startswith("selection.") for k in changed):
        keys = " ".join(f"eval.{k.removeprefix('selection.')}=..." for k in changed)
        return (
            f"{message}; these evaluation settings select the epoch, so training under them "
            f"is another run (choose another output folder); `toolkit evaluate {path.parent} "
            f"{keys}` scores this run's checkpoint under them instead"
        )
    return message + "; choose another output folder or delete it"


def completed(
    out_dir: Path, run_config: Mapping[str, Any], *, scoring: bool = False
) -> tuple[str, dict[str, Any], Path] | None:
    """What `out_dir` holds for `run_config`: None (no finished run), ("complete", results,
    folder) when results under these evaluation settings exist (the run's own, or an
    `eval-<hash>/` of it), or ("trained", results, out_dir) when the run is finished but
    not yet scored under them.

    Args:
        scoring: the caller scores the run, it does not train: the selection settings may
            differ (the checkpoint the run selected is scored under the new ones).

    Raises:
        ConfigError: the folder holds a finished run of another training configuration.
    """
    path = Path(out_dir) / "results.json"
    data = read_results(path)
    if data is None:
        return None
    held, wanted = recorded_fingerprints(data), fingerprints(run_config)
    if scoring:
        config = data.get("config") if held is not None else None
        same = isinstance(config, dict) and sha256_json(
            training_config(config, selection=False)
        ) == sha256_json(training_config(run_config, selection=False))
    else:
        same = held is not None and held["train_sha256"] == wanted["train_sha256"]
    if not same or held is None:
        raise ConfigError(_another_run(path, data, run_config))
    if held["eval_sha256"] == wanted["eval_sha256"]:
        return "complete", data, Path(out_dir)
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    label = eval_label(config.get("evaluation") or {}, run_config.get("evaluation") or {})
    named = eval_dir(out_dir, wanted["eval_sha256"], label)  # else one from before labels
    folder = named if named.exists() else eval_dir(out_dir, wanted["eval_sha256"])
    again = read_results(folder / "results.json")
    if again is not None:
        prints = recorded_fingerprints(again) or {}
        if (prints.get("train_sha256"), prints.get("eval_sha256")) == (
            held["train_sha256"],
            wanted["eval_sha256"],
        ):
            return "complete", again, folder
    return "trained", data, Path(out_dir)
