"""Hyper-parameter search spaces, declared as data next to each method's registry entry.

A space is a tuple of `SearchParam`s whose names are the scenario's dotted override keys
(`train.lr`, `train.adapter_lr`, `train.weight_decay`, `model.dropout`,
`method_options.<field>`): a trial's values are applied to a scenario exactly as command-line
overrides are, so the tuned configuration is an ordinary scenario file. The tuner
(`scenarios.tune.run`, Optuna) turns each parameter into a distribution; nothing here imports
Optuna. What every trial shares (epochs, patience, the selection metric, batch size, the
data) is deliberately not searchable: trials differ only in the declared values.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from recsys.errors import ConfigError

Kind = Literal["float", "int", "choice"]

SEARCHABLE = ("train.lr", "train.adapter_lr", "train.weight_decay", "model.dropout")
"""Keys outside `method_options.` that a space may search (the budget keys are not here)."""


@dataclass(frozen=True)
class SearchParam:
    """One searched value.

    Attributes:
        name: dotted scenario key the value is written to (`train.lr`).
        low, high: inclusive range of a "float" or "int" parameter.
        log: sample on a log scale (learning rates, weight decay); needs low > 0.
        kind: "float", "int" or "choice".
        choices: the values of a "choice" parameter.
    """

    name: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    kind: Kind = "float"
    choices: tuple[Any, ...] = ()

    def check(self, options: type | None = None) -> None:
        """Raise ConfigError (naming the parameter) when the declaration is impossible.

        Args:
            options: the method's options dataclass; `method_options.<x>` must be a field.
        """
        where = f"search space {self.name!r}"
        if self.name not in SEARCHABLE and not self.name.startswith("method_options."):
            valid = ", ".join((*SEARCHABLE, "method_options.<option>"))
            raise ConfigError(f"{where}: not a searchable key; valid: {valid}")
        if self.name.startswith("method_options."):
            field = self.name.removeprefix("method_options.")
            names = [f.name for f in dataclasses.fields(options)] if options else []
            if field not in names:
                raise ConfigError(f"{where}: the method has no option {field!r}")
        if self.kind == "choice":
            if len(self.choices) < 2:
                raise ConfigError(f"{where}: a choice needs at least two values")
            return
        if self.choices:
            raise ConfigError(f"{where}: choices are for kind 'choice' only")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ConfigError(f"{where}: needs finite low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}: a log scale needs low > 0")
        if self.kind == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ConfigError(f"{where}: an int range needs integer bounds")

    def describe(self) -> str:
        """`train.lr ∈ [1e-05, 0.01] (log)` — for reports."""
        if self.kind == "choice":
            return f"{self.name} ∈ {{{', '.join(map(str, self.choices))}}}"
        scale = " (log)" if self.log else ""
        return f"{self.name} ∈ [{self.low:g}, {self.high:g}]{scale}"


def check_space(
    space: Sequence[SearchParam], options: type | None = None
) -> tuple[SearchParam, ...]:
    """The space as a tuple, every parameter checked and no name twice."""
    seen: set[str] = set()
    for param in space:
        if not isinstance(param, SearchParam):
            raise ConfigError(f"search space entries must be SearchParam, got {param!r}")
        param.check(options)
        if param.name in seen:
            raise ConfigError(f"search space {param.name!r}: declared twice")
        seen.add(param.name)
    return tuple(space)


def log_range(name: str, low: float, high: float) -> SearchParam:
    """A float searched on a log scale (learning rates, weight decay)."""
    return SearchParam(name, low, high, log=True)


def lr_space(*, recommender: tuple[float, float], adapter: tuple[float, float] | None):
    """The usual space: the recommender LR and (for methods with adapter-role parameters)
    the adapter LR as separate groups, Adam weight decay and SASRec dropout."""
    params = [log_range("train.lr", *recommender)]
    if adapter is not None:
        params.append(log_range("train.adapter_lr", *adapter))
    params += [log_range("train.weight_decay", 1e-8, 1e-3), SearchParam("model.dropout", 0.0, 0.5)]
    return tuple(params)
