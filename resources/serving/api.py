"""The OpenAI-compatible HTTP surface of ``privft serve``: ``/v1/models``, ``/v1/chat/completions``, ``/health``.

FastAPI validates requests and streams server-sent events; generation and batching live in ``batcher.py``.
Every failure is a JSON error in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``): 400
for a request the server cannot take, 404 for an unknown model, 429 when the queue is full, 500 when
generation itself failed. None of them stops the server.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from resources.serving.batcher import Busy, ChatModel, RequestError
from resources.serving.schema import ChatCompletionRequest


def error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
          param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


def create_app(chat: ChatModel, model_ids: list[str]) -> FastAPI:
    """``model_ids``: the names clients may ask for, all answered by ``chat`` (e.g. the model and its version)."""
    app = FastAPI(title="privft serve", docs_url=None, redoc_url=None, openapi_url=None)
    created = int(time.time())

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(400, f"{where or 'body'}: {first.get('msg', 'invalid request')}", param=where or None)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), code=str(exc.status_code))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error(500, f"{type(exc).__name__}: {exc}", kind="server_error")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": model_ids, "batches": chat.stats.batches, "requests": chat.stats.requests,
                "largest_batch": chat.stats.largest}

    def card(model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": created, "owned_by": "privft"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [card(m) for m in model_ids]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        return card(model_id) if model_id in model_ids else _unknown_model(model_id, model_ids)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest):
        if body.model not in model_ids:
            return _unknown_model(body.model, model_ids)
        loop, events = asyncio.get_running_loop(), asyncio.Queue()
        try:
            body.refuse_unsupported()
            req = chat.request([m.as_template_message() for m in body.messages], max_tokens=body.token_limit(),
                               temperature=body.temperature, top_p=body.top_p, stop=body.stops(),
                               events=lambda event: loop.call_soon_threadsafe(events.put_nowait, event))
        except RequestError as exc:
            return error(400, str(exc))
        except Busy as exc:
            return error(429, str(exc), kind="rate_limit_error")
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_chunks(events, req, completion_id, body.model, usage),
                                     media_type="text/event-stream")
        return await _whole(events, req, completion_id, body.model)

    return app


def _unknown_model(name: str, model_ids: list[str]) -> JSONResponse:
    return error(404, f"model '{name}' does not exist here; this server has {model_ids}", code="model_not_found",
                 param="model")


async def _whole(events: asyncio.Queue, req, completion_id: str, model: str) -> JSONResponse:
    text: list[str] = []
    while True:
        event = await events.get()
        if event[0] == "delta":
            text.append(event[1])
        elif event[0] == "error":
            return error(500, event[1], kind="server_error")
        else:
            _, reason, usage = event
            return JSONResponse({"id": completion_id, "object": "chat.completion", "created": int(time.time()),
                                 "model": model, "usage": usage,
                                 "choices": [{"index": 0, "finish_reason": reason, "logprobs": None,
                                              "message": {"role": "assistant", "content": "".join(text)}}]})


async def _chunks(events: asyncio.Queue, req, completion_id: str, model: str, usage: bool) -> AsyncIterator[str]:
    def chunk(delta: dict, reason: str | None = None, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}], **extra}
        return f"data: {json.dumps(body)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        while True:
            event = await events.get()
            if event[0] == "delta":
                yield chunk({"content": event[1]})
            elif event[0] == "error":
                yield f"data: {json.dumps({'error': {'message': event[1], 'type': 'server_error'}})}\n\n"
                return
            else:
                yield chunk({}, event[1])
                if usage:
                    body = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": model, "choices": [], "usage": event[2]}
                    yield f"data: {json.dumps(body)}\n\n"
                yield "data: [DONE]\n\n"
                return
    finally:
        req.cancelled = True  # a client that disconnects mid-answer stops costing generation
