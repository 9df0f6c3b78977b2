"""An Ollama ``Modelfile`` for an exported GGUF: the chat template as a Go template, stop tokens, licence.

The Go template is generated from the chat template's pieces (chat_parts.py), so it writes exactly what the
Jinja template writes for system, user and assistant turns. Every literal is a Go string constant
(``{{ "<|im_start|>user\\n" }}``), so the template's own layout can use ``{{-`` trimming freely without ever
eating a newline that belongs to the prompt. A default system prompt the Jinja template inserts becomes
``SYSTEM``: Ollama puts it first whenever a chat does not start with a system message of its own, which is
what the Jinja template does. The last assistant turn is left open, as Ollama continues it. Tool calls are
not translated (the GGUF's embedded chat template still carries them for llama.cpp).

Ollama reads a triple-quoted value raw (no escapes), so only a literal triple quote cannot be written.
"""

from __future__ import annotations

import json
from typing import Sequence

from resources.export.chat_parts import ChatParts


class ModelfileError(ValueError):
    pass


def _go(text: str) -> str:
    """``text`` as a Go template action printing it (JSON string escapes are valid Go string escapes)."""
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def ollama_template(parts: ChatParts) -> str:
    branches = []
    for i, role in enumerate(("system", "user", "assistant")):
        close = _go(parts.suffix[role])
        if role == "assistant" and close:
            close = "{{ if not $last }}" + close + "{{ end }}"
        keyword = "if" if i == 0 else "else if"
        branches.append(f'{{{{- {keyword} eq .Role "{role}" }}}}{_go(parts.prefix[role])}{{{{ .Content }}}}{close}')
    lines = [
        "{{- " + json.dumps(parts.head, ensure_ascii=False) + " }}" if parts.head else "",
        "{{- range $i, $_ := .Messages }}",
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}",
        *branches,
        "{{- end }}",
        '{{- if and $last (ne .Role "assistant") }}' + _go(parts.generation) + "{{ end }}",
        "{{- end }}",
    ]
    return "\n".join(line for line in lines if line)


def _quoted(text: str, what: str) -> str:
    if '"""' in text:
        raise ModelfileError(f"the {what} contains a triple quote, which a Modelfile value cannot hold")
    return f'"""{text}"""'


def modelfile(gguf_file: str, parts: ChatParts | None, stop_tokens: Sequence[str], licence: str, title: str,
              no_template_reason: str = "") -> str:
    """The Modelfile text for ``gguf_file`` in the same folder; without ``parts`` (a chat template that is not
    per-role pieces) there is no TEMPLATE and Ollama falls back on the chat template inside the GGUF."""
    if any(c.isspace() for c in gguf_file):
        raise ModelfileError(f"GGUF file name {gguf_file!r} has whitespace, which FROM cannot name")
    lines = [f"# {title}", "# ollama create <name> -f Modelfile   (run in this folder)", f"FROM ./{gguf_file}"]
    if parts is None:
        lines.append(f"# no TEMPLATE: {no_template_reason}".replace("\n", " ")[:500])
    else:
        lines.append(f"TEMPLATE {_quoted(ollama_template(parts), 'template')}")
    if parts is not None and parts.default_system is not None:
        lines.append(f"SYSTEM {_quoted(parts.default_system, 'default system prompt')}")
    for token in dict.fromkeys(t for t in stop_tokens if t):  # in order, once each
        if '"' in token or any(c.isspace() for c in token):
            raise ModelfileError(f"stop token {token!r} cannot be written as a PARAMETER value")
        lines.append(f'PARAMETER stop "{token}"')
    lines.append(f"LICENSE {_quoted(licence, 'licence')}")
    return "\n".join(lines) + "\n"
