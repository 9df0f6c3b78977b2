"""Plots as Markdown with an embedded PNG, the form the Dagster UI renders in asset metadata.

The images are inlined as base64 data URIs so the Markdown is one self-contained string: Dagster's UI shows
it as is, and a report folder can be copied anywhere without its pictures going missing.
"""

from __future__ import annotations

import base64
import io
from typing import Sequence


def figure_markdown(fig, alt: str, dpi: int = 80) -> str:
    """``fig`` as a Markdown image with the PNG inline; the figure is closed. No software stamp in the PNG, so
    the same plot gives the same bytes."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode('ascii')})"


def bar_chart_md(labels: Sequence[str], series: dict[str, Sequence[float]], title: str, xlabel: str = "",
                 ylabel: str = "rows") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return figure_markdown(fig, title)


def line_chart_md(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str = "step",
                  ylabel: str = "") -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o" if len(xs) < 30 else None, label=name)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure_markdown(fig, title)

