"""A finished run's results, read into typed, frozen records: the one reader of results.json
and of the per-user tables (`test_per_user.csv`, recsys.eval.per_user).

`read_run(run_dir)` (or `from_results(results, run_dir)` for a results.json already read)
gives a `RunRecord`: the configuration (`ConfigKey`: scenario, method, encoders, protocol),
the dataset, the `Protocol` (with its history convention), the seed, the metrics per split,
the `Efficiency` record, the beyond-accuracy and popularity-bucket blocks and the `Code`
identity. A value the run did not record is None, never "". `read_per_user(run_dir)` reads
a per-user table (user ids and one column of floats per metric).

The on-disk formats are those `recsys.run` writes; runs recorded by earlier releases stay
readable (metrics nested under `metrics`/`best`, no `masking.convention`: the withdrawn
evaluation convention, no `code` block: `provenance.UNRECORDED`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from provenance import UNRECORDED, code_of


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _dict(obj: Any, *path: str) -> dict[str, Any]:
    found = _get(obj, *path)
    return dict(found) if isinstance(found, Mapping) else {}


def metrics_of(results: Mapping[str, Any], part: str) -> dict[str, float]:
    """Test or validation metrics from results.json, wherever the trainer put them."""
    for path in ((part,), ("metrics", part), (f"{part}_metrics",), ("best", part)):
        found = _get(results, *path)
        if isinstance(found, Mapping) and found:
            return {k: v for k, v in found.items() if isinstance(v, int | float)}
    return {}


def protocol_of(results: Mapping[str, Any]) -> str:
    """The protocol a run was evaluated under: the split's protocol name and the history
    convention (`leave_one_out_full_ranking/history=masked`); runs under different protocols
    are never compared or averaged. Runs recorded before `eval.history` existed keep the
    name they had (`leave_one_out_full_ranking`, the withdrawn target-dependent convention,
    or `...+mask_repeat_targets`), so they never pair with newer runs."""
    name = str(results.get("protocol", ""))
    masking = _dict(results, "masking")
    if masking.get("convention"):
        return f"{name}/history={masking['convention']}"
    if masking.get("mask_repeat_targets"):
        name += "+mask_repeat_targets"
    return name


def beyond_of(results: Mapping[str, Any]) -> dict[str, float | None]:
    """coverage@10 and tail@10 of a results.json's test split (None: not recorded)."""
    found = _dict(results, "beyond", "test")
    return {key: found.get(key) for key in ("coverage@10", "tail@10")}


def encoders_of(results: Mapping[str, Any]) -> tuple[str, str]:
    """(text encoder, vision encoder) a run used: its grid cell's, else its scenario's first
    channel of each kind ("" for none)."""
    record = _dict(results, "record")
    cell = record.get("grid_cell")
    if isinstance(cell, Mapping):
        return str(cell.get("text_encoder", "")), str(cell.get("vision_encoder", ""))
    found = {"text": "", "vision": ""}
    for ch in _get(record, "scenario", "channels") or []:
        kind = "text" if ch.get("modality") == "text" else "vision"
        found[kind] = found[kind] or str((ch.get("encoder") or {}).get("model", ""))
    return found["text"], found["vision"]


def encoders_label(text: str, vision: str) -> str:
    """The encoders part of a label: the models' last path parts, "+"-joined ("" for none)."""
    return "+".join(Path(x).name for x in (text, vision) if x)


class ConfigKey(NamedTuple):
    """One configuration under one protocol: what seeds of a run are grouped by, and what
    comparisons pair. A tuple, so `key[:4]` is the configuration without its protocol."""

    scenario: str
    method: str
    text_encoder: str = ""  # the model id or path; "" for none
    vision_encoder: str = ""
    protocol: str = ""  # `protocol_of`

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> ConfigKey:
        """The key of a runs.csv-style row (its `NAMES` columns; protocol may be absent)."""
        return cls(*(str(row.get(name) or "") for name in cls._fields))

    @property
    def label(self) -> str:
        """`scenario/method[/encoders]` (`scenarios.report.baselines`)."""
        return config_label(self)

    @staticmethod
    def parse(label: str) -> tuple[str, str | None, str | None]:
        """(scenario, method or None, encoders or None) a label names: `scenario`,
        `scenario/method` or `scenario/method/encoders` (`scenarios.report.baselines`)."""
        scenario, *rest = label.strip().split("/", 2)
        method, encoders = (*rest, None, None)[:2]
        return scenario, method, encoders


NAMES = ConfigKey._fields  # runs.csv's columns of a configuration under a protocol


def config_label(config: Sequence[str]) -> str:
    """The full label of a configuration (scenario, method, text and vision encoder):
    `scenario/method[/encoders]`."""
    encoders = encoders_label(config[2], config[3])
    return f"{config[0]}/{config[1]}" + (f"/{encoders}" if encoders else "")


