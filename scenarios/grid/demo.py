"""`toolkit demo`: text-only vs multimodal on the embedded sample, end to end, in minutes.

Steps: caption every cover and video of the sample with the model-free baseline captioner
(into the demo's caption store), then run a grid of four scenarios with IISAN-Versa (the
real MiniLM text encoder; a tiny randomly initialised ViT for images and video frames,
i.e. random pixel features, not a pretrained vision model): `title` (text-only),
`title+image`, `title+video` and `title+captions`, over a few seeds, and print the report
table with the paired significance tests against `title`.

The sample hides part of the users' preferences in colours and shapes that only the
covers and videos show, so the multimodal and caption scenarios have something real to
find; the test suite checks that at least one beats `title` with p < 0.05.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scenarios.grid.plan import GridSpec

DEMO_SCENARIOS = ("title", "title+image", "title+video", "title+captions")
DEMO_OVERRIDES = (
    # A budget that fits a few minutes on 2 CPU cores: 20 epochs of 6 steps; with the
    # protocol's 2e-4 / 1e-4 the runs are still far from converged at 20 epochs, so the demo
    # uses 5e-4 for both (every scenario gets the same setting, so the comparison is fair).
    "train.epochs=20",
    "train.patience=4",
    "train.lr=5e-4",
    "train.adapter_lr=5e-4",
    "train.device=cpu",
    "method=iisan_versa",
)
# Five seeds: the verdict's seed term has k - 1 degrees of freedom (scenarios.report.stats), and
# with two seeds no difference the sample can show would be significant (t on 1 df is 12.7).
DEMO_SEEDS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class DemoResult:
    """The demo's outputs."""

    out_dir: Path
    report: Path  # report.md
    comparisons: list[dict[str, Any]]  # the paired tests against `title`
    failed: int  # cells that failed


def caption_sample(data: Path, store: Path, *, progress: bool = False) -> Any:
    """Caption every cover and video of a dataset with the baseline captioner."""
    from captioning.api import caption_items
    from scenarios.run.captions import dataset_media

    return caption_items(dataset_media(data), captioner="baseline", store=store, progress=progress)


def demo_grid(
    scenarios: Sequence[str],
    seeds: Sequence[int],
    cache: Path,
    store: Path,
    overrides: Sequence[str] = (),
) -> GridSpec:
    """The demo's grid: the scenarios and seeds with the demo's overrides,
    its cache folder and caption store, then the caller's `overrides`."""
    import json

    from scenarios.grid.plan import GridSpec

    return GridSpec(
        scenarios=tuple(scenarios),
        name="demo",
        seeds=tuple(seeds),
        overrides=(
            *DEMO_OVERRIDES,
            f"output.cache_dir={json.dumps(str(cache))}",  # a TOML basic string
            f"output.caption_store={json.dumps(str(store))}",
            *overrides,
        ),
    )


def run_demo(
    out: Path,
    *,
    data: Path | None = None,
    scenarios: tuple[str, ...] = DEMO_SCENARIOS,
    seeds: tuple[int, ...] = DEMO_SEEDS,
    overrides: tuple[str, ...] = (),
    echo: Callable[[str], None] = print,
    progress: bool = False,
    threads: int | None = 1,
) -> DemoResult:
    """Caption the sample, run the four-scenario grid, print and return the report.

    Args:
        out: output folder (runs, caches, captions, report.md, quality_vs_cost.png).
        data: dataset (default: the embedded sample).
        scenarios: shipped scenario names or files; the first text-only one is the baseline.
        seeds: seeds per scenario.
        overrides: extra dotted overrides for every scenario (e.g. "train.epochs=5").
        echo: where progress lines and the report go.
        progress: per-run progress bars.
        threads: torch intra-op threads. The demo's models are tiny: one thread is faster
            than two (synchronisation costs more than the work, and on a busy machine the
            second thread spins), so the default is 1.
    """
    import json

    import torch

    from plumbing.io import check_output_dir
    from recsys.data import sample_path
    from scenarios.grid.run import claim_grid_folder, run_grid

    out = Path(out)
    check_output_dir(out, "demo output folder")
    claim_grid_folder(out)  # the captions go in first: the folder is the demo grid's already
    data_path = Path(data) if data is not None else sample_path()
    cache = out / "cache"
    store = cache / "captions"
    summary = caption_sample(data_path, store, progress=progress)
    echo(
        f"captioned {summary.done} media, {summary.skipped} already in {store}, "
        f"{summary.failed} failed"
    )
    if threads is not None:
        torch.set_num_threads(threads)
    spec = demo_grid(scenarios, seeds, cache, store, overrides)
    result = run_grid(spec, out_dir=out, data=data_path, progress=progress, echo=echo)
    echo("")
    echo(result.report.read_text(encoding="utf-8"))
    comparisons = json.loads((out / "comparisons.json").read_text(encoding="utf-8"))
    return DemoResult(out, result.report, comparisons, len(result.failed))
