"""A fake Anthropic Messages upstream for the test-suite.

It speaks the real Messages wire format (JSON and the named-event SSE stream), records every
request it receives, checks requests about as strictly as the real API does for the things a
translating gateway can get wrong, and fails on demand. Behaviour is chosen by the request's
``model``:

* ``claude-fake`` and any unknown name: success. A ``thinking`` block first when thinking is on;
  when a ``web_search_*`` server tool is offered and the last user text says "search", what
  the real API answers after one search (a text preamble, ``server_tool_use``,
  ``web_search_tool_result``, a text block with one ``web_search_result_location`` citation,
  a closing text block; ``usage.server_tool_use.web_search_requests: 1``; streamed with the
  real events, ``citations_delta`` before the cited text); otherwise
  two parallel ``tool_use`` blocks when function ``tools`` are set (unless ``tool_choice`` is
  ``none``);
  otherwise one text block (``{"answer": "fake"}`` for structured output, truncated with
  ``stop_reason: stop_sequence`` when ``stop_sequences`` is given).
* ``claude-error-500`` / ``-529`` / ``-429`` (``retry-after: 7``) / ``-400``: that status with an
  Anthropic error envelope.
* ``claude-midstream-error``: a stream that sends some text, then ``event: error``
  (``overloaded_error``) and ends. Without ``stream`` it answers 529.
* ``claude-slow-stream``: 200 text deltas, 50 ms apart.

Any model also plays the fault a valid request names with ``orca-fault:<name>`` (see
``faults.py``).

``POST /v1/messages/count_tokens`` answers ``{"input_tokens": N}``, N being the number of
whitespace-separated words in the system prompt and message text plus 3 (the ``claude-error-*``
models fail it too). The key is accepted as ``x-api-key`` or as ``Authorization: Bearer``;
``anthropic-version`` is required.

Requests failing validation (``anthropic_validation.py``) get 400 ``invalid_request_error`` with
a message naming the problem (in the real API's wording where known). Checks beyond the obvious
ones: unknown top-level fields (any API's, not just OpenAI's), extra keys on messages (``name``,
``tool_calls``...), OpenAI-shaped content blocks and tools, ``tool_use`` answered by
``tool_result`` blocks at the *start* of the next user turn, ``tools`` required when the history
uses them, and, with thinking on, the assistant turn of an unfinished tool loop starting with its
thinking block. ``temperature: 1`` is accepted with thinking, as the real API does.

Mid-conversation system turns are accepted where the real API takes them: a ``{"role":
"system"}`` message with text content right after a user turn, followed by an assistant turn
or ending the conversation, never first and never two in a row (the real API also limits them
to some models, Claude Opus 4.8 and newer; the fake takes them on every model). So is the beta
``mid_conv_system`` block, as the last block(s) of a turn. The fields Claude Code sends
(``context_management``, ``thinking: {type: "adaptive", display}``, ``output_config.effort``,
``cache_control`` at the top level and on blocks, ``metadata``, ``mcp_servers``,
``container``) are accepted; ``anthropic-beta`` is recorded with the other headers.

Every streamed response records ``("stream_completed", model)``, ``("stream_aborted", model)``
(client went away) or ``("stream_errored", model)`` (we sent ``event: error``) in ``events``;
every request that fails validation records ``("invalid_request", model)`` and appends its message
to ``rejections`` (so a test can assert ``fake.rejections == []``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import faults
from .anthropic_validation import _THINKING_ON, _blocks_of, _thinking_type
from .anthropic_validation import RequestInvalid as RequestInvalid  # re-exported
from .anthropic_validation import validate_request as validate_request  # re-exported
from .base import FAULT, ValidatingFakeUpstream, fragments, scripted, words
from .base import Recorded as Recorded  # re-exported for code that imports it from here

JSONDict = dict[str, Any]

REPLY_TEXT = "Hello from the fake Anthropic upstream."
STOP_SEQUENCE_TEXT = "Hello from the fake"
JSON_REPLY = '{"answer": "fake"}'
THINKING_TEXT = "Let me think about this."
THINKING_SIGNATURE = "sig-fake-123"
TOOL_INPUTS: tuple[JSONDict, ...] = ({"city": "Paris"}, {"city": "Tokyo"})
MODEL_SUFFIX = "-20250101"
SLOW_STREAM_CHUNKS = 200
SLOW_STREAM_DELAY = 0.05
USAGE: JSONDict = {
    "input_tokens": 12,
    "output_tokens": 8,
    "cache_read_input_tokens": 4,
    "cache_creation_input_tokens": 2,
}
# The web search answer (a web_search_* server tool offered, "search" in the last user text).
SEARCH_PREAMBLE = "I'll search for that."
SEARCH_CITED = "Orca is an LLM gateway."
SEARCH_TAIL = " That is all I found."
SEARCH_URL = "https://example.com/orca"
SEARCH_TITLE = "Orca, the gateway"
SEARCH_RESULT: JSONDict = {
    "type": "web_search_result",
    "url": SEARCH_URL,
    "title": SEARCH_TITLE,
    "encrypted_content": "enc-fake-content",
    "page_age": "April 1, 2026",
}
SEARCH_CITATION: JSONDict = {
    "type": "web_search_result_location",
    "url": SEARCH_URL,
    "title": SEARCH_TITLE,
    "encrypted_index": "enc-fake-index",
    "cited_text": SEARCH_CITED,
}

# (status, error.type, message, extra headers)
_ERRORS: dict[str, tuple[int, str, str, dict[str, str]]] = {
    "claude-error-500": (500, "api_error", "Internal server error", {}),
    "claude-error-529": (529, "overloaded_error", "Overloaded", {}),
    "claude-error-429": (
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization; retry after 7 seconds.",
        {"retry-after": "7"},
    ),
    "claude-error-400": (400, "invalid_request_error", "max_tokens: upstream says no", {}),
}


@dataclass
class _Plan:
    """What the fake answers: content blocks plus the stop reason."""

    blocks: list[JSONDict]
    stop_reason: str
    stop_sequence: str | None = None
    searches: int = 0


def _request_id() -> str:
    return f"req_fake{uuid.uuid4().hex[:24]}"


def _error_response(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    request_id = _request_id()
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    return web.json_response(
        body, status=status, headers={"request-id": request_id, **(headers or {})}
    )


def _sse(payload: JSONDict) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


# ---------------------------------------------------------------------------------- planning


def _is_search_tool(tool: Any) -> bool:
    kind = tool.get("type") if isinstance(tool, dict) else None
    return isinstance(kind, str) and kind.startswith("web_search_")


def _last_user_text(body: JSONDict) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return " ".join(
                b.get("text", "") for b in _blocks_of(message) if b.get("type") == "text"
            )
    return ""


def _search_blocks(query: str) -> list[JSONDict]:
    """What the real API answers when it searched once: a preamble, the server_tool_use, its
    web_search_tool_result, then text blocks, the cited one carrying its citation."""
    return [
        {"type": "text", "text": SEARCH_PREAMBLE},
        {
            "type": "server_tool_use",
            "id": "srvtoolu_fake_0",
            "name": "web_search",
            "input": {"query": query},
        },
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_fake_0",
            "content": [dict(SEARCH_RESULT)],
        },
        {"type": "text", "text": SEARCH_CITED, "citations": [dict(SEARCH_CITATION)]},
        {"type": "text", "text": SEARCH_TAIL},
    ]


def _plan(body: JSONDict) -> _Plan:
    blocks: list[JSONDict] = []
    if _thinking_type(body) in _THINKING_ON:
        blocks.append(
            {"type": "thinking", "thinking": THINKING_TEXT, "signature": THINKING_SIGNATURE}
        )
    all_tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    query = _last_user_text(body)
    searching = any(_is_search_tool(t) for t in all_tools) and choice.get("type") != "none"
    if searching and "search" in query.lower():
        return _Plan(blocks + _search_blocks(query[:100]), "end_turn", searches=1)
    tools = [t for t in all_tools if not t.get("type") or t.get("type") == "custom"]
    if tools and choice.get("type") != "none":
        name = tools[0].get("name") or "tool"
        for k, tool_input in enumerate(TOOL_INPUTS):
            blocks.append(
                {"type": "tool_use", "id": f"toolu_fake_{k}", "name": name, "input": tool_input}
            )
        return _Plan(blocks, "tool_use")
    config = body.get("output_config") or {}
    if config.get("format") or body.get("output_format"):
        blocks.append({"type": "text", "text": JSON_REPLY})
        return _Plan(blocks, "end_turn")
    stops = body.get("stop_sequences") or []
    if stops:
        blocks.append({"type": "text", "text": STOP_SEQUENCE_TEXT})
        return _Plan(blocks, "stop_sequence", stops[0])
    blocks.append({"type": "text", "text": scripted(query) or REPLY_TEXT})
    return _Plan(blocks, "end_turn")


def _message(model: str, plan: _Plan) -> JSONDict:
    return {
        "id": f"msg_fake{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model + MODEL_SUFFIX,
        "content": plan.blocks,
        "stop_reason": plan.stop_reason,
        "stop_sequence": plan.stop_sequence,
        "usage": _usage(plan),
    }


def _usage(plan: _Plan) -> JSONDict:
    if not plan.searches:
        return dict(USAGE)
    return {**USAGE, "server_tool_use": {"web_search_requests": plan.searches}}


def _block_events(index: int, block: JSONDict) -> list[bytes]:
    """content_block_start, the deltas and content_block_stop for one block."""
    kind = block["type"]
    deltas: list[JSONDict]
    if kind == "thinking":
        start: JSONDict = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": w} for w in words(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        arguments = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": ""}]
        deltas += [
            {"type": "input_json_delta", "partial_json": piece} for piece in fragments(arguments)
        ]
    elif kind == "server_tool_use":
        start = {"type": "server_tool_use", "id": block["id"], "name": block["name"], "input": {}}
        arguments = json.dumps(block["input"])
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in fragments(arguments)]
    elif kind == "web_search_tool_result":
        start, deltas = dict(block), []  # the results come whole, in the block's start
    else:
        start = {"type": "text", "text": ""}
        deltas = [{"type": "citations_delta", "citation": c} for c in block.get("citations", [])]
        deltas += [{"type": "text_delta", "text": w} for w in words(block["text"])]
    events = [_sse({"type": "content_block_start", "index": index, "content_block": start})]
    events += [_sse({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(_sse({"type": "content_block_stop", "index": index}))
    return events


def _message_start(model: str) -> bytes:
    message = _message(model, _Plan([], ""))
    message["stop_reason"] = None
    message["usage"] = {**USAGE, "output_tokens": 1}
    return _sse({"type": "message_start", "message": message})


def _stream_events(model: str, plan: _Plan) -> list[bytes]:
    events = [_message_start(model), _sse({"type": "ping"})]
    for index, block in enumerate(plan.blocks):
        events += _block_events(index, block)
    delta = {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence}
    events.append(_sse({"type": "message_delta", "delta": delta, "usage": _usage(plan)}))
    events.append(_sse({"type": "message_stop"}))
    return events


def _count_tokens(body: JSONDict) -> int:
    """Whitespace-separated words across every piece of text in the request, plus 3."""
    texts: list[str] = []
    system = body.get("system")
    if isinstance(system, str):
        texts.append(system)
    elif isinstance(system, list):
        texts += [b.get("text", "") for b in system if isinstance(b, dict)]
    for message in body.get("messages") or []:
        for block in _blocks_of(message):
            if block.get("type") == "text":
                texts.append(block.get("text", ""))
            elif block.get("type") == "tool_result":
                content = block.get("content")
                if isinstance(content, str):
                    texts.append(content)
                elif isinstance(content, list):
                    texts += [b.get("text", "") for b in content if isinstance(b, dict)]
    return sum(len(t.split()) for t in texts) + 3


_FAULT_ERROR_TYPES = {400: "invalid_request_error", 429: "rate_limit_error"}


class _FaultDialect(faults.Dialect):
    """The Messages pieces the shared faults are made of."""

    stream_headers = {"Content-Type": "text/event-stream; charset=utf-8"}

    def error(self, status: int, message: str, headers: dict[str, str]) -> web.Response:
        return _error_response(
            status, _FAULT_ERROR_TYPES.get(status, "api_error"), message, headers
        )

    def body(self, text: str) -> bytes:
        plan = _Plan([{"type": "text", "text": text}], "end_turn")
        return json.dumps(_message(self.model, plan)).encode()

    def stream_parts(self, pieces: list[str]) -> faults.StreamParts:
        start = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        deltas = [
            _sse(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                }
            )
            for p in pieces
        ]
        delta = {"stop_reason": "end_turn", "stop_sequence": None}
        return faults.StreamParts(
            head=[_message_start(self.model), _sse({"type": "ping"}), _sse(start)],
            content=deltas,
            tail=[
                _sse({"type": "content_block_stop", "index": 0}),
                _sse({"type": "message_delta", "delta": delta, "usage": dict(USAGE)}),
                _sse({"type": "message_stop"}),
            ],
        )

    def stream_error(self, message: str) -> bytes:
        return _sse({"type": "error", "error": {"type": "api_error", "message": message}})


# ---------------------------------------------------------------------------------- the server


class FakeAnthropicUpstream(ValidatingFakeUpstream):
    default_api_key = "anthropic-upstream-credential"
    label = "Anthropic"

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/messages", self._messages)
        router.add_post("/v1/messages/count_tokens", self._count_tokens)

    def _authenticate(self, request: web.Request) -> web.Response | None:
        # The API takes the key as ``x-api-key`` (the classic form) or as a bearer token (what
        # anthropic-python >= 2 sends for ``api_key=``).
        authorization = request.headers.get("authorization", "")
        bearer = authorization[7:] if authorization.startswith("Bearer ") else None
        if self.api_key not in (request.headers.get("x-api-key"), bearer):
            return _error_response(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return self._invalid("anthropic-version: header is required", "")
        return None

    def _invalid(self, message: str, model: Any) -> web.Response:
        self._reject(message, model if isinstance(model, str) else "")
        return _error_response(400, "invalid_request_error", message)

    async def _parse(self, request: web.Request, *, count_tokens: bool) -> JSONDict | web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._invalid("The request body is not valid JSON.", "")
        try:
            validate_request(body, count_tokens=count_tokens)
        except RequestInvalid as exc:
            model = body.get("model") if isinstance(body, dict) else ""
            return self._invalid(str(exc), model)
        return body

    # ------------------------------------------------------------------ routes

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body = await self._parse(request, count_tokens=True)
        if isinstance(body, web.Response):
            return body
        if body["model"] in _ERRORS:
            status, type_, message, headers = _ERRORS[body["model"]]
            return _error_response(status, type_, message, headers)
        return web.json_response(
            {"input_tokens": _count_tokens(body)}, headers={"request-id": _request_id()}
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._parse(request, count_tokens=False)
        if isinstance(body, web.Response):
            return body
        model: str = body["model"]
        stream = body.get("stream") is True

        fault = request[FAULT]
        if fault:
            return await faults.serve(self, request, fault, _FaultDialect(model, stream))
        if model in _ERRORS:
            status, type_, message, headers = _ERRORS[model]
            return _error_response(status, type_, message, headers)
        if model == "claude-midstream-error":
            if not stream:
                return _error_response(529, "overloaded_error", "Overloaded")
            text_events = _block_events(0, {"type": "text", "text": REPLY_TEXT})
            events = [_message_start(model), _sse({"type": "ping"}), *text_events[:3]]
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
            events.append(_sse(error))
            return await self._send_stream(
                request, model, events, delay=self.chunk_delay, final_event="stream_errored"
            )
        if model == "claude-slow-stream" and stream:
            words = " ".join(f"tick{k}" for k in range(SLOW_STREAM_CHUNKS))
            events = _stream_events(model, _Plan([{"type": "text", "text": words}], "end_turn"))
            return await self._send_stream(request, model, events, delay=SLOW_STREAM_DELAY)

        plan = _plan(body)
        if stream:
            return await self._send_stream(
                request, model, _stream_events(model, plan), delay=self.chunk_delay
            )
        return web.json_response(_message(model, plan), headers={"request-id": _request_id()})

    # ------------------------------------------------------------------ streaming

    async def _send_stream(
        self,
        request: web.Request,
        model: str,
        events: list[bytes],
        *,
        delay: float,
        final_event: str = "stream_completed",
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": _request_id(),
            }
        )
        await resp.prepare(request)
        if await self._write_events(request, resp, model, events, delay=delay):
            await self._complete_stream(resp, model, final_event)
        return resp
