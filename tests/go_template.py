"""A small interpreter for the subset of Go's text/template that an Ollama Modelfile TEMPLATE from
resources/export/modelfile.py uses, so tests can render it without Go or Ollama.

It implements Go's rules for that subset: ``{{-``/``-}}`` trim the whitespace of the neighbouring text, string
constants use Go (= JSON) escapes, ``range`` sets the dot to each element, ``$`` is the root, conditions are
``eq``, ``ne``, ``not``, ``and`` on ``.Role``, ``$last`` and constants. Anything else raises, so a template that
drifts out of the subset fails loudly instead of rendering something different from Ollama.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def _tokens(template: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for m in _ACTION.finditer(template):
        text = template[pos:m.start()]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if m[1]:
            text = text.rstrip(" \t\r\n")
        if text:
            out.append(("text", text))
        out.append(("action", m[2]))
        pos, trim_next = m.end(), bool(m[3])
    text = template[pos:]
    out.append(("text", text.lstrip(" \t\r\n") if trim_next else text))
    return out


def _parse(tokens: list[tuple[str, str]], i: int = 0, stop=("end",)) -> tuple[list, int, str]:
    """Nodes until one of ``stop`` (returned with the index after it)."""
    nodes: list = []
    while i < len(tokens):
        kind, body = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(("text", body))
            continue
        word = body.split(" ", 1)[0]
        if body == "end" or word == "else":
            if body.split(" ", 1)[0] not in [s.split(" ", 1)[0] for s in stop]:
                raise ValueError(f"unexpected {{{{ {body} }}}}")
            return nodes, i, body
        if word == "range":
            m = re.fullmatch(r"range \$(\w+), \$_ := \.Messages", body)
            if not m:
                raise ValueError(f"unsupported range {body!r}")
            inner, i, _ = _parse(tokens, i)
            nodes.append(("range", m[1], inner))
        elif word == "if":
            branches, cond = [], body[3:]
            while True:
                inner, i, ended = _parse(tokens, i, stop=("end", "else"))
                branches.append((cond, inner))
                if ended == "end":
                    break
                cond = ended[8:] if ended.startswith("else if ") else "true"
            nodes.append(("if", branches))
        else:
            nodes.append(("expr", body))
    return nodes, i, ""


def _value(expr: str, dot: dict, env: dict) -> Any:
    expr = expr.strip()
    if expr.startswith("(") and expr.endswith(")"):
        return _value(expr[1:-1], dot, env)
    if expr.startswith('"'):
        return json.loads(expr)
    if expr == "true":
        return True
    if expr in (".Role", ".Content"):
        return dot[expr[1:].lower()]
    if expr.startswith("$") and expr[1:] in env:
        return env[expr[1:]]
    m = re.fullmatch(r"eq \(len \(slice \$\.Messages \$(\w+)\)\) 1", expr)
    if m:  # true for the last message: the slice from index i holds one element
        return len(env["Messages"]) - env[m[1]] == 1
    parts = _args(expr)
    if parts[0] in ("eq", "ne") and len(parts) == 3:
        same = _value(parts[1], dot, env) == _value(parts[2], dot, env)
        return same if parts[0] == "eq" else not same
    if parts[0] == "not" and len(parts) == 2:
        return not _value(parts[1], dot, env)
    if parts[0] == "and" and len(parts) >= 3:
        return all(_value(p, dot, env) for p in parts[1:])
    raise ValueError(f"unsupported expression {expr!r}")


def _args(expr: str) -> list[str]:
    """Split on spaces outside parentheses and quotes."""
    out, depth, current, quoted = [], 0, "", False
    for ch in expr:
        if ch == '"' and not current.endswith("\\"):
            quoted = not quoted
        if not quoted:
            depth += ch == "("
            depth -= ch == ")"
        if ch == " " and depth == 0 and not quoted:
            out.append(current) if current else None
            current = ""
        else:
            current += ch
    return out + ([current] if current else [])


def _run(nodes: list, dot: dict, env: dict) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "range":
            for i, message in enumerate(env["Messages"]):
                out.append(_run(node[2], message, {**env, node[1]: i}))
        elif node[0] == "if":
            for cond, inner in node[1]:
                if _value(cond, dot, env):
                    out.append(_run(inner, dot, env))
                    break
        else:
            m = re.fullmatch(r"\$(\w+) := (.*)", node[1])
            if m:
                env[m[1]] = _value(m[2], dot, env)
            else:
                out.append(str(_value(node[1], dot, env)))
    return "".join(out)


def render(template: str, messages: list[dict]) -> str:
    nodes, i, ended = _parse(_tokens(template))
    if ended:
        raise ValueError(f"unbalanced {{{{ {ended} }}}}")
    return _run(nodes, {}, {"Messages": messages})


def ollama_messages(messages: list[dict], system: str | None) -> list[dict]:
    """What Ollama hands the template: the Modelfile's SYSTEM first when the chat has no system message first."""
    if system is not None and (not messages or messages[0]["role"] != "system"):
        return [{"role": "system", "content": system}, *messages]
    return messages

