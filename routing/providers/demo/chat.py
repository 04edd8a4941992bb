"""The `demo` kind: answers locally, deterministically, in OpenAI's shape, so a fresh
install works with no provider account, coding agents included. It streams; what it says (a
tool call or text, JSON for structured output) is decided in answer.py."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import canonical
from ...wire.openai_chat import OpenAIStreamDecoder, with_stream_usage
from ...wire.sse import DONE, encode_data
from ..adapter import LocalAnswer
from ..base import LocalResponse
from .answer import call_id, conversation_digest, decide, text_of

_CHUNK_PAUSE = 0.01  # seconds between streamed words, so streaming is visible


def _count_tokens(text: str) -> int:
    return max(1, len(text.split()))


def _pieces(text: str) -> list[str]:
    """The streamed pieces: a word each (with its leading space), long runs cut in 16s."""
    out: list[str] = []
    for position, word in enumerate(text.split(" ")):
        piece = word if position == 0 else " " + word
        out.extend(piece[i : i + 16] for i in range(0, len(piece), 16))
    return out or [""]


class DemoResponse(LocalResponse):
    def __init__(self, body: dict[str, Any], route: ModelRoute) -> None:
        self._request = body
        self._stream = body.get("stream") is True
        self.headers = {"content-type": "text/event-stream" if self._stream else "application/json"}
        messages = body.get("messages") or []
        prompt_text = " ".join(text_of(m.get("content")) for m in messages if isinstance(m, dict))
        self._answer = decide(body)
        self._n = body.get("n") or 1
        self._model = route.upstream_name
        self._digest = conversation_digest(messages)
        self._id = f"chatcmpl-demo{self._digest[:24]}"
        self._created = int(time.time())
        if self._answer.tool is not None:
            completion = max(1, (len(self._answer.tool) + len(self._answer.arguments)) // 4)
        else:
            completion = _count_tokens(self._answer.text or "")
        self._usage = {
            "prompt_tokens": _count_tokens(prompt_text),
            "completion_tokens": completion * self._n,
            "total_tokens": _count_tokens(prompt_text) + completion * self._n,
        }

    def _tool_call(self, choice: int) -> dict[str, Any]:
        name = self._answer.tool
        assert name is not None
        return {
            "id": call_id(self._digest, choice, 0, name),
            "type": "function",
            "function": {"name": name, "arguments": self._answer.arguments},
        }

    def _completion(self) -> dict[str, Any]:
        choices = []
        for i in range(self._n):
            if self._answer.tool is not None:
                message = {"role": "assistant", "content": None, "tool_calls": [self._tool_call(i)]}
                finish = "tool_calls"
            else:
                message = {"role": "assistant", "content": self._answer.text}
                finish = "stop"
            choices.append(
                {"index": i, "message": message, "logprobs": None, "finish_reason": finish}
            )
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": choices,
            "usage": self._usage,
        }

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        options = self._request.get("stream_options") or {}
        if options.get("include_usage"):
            chunk["usage"] = usage
        return encode_data(orjson.dumps(chunk))

    def _delta(self, choice: int, delta: dict[str, Any]) -> bytes:
        return self._chunk([{"index": choice, "delta": delta, "finish_reason": None}])

    async def chunks(self) -> AsyncIterator[bytes]:
        if not self._stream:
            yield orjson.dumps(self._completion())
            return
        for i in range(self._n):
            yield self._delta(i, {"role": "assistant", "content": ""})
        if self._answer.tool is not None:
            for i in range(self._n):
                call = self._tool_call(i)
                function = call["function"]
                opening = {**call, "function": {"name": function["name"], "arguments": ""}}
                yield self._delta(i, {"tool_calls": [{"index": 0, **opening}]})
                for piece in _pieces(function["arguments"]):
                    arguments = {"index": 0, "function": {"arguments": piece}}
                    yield self._delta(i, {"tool_calls": [arguments]})
            finish = "tool_calls"
        else:
            for piece in _pieces(self._answer.text or ""):
                for i in range(self._n):
                    yield self._delta(i, {"content": piece})
                await asyncio.sleep(_CHUNK_PAUSE)
            finish = "stop"
        for i in range(self._n):
            yield self._chunk([{"index": i, "delta": {}, "finish_reason": finish}])
        if (self._request.get("stream_options") or {}).get("include_usage"):
            yield self._chunk([], usage=self._usage)
        yield DONE

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


class DemoChat(LocalAnswer):
    """Speaks OpenAI's format locally; other surfaces reach it through canonical chat."""

    native_surface = "chat"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return with_stream_usage(body) if stream else body

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        body = canonical.strip_extensions(request)
        return with_stream_usage(body) if body.get("stream") else body

    def answer(self, route: ModelRoute, body: dict) -> DemoResponse:
        return DemoResponse(body, route)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return orjson.loads(raw)

    def stream_decoder(self, route: ModelRoute) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()
