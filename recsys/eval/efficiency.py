"""The efficiency record (DESIGN.md's efficiency section) and TPME.

Per run: seconds per training epoch (wall-clock, training only; evaluation is timed
separately), CPU seconds per training epoch (``time.process_time``: all threads of this
process, so it is robust to other processes sharing the machine), memory (CUDA:
``torch.cuda.max_memory_allocated``; CPU: growth of resident memory during training over the
level just before training, plus the process's peak RSS), trainable and total parameters.
``memory_mb`` is the headline figure TPME uses: the CUDA peak on GPU, the RSS growth on CPU.

On CPU a daemon thread samples RSS every 10 ms while an epoch trains, so the growth includes
peaks inside a step (the backward pass), which readings between steps would miss. A
process's peak RSS never resets, so compare methods run in separate processes.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from recsys.errors import ConfigError

TPME_WEIGHTS = {"time": 0.45, "params": 0.10, "memory": 0.45}  # the paper's alphas
_MB = 1024.0 * 1024.0


def count_parameters(modules: Iterable[nn.Module]) -> dict[str, int]:
    """Trainable and total parameters over `modules`, each tensor counted once.

    Pass the model and the tower's frozen modules, so backbones reachable from the tower
    count in the total even when the tower keeps them outside its own attributes.
    """
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for p in module.parameters():
            seen.setdefault(id(p), p)
    return {
        "trainable": sum(p.numel() for p in seen.values() if p.requires_grad),
        "total": sum(p.numel() for p in seen.values()),
    }


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


class _RssSampler:
    """A daemon thread keeping the highest RSS of this process, read every `interval` s."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        process = psutil.Process()
        while not self._stop.wait(self.interval):  # wakes at once when stopped
            self.peak = max(self.peak, process.memory_info().rss)

    def stop(self) -> int:
        """Stop and join the thread; the peak RSS in bytes, including a last reading."""
        self._stop.set()
        self._thread.join()
        return max(self.peak, _rss_bytes())


