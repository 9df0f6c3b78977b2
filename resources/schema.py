"""The one canonical example schema every stage after the source readers speaks.

An example is a chat (system/user/assistant messages) plus where it came from. Row ids are stable:
``<source>/<drop>/<row>`` where ``row`` is the 1-based line (JSONL, CSV) or row index (Parquet) in the drop,
so an id found in a model manifest leads back to one line of one file.
"""

from __future__ import annotations

import json
from typing import Any

SOURCES = ("reviewed_interactions", "corrected_outputs", "expert_annotations", "teacher_synthetic")
# "tool" carries a tool's result; assistant turns may carry OpenAI-style "tool_calls" (resources/sources/tool_calls.py)
ROLES = ("system", "user", "assistant", "tool")

# Every input row ends in exactly one of these states (the row accounting check relies on it).
KEPT, DUPLICATE, FILTERED, REJECTED = "kept", "duplicate", "filtered", "rejected"
ROW_STATES = (KEPT, DUPLICATE, FILTERED, REJECTED)

# Columns of an example table (Parquet) in every prepared dataset.
EXAMPLE_COLUMNS = (
    "id",          # stable id of the surviving source row
    "source",      # one of SOURCES
    "drop",        # the data drop (file or folder name) the row came from
    "row",         # 1-based line or row index within the drop
    "task",        # task type, e.g. extract_order, summarise, policy_qa
    "messages",    # JSON string: list of {"role", "content"} (+ "tool_calls" on assistant, "tool_call_id" on tool)
    "reference",   # the reference answer (the final assistant message)
    "origin_ids",  # JSON string: ids of every source row this example stands for (itself + absorbed duplicates)
    "created_at",  # ISO timestamp if the source has one, else ""
)

# Columns of the row ledger: one line per input row, with its final state.
LEDGER_COLUMNS = ("id", "source", "drop", "file", "line", "state", "reason", "duplicate_of", "stage")


def row_id(source: str, drop: str, row: int) -> str:
    return f"{source}/{drop}/{row}"


def make_example(*, source: str, drop: str, row: int, task: str, messages: list[dict[str, str]],
                 created_at: str = "") -> dict[str, Any]:
    """Build a canonical example; the reference answer is the last assistant message."""
    assistant = [m["content"] for m in messages if m["role"] == "assistant"]
    rid = row_id(source, drop, row)
    return {
        "id": rid,
        "source": source,
        "drop": drop,
        "row": row,
        "task": task,
        "messages": json.dumps(messages, ensure_ascii=False),
        "reference": assistant[-1] if assistant else "",
        "origin_ids": json.dumps([rid]),
        "created_at": created_at,
    }


def ledger_entry(*, id: str, source: str, drop: str, file: str, line: int, state: str, reason: str = "",
                 duplicate_of: str = "", stage: str = "") -> dict[str, Any]:
    assert state in ROW_STATES, state
    return {"id": id, "source": source, "drop": drop, "file": file, "line": line, "state": state,
            "reason": reason, "duplicate_of": duplicate_of, "stage": stage}


def messages_of(example: dict[str, Any]) -> list[dict[str, str]]:
    m = example["messages"]
    return json.loads(m) if isinstance(m, str) else list(m)


def prompt_messages(example: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation up to (not including) the final assistant answer: what a model is asked."""
    msgs = messages_of(example)
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=len(msgs))
    return msgs[:last]


def example_text(example: dict[str, Any]) -> str:
    """All message text of an example, the string deduplication and leak checks compare.

    Tool calls count as text too: two examples that differ only in the arguments they pass are not duplicates.
    """
    parts = []
    for m in messages_of(example):
        parts.append(m["content"])
        calls = m.get("tool_calls") or []
        parts += [json.dumps(c.get("function", c), ensure_ascii=False, sort_keys=True) for c in calls]
    return "\n".join(parts)
