"""One request's answer as it grows inside a batch: its tokens, the text decoded so far, and why it stopped.

Generation runs for a whole batch at once; each row belongs to a different client. A row decodes its own
tokens and hands out only text that can no longer change: an incomplete UTF-8 sequence (a byte-fallback
token decodes to U+FFFD until its last byte arrives) and the tail that might still become a stop string are
held back until the next token settles them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass
class Row:
    tokenizer: Any
    prompt_tokens: int
    max_tokens: int
    stop: tuple[str, ...] = ()
    eos_ids: frozenset[int] = frozenset()
    emit: Callable[[str], None] = lambda text: None
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0  # characters of ``text`` already handed to the client
    finish_reason: Optional[str] = None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def add(self, token: int) -> None:
        """Take the next token generated for this row (ignored once the row has finished)."""
        if self.done:
            return
        if token in self.eos_ids:
            self._finish("stop")
            return
        self.tokens.append(token)
        self.text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        cut = min((i for i in (self.text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            self.text = self.text[:cut]
            self._finish("stop")
        elif len(self.tokens) >= self.max_tokens:
            self._finish("length")
        else:
            self._send(self._settled())

    def close(self, reason: str) -> None:
        """Generation ended for the whole batch (every row stops at the latest here)."""
        if not self.done:
            self._finish(reason)

    def _settled(self) -> int:
        end = len(self.text)
        while end > self.sent and self.text[end - 1] == "\ufffd":
            end -= 1
        hold = max((len(s) - 1 for s in self.stop), default=0)
        return max(self.sent, end - hold)

    def _finish(self, reason: str) -> None:
        self.finish_reason = reason
        self._send(len(self.text))  # bytes still incomplete now never complete: send them as decoded

    def _send(self, upto: int) -> None:
        if upto > self.sent:
            self.emit(self.text[self.sent:upto])
            self.sent = upto