@dataclass(frozen=True)
class Protocol:
    """How a run was evaluated (results.json `protocol` and `masking`)."""

    name: str  # the split's protocol (`leave_one_out_full_ranking`)
    convention: str | None  # eval.history (masked / unmasked); None: recorded before it
    label: str  # `protocol_of`: what runs are grouped and compared by
    test_users: int | None  # users scored on the test split
    repeat_targets: int | None  # of them, users whose target repeats a history item
    repeat_share: float | None

    @property
    def withdrawn(self) -> bool:
        """Recorded before `eval.history` (the withdrawn target-dependent convention)."""
        return bool(self.label) and self.convention is None


@dataclass(frozen=True)
class Efficiency:
    """A run's cost (results.json `efficiency`, parameters from `params` when absent)."""

    seconds_per_epoch: float | None
    cpu_seconds_per_epoch: float | None
    memory_mb: float | None
    memory_kind: str | None  # cuda_peak_allocated, cpu_rss_growth, ...
    peak_rss_mb: float | None
    trainable_params: int | None
    total_params: int | None
    head_params: int | None
    device: str | None = None  # cpu, cuda, ...
    torch_threads: int | None = None  # torch's intra-op threads while training
    epochs_timed: int | None = None  # epochs seconds_per_epoch averages

    @property
    def train_seconds(self) -> float | None:
        """seconds_per_epoch x epochs_timed, to 0.01 s (None when either is unrecorded)."""
        if self.seconds_per_epoch is None or self.epochs_timed is None:
            return None
        return round(self.seconds_per_epoch * self.epochs_timed, 2)


@dataclass(frozen=True)
class Code:
    """Which library code made a run (results.json `code`, `scenarios.report.code`)."""

    source: str  # `provenance.code_of`: the source hash, or provenance.UNRECORDED
    commit: str | None  # short commit, "+dirty" with uncommitted changes; None: unrecorded


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(
        {k: _frozen(v) if isinstance(v, dict) else v for k, v in mapping.items()}
    )


@dataclass(frozen=True)
class RunRecord:
    """A run folder's results.json, typed (`read_run`); None wherever nothing was recorded."""

    run_dir: Path
    key: ConfigKey  # scenario, method, encoders, protocol label
    protocol: Protocol
    seed: int | None
    dataset: str | None  # its name (else its path) and user sample (`dataset_label`)
    dataset_identity: str  # content hash, else catalogue hash, else provenance.UNRECORDED
    metrics: Mapping[str, Mapping[str, float]]  # split ("test", "valid") -> name -> value
    efficiency: Efficiency
    beyond: Mapping[str, Mapping[str, float]]  # split -> beyond-accuracy metric -> value
    buckets: Mapping[str, Any]  # test popularity buckets: label -> {users, train_count, ...}
    code: Code
    best_epoch: int | None
    epochs: int | None
    stop_reason: str | None
    captions: Mapping[str, str]  # caption field -> fingerprint
    results: Mapping[str, Any] = field(repr=False, compare=False)  # everything, read-only

    @property
    def finished(self) -> bool:
        """It recorded test metrics."""
        return bool(self.metrics.get("test"))

    @property
    def test(self) -> Mapping[str, float]:
        return self.metrics.get("test", {})

    @property
    def valid(self) -> Mapping[str, float]:
        return self.metrics.get("valid", {})

    def raw(self) -> dict[str, Any]:
        """The results.json as plain, mutable dicts and lists (a copy)."""
        return json.loads(json.dumps(self.results, default=dict))


class ResultsError(ValueError):
    """A run folder without a readable results.json."""


def dataset_label(source: Mapping[str, Any]) -> str | None:
    """A run's dataset as tables, summaries and captions name it: its name (else its path),
    and the user sample it was cut to (`dataset.users.sample`); None when unrecorded.
    `source` is results.json's `record.dataset`."""
    name, sample = source.get("name") or source.get("path"), source.get("users_sample")
    if not name or not isinstance(sample, Mapping):
        return name or None
    from recsys.data.users_sample import describe

    return f"{name} ({describe(sample)})"


