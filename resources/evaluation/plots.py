"""Metrics and loss against training step, as PNG images embedded in Markdown (asset metadata, reports)."""

from __future__ import annotations

from typing import Any, Sequence

from resources.reports.plots import figure_markdown

DEFAULT_METRICS = ("token_f1", "exact_match", "rougeL", "json_field_f1")


def _by_step(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((r for r in reports if r.get("step") is not None), key=lambda r: r["step"])


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 3.5))


def metrics_vs_step_md(reports: Sequence[dict[str, Any]], metrics: Sequence[str] = DEFAULT_METRICS,
                       baseline: dict[str, Any] | None = None) -> str:
    """One line per metric over checkpoints; dashed lines for the zero-shot baseline when given."""
    rows = _by_step(reports)
    fig, ax = _figure()
    for m in metrics:
        points = [(r["step"], r["overall"][m]) for r in rows if r["overall"].get(m) is not None]
        if not points:
            continue
        line, = ax.plot(*zip(*points), marker="o", label=m)
        base = (baseline or {}).get("overall", {}).get(m)
        if base is not None:
            ax.axhline(base, linestyle="--", color=line.get_color(), alpha=0.6, label=f"{m} (zero-shot)")
    ax.set_xlabel("training step")
    ax.set_ylabel("score")
    ax.set_title("Held-out metrics by checkpoint")
    ax.legend(fontsize=7)
    return figure_markdown(fig, "metrics vs step")


def loss_vs_step_md(reports: Sequence[dict[str, Any]], train_loss: Sequence[tuple[int, float]] = ()) -> str:
    """Held-out loss per checkpoint, with the training loss curve when given as (step, loss) pairs."""
    rows = _by_step(reports)
    fig, ax = _figure()
    if train_loss:
        ax.plot(*zip(*train_loss), label="training loss", alpha=0.7)
    points = [(r["step"], r["overall"]["loss"]) for r in rows if r["overall"].get("loss") is not None]
    if points:
        ax.plot(*zip(*points), marker="o", label="held-out loss")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean token NLL")
    ax.set_title("Loss by step")
    ax.legend(fontsize=7)
    return figure_markdown(fig, "loss vs step")


def plots_markdown(reports: Sequence[dict[str, Any]], *, metrics: Sequence[str] = DEFAULT_METRICS,
                   train_loss: Sequence[tuple[int, float]] = (), baseline: dict[str, Any] | None = None) -> str:
    """Markdown with both plots inline."""
    return "\n\n".join([
        "### Metrics vs step", metrics_vs_step_md(reports, metrics, baseline),
        "### Loss vs step", loss_vs_step_md(reports, train_loss)])
