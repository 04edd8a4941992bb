"""A fake OpenAI-compatible upstream for the test-suite.

It speaks the real Chat Completions wire format (non-stream and SSE) and ``POST /v1/embeddings``,
records every request it receives and fails on demand. Behaviour is chosen by the request's
``model``:

* ``fake-chat`` and any unknown name: success (text, parallel tool calls when ``tools`` is set,
  ``{"answer": "fake"}`` for ``response_format.type == "json_schema"``, ``n`` choices).
  With ``web_search_options`` (an object, else a 400 like OpenAI's) and a last user text
  containing "search", the text is ``SEARCH_REPLY`` with one nested ``url_citation`` in
  ``message.annotations`` (streamed: a delta of its own after the text, OpenAI's late
  delta). Like OpenAI's chat usage, the usage does not count the search. A ``user`` or
  ``safety_identifier`` over 64 characters is OpenAI's 400 ``string_above_max_length``.
* ``fake-error-500`` / ``-503`` / ``-429`` (``Retry-After: 7``) / ``-400``: that status with an
  OpenAI error envelope.
* ``fake-leaky-error``: 401 whose message echoes the Authorization header it received.
* ``fake-slow-stream``: 200 content chunks, 50 ms apart.
* ``fake-hang``: waits 30 s before sending anything.
* ``fake-stall-midstream``: headers + 2 chunks, then silence for 30 s.
* ``fake-drop-midstream``: headers + 2 chunks, then the connection is aborted.
* ``fake-malformed``: 200 ``application/json`` with body ``{not json``.

Any model also plays the fault a request names with ``orca-fault:<name>`` (see ``faults.py``).

Embeddings: one deterministic unit vector per input (derived from a hash of the text or of the
token array, see ``embedding_vector``) of ``dimensions`` floats (8 by default), as floats or,
for ``encoding_format: "base64"``, little-endian float32 in base64; usage counts a token per word
(token arrays count exactly). Requests OpenAI refuses get its 400 envelope: no model, no input,
an empty string or array, more than 2048 items, a bad ``encoding_format``, a ``dimensions`` that
is not a positive integer. The error models above (``-500``/``-503``/``-429``/``-400``,
``fake-leaky-error``, ``fake-malformed``, ``fake-hang``) and the ``orca-fault:`` markers work
on embeddings too (faults answer non-stream).

Responses: ``POST /v1/responses`` (non-stream and SSE) and ``GET /v1/responses/{id}`` live in
``openai_responses.py``, which validates requests as strictly as the real API, answers text,
function calls, web searches with citations, reasoning summaries and JSON deterministically,
keeps the responses it creates (``responses_store``, emptied by ``reset()``) for
``previous_response_id``, and plays the error models and faults above in its own dialect. Its
400s/404s are recorded: ``("invalid_request", model)`` in ``events`` and the message in
``rejections``.

Every streamed response records ``("stream_completed", model)``, ``("stream_aborted", model)``
(client went away) or ``("stream_dropped", model)`` (we cut it) in ``events`` (Responses streams
that end in an ``error`` event or ``response.failed`` record ``("stream_errored", model)``); a
``fake-hang`` request whose client leaves early records ``("request_aborted", model)``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import math
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import faults, openai_responses
from .base import FAULT, ValidatingFakeUpstream, client_gone, fragments, scripted, words
from .base import Recorded as Recorded  # re-exported for code that imports it from here

JSONDict = dict[str, Any]

REPLY_TEXT = "Hello from the fake upstream."
MODERATION_TRIGGER = "orca-harm"  # text the fake moderation endpoint flags (violence)
MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip


def moderation_texts(value: Any) -> list[str] | None:
    """The texts of a moderation `input`: a string, strings, or text/image_url parts."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, str) for v in value):
        return value
    texts = []
    for part in value:
        if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
            return None
        if part["type"] == "text":
            texts.append(part.get("text") or "")
    return [" ".join(texts)]


JSON_SCHEMA_REPLY = '{"answer": "fake"}'
SEARCH_URL = "https://example.com/fake-chat-search"
SEARCH_TITLE = "Fake Chat Search"
SEARCH_REPLY = f"According to {SEARCH_TITLE}, the fake chat search worked."
TOOL_ARGUMENTS = ('{"city": "Paris"}', '{"city": "Tokyo"}')
MODEL_SUFFIX = "-2024-01-01"
SYSTEM_FINGERPRINT = "fp_fake_upstream"
EMBEDDING_DIMENSIONS = 8  # the vector length when a request names no dimensions
MAX_EMBEDDING_INPUTS = 2048
USER_MAX_LENGTH = 64  # `user` and `safety_identifier` on chat completions
LONG_WAIT = 30.0  # seconds, for fake-hang and fake-stall-midstream
SLOW_STREAM_CHUNKS = 200
SLOW_STREAM_DELAY = 0.05
MODELS = (
    "fake-chat",
    "fake-error-500",
    "fake-error-503",
    "fake-error-429",
    "fake-error-400",
    "fake-leaky-error",
    "fake-slow-stream",
    "fake-hang",
    "fake-stall-midstream",
    "fake-drop-midstream",
    "fake-malformed",
)