def read_run(run_dir: str | Path) -> RunRecord:
    """The typed record of the results.json in `run_dir`.

    Raises:
        ResultsError: one line naming the file, when there is none or it is not JSON.
    """
    path = Path(run_dir) / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        why = "none" if isinstance(exc, FileNotFoundError) else f"unreadable: {exc}"
        raise ResultsError(f"{path}: no readable results.json ({why})") from None
    if not isinstance(results, dict):
        raise ResultsError(f"{path}: not a results.json (a JSON object)")
    return from_results(results, run_dir)


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _efficiency(results: dict[str, Any]) -> Efficiency:
    eff, params = _dict(results, "efficiency"), _dict(results, "params")
    return Efficiency(
        seconds_per_epoch=_number(eff.get("seconds_per_epoch")),
        cpu_seconds_per_epoch=_number(eff.get("cpu_seconds_per_epoch")),
        memory_mb=_number(eff.get("memory_mb")),
        memory_kind=eff.get("memory_kind"),
        peak_rss_mb=_number(eff.get("peak_rss_mb")),
        trainable_params=_number(eff.get("trainable_params", params.get("trainable"))),
        total_params=_number(eff.get("total_params", params.get("total"))),
        head_params=_number(params.get("head")),
        device=eff.get("device") if isinstance(eff.get("device"), str) else None,
        torch_threads=_number(eff.get("torch_threads")),
        epochs_timed=_number(eff.get("epochs_timed")),
    )


def _protocol(results: dict[str, Any]) -> Protocol:
    masking = _dict(results, "masking")
    return Protocol(
        name=str(results.get("protocol", "")),
        convention=masking.get("convention") or None,
        label=protocol_of(results),
        test_users=_number(masking.get("users")),
        repeat_targets=_number(masking.get("repeat_targets")),
        repeat_share=_number(masking.get("repeat_share")),
    )


def _code(results: dict[str, Any]) -> Code:
    code = _dict(results, "code")
    commit = code.get("commit") if isinstance(code.get("commit"), str) else ""
    if commit:
        commit = commit[:12] + ("+dirty" if code.get("dirty") else "")
    return Code(source=code_of(results), commit=commit or None)


def from_results(results: Mapping[str, Any], run_dir: str | Path) -> RunRecord:
    """The typed record of a results.json already read (`results`) from `run_dir`."""
    results = dict(results)
    record = _dict(results, "record")
    source = _dict(record, "dataset")
    scenario = _get(record, "scenario", "name") or Path(run_dir).parent.name
    captions = _dict(record, "captions") or _dict(results, "captions")
    captions = {k: v for k, v in captions.items() if isinstance(v, Mapping)}
    seed = results.get("seed")
    return RunRecord(
        run_dir=Path(run_dir),
        key=ConfigKey(
            str(scenario),
            str(results.get("method", "")),
            *encoders_of(results),
            protocol_of(results),
        ),  # fmt: skip
        protocol=_protocol(results),
        seed=int(seed) if _number(seed) is not None else None,
        dataset=dataset_label(source),
        dataset_identity=source.get("content_hash")
        or _dict(results, "dataset").get("catalogue_sha256")
        or UNRECORDED,
        metrics=_frozen({p: metrics_of(results, p) for p in ("test", "valid")}),
        efficiency=_efficiency(results),
        beyond=_frozen(_dict(results, "beyond")),
        buckets=_frozen(_dict(results, "buckets", "test")),
        code=_code(results),
        best_epoch=_number(results.get("best_epoch")),
        epochs=_number(results.get("epochs_run")),
        stop_reason=results.get("stop_reason"),
        captions=_frozen({k: str(v.get("fingerprint", "")) for k, v in captions.items()}),
        results=_frozen(results),
    )


class PerUser(NamedTuple):
    """A per-user table (`read_per_user`): user ids in file order and, per column, one value
    a user (None where the cell is empty)."""

    users: tuple[str, ...]
    columns: Mapping[str, tuple[float | None, ...]]

    def values(self, column: str, keep: Sequence[bool] | None = None) -> dict[str, float]:
        """User id -> value of `column` (only the users `keep` marks, when given)."""
        cells = self.columns[column]
        marks = keep if keep is not None else [True] * len(self.users)
        return {
            u: v for u, v, k in zip(self.users, cells, marks, strict=True) if k and v is not None
        }


def _float(value: str) -> float | None:
    try:
        return float(value) if value != "" else None
    except ValueError:
        return None


def read_per_user(run_dir: str | Path, split: str = "test", columns: Sequence[str] = ()) -> PerUser:
    """The per-user table of `split` (`<split>_per_user.csv`) in `run_dir`.

    Raises:
        FileNotFoundError: the run wrote no such table.
        KeyError: a column of `columns` is not in it (the message names file and column).
    """
    path = Path(run_dir) / f"{split}_per_user.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no per-user {split} metrics")
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        names = [n for n in (reader.fieldnames or ()) if n != "user_id"]
        for column in columns:
            if column not in names:
                raise KeyError(
                    f"{path}: no column {column!r} (not recorded by this run; `toolkit "
                    f"evaluate {Path(run_dir)}` re-scores its checkpoint with today's metrics)"
                )
        rows = list(reader)
    return PerUser(
        users=tuple(row["user_id"] for row in rows),
        columns=MappingProxyType(
            {n: tuple(_float(row.get(n) or "") for row in rows) for n in names}
        ),
    )
