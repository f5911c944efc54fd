"""What the report's figures share: a file-only matplotlib and one way to finish and write a
figure (through media.io, atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from media.io import atomic_path


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only; never a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, ax: Any, path: Path) -> Path:
    """Grid and legend on `ax`, tight layout, then write `fig` as a PNG at `path`; closes it."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)
    return path
