"""Clean every example: normalise each message (and the reference), scrub personal data, drop empty answers.

An example whose final assistant answer is empty after cleaning (it was only markup, or only whitespace) teaches
the model to answer with nothing, so it is filtered with reason "empty_answer" rather than kept; one with a user
turn that cleaning left empty teaches it to answer a question nobody asked ("empty_user_turn").

Tool calls are scrubbed too: every string inside a call's ``arguments`` (nested objects and lists included) loses
its personal data, because a model trained on ``send_mail({"to": "jane@example.com"})`` learns the address as
surely as from free text. Arguments are only scrubbed, not normalised: they are structured values the model must
reproduce exactly, and markup stripping or whitespace folding could change what a call means. Tool results are
ordinary ``content`` and are cleaned like every other message.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pandas as pd

from resources.prepare.normalise import CHANGE_KEYS, NormaliseConfig, normalise_text
from resources.prepare.pii import PII_KEYS
from resources.prepare.scrubber import Conversation
from resources.schema import EXAMPLE_COLUMNS, FILTERED, KEPT, LEDGER_COLUMNS, ledger_entry, messages_of

STAGE = "normalise"


def _settings(cfg: Any, pii: bool | None) -> tuple[NormaliseConfig, bool]:
    if cfg is None:
        return NormaliseConfig(), True if pii is None else pii
    if isinstance(cfg, NormaliseConfig):
        return cfg, True if pii is None else pii
    # a PrepareConfig (or anything shaped like one)
    return cfg.normalise_config(), bool(cfg.pii) if pii is None else pii


def clean_text(text: str, norm: NormaliseConfig, changes: Counter) -> str:
    out, ch = normalise_text(text or "", norm)
    changes.update(ch)
    return out


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_in(v)


def scrub_value(value: Any, conv: Conversation) -> Any:
    """``value`` with PII scrubbed from every string it holds; keys, numbers and structure are left alone."""
    if isinstance(value, str):
        return conv.scrub(value)
    if isinstance(value, dict):
        return {k: scrub_value(v, conv) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, conv) for v in value]
    return value


def scrub_conversation(values: list[Any], conv: Conversation | None = None) -> tuple[list[Any], Conversation]:
    """Scrub the values of one conversation with one set of placeholders. Every string is read before any is
    replaced, so a name first written in full in a later turn is also replaced where an earlier turn used it."""
    conv = conv or Conversation()
    for text in strings_in(values):
        conv.learn(text)
    return [scrub_value(v, conv) for v in values], conv


def clean_message(m: dict[str, Any], norm: NormaliseConfig, changes: Counter) -> dict:
    """The message with its content normalised; tool-call arguments are only scrubbed, never normalised."""
    return {**m, "content": clean_text(m.get("content", ""), norm, changes)}


def scrubbable(m: dict[str, Any]) -> dict[str, Any]:
    """The parts of a message scrubbing reads: its content and its tool-call arguments (and nothing else)."""
    return {"content": m.get("content", ""), "tool_calls": m.get("tool_calls") or []}


def _scrubbed_message(m: dict[str, Any], scrubbed: dict[str, Any]) -> dict[str, Any]:
    out = {**m, "content": scrubbed["content"]}
    if m.get("tool_calls"):
        out["tool_calls"] = [{**c, "function": {**c["function"], "arguments": s["function"].get("arguments")}}
                             for c, s in zip(m["tool_calls"], scrubbed["tool_calls"])]
    return out


# Columns the pipeline itself writes (ids, provenance, row numbers): never free text, never scrubbed.
_STRUCTURAL = frozenset({"id", "source", "drop", "row", "origin_ids", "messages"})


def _scrub_example(row: dict, cleaned: list[dict], same_reference: bool, found: Counter) -> tuple[dict, list]:
    """Every free-text field of one example (messages, reference, task, timestamps, extra columns) scrubbed
    as one conversation."""
    fields = sorted(k for k, v in row.items() if isinstance(v, str) and k not in _STRUCTURAL
                    and not (same_reference and k == "reference"))
    (messages, values), conv = scrub_conversation([[scrubbable(m) for m in cleaned], [row[k] for k in fields]])
    found.update(conv.counts)
    cleaned = [_scrubbed_message(m, s) for m, s in zip(cleaned, messages)]
    row = {**row, **dict(zip(fields, values))}
    if same_reference:
        row["reference"] = [m["content"] for m in cleaned if m.get("role") == "assistant"][-1]
    return row, cleaned


def replaced_reason(replaced: Counter) -> str:
    """"pii replaced: email=1, person=2" (no values, only counts per kind), or "" when nothing was."""
    kinds = [f"{k}={replaced[k]}" for k in PII_KEYS if replaced.get(k)]
    return "pii replaced: " + ", ".join(kinds) if kinds else ""


def clean_examples(examples: pd.DataFrame, cfg: Any = None, *, pii: bool | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Normalise and scrub every example; return (cleaned examples, ledger for every input row, stats).

    ``cfg`` is a PrepareConfig, a NormaliseConfig or None (defaults); ``pii`` overrides the config's switch.
    """
    norm, do_pii = _settings(cfg, pii)
    changes, found = Counter(), Counter()
    kept_rows, ledger = [], []
    for rec in examples.to_dict("records"):
        try:
            msgs = messages_of(rec)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"example {rec.get('id')!r}: messages is not a JSON list of {{role, content}} "
                             f"({exc}); fix the source reader that produced it") from exc
        cleaned = [clean_message(m, norm, changes) for m in msgs]
        answers = [m["content"] for m in cleaned if m.get("role") == "assistant"]
        entry = dict(id=rec["id"], source=rec.get("source", ""), drop=rec.get("drop", ""), file="",
                     line=int(rec.get("row", 0) or 0), stage=STAGE)
        if not answers or not answers[-1].strip():
            ledger.append(ledger_entry(**entry, state=FILTERED, reason="empty_answer"))
            continue
        if any(m.get("role") == "user" and not m["content"].strip() for m in cleaned):
            ledger.append(ledger_entry(**entry, state=FILTERED, reason="empty_user_turn"))
            continue
        raw_answers = [m.get("content", "") for m in msgs if m.get("role") == "assistant"]
        same_reference = rec.get("reference", "") == raw_answers[-1]  # the usual case: cleaned and counted once
        reference = answers[-1] if same_reference else clean_text(rec.get("reference", ""), norm, changes)
        row, replaced = {**rec, "reference": reference}, Counter()
        if do_pii:
            row, cleaned = _scrub_example(row, cleaned, same_reference, replaced)
            found.update(replaced)
        kept_rows.append({**row, "messages": json.dumps(cleaned, ensure_ascii=False)})
        # a kept row's ledger line says what was replaced in it, so an auditor can find the rows that had PII
        ledger.append(ledger_entry(**entry, state=KEPT, reason=replaced_reason(replaced)))
    columns = list(EXAMPLE_COLUMNS) + [c for c in examples.columns if c not in EXAMPLE_COLUMNS]
    out = pd.DataFrame(kept_rows, columns=columns)
    stats = {
        "rows_in": len(examples),
        "rows_out": len(out),
        "empty_answer": sum(r["reason"] == "empty_answer" for r in ledger),
        "empty_user_turn": sum(r["reason"] == "empty_user_turn" for r in ledger),
        "normalise": {k: int(changes.get(k, 0)) for k in CHANGE_KEYS},
        "pii": {k: int(found.get(k, 0)) for k in PII_KEYS},
    }
    return out, pd.DataFrame(ledger, columns=list(LEDGER_COLUMNS)), stats
