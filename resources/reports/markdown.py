"""Small Markdown builders for asset metadata that renders as tables in the Dagster UI."""

from __future__ import annotations

from typing import Iterable, Sequence


def _cell(value) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_table(frame, limit: int = 20) -> str:
    """A pandas DataFrame's first rows as a Markdown table."""
    head = frame.head(limit)
    return markdown_table(list(head.columns), head.itertuples(index=False))
