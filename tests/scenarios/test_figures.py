"""The report's figures: PNG + PDF + SVG under one stem, a caption naming data, protocol and
seeds, one legend of configurations, the Okabe–Ito palette, categorical popularity buckets."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.report.buckets import draw_buckets, plot_buckets
from scenarios.report.grid_report import plot_quality_vs_cost
from scenarios.report.plots import (
    MARKERS,
    PALETTE,
    caption_of_rows,
    caption_text,
    pyplot,
    save_figure,
    style,
)

OKABE_ITO = {
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"
}  # fmt: skip
PROTOCOL = "leave_one_out_full_ranking/history=masked"
LABELS = ["cold", "1-4", "20+"]


def group(method: str, means: list[float | None]) -> dict:
    buckets = {
        label: {"users": 10, "seeds": 3, "mean": m, "std": 0.001}
        for label, m in zip(LABELS, means, strict=True)
    }
    return {"scenario": "title", "method": method, "text_encoder": "minilm",
            "vision_encoder": "", "protocol": PROTOCOL, "seeds": 3, "buckets": buckets}  # fmt: skip


GROUPS = [group("frozen", [0.001, 0.02, 0.2]), group("iisan_versa", [0.002, None, 0.25])]


def test_palette_is_okabe_ito_and_styles_differ() -> None:
    assert set(PALETTE) == OKABE_ITO and len(PALETTE) == 8
    assert len(set(MARKERS)) == len(MARKERS)
    pairs = {tuple(style(i).values()) for i in range(16)}
    assert len(pairs) == 16  # past eight colours the marker moves on


def test_caption_names_data_protocol_and_seeds() -> None:
    text = caption_text(["amazon_scientific"], [PROTOCOL, PROTOCOL], [1, 2, 3])
    assert text == (
        f"Data: amazon_scientific. Protocol: {PROTOCOL}. 3 seeds; error bars: std over seeds."
    )
    rows = [
        {"dataset_name": "toy", "protocol": PROTOCOL, "seed": 0, "test_ndcg@10": 0.1},
        {"dataset_name": "toy", "protocol": PROTOCOL, "seed": 1, "test_ndcg@10": ""},  # failed
    ]
    assert caption_of_rows(rows).endswith("1 seed; error bars: std over seeds.")


def test_each_figure_is_png_pdf_and_svg_with_its_caption(tmp_path: Path) -> None:
    fig, ax = pyplot().subplots()
    ax.plot([0, 1], [0, 1], label="a")
    caption = caption_text(["toyset"], [PROTOCOL], [0, 1])
    png = save_figure(fig, ax, tmp_path / "fig.png", caption)
    assert png == tmp_path / "fig.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png", "fig.svg"]
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "fig.pdf").read_bytes()[:4] == b"%PDF"
    svg = (tmp_path / "fig.svg").read_text(encoding="utf-8")
    assert svg.startswith(("<?xml", "<svg")) and "<svg" in svg
    assert caption in svg  # text kept as text, so the caption can be read and searched


def test_bucket_points_sit_on_categories_and_no_line_joins_them() -> None:
    fig, ax = pyplot().subplots()
    draw_buckets(ax, GROUPS, LABELS, "ndcg@10", "linear")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cold\n(n=10)", "1-4\n(n=10)",
                                                           "20+\n(n=10)"]  # fmt: skip
    assert ax.lines and all(line.get_linestyle() == "None" for line in ax.lines)  # no joins
    drawn = [bars.lines[0] for bars in ax.containers]  # each configuration's points
    xs = sorted(x for line in drawn for x in line.get_xdata())
    assert len(xs) == 5  # the empty bucket is left out, not drawn at zero
    assert all(abs(x - round(x)) < 0.5 for x in xs)  # beside their bucket's category
    assert {round(x) for x in xs} == {0, 1, 2}
    colours = {line.get_color() for line in drawn}
    assert colours == set(PALETTE[:2])
    _, legend = ax.get_legend_handles_labels()
    assert legend == ["title/frozen/minilm", "title/iisan_versa/minilm"]
    pyplot().close(fig)


def test_bucket_log_scale_keeps_cold_buckets_apart(tmp_path: Path) -> None:
    fig, ax = pyplot().subplots()
    draw_buckets(ax, GROUPS, LABELS, "ndcg@10", "log")
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert low < 0.001 and high > 0.25  # 0.001 and 0.002 sit a decade apart, not on the floor
    pyplot().close(fig)
    with pytest.raises(ValueError, match="yscale"):
        draw_buckets(pyplot().subplots()[1], GROUPS, LABELS, "ndcg@10", "cubic")
    out = plot_buckets(GROUPS, LABELS, "ndcg@10", tmp_path / "b.png", caption="c", yscale="log")
    assert out == tmp_path / "b.png" and (tmp_path / "b.svg").stat().st_size > 0


def test_quality_vs_cost_has_one_legend_entry_per_configuration(tmp_path: Path) -> None:
    groups = [
        {"scenario": s, "method": m, "text_encoder": "minilm", "vision_encoder": "",
         "protocol": PROTOCOL, "test_ndcg@10": y, "test_ndcg@10_std": 0.01,
         "seconds_per_epoch": x}
        for s, m, x, y in (("title", "frozen", 3.0, 0.04), ("title", "iisan_versa", 6.0, 0.05))
    ]  # fmt: skip
    caption = caption_text(["toyset"], [PROTOCOL], [0, 1, 2])
    png = plot_quality_vs_cost(groups, tmp_path / "q.png", caption)
    assert png == tmp_path / "q.png"
    svg = (tmp_path / "q.svg").read_text(encoding="utf-8")
    assert "Data: toyset" in svg and PROTOCOL in svg and "3 seeds" in svg
    assert svg.count("title/frozen/minilm") == 1 and svg.count("title/iisan_versa/minilm") == 1
    assert (tmp_path / "q.pdf").read_bytes()[:4] == b"%PDF"
    assert plot_quality_vs_cost([], tmp_path / "none.png") is None