# (status, message, type, param, code, extra headers)
_ERRORS: dict[str, tuple[int, str, str, str | None, str | None, dict[str, str]]] = {
    "fake-error-500": (
        500,
        "The fake upstream had an internal server error while processing your request.",
        "server_error",
        None,
        None,
        {},
    ),
    "fake-error-503": (
        503,
        "The fake upstream is overloaded and temporarily unavailable.",
        "server_error",
        None,
        None,
        {},
    ),
    "fake-error-429": (
        429,
        "Rate limit reached on the fake upstream; please retry after 7 seconds.",
        "rate_limit_error",
        None,
        None,
        {"Retry-After": "7"},
    ),
    "fake-error-400": (
        400,
        "Invalid value for temperature: upstream says no",
        "invalid_request_error",
        "temperature",
        "invalid_value",
        {},
    ),
}


def usage() -> JSONDict:
    """The fixed usage block (prompt includes cached tokens, completion includes reasoning)."""
    return {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }


@dataclass
class _Choice:
    content: str | None
    finish_reason: str
    tool_calls: list[JSONDict] = field(default_factory=list)
    annotations: list[JSONDict] = field(default_factory=list)


def _last_user_text(body: JSONDict) -> str:
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(
                part.get("text") or ""
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return ""


def search_citation() -> JSONDict:
    """The nested chat citation of SEARCH_TITLE inside SEARCH_REPLY."""
    start = SEARCH_REPLY.index(SEARCH_TITLE)
    return {
        "type": "url_citation",
        "url_citation": {
            "url": SEARCH_URL,
            "title": SEARCH_TITLE,
            "start_index": start,
            "end_index": start + len(SEARCH_TITLE),
        },
    }


def _error_response(
    status: int,
    message: str,
    type_: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    envelope = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(envelope, status=status, headers=headers)


def _plan_choices(body: JSONDict) -> list[_Choice]:
    n = body.get("n")
    n = n if isinstance(n, int) and n > 0 else 1
    tools = body.get("tools") or []
    response_format = body.get("response_format") or {}
    choices: list[_Choice] = []
    searches = body.get("web_search_options") is not None and "search" in _last_user_text(body)
    say = scripted(_last_user_text(body))
    for i in range(n):
        if searches:
            choices.append(_Choice(SEARCH_REPLY, "stop", annotations=[search_citation()]))
        elif i == 0 and isinstance(tools, list) and tools:
            first = tools[0] if isinstance(tools[0], dict) else {}
            name = (first.get("function") or {}).get("name") or first.get("name") or "tool"
            calls = [
                {
                    "id": f"call_fake_{k}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for k, arguments in enumerate(
                    [json.dumps({"text": say})] if say is not None else TOOL_ARGUMENTS
                )
            ]
            choices.append(_Choice(None, "tool_calls", calls))
        elif isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            choices.append(_Choice(JSON_SCHEMA_REPLY, "stop"))
        else:
            choices.append(
                _Choice((say or REPLY_TEXT) if i == 0 else f"Hello again from choice {i}.", "stop")
            )
    return choices


def _choice_deltas(choice: _Choice) -> list[tuple[JSONDict, str | None]]:
    """The (delta, finish_reason) sequence OpenAI streams for one choice."""
    # Role appears only in the first delta: the SDK concatenates repeated strings.
    first_content = "" if choice.content is not None else None
    deltas: list[tuple[JSONDict, str | None]] = [
        ({"role": "assistant", "content": first_content}, None)
    ]
    if choice.content:
        deltas += [({"content": piece}, None) for piece in words(choice.content)]
    if choice.annotations:
        deltas.append(({"annotations": choice.annotations}, None))
    for k, call in enumerate(choice.tool_calls):
        # First delta of a call: index, id, type, name, empty arguments. Later: index + fragment.
        head = {
            "index": k,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        deltas.append(({"tool_calls": [head]}, None))
        for fragment in fragments(call["function"]["arguments"]):
            deltas.append(
                ({"tool_calls": [{"index": k, "function": {"arguments": fragment}}]}, None)
            )
    deltas.append(({}, choice.finish_reason))
    return deltas


def _sse(payload: JSONDict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


_ERROR_TYPES = {400: "invalid_request_error", 429: "rate_limit_error"}


# ---------------------------------------------------------------------------------- embeddings


def embedding_vector(item: str | list[int], size: int) -> list[float]:
    """The fake's vector for one input: unit length, the same for the same input and size."""
    seed = item.encode() if isinstance(item, str) else json.dumps(item).encode()
    raw: list[float] = []
    block = 0
    while len(raw) < size:
        digest = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        raw += [(byte - 127.5) / 127.5 for byte in digest]
        block += 1
    raw = raw[:size]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def embedding_tokens(item: str | list[int]) -> int:
    return len(item) if isinstance(item, list) else max(1, len(item.split()))


_INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def _is_token_array(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)
    )


def embedding_inputs(body: JSONDict) -> tuple[list[str] | list[list[int]] | None, str | None]:
    """(the inputs as a list, None) or (None, the message OpenAI refuses the body with)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return None, "you must provide a model parameter"
    value = body.get("input")
    if value is None:
        return None, "'input' is a required property"
    if isinstance(value, str):
        return ([value], None) if value else (None, _INVALID_INPUT)
    if not isinstance(value, list) or not value or len(value) > MAX_EMBEDDING_INPUTS:
        return None, _INVALID_INPUT
    if all(isinstance(item, str) and item for item in value):
        return list(value), None
    if _is_token_array(value):
        return [list(value)], None
    if all(_is_token_array(item) for item in value):
        return [list(item) for item in value], None
    return None, _INVALID_INPUT


def _embedding_options_error(body: JSONDict) -> tuple[str, str] | None:
    """(param, message) for a bad encoding_format or dimensions, else None."""
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ("float", "base64"):
        shown = json.dumps(encoding)
        return "encoding_format", f"{shown} is not one of ['float', 'base64'] - 'encoding_format'"
    size = body.get("dimensions")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        return "dimensions", f"Invalid value for 'dimensions' = {size}. Must be greater than 0."
    return None


def embeddings_answer(
    model: str, inputs: list[str] | list[list[int]], size: int, encoding: str
) -> JSONDict:
    data: list[JSONDict] = []
    for i, item in enumerate(inputs):
        vector: list[float] | str = embedding_vector(item, size)
        if encoding == "base64":
            vector = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = sum(embedding_tokens(item) for item in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class _FaultDialect(faults.Dialect):
    """The Chat Completions pieces the shared faults are made of."""

    def __init__(self, model: str, stream: bool, include_usage: bool) -> None:
        super().__init__(model, stream)
        self.include_usage = include_usage

    def error(self, status: int, message: str, headers: dict[str, str]) -> web.Response:
        type_ = _ERROR_TYPES.get(status, "server_error")
        return _error_response(status, message, type_, headers=headers)

    def body(self, text: str) -> bytes:
        completion = FakeOpenAIUpstream._completion(self.model, [_Choice(text, "stop")])
        return json.dumps(completion).encode()

    def stream_parts(self, pieces: list[str]) -> faults.StreamParts:
        base: JSONDict = {
            "id": f"chatcmpl-fault{uuid.uuid4().hex[:20]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model + MODEL_SUFFIX,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

        def chunk(delta: JSONDict, finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            extra = {"usage": None} if self.include_usage else {}
            return _sse({**base, "choices": [choice], **extra})

        tail = [chunk({}, "stop")]
        if self.include_usage:
            tail.append(_sse({**base, "choices": [], "usage": usage()}))
        tail.append(_sse("[DONE]"))
        return faults.StreamParts(
            head=[chunk({"role": "assistant", "content": ""})],
            content=[chunk({"content": piece}) for piece in pieces],
            tail=tail,
        )

    def stream_error(self, message: str) -> bytes:
        error = {"message": message, "type": "server_error", "param": None, "code": None}
        return _sse({"error": error})


class _EmbeddingsFaultDialect(_FaultDialect):
    """Faults on /v1/embeddings: the same envelopes, an embeddings body for the success forms."""

    def __init__(self, model: str) -> None:
        super().__init__(model, stream=False, include_usage=False)

    def body(self, text: str) -> bytes:
        return json.dumps(
            embeddings_answer(self.model, [text], EMBEDDING_DIMENSIONS, "float")
        ).encode()


class FakeOpenAIUpstream(ValidatingFakeUpstream):
    default_api_key = "upstream-secret-credential"
    label = "OpenAI"
    base_path = "/v1"

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__(api_key)
        # The responses created with ``store`` not false, for ``previous_response_id``.
        self.responses_store = openai_responses.ResponsesStore()
        self.moderation_delay = 0.0  # seconds /v1/moderations waits before answering

    def reset(self) -> None:
        with self._cond:
            super().reset()
            self.responses_store.clear()
            self.moderation_delay = 0.0

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._chat_completions)
        router.add_post("/v1/embeddings", self._embeddings)
        router.add_post("/v1/moderations", self._moderations)
        router.add_post("/v1/responses", self._responses)
        router.add_get("/v1/responses/{response_id}", self._retrieve_response)
        router.add_get("/v1/models", self._models)

    def _authenticate(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error_response(
                401, "Incorrect API key provided", "invalid_request_error", code="invalid_api_key"
            )
        return None

    @staticmethod
    def _canned_error(request: web.Request, model: str) -> web.Response | None:
        """The answer of the error models (``fake-error-*``, leaky, malformed), else None."""
        if model in _ERRORS:
            status, message, type_, param, code, headers = _ERRORS[model]
            return _error_response(status, message, type_, param=param, code=code, headers=headers)
        if model == "fake-leaky-error":
            received = request.headers.get("Authorization", "")
            return _error_response(
                401,
                f"Incorrect API key provided: {received}",
                "invalid_request_error",
                code="invalid_api_key",
            )
        if model == "fake-malformed":
            return web.Response(status=200, body=b"{not json", content_type="application/json")
        return None

    def _reject_responses(
        self, invalid: openai_responses.RequestInvalid, model: str
    ) -> web.Response:
        """A Responses request the real API refuses: recorded, then its error envelope."""
        self._reject(invalid.message, model)
        return _error_response(
            invalid.status,
            invalid.message,
            "invalid_request_error",
            param=invalid.param,
            code=invalid.code,
        )

    # ------------------------------------------------------------------ routes

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await openai_responses.serve(self, request)

    async def _retrieve_response(self, request: web.Request) -> web.Response:
        return await openai_responses.retrieve(self, request)

    async def _models(self, request: web.Request) -> web.Response:
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake-upstream"}
            for m in MODELS
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error_response(
                400, "The request body must be a JSON object with a model.", "invalid_request_error"
            )
        model: str = body["model"]
        stream = body.get("stream") is True
        include_usage = stream and bool((body.get("stream_options") or {}).get("include_usage"))

        fault = request[FAULT]
        if fault:
            dialect = _FaultDialect(model, stream, include_usage)
            return await faults.serve(self, request, fault, dialect)
        canned = self._canned_error(request, model)
        if canned is not None:
            return canned
        for name in ("user", "safety_identifier"):
            # safety_identifier: maxLength 64 in the OpenAPI spec; the API holds the
            # deprecated `user` to the same 64 characters.
            value = body.get(name)
            if isinstance(value, str) and len(value) > USER_MAX_LENGTH:
                self._reject(f"{name} too long", model)
                return _error_response(
                    400,
                    f"Invalid '{name}': string too long. Expected a string with maximum "
                    f"length {USER_MAX_LENGTH}, but got a string with length {len(value)} "
                    "instead.",
                    "invalid_request_error",
                    param=name,
                    code="string_above_max_length",
                )
        search = body.get("web_search_options")
        if search is not None and not isinstance(search, dict):
            return _error_response(
                400,
                "Invalid type for 'web_search_options': expected an object.",
                "invalid_request_error",
                param="web_search_options",
                code="invalid_type",
            )
        # fake-hang: wait before sending anything; after 30 s it answers like fake-chat.
        if model == "fake-hang" and await self._wait_unless_gone(request, LONG_WAIT):
            self._event("request_aborted", model)
            return web.Response(status=499)  # nobody is listening any more
        if model == "fake-slow-stream":
            words = " ".join(f"tick{k}" for k in range(SLOW_STREAM_CHUNKS))
            events = self._stream_events(model, [_Choice(words, "stop")], include_usage)
            return await self._send_stream(request, model, events, delay=SLOW_STREAM_DELAY)
        if model in ("fake-stall-midstream", "fake-drop-midstream"):
            events = self._stream_events(model, _plan_choices(body), include_usage)[:2]
            then = "stall" if model == "fake-stall-midstream" else "drop"
            return await self._send_stream(
                request, model, events, delay=self.chunk_delay, then=then
            )

        choices = _plan_choices(body)
        if stream:
            events = self._stream_events(model, choices, include_usage)
            return await self._send_stream(request, model, events, delay=self.chunk_delay)
        return web.json_response(self._completion(model, choices))

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error_response(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        inputs, message = embedding_inputs(body)
        if inputs is None:
            return _error_response(400, str(message), "invalid_request_error")
        bad_option = _embedding_options_error(body)
        if bad_option is not None:
            param, message = bad_option
            return _error_response(
                400, message, "invalid_request_error", param=param, code="invalid_value"
            )
        model: str = body["model"]
        if request[FAULT]:
            return await faults.serve(self, request, request[FAULT], _EmbeddingsFaultDialect(model))
        canned = self._canned_error(request, model)
        if canned is not None:
            return canned
        if model == "fake-hang" and await self._wait_unless_gone(request, LONG_WAIT):
            self._event("request_aborted", model)
            return web.Response(status=499)
        size = body.get("dimensions") or EMBEDDING_DIMENSIONS
        encoding = body.get("encoding_format") or "float"
        return web.json_response(embeddings_answer(model, inputs, size, encoding))

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        """OpenAI's moderation endpoint: text containing MODERATION_TRIGGER is flagged for
        violence; `moderation_delay` seconds pass before any answer."""
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error_response(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        texts = moderation_texts(body.get("input"))
        if texts is None:
            return _error_response(
                400, "'input' must be a string or an array", "invalid_request_error", param="input"
            )
        if self.moderation_delay:
            await asyncio.sleep(self.moderation_delay)
        model = body.get("model") or "omni-moderation-latest"
        results = []
        for text in texts:
            hit = MODERATION_TRIGGER in text
            scores = {
                c: (0.97 if hit and c == "violence" else 0.001) for c in MODERATION_CATEGORIES
            }
            results.append(
                {
                    "flagged": hit,
                    "categories": {c: scores[c] > 0.5 for c in MODERATION_CATEGORIES},
                    "category_scores": scores,
                    "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES},
                }
            )
        return web.json_response(
            {"id": f"modr-{uuid.uuid4().hex[:20]}", "model": model, "results": results}
        )

    # ------------------------------------------------------------------ payloads

    @staticmethod
    def _completion(model: str, choices: list[_Choice]) -> JSONDict:
        out_choices = []
        for i, choice in enumerate(choices):
            message: JSONDict = {"role": "assistant", "content": choice.content, "refusal": None}
            if choice.tool_calls:
                message["tool_calls"] = choice.tool_calls
            if choice.annotations:
                message["annotations"] = choice.annotations
            out_choices.append(
                {
                    "index": i,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": choice.finish_reason,
                }
            )
        return {
            "id": f"chatcmpl-fake{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model + MODEL_SUFFIX,
            "choices": out_choices,
            "usage": usage(),
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    @staticmethod
    def _stream_events(model: str, choices: list[_Choice], include_usage: bool) -> list[bytes]:
        base: JSONDict = {
            "id": f"chatcmpl-fake{uuid.uuid4().hex[:24]}",  # same id/created in every chunk
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model + MODEL_SUFFIX,
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }
        per_choice = [
            [(i, delta, finish) for delta, finish in _choice_deltas(choice)]
            for i, choice in enumerate(choices)
        ]
        events: list[bytes] = []
        # Interleave choices round-robin, the way n>1 streams arrive from OpenAI.
        for round_ in itertools.zip_longest(*per_choice):
            for item in round_:
                if item is None:
                    continue
                index, delta, finish = item
                chunk = {
                    **base,
                    "choices": [
                        {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
                    ],
                }
                if include_usage:
                    chunk["usage"] = None
                events.append(_sse(chunk))
        if include_usage:
            events.append(_sse({**base, "choices": [], "usage": usage()}))
        events.append(_sse("[DONE]"))
        return events

    # ------------------------------------------------------------------ streaming

    async def _send_stream(
        self,
        request: web.Request,
        model: str,
        events: list[bytes],
        *,
        delay: float,
        then: str | None = None,
    ) -> web.StreamResponse:
        """Write each SSE event separately; ``then`` is "stall" or "drop" after the last one."""
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        if not await self._write_events(request, resp, model, events, delay=delay):
            return resp
        if then == "drop":
            if request.transport is not None:
                request.transport.abort()  # RST, no terminating chunk, no [DONE]
            self._event("stream_dropped", model)
            return resp
        if then == "stall" and await self._wait_unless_gone(request, LONG_WAIT):
            self._event("stream_aborted", model)
            return resp
        await self._complete_stream(resp, model)
        return resp

    @staticmethod
    async def _wait_unless_gone(request: web.Request, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True early if the client disconnects meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if client_gone(request):
                return True
            await asyncio.sleep(0.05)
        return client_gone(request)
