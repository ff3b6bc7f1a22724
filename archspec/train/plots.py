"""Pictures of runs (matplotlib, Agg: no display needed): one run's curves, and the paper's
Figure 6 layout for the degradation experiment."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from archspec.train.config import TrainError
from archspec.train.runfolder import Row, write_atomic

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise TrainError(
            "drawing curves needs matplotlib, which is not installed",
            help="pip install 'archspec-nets[train]'",
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def draw_curves(rows: Sequence[Row], path: Path, title: str) -> None:
    """Loss (left), training and test error (right) against iterations."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    steps = [r.step for r in rows]
    left.plot(steps, [r.train_loss for r in rows], color=COLOURS[0])
    left.set(xlabel="iterations", ylabel="training loss", title="loss")
    right.plot(steps, [r.train_error for r in rows], color=COLOURS[0], lw=0.9, ls="--",
               label="training error")  # fmt: skip
    right.plot(steps, [r.test_error for r in rows], color=COLOURS[0], lw=2.2, label="test error")
    right.set(xlabel="iterations", ylabel="error (%)", title="error")
    right.legend()
    for axes in (left, right):
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    _save(figure, path)
    plt.close(figure)


def draw_degradation(
    panels: Sequence[tuple[str, Sequence[tuple[str, Sequence[Row]]]]], path: Path, title: str
) -> None:
    """The paper's Figure 6: one panel per family (plain left, residual right), one colour
    per depth; training error thin and dashed, test error bold, against iterations."""
    plt = _pyplot()
    from matplotlib.lines import Line2D

    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), sharey=True)
    axes = list(axes) if len(panels) > 1 else [axes]
    top = max((r.train_error for _, runs in panels for _, rs in runs for r in rs), default=10)
    for ax, (name, runs) in zip(axes, panels, strict=True):
        for colour, (label, rows) in zip(COLOURS, runs, strict=False):
            steps = [r.step for r in rows]
            ax.plot(steps, [r.train_error for r in rows], color=colour, lw=0.9, ls="--")
            ax.plot(steps, [r.test_error for r in rows], color=colour, lw=2.4, label=label)
        ax.set(xlabel="iterations", title=name, ylim=(0, min(100, top * 1.1)))
        ax.grid(alpha=0.3)
        styles = [
            Line2D([], [], color="grey", lw=0.9, ls="--", label="training error"),
            Line2D([], [], color="grey", lw=2.4, label="test error"),
        ]
        ax.legend(handles=[*ax.get_legend_handles_labels()[0], *styles], loc="upper right")
    axes[0].set_ylabel("error (%)")
    figure.suptitle(title, y=1.0)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)
