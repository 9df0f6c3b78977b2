"""A loaded model that answers chat requests from many clients, batching the ones that arrive together.

One worker thread owns the model. Requests wait in a queue; when the worker is free it takes the oldest one
and, after a short window for others to arrive, every waiting request with the same sampling settings (up to
``max_batch``), left-pads them into one ``generate`` call and streams each row's tokens back to its own
client (``rows.py``). A row that ends early (end of turn, its own ``max_tokens``, a stop string, a client that
went away) is marked finished for ``generate`` so it stops costing work. Greedy answers are the same batched
or alone up to floating-point rounding of padded attention.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from resources.serving.rows import Row


class RequestError(ValueError):
    """The request cannot be served as asked (the client's fault: a 400)."""


class Busy(RuntimeError):
    """Too many requests are waiting (a 429: retry later)."""


@dataclass
class ChatRequest:
    prompt_ids: list[int]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    events: Callable[[tuple], None] = lambda event: None  # ("delta", text) | ("done", reason, usage) | ("error", msg)
    cancelled: bool = False

    @property
    def sampling(self) -> tuple[float, float]:
        return (0.0, 1.0) if self.temperature <= 0 else (self.temperature, self.top_p)


@dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)


class ChatModel:
    def __init__(self, model_dir: Path | str, *, max_batch: int = 8, batch_window_s: float = 0.01,
                 max_waiting: int = 256, default_max_tokens: int = 256, trust_remote_code: bool = False,
                 device: Optional[str] = None, dtype=None):
        from resources.model.loading import load_causal_lm, load_tokenizer

        self.tokenizer = load_tokenizer(model_dir, trust_remote_code=trust_remote_code)
        self.model = load_causal_lm(model_dir, dtype=dtype, trust_remote_code=trust_remote_code, device=device).eval()
        self.context_length = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.eos_ids = _end_of_turn_ids(self.tokenizer, self.model)
        self.max_batch, self.batch_window_s = max(1, max_batch), batch_window_s
        self.max_waiting, self.default_max_tokens = max_waiting, default_max_tokens
        self.stats = BatchStats()
        self._waiting: deque[ChatRequest] = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._serve_forever, name="privft-generate", daemon=True)
        self._worker.start()

    def request(self, messages: list[dict[str, Any]], *, max_tokens: Optional[int] = None, temperature: float = 1.0,
                top_p: float = 1.0, stop: tuple[str, ...] = (), events: Callable[[tuple], None]) -> ChatRequest:
        """Encode ``messages`` with the model's chat template and queue them; raises RequestError or Busy."""
        try:
            text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as exc:  # the template's own checks (roles, order) speak for the model
            raise RequestError(f"the model's chat template rejected these messages: {exc}") from exc
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        room = self.context_length - len(ids)
        if room <= 0 or (max_tokens is not None and max_tokens > room):
            raise RequestError(f"this model's maximum context length is {self.context_length} tokens; the messages "
                               f"take {len(ids)} and max_tokens asks for {max_tokens or 1} more")
        req = ChatRequest(ids, max_tokens or min(self.default_max_tokens, room), temperature, top_p, stop, events)
        with self._cv:
            if len(self._waiting) >= self.max_waiting:
                raise Busy(f"{len(self._waiting)} requests are already waiting; retry later")
            self._waiting.append(req)
            self._cv.notify()
        return req

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._worker.join(timeout=30)

    def _serve_forever(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._generate(batch)
            except Exception as exc:  # one failed batch (e.g. out of memory) must not take the server down
                for req in batch:
                    req.events(("error", f"generation failed: {type(exc).__name__}: {exc}"))

    def _next_batch(self) -> Optional[list[ChatRequest]]:
        with self._cv:
            while not self._waiting and not self._closed:
                self._cv.wait()
            if self._closed:
                return None
        if self.max_batch > 1:
            time.sleep(self.batch_window_s)  # requests sent together arrive a few ms apart
        with self._cv:
            key = self._waiting[0].sampling
            batch = [r for r in self._waiting if r.sampling == key and not r.cancelled][: self.max_batch]
            chosen = set(map(id, batch))
            self._waiting = deque(r for r in self._waiting if id(r) not in chosen and not r.cancelled)
        if batch:
            self.stats.batches += 1
            self.stats.requests += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            self.stats.sizes.append(len(batch))
        return batch or self._next_batch()

    def _generate(self, batch: list[ChatRequest]) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        rows = [Row(self.tokenizer, len(r.prompt_ids), r.max_tokens, r.stop, self.eos_ids,
                    emit=lambda text, r=r: r.events(("delta", text))) for r in batch]

        class Deliver(BaseStreamer):
            started = False

            def put(self, value):
                if not self.started:  # the first call hands over the prompt
                    self.started = True
                    return
                for row, token in zip(rows, value.reshape(-1).tolist()):
                    row.add(int(token))

            def end(self):
                pass

        class RowsDone(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.tensor([row.done or req.cancelled for row, req in zip(rows, batch)],
                                    device=input_ids.device)

        device = next(self.model.parameters()).device
        padded = self.tokenizer.pad({"input_ids": [r.prompt_ids for r in batch]}, return_tensors="pt")
        temperature, top_p = batch[0].sampling
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else \
            {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        with torch.no_grad():
            self.model.generate(input_ids=padded["input_ids"].to(device),
                                attention_mask=padded["attention_mask"].to(device),
                                max_new_tokens=max(r.max_tokens for r in batch), streamer=Deliver(),
                                stopping_criteria=StoppingCriteriaList([RowsDone()]),
                                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=sorted(self.eos_ids),
                                **sampling)
        for row, req in zip(rows, batch):
            row.close("length")
            usage = {"prompt_tokens": row.prompt_tokens, "completion_tokens": len(row.tokens),
                     "total_tokens": row.prompt_tokens + len(row.tokens)}
            req.events(("done", row.finish_reason, usage))


def _end_of_turn_ids(tokenizer: Any, model: Any) -> frozenset[int]:
    """Where an answer ends: the tokenizer's and generation config's EOS, and the template's end-of-turn token."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        token = tokenizer.convert_tokens_to_ids(marker) if marker in tokenizer.get_vocab() else None
        ids.add(token)
    return frozenset(int(i) for i in ids if i is not None)
