"""A bounded load test of an OpenAI-compatible endpoint: N concurrent clients, a fixed number of requests each.

Used by ``benchmarks/serve_load.py`` and the endpoint's tests. It reports what a user of the endpoint feels
(per-request latency, p50/p95) and what it delivers (completion tokens per second over the whole run), and
counts every failed request: a load test that hides errors proves nothing.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

DEFAULT_QUESTIONS = (
    "Where is my order A-1234? It was due three days ago.",
    "Can I return a jacket I bought online last week?",
    "My invoice shows the wrong delivery address. What should I do?",
    "Do you ship to Austria, and how long does it take?",
)


@dataclass
class LoadResult:
    clients: int
    requests: int
    errors: int
    seconds: float
    completion_tokens: int
    tokens_per_s: float
    p50_s: float
    p95_s: float
    first_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_load(base_url: str, model: str, *, clients: int = 8, requests_per_client: int = 4, max_tokens: int = 32,
             questions: Sequence[str] = DEFAULT_QUESTIONS, stream: bool = False) -> LoadResult:
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=600)
    latencies: list[float] = []
    tokens: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(question: str) -> int:
        if not stream:
            answer = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                                    max_tokens=max_tokens, temperature=0)
            return answer.usage.completion_tokens
        chunks = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                                max_tokens=max_tokens, temperature=0, stream=True,
                                                stream_options={"include_usage": True})
        return next((c.usage.completion_tokens for c in chunks if c.usage), 0)

    def worker(index: int) -> None:
        for k in range(requests_per_client):
            started = time.perf_counter()
            try:
                n = one(questions[(index + k) % len(questions)])
            except Exception as exc:  # counted, never raised: the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)
                tokens.append(n)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies) or [float("nan")]
    return LoadResult(clients=clients, requests=clients * requests_per_client, errors=len(errors),
                      seconds=seconds, completion_tokens=sum(tokens), tokens_per_s=sum(tokens) / seconds,
                      p50_s=statistics.median(ordered), p95_s=ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
                      first_error=errors[0] if errors else "")
