"""A chat template taken apart into the text around each role's content, so other runtimes can be given it.

Ollama's Modelfile wants a Go template and llama.cpp wants to know which token ends a turn; both are plain
functions of "what the Jinja template writes before and after each message". Those pieces are read off the
template by rendering a few conversations with unmistakable sentinel contents (not by parsing Jinja, which
would have to understand every template ever written), and the result is accepted only if re-assembling the
pieces reproduces the template's own rendering of other conversations byte for byte. A template that does
something the pieces cannot say (different text for the first user turn, say) is refused with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

ROLES = ("system", "user", "assistant")
_S, _U1, _A1, _U2 = "PRIVFTSYSTEMXQZ", "PRIVFTUSERONEXQZ", "PRIVFTASSISTANTXQZ", "PRIVFTUSERTWOXQZ"


class ChatTemplateUnsupported(ValueError):
    pass


@dataclass(frozen=True)
class ChatParts:
    head: str                    # written once before the first message (e.g. a BOS the template spells out)
    prefix: dict[str, str]       # role -> text before the content
    suffix: dict[str, str]       # role -> text after the content
    generation: str              # what add_generation_prompt appends: the opening of the assistant's turn
    default_system: str | None   # the system prompt the template inserts into a chat that has none

    def render(self, messages: Sequence[dict], add_generation_prompt: bool) -> str:
        if self.default_system is not None and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": self.default_system}, *messages]
        out = self.head + "".join(self.prefix[m["role"]] + m["content"] + self.suffix[m["role"]] for m in messages)
        return out + (self.generation if add_generation_prompt else "")

    def end_of_turn(self, special_tokens: Sequence[str]) -> str | None:
        """The special token that closes an assistant turn (``<|im_end|>``, ``<|end|>``), if there is one."""
        suffix = self.suffix["assistant"]
        found = [(suffix.find(t), -len(t), t) for t in special_tokens if t and t in suffix]
        return min(found)[2] if found else None


def _split(text: str, *sentinels: str) -> list[str]:
    pieces = []
    for s in sentinels:
        if text.count(s) != 1:
            raise ChatTemplateUnsupported(f"the template does not write a message's content exactly once "
                                          f"(rendered {text!r})")
        before, text = text.split(s)
        pieces.append(before)
    return [*pieces, text]


def _strip(text: str, start: str = "", end: str = "", what: str = "") -> str:
    if not text.startswith(start) or not text.endswith(end) or len(start) + len(end) > len(text):
        raise ChatTemplateUnsupported(f"{what}: the text between messages is not the same for every turn "
                                      f"({text!r} should be {start!r} + ... + {end!r})")
    return text[len(start):len(text) - len(end)]


def chat_parts(render: Callable[[list[dict], bool], str]) -> ChatParts:
    """The pieces of the template ``render(messages, add_generation_prompt)`` writes, verified by re-rendering."""
    raw = render

    def render(messages: list[dict], gen: bool) -> str:
        try:
            return raw(messages, gen)
        except Exception as exc:  # a template may refuse a system turn, say: then it has no per-role pieces
            raise ChatTemplateUnsupported(f"the template refuses {messages}: {exc}") from exc

    user = lambda c: {"role": "user", "content": c}  # noqa: E731
    assistant = {"role": "assistant", "content": _A1}
    assistant_suffix = _split(render([user(_U1), assistant], False), _U1, _A1)[2]
    b0, b1, b2, user_suffix = _split(render([user(_U1), assistant, user(_U2)], False), _U1, _A1, _U2)
    user_prefix = _strip(b2, start=assistant_suffix, what="assistant -> user")
    assistant_prefix = _strip(b1, start=user_suffix, what="user -> assistant")
    plain = render([user(_U1)], False)
    generation = _strip(render([user(_U1)], True), start=plain, what="generation prompt")
    c0, c1, _ = _split(render([{"role": "system", "content": _S}, user(_U1)], False), _S, _U1)
    system_suffix = _strip(c1, end=user_prefix, what="system -> user")
    before_user = _strip(b0, end=user_prefix, what="start -> user")
    default = None
    if len(before_user) > len(c0) + len(system_suffix) and before_user.startswith(c0) \
            and before_user.endswith(system_suffix):
        # a default system turn: the head and the system prefix are then always written together
        head, system_prefix = "", c0
        default = before_user[len(c0):len(before_user) - len(system_suffix)]
    else:
        head = before_user
        system_prefix = _strip(c0, start=head, what="start -> system")
    parts = ChatParts(head, {"system": system_prefix, "user": user_prefix, "assistant": assistant_prefix},
                      {"system": system_suffix, "user": user_suffix, "assistant": assistant_suffix},
                      generation, default)
    for messages, gen in _probes():
        expected, got = render(messages, gen), parts.render(messages, gen)
        if expected != got:
            raise ChatTemplateUnsupported(f"re-assembled pieces differ from the template for {messages}: "
                                          f"template {expected!r}, pieces {got!r}")
    return parts


def _probes() -> list[tuple[list[dict], bool]]:
    s = {"role": "system", "content": "Be brief.\nAnswer in English."}
    # edge whitespace: a template that trims contents (Ollama's Go template would not) fails the comparison
    u1, u2 = {"role": "user", "content": "Where is order A-1234?"}, {"role": "user", "content": "  And B-7?\n"}
    a1 = {"role": "assistant", "content": "It shipped on Monday."}
    return [([u1], True), ([s, u1], True), ([s, u1, a1, u2], True), ([u1, a1, u2], True), ([s, u1, a1], False)]


def tokenizer_renderer(tokenizer: Any) -> Callable[[list[dict], bool], str]:
    """``render`` for a transformers tokenizer's own chat template."""
    return lambda messages, gen: tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
