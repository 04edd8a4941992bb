"""The `demo` kind: answers locally, deterministically, in OpenAI's shape, so a fresh
install works with no provider account. It streams, and calls a tool when offered one."""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from ...catalog.snapshot import ModelRoute
from ...wire import canonical
from ...wire.openai_chat import OpenAIStreamDecoder, with_stream_usage
from ...wire.sse import DONE, encode_data
from ..base import LocalResponse, Timeouts

_CHUNK_PAUSE = 0.01  # seconds between streamed words, so streaming is visible


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    p.get("text", "")
                    for p in content
                    if isinstance(p, dict) and p.get("type") == "text"
                )
    return ""


def _count_tokens(text: str) -> int:
    return max(1, len(text.split()))


def _placeholder_arguments(tool: dict[str, Any]) -> str:
    """Arguments that satisfy the tool's required properties with obvious sample values."""
    schema = (tool.get("function") or {}).get("parameters")
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    samples = {
        "string": "demo",
        "integer": 1,
        "number": 1,
        "boolean": True,
        "array": [],
        "object": {},
    }
    required = schema.get("required")
    args = {}
    for name in required if isinstance(required, list) else []:
        spec = properties.get(name)
        kind = spec.get("type") if isinstance(spec, dict) else None
        args[str(name)] = samples.get(kind, "demo") if isinstance(kind, str) else "demo"
    return orjson.dumps(args).decode()


class DemoResponse(LocalResponse):
    def __init__(self, body: dict[str, Any], route: ModelRoute) -> None:
        self._request = body
        self._stream = body.get("stream") is True
        self.headers = {"content-type": "text/event-stream" if self._stream else "application/json"}
        messages = body.get("messages") or []
        prompt_text = " ".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))
        said = _last_user_text(messages).strip()
        self._text = (
            f"Hello from Orca's demo model. You said: {said[:200]}"
            if said
            else "Hello from Orca's demo model."
        )
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        wants_tool = tools and body.get("tool_choice") != "none"
        self._tool = tools[0] if wants_tool else None
        self._n = body.get("n") or 1
        self._model = route.upstream_name
        digest = hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()
        self._id = f"chatcmpl-demo{digest[:24]}"
        self._created = int(time.time())
        completion = _count_tokens(self._text) if self._tool is None else 8
        self._usage = {
            "prompt_tokens": _count_tokens(prompt_text),
            "completion_tokens": completion * self._n,
            "total_tokens": _count_tokens(prompt_text) + completion * self._n,
        }

    def _tool_call(self, index: int) -> dict[str, Any]:
        assert self._tool is not None
        return {
            "id": f"call_demo_{index}",
            "type": "function",
            "function": {
                "name": self._tool["function"]["name"],
                "arguments": _placeholder_arguments(self._tool),
            },
        }

    def _completion(self) -> dict[str, Any]:
        choices = []
        for i in range(self._n):
            if self._tool is not None:
                message = {"role": "assistant", "content": None, "tool_calls": [self._tool_call(0)]}
                finish = "tool_calls"
            else:
                message = {"role": "assistant", "content": self._text}
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

    async def chunks(self) -> AsyncIterator[bytes]:
        if not self._stream:
            yield orjson.dumps(self._completion())
            return
        for i in range(self._n):
            yield self._chunk(
                [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
            )
        if self._tool is not None:
            call = self._tool_call(0)
            arguments = call["function"]["arguments"]
            for i in range(self._n):
                first = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
                yield self._chunk(
                    [
                        {
                            "index": i,
                            "delta": {"tool_calls": [{"index": 0, **first}]},
                            "finish_reason": None,
                        }
                    ]
                )
                yield self._chunk(
                    [
                        {
                            "index": i,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": arguments}}]
                            },
                            "finish_reason": None,
                        }
                    ]
                )
            finish = "tool_calls"
        else:
            words = self._text.split(" ")
            for position, word in enumerate(words):
                piece = word if position == 0 else " " + word
                for i in range(self._n):
                    yield self._chunk(
                        [{"index": i, "delta": {"content": piece}, "finish_reason": None}]
                    )
                await asyncio.sleep(_CHUNK_PAUSE)
            finish = "stop"
        for i in range(self._n):
            yield self._chunk([{"index": i, "delta": {}, "finish_reason": finish}])
        if (self._request.get("stream_options") or {}).get("include_usage"):
            yield self._chunk([], usage=self._usage)
        yield DONE

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


class DemoChat:
    """Speaks OpenAI's format locally; other surfaces reach it through canonical chat."""

    native_surface = "chat"

    def native_body(self, body: dict, route: ModelRoute, *, stream: bool) -> dict:
        return with_stream_usage(body) if stream else body

    def from_canonical(self, request: dict, route: ModelRoute) -> dict:
        body = canonical.strip_extensions(request)
        return with_stream_usage(body) if body.get("stream") else body

    async def send(
        self,
        route: ModelRoute,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> DemoResponse:
        return DemoResponse(body, route)

    def canonical_response(self, raw: bytes, route: ModelRoute) -> dict:
        return orjson.loads(raw)

    def stream_decoder(self, route: ModelRoute) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()
