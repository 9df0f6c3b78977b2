"""The OpenAI chat-completions request, as far as ``privft serve`` honours it.

Fields a client may send that this server cannot honour (several choices, log-probabilities, tools, a JSON
response format) are refused with a 400 naming the field, never silently ignored; unknown extra fields are
ignored, as the OpenAI API does for forward compatibility.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from resources.serving.batcher import RequestError


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[TextPart], None] = None

    def as_template_message(self) -> dict[str, Any]:
        content = self.content if isinstance(self.content, str) or self.content is None else \
            "".join(part.text for part in self.content)
        # "developer" is the newer name of "system"; chat templates only know the older one
        return {"role": "system" if self.role == "developer" else self.role, "content": content or ""}


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: Optional[int] = Field(None, ge=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    stop: Union[str, list[str], None] = None
    n: int = Field(1, ge=1)
    logprobs: Optional[bool] = None
    tools: Optional[list[Any]] = None
    response_format: Optional[dict[str, Any]] = None

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value):
        stops = [value] if isinstance(value, str) else (value or [])
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError("stop takes up to 4 non-empty strings")
        return value

    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def token_limit(self) -> Optional[int]:
        return self.max_completion_tokens or self.max_tokens

    def refuse_unsupported(self) -> None:
        if self.n != 1:
            raise RequestError("n: this server returns one choice per request")
        if self.logprobs:
            raise RequestError("logprobs: not supported by this server")
        if self.tools:
            raise RequestError("tools: not supported by this server")
        if self.response_format and self.response_format.get("type") not in (None, "text"):
            raise RequestError("response_format: only 'text' is supported by this server")
