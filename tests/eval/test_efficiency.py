"""TPME against a hand-computed example; the efficiency record's fields."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recsys.errors import ConfigError
from recsys.eval.efficiency import EfficiencyMeter, count_parameters, tpme


def _rec(seconds: float, params: int, memory: float) -> dict:
    return {
        "seconds_per_epoch": seconds,
        "trainable_params": params,
        "memory_mb": memory,
        "memory_kind": "cpu_rss_growth",
    }


def test_tpme_hand_computed() -> None:
    records = {
        "fft": _rec(400.0, 200, 40.0),
        "iisan": _rec(20.0, 4, 3.0),
        "adapter": _rec(210.0, 102, 21.5),
    }
    scores = tpme(records)
    # fft is worst on every axis -> 0.45 + 0.10 + 0.45 = 1; iisan best -> 0.
    assert scores["fft"] == pytest.approx(1.0)
    assert scores["iisan"] == pytest.approx(0.0)
    # adapter: t = 190/380 = 0.5, p = 98/196 = 0.5, m = 18.5/37 = 0.5 -> 0.5.
    assert scores["adapter"] == pytest.approx(0.5)


def test_tpme_uneven_and_equal_columns() -> None:
    records = {"a": _rec(10.0, 5, 100.0), "b": _rec(30.0, 5, 50.0), "c": _rec(20.0, 5, 75.0)}
    scores = tpme(records)
    # params all equal -> 0. a: t 0, m 1 -> 0.45. b: t 1, m 0 -> 0.45. c: .5, .5 -> 0.45.
    assert scores == pytest.approx({"a": 0.45, "b": 0.45, "c": 0.45})
    records["c"] = _rec(10.0, 5, 50.0)
    assert tpme(records)["c"] == 0.0


def test_tpme_refuses_mixed_memory_kinds_and_missing_fields() -> None:
    gpu = _rec(1.0, 1, 1.0) | {"memory_kind": "cuda_max_memory_allocated"}
    with pytest.raises(ConfigError, match="memory"):
        tpme({"a": _rec(1.0, 1, 1.0), "b": gpu})
    with pytest.raises(ConfigError, match="seconds_per_epoch"):
        tpme({"a": _rec(1.0, 1, 1.0), "b": {"trainable_params": 1, "memory_mb": 1.0}})


def test_record_fields_and_parameter_counts() -> None:
    frozen = nn.Linear(4, 4)
    frozen.requires_grad_(False)
    model = nn.Sequential(nn.Linear(4, 2), frozen)
    params = count_parameters([model, frozen])  # frozen counted once
    assert params == {"trainable": 10, "total": 30}
    meter = EfficiencyMeter(torch.device("cpu"))
    meter.start_training()
    meter.sample()
    meter.add_epoch(2.0, 10)
    meter.add_epoch(4.0, 10)
    meter.add_eval(0.5)
    record = meter.record(params)
    assert record["seconds_per_epoch"] == 3.0 and record["seconds_per_step"] == 0.3
    assert record["memory_kind"] == "cpu_rss_growth"
    assert record["memory_mb"] == record["rss_growth_mb"] >= 0
    assert record["peak_rss_mb"] > 0 and record["trainable_params"] == 10
    assert record["eval_seconds_per_call"] == 0.5


def _sampler_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "rss-sampler"]


def test_training_epoch_sees_an_in_step_peak_and_counts_cpu_time() -> None:
    import gc
    import time

    # Collect earlier tests' garbage first: freed during the block, it lowered RSS by as much
    # as the 64 MiB added (one clean-clone CI run measured a growth of 0.004 MB).
    gc.collect()
    meter = EfficiencyMeter(torch.device("cpu"), sample_interval=0.002)
    meter.start_training()
    with meter.training_epoch():
        assert len(_sampler_threads()) == 1  # sampling only while an epoch trains
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB touched, freed before any sample()
        time.sleep(0.1)  # many sampler periods while the block is resident
        del block
        spin = time.process_time()
        while time.process_time() - spin < 0.05:  # burn CPU time, not just wall time
            pass
    assert _sampler_threads() == []  # joined when the block ends
    meter.add_epoch(0.2, 1)
    record = meter.record({"trainable": 1, "total": 1})
    # The 64 MiB lived only inside the "step"; between-step sampling alone would miss it.
    assert record["memory_mb"] == record["rss_growth_mb"] >= 48
    assert record["cpu_seconds_per_epoch"] >= 0.05
    assert meter.epoch_cpu_seconds == [record["cpu_seconds_per_epoch"]]


def test_sampler_stops_when_the_epoch_raises_and_not_started_on_cuda_meters() -> None:
    meter = EfficiencyMeter(torch.device("cpu"))
    meter.start_training()
    with pytest.raises(RuntimeError, match="diverged"), meter.training_epoch():
        raise RuntimeError("diverged")
    assert _sampler_threads() == []
    assert len(meter.epoch_cpu_seconds) == 1
    gpu = EfficiencyMeter(torch.device("cuda"))  # no CUDA call is made by training_epoch
    with gpu.training_epoch():
        assert _sampler_threads() == []  # max_memory_allocated covers CUDA peaks


def test_record_without_a_trained_epoch_has_no_cpu_time() -> None:
    meter = EfficiencyMeter(torch.device("cpu"))
    meter.start_training()
    history = [{"train_seconds": 3.0, "steps": 6}]
    record = meter.record({"trainable": 1, "total": 1}, history)
    assert record["seconds_per_epoch"] == 3.0 and record["cpu_seconds_per_epoch"] is None
