"""Figures: search curves with confidence bands (matplotlib, headless).

matplotlib loads on the first figure (:func:`pyplot`), not at import: every command imports this
module to build its parser, and only a few draw.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nasrepro.bench.io import atomic_write_bytes

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

# Headless figures also for modules that import matplotlib.pyplot themselves after importing this one.
os.environ.setdefault("MPLBACKEND", "Agg")


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the headless Agg backend (set before pyplot is first imported)."""
    import sys

    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: plt.Figure, path: Path | str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_bands(
    ax: plt.Axes,
    x: np.ndarray,
    curves: Mapping[str, np.ndarray],
    band: str = "std",
) -> None:
    """Mean line per label with a band over seeds: ``std`` (mean±std) or ``iqr`` (25-75%)."""
    for label, ys in curves.items():
        ys = np.asarray(ys, dtype=float)
        if ys.ndim == 1:
            ys = ys[None, :]
        mean = np.nanmean(ys, axis=0)
        if band == "iqr":
            lo, hi = np.nanpercentile(ys, 25, axis=0), np.nanpercentile(ys, 75, axis=0)
        else:
            sd = np.nanstd(ys, axis=0)
            lo, hi = mean - sd, mean + sd
        (line,) = ax.plot(x, mean, label=f"{label} (n={ys.shape[0]})", lw=1.6)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, lw=0)


def curves_figure(
    panels: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
    path: Path | str,
    xlabel: str,
    ylabel: str,
    title: str = "",
    band: str = "std",
    xscale: str = "linear",
) -> None:
    """One panel per key: (x, {label: seeds x len(x) array}); bands over seeds."""
    n = len(panels)
    fig, axes = pyplot().subplots(1, n, figsize=(5.2 * n, 4.0), squeeze=False)
    for ax, (name, (x, curves)) in zip(axes[0], panels.items()):
        plot_bands(ax, x, curves, band=band)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_xscale(xscale)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