@dataclass
class EfficiencyMeter:
    """Accumulates training and evaluation time and memory over a run.

    Call `start_training()` once before the first step; wrap each epoch's training in
    `with meter.training_epoch():` (CPU time; on CPU, RSS sampled every `sample_interval`
    seconds by a thread that stops when the block ends); `sample()` after steps (cheap);
    and `add_epoch(seconds, steps)` / `add_eval(seconds)` as they finish.
    """

    device: torch.device
    epoch_seconds: list[float] = field(default_factory=list)
    epoch_steps: list[int] = field(default_factory=list)
    epoch_cpu_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    rss_before: int = 0
    rss_max: int = 0
    sample_interval: float = 0.01  # seconds between RSS readings inside an epoch (CPU)

    def start_training(self) -> None:
        """Record the memory level just before training."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.rss_before = _rss_bytes()
        self.rss_max = self.rss_before

    def sample(self) -> None:
        """Track the highest resident memory seen during training."""
        self.rss_max = max(self.rss_max, _rss_bytes())

    @contextmanager
    def training_epoch(self) -> Iterator[None]:
        """Measure one epoch's training part: CPU seconds and, on CPU, in-step RSS peaks.

        The sampler thread runs only inside the block and is joined when it ends, also
        when training raises. On CUDA no thread runs (``max_memory_allocated`` already
        sees every peak).
        """
        sampler = None if self.device.type == "cuda" else _RssSampler(self.sample_interval)
        start = time.process_time()
        try:
            yield
        finally:
            self.epoch_cpu_seconds.append(time.process_time() - start)
            if sampler is not None:
                self.rss_max = max(self.rss_max, sampler.stop())

    def sync(self) -> None:
        """Wait for queued GPU work so wall-clock timings are honest."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def add_epoch(self, seconds: float, steps: int) -> None:
        self.epoch_seconds.append(seconds)
        self.epoch_steps.append(steps)

    def add_eval(self, seconds: float) -> None:
        self.eval_seconds.append(seconds)

    def record(self, params: Mapping[str, int], history: Iterable[Mapping] = ()) -> dict:
        """The JSON-able efficiency record.

        Args:
            params: {"trainable", "total"} from `count_parameters`.
            history: per-epoch records of earlier processes (resumed runs), each with
                ``train_seconds`` and ``steps``; used when this process trained no epoch.
        """
        seconds = list(self.epoch_seconds)
        steps = list(self.epoch_steps)
        if not seconds:
            past = list(history)
            seconds = [float(r["train_seconds"]) for r in past if "train_seconds" in r]
            steps = [int(r.get("steps", 0)) for r in past if "train_seconds" in r]
        out: dict[str, Any] = {
            "device": str(self.device),
            "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
            "epochs_timed": len(seconds),
            "steps_per_epoch": (sum(steps) / len(steps)) if steps else None,
            "seconds_per_step": sum(seconds) / sum(steps) if steps and sum(steps) else None,
            # CPU time of this process's epochs only (None when it resumed a finished run)
            "cpu_seconds_per_epoch": (
                sum(self.epoch_cpu_seconds) / len(self.epoch_cpu_seconds)
                if self.epoch_cpu_seconds
                else None
            ),
            "eval_seconds_per_call": (
                sum(self.eval_seconds) / len(self.eval_seconds) if self.eval_seconds else None
            ),
            "trainable_params": int(params["trainable"]),
            "total_params": int(params["total"]),
            "torch_threads": torch.get_num_threads(),
            "peak_rss_mb": _peak_rss_bytes() / _MB,
            "rss_before_training_mb": self.rss_before / _MB,
            "rss_growth_mb": max(0, self.rss_max - self.rss_before) / _MB,
        }
        if self.device.type == "cuda":
            out["memory_kind"] = "cuda_max_memory_allocated"
            out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(self.device) / _MB
            out["memory_mb"] = out["cuda_max_allocated_mb"]
        else:
            out["memory_kind"] = "cpu_rss_growth"
            out["memory_mb"] = out["rss_growth_mb"]
        return out


class Stopwatch:
    """`with Stopwatch(meter) as w: ...; w.seconds` (synchronises CUDA on both ends)."""

    def __init__(self, meter: EfficiencyMeter) -> None:
        self.meter = meter
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self.meter.sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.meter.sync()
        self.seconds = time.perf_counter() - self._start


def _normalise(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    if high == low:
        return [0.0] * len(values)  # an all-equal column separates nobody
    return [(v - low) / (high - low) for v in values]


def tpme(records: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """TPME of each compared method (lower is better).

    Each of time (``seconds_per_epoch``), parameters (``trainable_params``) and memory
    (``memory_mb``) is min-max normalised over the methods, then combined as
    0.45·time + 0.10·params + 0.45·memory. A column where every method is equal
    normalises to 0.

    Args:
        records: method name -> efficiency record (as `EfficiencyMeter.record` writes).

    Returns:
        method name -> TPME.

    Raises:
        ConfigError: a record lacks a field, or memory was measured in different ways.
    """
    names = list(records)
    if not names:
        return {}
    columns = {"time": "seconds_per_epoch", "params": "trainable_params", "memory": "memory_mb"}
    kinds = {records[n].get("memory_kind") for n in names} - {None}
    if len(kinds) > 1:
        raise ConfigError(
            f"TPME needs one memory measure across methods; got {sorted(map(str, kinds))}"
        )
    normalised: dict[str, list[float]] = {}
    for axis, key in columns.items():
        values = []
        for name in names:
            value = records[name].get(key)
            if value is None:
                raise ConfigError(f"efficiency record of {name!r} has no {key!r}")
            values.append(float(value))
        normalised[axis] = _normalise(values)
    return {
        name: sum(TPME_WEIGHTS[axis] * normalised[axis][i] for axis in columns)
        for i, name in enumerate(names)
    }
