"""Evaluator throughput on Amazon Scientific vs a bare matmul + top-k, in one process.

Three timings over the same user states and item table (ID-SASRec, seeded init):

* ``bare``: per user chunk ``scores = U @ E.T`` then ``topk(10)`` (no masking, no ties);
* ``ranking``: the evaluator's ranking path (`evaluate_states`: history mask, exact tie
  counts, every metric, and the top-K lists of the beyond-accuracy metrics, the default)
  given the same precomputed user states;
* ``ranking_plain``: the same with ``eval.beyond = false`` (no top-K lists), so
  ``ratio_beyond`` = ranking / ranking_plain is the lists' cost (target: at most 1.15);
* ``evaluate``: the whole `evaluate` call (SASRec over the histories + ranking), and
  ``evaluate_plain`` the same without the lists: ``ratio_beyond_evaluate`` is the lists' cost
  on the pass a user waits for;
* ``kernel`` / ``kernel_plain``: `rank_counts` alone (the ranking loop, no metrics) with and
  without the lists, timed per batch of users, the least time of each batch over the
  repeats summed: ``ratio_beyond_kernel`` filters other processes' load best.

Each is run `--repeats` times (default 15); the best time is kept (other processes share
the machine), and ``ratio_beyond_paired`` gives the median and quartiles of the per-repeat
ratios ranking / ranking_plain (each pair timed back to back).
Writes benchmarks/results/eval_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
DATA = Path("/work/shared/data/amazon_scientific")


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _kernel_seconds(split, states, table, user_batch: int, repeats: int) -> dict[str, float]:
    """`rank_counts` over every test user with and without the top-20 lists (the evaluator's
    masks and hidden targets, history masked): per batch of users the least wall time over
    `repeats` interleaved runs, summed over the batches."""
    from recsys.config import EvalConfig
    from recsys.eval.history import history_pairs
    from recsys.eval.ranking import rank_counts

    targets, chunk = split.test_target, EvalConfig().item_chunk
    best: dict[tuple[str, int], float] = {}
    for _ in range(repeats):
        for lo in range(0, len(targets), user_batch):
            hi = min(lo + user_batch, len(targets))
            rows, cols, again = history_pairs(split.test_seen, lo, hi, targets[lo:hi], "masked")
            for name, k in (("kernel_plain", 0), ("kernel", 20)):
                start = time.perf_counter()
                rank_counts(states[lo:hi], table, targets[lo:hi], rows, cols, chunk,
                            top_k=k, hidden=again)  # fmt: skip
                took = time.perf_counter() - start
                best[name, lo] = min(best.get((name, lo), float("inf")), took)
    return {n: sum(v for (m, _), v in best.items() if m == n) for n in ("kernel_plain", "kernel")}


def _interleaved(pairs, repeats: int, seconds: dict, cpu: dict) -> dict[str, list[float]]:
    """Time each of `pairs` once per repeat, interleaved (drifting machine load hits all
    alike); keeps each one's least wall and process CPU time in `seconds` and `cpu`, and
    returns every wall time, in repeat order."""
    runs: dict[str, list[float]] = {name: [] for name, _ in pairs}
    for _ in range(repeats):
        for name, fn in pairs:
            start = time.process_time()
            runs[name].append(_best(fn, 1))
            seconds[name] = min(seconds.get(name, float("inf")), runs[name][-1])
            cpu[name] = min(cpu.get(name, float("inf")), time.process_time() - start)
    return runs


def _paired(runs: list[float], plain: list[float]) -> dict[str, float]:
    """Median and quartiles of the per-repeat ratios runs[i] / plain[i]: each pair ran back
    to back, so a slow spell of the machine mostly cancels (a second estimate beside the
    ratio of the best times)."""
    import numpy as np

    ratios = np.array(runs) / np.array(plain)
    q1, median, q3 = np.percentile(ratios, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1)
    # whole-pass minima settle slowly on a shared machine: with 7 repeats the lists' ratio
    # scattered 1.13-1.18x over twelve runs, with 15 1.12-1.15x over eight (~80 s a run)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--user-batch", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from recsys.config import EvalConfig
    from recsys.data import load_dataset, make_split
    from recsys.eval.evaluator import evaluate, evaluate_states
    from recsys.models.id_tower import IdTower
    from recsys.models.recommender import SequentialRecommender
    from recsys.models.sasrec import SASRec

    split = make_split(load_dataset(args.data))
    torch.manual_seed(0)
    model = SequentialRecommender(
        IdTower(split.num_items, 64), SASRec(64, 2, 2, 256, split.max_len, 0.1)
    ).eval()
    config = EvalConfig(user_batch=args.user_batch)
    plain = EvalConfig(user_batch=args.user_batch, beyond=False)
    with torch.no_grad():
        table = model.item_tower.embed_all(split.num_items).float()  # [N+1, 64]
        history = torch.from_numpy(split.test_history)
        states = torch.cat(
            [model.user_state(history[s : s + 1024], table) for s in range(0, len(history), 1024)]
        )  # [U, 64]

    def bare() -> None:
        with torch.no_grad():
            for s in range(0, states.shape[0], args.user_batch):
                scores = states[s : s + args.user_batch] @ table.T  # [b, N+1]
                scores.topk(10, dim=1)

    def ranking() -> None:
        evaluate_states(lambda h, a, b: states[a:b], split, "test", config, table)

    def ranking_plain() -> None:
        evaluate_states(lambda h, a, b: states[a:b], split, "test", plain, table)

    def full() -> None:
        evaluate(model, split, "test", config, item_table=table)

    def full_plain() -> None:
        evaluate(model, split, "test", plain, item_table=table)

    users = split.num_users
    load = os.getloadavg()[0]  # other work sharing the cores when the timings started
    seconds = {"bare": _best(bare, args.repeats)}
    cpu: dict[str, float] = {}  # process CPU time: less sensitive to other processes' load
    pairs = (
        ("ranking_plain", ranking_plain),
        ("ranking", ranking),
        ("evaluate_plain", full_plain),
        ("evaluate", full),
    )
    runs = _interleaved(pairs, args.repeats, seconds, cpu)
    kernel_repeats = max(args.repeats, 11)  # per-batch minima need more runs to settle
    kernel = _kernel_seconds(split, states, table, args.user_batch, kernel_repeats)
    report = {
        "dataset": str(args.data),
        "users": users,
        "items": split.num_items,
        "torch_threads": args.threads,
        "user_batch": args.user_batch,
        "repeats": args.repeats,
        "load_average_1min": load,
        "seconds": seconds,
        "users_per_second": {k: users / v for k, v in seconds.items()},
        "ratio_ranking_vs_bare": seconds["ranking"] / seconds["bare"],
        "ratio_evaluate_vs_bare": seconds["evaluate"] / seconds["bare"],
        "ratio_beyond": seconds["ranking"] / seconds["ranking_plain"],
        "cpu_seconds": cpu,
        "ratio_beyond_cpu": cpu["ranking"] / cpu["ranking_plain"],
        "ratio_beyond_paired": _paired(runs["ranking"], runs["ranking_plain"]),
        "ratio_beyond_evaluate": seconds["evaluate"] / seconds["evaluate_plain"],
        "ratio_beyond_evaluate_cpu": cpu["evaluate"] / cpu["evaluate_plain"],
        "kernel_seconds": kernel,
        "kernel_repeats": kernel_repeats,
        "ratio_beyond_kernel": kernel["kernel"] / kernel["kernel_plain"],
        "target_ratio": 1.5,
        "target_ratio_beyond": 1.15,
    }
    from plumbing.io import atomic_write_json, atomic_write_text

    out = ROOT / "results" / "eval_throughput"
    atomic_write_json(out.with_suffix(".json"), report)
    atomic_write_text(out.with_suffix(".md"), _markdown(report))
    print(_markdown(report))


def _markdown(r: dict) -> str:
    ups, sec = r["users_per_second"], r["seconds"]
    rows = "\n".join(
        f"| {name} | {sec[name]:.2f} | {ups[name]:,.0f} | {sec[name] / sec['bare']:.2f}x |"
        for name in ("bare", "ranking_plain", "ranking", "evaluate_plain", "evaluate")
    )
    return (
        "# Evaluator throughput, Amazon Scientific\n\n"
        f"{r['users']:,} test users x {r['items']:,} items, {r['torch_threads']} torch "
        f"thread(s), user batch {r['user_batch']}, best of {r['repeats']}; 1-minute load "
        f"average at the start {r.get('load_average_1min', float('nan')):.1f} on "
        f"{os.cpu_count()} cores.\n\n"
        "| path | seconds | users/s | time vs bare |\n|---|---|---|---|\n"
        f"{rows}\n\n"
        "bare = matmul + top-10 only; ranking = the evaluator over the same user states "
        "(history mask, exact tie counts, HR/NDCG/MRR at 5/10/20, and the top-20 lists of "
        "the beyond-accuracy metrics); ranking_plain = the same without the lists "
        "(eval.beyond = false); evaluate = ranking plus SASRec over every history (and "
        "evaluate_plain without the lists). Target: "
        f"ranking within {r['target_ratio']}x of bare.\n\n"
        f"Beyond-accuracy metrics: ranking / ranking_plain = {r['ratio_beyond']:.3f}x "
        f"wall, {r['ratio_beyond_cpu']:.3f}x process CPU time "
        f"(target: at most {r['target_ratio_beyond']}x); the median of the "
        f"{r['repeats']} back-to-back pairs is {_median(r)}. On the whole evaluation pass "
        f"(SASRec + ranking): evaluate / evaluate_plain = {r['ratio_beyond_evaluate']:.3f}x "
        f"wall, {r['ratio_beyond_evaluate_cpu']:.3f}x CPU. The ranking loop alone "
        f"(`rank_counts`, least time per batch of {r['user_batch']} users over "
        f"{r['kernel_repeats']} runs): {r['kernel_seconds']['kernel_plain']:.3f} s -> "
        f"{r['kernel_seconds']['kernel']:.3f} s, {r['ratio_beyond_kernel']:.3f}x.\n\n"
        f"{_BOUND}\n"
    )


def _median(r: dict) -> str:
    paired = r.get("ratio_beyond_paired")
    if not paired:
        return "not recorded"
    return f"{paired['median']:.3f}x (quartiles {paired['q1']:.3f}-{paired['q3']:.3f})"


_BOUND = (
    "What bounds the lists' cost (the ranking loop alone, 95 blocks of 128 users x 20,315 "
    "columns, one thread): the plain pass is ~4 ms per block (matmul ~3.4 ms, at about the "
    "core's peak; the exact counts ~0.6 ms); the lists add ~0.5 ms: one `amax` pass over the "
    "10 MB score block (~0.2 ms; torch has no operation that folds it into the counting "
    "passes), the k-th group maximum and the chosen groups (~0.06 ms), gathering and "
    "filtering them (~0.2 ms), and the rest with the block's share of the one sort per "
    "batch of users (~0.08 ms). The evaluator then computes the lists' metrics (~5 ms for "
    "12,076 users at three K). Timings on the 2-core development machine swing by up to 30% "
    "from run to run: compare ratios over several runs (docs/beyond-accuracy.md, Cost)."
)


if __name__ == "__main__":
    main()
