"""The trainer's per-epoch callbacks: every epoch's record once, replayed after a resume,
and a True return stops training (what the tuner's pruner and the trackers rely on)."""

from __future__ import annotations

import numpy as np
import pytest

from plumbing.io import read_jsonl
from recsys.config import EvalConfig, SASRecConfig, TrainConfig
from recsys.run import run_experiment
from recsys.spec import RunSpec
from recsys.train import checkpoint as ckpt


@pytest.fixture(scope="module")
def split(make_toy_split):
    rng = np.random.default_rng(5)
    items = [f"i{k:02d}" for k in range(20)]
    seqs = {
        f"u{u:02d}": [items[(int(rng.integers(0, 20)) + s) % 20] for s in range(6)]
        for u in range(30)
    }
    return make_toy_split(seqs, max_len=5)


def _run(split, out, callbacks, epochs=4):
    return run_experiment(
        RunSpec(
            split=split,
            method="id",
            sasrec=SASRecConfig(dim=16, num_blocks=1, num_heads=2, ffn_dim=32),
            train=TrainConfig(epochs=epochs, batch_size=8, patience=10, device="cpu"),
            evaluation=EvalConfig(ks=(5, 10)),
            seed=1,
            cache_dir=out / "cache",
        ),
        out_dir=out,
        progress=False,
        callbacks=callbacks,
    )


def test_callbacks_see_every_epoch_record_and_can_stop(split, tmp_path):
    seen: list[dict] = []
    result = _run(split, tmp_path / "all", [seen.append])
    lines, _ = read_jsonl(tmp_path / "all" / "metrics.jsonl")
    assert seen == lines and [r["epoch"] for r in seen] == [1, 2, 3, 4]

    stopped: list[int] = []

    def stop_at_two(record):
        stopped.append(record["epoch"])
        return record["epoch"] == 2

    early = _run(split, tmp_path / "stop", [stop_at_two])
    assert stopped == [1, 2] and early.epochs_run == 2 and result.epochs_run == 4
    import json

    results = json.loads((tmp_path / "stop" / "results.json").read_text())
    assert results["stop_reason"] == "callback"


def test_a_resumed_run_replays_earlier_epochs_to_callbacks(split, tmp_path, monkeypatch):
    real = ckpt.write_pointer
    calls = {"n": 0}

    def die_after_second(folder, state):
        real(folder, state)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    first: list[int] = []
    monkeypatch.setattr(ckpt, "write_pointer", die_after_second)
    with pytest.raises(KeyboardInterrupt):
        _run(split, tmp_path / "run", [lambda r: first.append(r["epoch"])])
    monkeypatch.setattr(ckpt, "write_pointer", real)
    again: list[int] = []
    _run(split, tmp_path / "run", [lambda r: again.append(r["epoch"])])
    assert first == [1, 2] and again == [1, 2, 3, 4]
