"""What the report's figures share: a file-only matplotlib, one palette and marker set, the
caption that says what a figure shows, and one way to finish and write a figure.

Every figure is written three times beside each other under one stem: PNG at 300 dpi (for
a web page or a report.md), PDF and SVG (vector, for a paper; the SVG keeps its text as
text, so it can be searched and edited). Colours are the Okabe–Ito palette, which stays
distinguishable under the common colour-vision deficiencies and in greyscale together with
the markers; `PALETTE` and `MARKERS` are the one home for both (`style(i)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from plumbing.io import atomic_path
from scenarios.run.results import ResultsError, read_run

# Okabe & Ito (2008), "Color Universal Design": blue, vermillion, bluish green, reddish
# purple, orange, sky blue, yellow, black (yellow and black last: weakest on white / reads
# as an axis).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
FORMATS = ("png", "pdf", "svg")  # written beside each other, same stem
DPI = 300
ERROR_BARS = "error bars: std over seeds"


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only; never a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def style(i: int) -> dict[str, str]:
    """Colour and marker of the i-th configuration of a figure (past the palette's eight
    colours, the marker shifts, so no two of the first 64 share both)."""
    return {
        "color": PALETTE[i % len(PALETTE)],
        "marker": MARKERS[(i + i // len(PALETTE)) % len(MARKERS)],
    }


def legend_label(group: dict[str, Any], several_protocols: bool = False) -> str:
    """A configuration's legend entry: `scenario/method[/encoders]`, with its protocol when
    the figure holds several."""
    from scenarios.run.results import config_label

    keys = ("scenario", "method", "text_encoder", "vision_encoder")
    label = config_label([str(group.get(k) or "") for k in keys])
    return label + (f" [{group['protocol']}]" if several_protocols else "")


def caption_text(
    datasets: Iterable[str], protocols: Iterable[str], seeds: Iterable[int | str]
) -> str:
    """One line naming what a figure shows: the data, the protocol(s), the seeds and what
    the error bars are (`ERROR_BARS`)."""
    names = sorted({str(d) for d in datasets if d}) or ["unrecorded"]
    kinds = sorted({str(p) for p in protocols if p}) or ["unrecorded"]
    count = len({str(s) for s in seeds})
    return (
        f"Data: {', '.join(names)}. Protocol: {', '.join(kinds)}. "
        f"{count} seed{'s' if count != 1 else ''}; {ERROR_BARS}."
    )


def caption_of_rows(rows: Sequence[dict[str, Any]]) -> str:
    """`caption_text` for finished runs.csv-style rows: the protocol and seed from each row,
    the dataset from the row's `dataset_name` or else its run's record (`read_run`)."""
    done = [r for r in rows if r.get("test_ndcg@10") not in ("", None)]
    names = []
    for row in done:
        name = row.get("dataset_name")
        if name is None:
            try:
                name = read_run(row["run_dir"]).dataset or ""
            except (ResultsError, KeyError):
                name = ""
        names.append(name)
    return caption_text(names, (r.get("protocol") for r in done), (r["seed"] for r in done))


def save_figure(fig: Any, ax: Any, path: Path, caption: str = "") -> Path:
    """Grid, one legend (outside the axes when it is long) and `caption` under the axes,
    then write `fig` as PNG (300 dpi), PDF and SVG beside `path` (its stem); closes it.

    Returns:
        The PNG's path (`path` with the .png suffix).
    """
    plt = pyplot()
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        outside = len(labels) > 4
        ax.legend(
            fontsize=7,
            **({"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if outside else {}),
        )
    if caption:
        fig.text(0.01, 0.01, caption, fontsize=7, ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.06 if caption else 0, 1, 1))
    path = Path(path).with_suffix(".png")
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "toolkit", "pdf.fonttype": 42}):
        for fmt in FORMATS:
            target = path.with_suffix(f".{fmt}")
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", metadata=_meta(fmt))
    plt.close(fig)
    return path


def _meta(fmt: str) -> dict[str, Any]:
    """No creation date in the files (the same figure gives the same bytes)."""
    if fmt == "png":
        return {}
    return {"CreationDate": None} if fmt == "pdf" else {"Date": None}
