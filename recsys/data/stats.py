"""Summary statistics of a dataset, for `toolkit data stats`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from recsys.config import SplitConfig
from recsys.data.splitting import make_split
from recsys.data.types import Dataset
from recsys.errors import ConfigError, DataFormatError

PERCENTILES = (10, 25, 50, 75, 90, 99)
TOP_ITEMS = 5


def _length_summary(lengths: np.ndarray) -> dict[str, Any]:
    return {
        "min": int(lengths.min()),
        "median": float(np.median(lengths)),
        "mean": round(float(lengths.mean()), 3),
        "max": int(lengths.max()),
        "percentiles": {str(p): float(np.percentile(lengths, p)) for p in PERCENTILES},
    }


def _popularity(dataset: Dataset, counts: np.ndarray) -> dict[str, Any]:
    """counts: [N] interactions per catalogue item, in catalogue order."""
    total = int(counts.sum())
    order = np.argsort(-counts, kind="stable")
    ranked = counts[order]
    share = {}
    for pct in (1, 10):
        top = max(1, math.ceil(len(counts) * pct / 100))
        share[f"top_{pct}pct_items"] = round(float(ranked[:top].sum()) / max(total, 1), 4)
    cat = dataset.catalogue
    return {
        "top_items": [
            {"item_id": cat.item_ids[i], "title": cat.titles[i], "count": int(counts[i])}
            for i in order[:TOP_ITEMS]
        ],
        "interaction_share": share,
        "items_never_interacted": int((counts == 0).sum()),
        "max_count": int(ranked[0]) if len(ranked) else 0,
        "median_count_interacted": float(np.median(counts[counts > 0])) if total else 0.0,
    }


def _split_summary(dataset: Dataset, config: SplitConfig) -> dict[str, Any]:
    """The split `config` makes of the dataset: users kept and dropped, items ranked of
    those defined (what a run on it would train and rank)."""
    try:
        split = make_split(dataset, config)
    except (DataFormatError, ConfigError) as exc:  # too few users; cuts out of order
        return {"error": exc.message if isinstance(exc, DataFormatError) else str(exc)}
    if split.cuts is None:
        protocol = f"last {config.keep_last}, leave-one-out, history {config.max_len}"
    else:
        valid, test = (_iso(t) for t in split.cuts)
        protocol = f"temporal, validation from {valid}, test from {test}, history {config.max_len}"
    return {
        "protocol": protocol,
        "users": split.num_users,
        "dropped_users": split.dropped_users,
        "items": split.num_items,
        "items_defined": split.defined_items or split.num_items,
        "kept_interactions": int(split.test_seen[0][-1]) + split.num_users,
    }


def _iso(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")


def dataset_stats(dataset: Dataset, split: SplitConfig | None = None) -> dict[str, Any]:
    """Users, items, interactions, sequence lengths, popularity and repeats of a dataset,
    and the split `split` (default: leave-one-out, as a scenario's) makes of it.

    Returns:
        A JSON-serialisable dict with keys name, users, items, interactions,
        sequence_length, popularity, repeats, media, text_fields, time, split, load_report.
    """
    cat = dataset.catalogue
    index = cat._index
    lengths = np.fromiter((len(s) for s in dataset.sequences.values()), dtype=np.int64)
    flat = np.fromiter(
        (index[i] for s in dataset.sequences.values() for i in s), dtype=np.int64
    )  # [T] 1-based catalogue indices
    counts = np.bincount(flat, minlength=len(cat) + 1)[1:]
    distinct = sum(len(set(s)) for s in dataset.sequences.values())
    repeat_users = sum(len(set(s)) < len(s) for s in dataset.sequences.values())
    return {
        "name": dataset.name,
        "source": str(dataset.source),
        "users": len(dataset.sequences),
        "items": len(cat),
        "interactions": int(lengths.sum()),
        "sequence_length": _length_summary(lengths),
        "popularity": _popularity(dataset, counts),
        "repeats": {
            "repeat_interactions": int(lengths.sum()) - distinct,
            "users_with_repeats": int(repeat_users),
        },
        "media": {
            "items_with_image": sum(p is not None for p in cat.image_paths),
            "items_with_video": sum(p is not None for p in cat.video_paths),
            "items_with_image_url": sum(u is not None for u in cat.image_urls),
        },
        "text_fields": {f.name: sum(bool(v) for v in f.values) for f in cat.text_fields},
        "time": _time_span(dataset),
        "split": _split_summary(dataset, split or SplitConfig()),
        "load_report": {
            "dropped_unknown": dataset.report.dropped_unknown,
            "notes": list(dataset.report.notes),
            "kcore": dataset.report.kcore,
        },
    }


def _time_span(dataset: Dataset) -> dict[str, str] | None:
    """First and last interaction time (ISO, UTC), or None without times."""
    if not dataset.timestamps:
        return None
    from datetime import datetime, timezone

    times = [t for ts in dataset.timestamps.values() for t in ts]
    if not times:
        return None
    iso = [datetime.fromtimestamp(t, tz=timezone.utc).isoformat() for t in (min(times), max(times))]
    return {"first": iso[0], "last": iso[1]}


def format_stats(stats: dict[str, Any]) -> str:
    """Plain-text rendering of `dataset_stats` output, one fact per line."""
    seq, pop, rep = stats["sequence_length"], stats["popularity"], stats["repeats"]
    pct = ", ".join(f"p{k} {v:g}" for k, v in seq["percentiles"].items())
    lines = [
        f"dataset        {stats['name']}  ({stats['source']})",
        f"users          {stats['users']:,}",
        f"items          {stats['items']:,}",
        f"interactions   {stats['interactions']:,}",
        f"seq length     min {seq['min']}, median {seq['median']:g}, mean {seq['mean']:g}, "
        f"max {seq['max']}",
        f"  percentiles  {pct}",
        f"popularity     top 1% of items: {pop['interaction_share']['top_1pct_items']:.1%} of "
        f"interactions; top 10%: {pop['interaction_share']['top_10pct_items']:.1%}",
        f"  never used   {pop['items_never_interacted']:,} items",
        f"  median count {pop['median_count_interacted']:g} (interacted items), "
        f"max {pop['max_count']}",
        "  top items",
    ]
    for row in pop["top_items"]:
        title = row["title"] if len(row["title"]) <= 60 else row["title"][:57] + "..."
        lines.append(f"    {row['count']:>6}  {row['item_id']}  {title}")
    lines.append(
        f"repeats        {rep['repeat_interactions']:,} repeat interactions; "
        f"{rep['users_with_repeats']:,} users have one"
    )
    media = stats["media"]
    lines.append(
        f"media          {media['items_with_image']:,} items with an image, "
        f"{media['items_with_video']:,} with a video"
        + (
            f", {media['items_with_image_url']:,} with an image URL (not fetched)"
            if media["items_with_image_url"]
            else ""
        )
    )
    if stats["text_fields"]:
        filled = ", ".join(f"{{{k}}} {v:,}" for k, v in stats["text_fields"].items())
        lines.append(f"text fields    items with a value: {filled}")
    if stats["time"]:
        lines.append(f"time           {stats['time']['first']} to {stats['time']['last']}")
    else:
        lines.append("time           no interaction times (file order; no temporal split)")
    split = stats["split"]
    if "error" in split:
        lines.append(f"split          not possible: {split['error']}")
    else:
        lines.append(
            f"split          {split['protocol']}: {split['users']:,} users "
            f"({split['dropped_users']:,} dropped), {split['items']:,} of "
            f"{split['items_defined']:,} items ranked, "
            f"{split['kept_interactions']:,} kept interactions"
        )
    report = stats["load_report"]
    if report["dropped_unknown"]:
        lines.append(f"dropped        {report['dropped_unknown']:,} unknown-item interactions")
    lines.extend(f"note           {note}" for note in report["notes"])
    return "\n".join(lines)
