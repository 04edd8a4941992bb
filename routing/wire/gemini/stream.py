"""Stream translation both ways. GenerateStreamEncoder renders canonical chat chunks as the
Gemini SSE events a client of streamGenerateContent?alt=sse reads; GeminiStreamDecoder reads
an upstream's stream back into canonical chunks, accepting both SSE and the JSON-array form
that streamGenerateContent sends without alt=sse (see _event_payloads).

Usage, finish-reason and error shapes come from response.py, so a stream and a whole response
agree.
"""

import time
from typing import Any

import orjson

from ..canonical import StreamError
from ..common import parse_object
from ..errors import malformed_event
from ..sse import data_lines, encode_data
from .grounding import add_search_usage, grounding_annotations, grounding_metadata, search_count
from .response import (
    _FINISH_TO_GEMINI,
    _chat_finish,
    _chat_id,
    _chat_usage,
    _function_call_part,
    _usage_metadata,
    error_envelope,
)
from .shared import _answer_tool_call, _code_text, _get

# Gemini status -> the error type vocabulary of the other decoders.
_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "UNAVAILABLE": "overloaded_error",
    "DEADLINE_EXCEEDED": "timeout_error",
}


# --------------------------------------------------------------------------------------------
# client surface: canonical chat chunks -> Gemini stream events


class _PendingCall:
    __slots__ = ("arguments", "emitted", "extra", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name = ""
        self.arguments: list[str] = []
        self.extra: Any = None
        self.emitted = False

    def part(self) -> dict:
        self.emitted = True
        call: dict[str, Any] = {
            "id": self.id,
            "function": {"name": self.name, "arguments": "".join(self.arguments)},
        }
        if self.extra is not None:
            call["extra_content"] = self.extra
        return _function_call_part(call)


class GenerateStreamEncoder:
    """Canonical chat chunks -> Gemini SSE events (`data: {GenerateContentResponse}`).

    Text and reasoning go out as they come. Tool-call fragments are buffered per index and
    sent as one functionCall part once the arguments form a complete JSON object (or at the
    finish, whatever they hold). The last event carries finishReason and usageMetadata."""

    def __init__(self, *, model: str, include_thoughts: bool = True) -> None:
        self._model = model
        self._include_thoughts = include_thoughts
        self._response_id: str | None = None
        self._calls: dict[int, dict[int, _PendingCall]] = {}
        self._finish: dict[int, Any] = {}
        self._choices: list[int] = []
        self._usage: Any = None
        self._closed = False
        self._texts: dict[int, list[str]] = {}  # content sent, for grounding offsets
        self._annotations: dict[int, list[dict]] = {}

    def start(self) -> bytes:
        return b""

    def _event(self, candidates: list[dict], usage: Any = None) -> bytes:
        body: dict[str, Any] = {"candidates": candidates}
        if usage is not None:
            body["usageMetadata"] = _usage_metadata(usage)
        body["modelVersion"] = self._model
        body["responseId"] = self._response_id or ""
        return encode_data(orjson.dumps(body))

    def _flush_calls(self, index: int) -> list[dict]:
        pending = self._calls.get(index) or {}
        return [pending[k].part() for k in sorted(pending) if not pending[k].emitted]

    def feed(self, chunk: dict) -> bytes:
        if self._closed or not isinstance(chunk, dict):
            return b""
        if self._response_id is None and chunk.get("id"):
            self._response_id = str(chunk["id"])
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        out = []
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0)
            if index not in self._choices:
                self._choices.append(index)
            delta = choice.get("delta") or {}
            parts: list[dict] = []
            reasoning = delta.get("reasoning_content")
            if self._include_thoughts and isinstance(reasoning, str) and reasoning:
                parts.append({"text": reasoning, "thought": True})
            content = delta.get("content")
            if isinstance(content, str) and content:
                parts.append({"text": content})
                self._texts.setdefault(index, []).append(content)
            annotations = delta.get("annotations")
            if isinstance(annotations, list):
                self._annotations.setdefault(index, []).extend(annotations)
            for fragment in delta.get("tool_calls") or []:
                parts.extend(self._tool_fragment(index, fragment))
            if choice.get("finish_reason"):
                self._finish[index] = choice["finish_reason"]
                parts.extend(self._flush_calls(index))
            if parts:
                out.append(
                    self._event([{"content": {"role": "model", "parts": parts}, "index": index}])
                )
        return b"".join(out)

    def _tool_fragment(self, index: int, fragment: dict) -> list[dict]:
        calls = self._calls.setdefault(index, {})
        position = fragment.get("index", 0)
        call = calls.get(position)
        if call is None:
            call = calls[position] = _PendingCall()
        if call.emitted:
            return []
        if fragment.get("id") and call.id is None:
            call.id = fragment["id"]
        function = fragment.get("function") or {}
        if function.get("name") and not call.name:
            call.name = function["name"]
        if fragment.get("extra_content") is not None:
            call.extra = fragment["extra_content"]
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            call.arguments.append(piece)
            # A JSON object cannot be extended into another one: once it parses, it is whole.
            if (
                call.name
                and piece.rstrip().endswith("}")
                and parse_object("".join(call.arguments)) is not None
            ):
                return [call.part()]
        return []

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        candidates = []
        for index in self._choices or [0]:
            parts = self._flush_calls(index)
            reason = self._finish.get(index, "stop")
            candidate: dict[str, Any] = {
                "content": {"role": "model", "parts": parts or [{"text": ""}]},
                "finishReason": _FINISH_TO_GEMINI.get(reason, "STOP"),
                "index": index,
            }
            # Gemini sends grounding on the last chunk, offsets over the whole streamed text.
            grounding = grounding_metadata(
                self._annotations.get(index), "".join(self._texts.get(index, ()))
            )
            if grounding is not None:
                candidate["groundingMetadata"] = grounding
            candidates.append(candidate)
        return self._event(candidates, self._usage if self._usage is not None else {})

    def error(self, status: int, message: str) -> bytes:
        self._closed = True
        return encode_data(orjson.dumps(error_envelope(status, message)))


# --------------------------------------------------------------------------------------------
# upstream kind: Gemini stream events -> canonical chunks


def _event_payloads(event: bytes) -> list[Any]:
    lines = list(data_lines(event))
    raw = b"\n".join(lines).strip() if lines else event.strip()
    if not lines:
        # Without alt=sse the body is a JSON array streamed element by element.
        raw = raw.lstrip(b"[,").rstrip(b"],").strip()
    if not raw or raw.startswith(b":"):
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed_event() from exc
    return value if isinstance(value, list) else [value]


class GeminiStreamDecoder:
    """Gemini SSE events (alt=sse) -> canonical chat.completion.chunk dicts (state machine C)."""

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.done = False
        self._id: str | None = None
        self._created = int(time.time())
        self._started: list[int] = []
        self._tool_count: dict[int, int] = {}
        self._finished: set[int] = set()
        self._usage: Any = None
        self._closed = False
        self._texts: dict[int, list[str]] = {}  # content so far, for grounding offsets
        self._cited: dict[int, set[tuple]] = {}  # annotations already sent
        self._searches: dict[int, int] = {}

    def _chunk(self, choices: list[dict]) -> dict:
        return {
            "id": self._id or _chat_id(None),
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": choices,
        }

    def _delta(self, index: int, delta: dict, finish_reason: str | None = None) -> dict:
        if index not in self._started:
            self._started.append(index)
            delta = {"role": "assistant", **delta}
            if "content" not in delta and "reasoning_content" not in delta:
                delta["content"] = "" if "tool_calls" not in delta else None
        return self._chunk([{"index": index, "delta": delta, "finish_reason": finish_reason}])

    def feed(self, event: bytes) -> list[dict]:
        out: list[dict] = []
        for payload in _event_payloads(event):
            if not isinstance(payload, dict):
                raise malformed_event()
            error = payload.get("error")
            if error is not None:
                if isinstance(error, dict):
                    message = str(error.get("message") or "upstream error")
                    type_ = _ERROR_TYPES.get(str(error.get("status")), "api_error")
                else:
                    message, type_ = str(error), "api_error"
                raise StreamError(message, type_)
            if self._id is None:
                self._id = _chat_id(_get(payload, "responseId"))
            meta = _get(payload, "usageMetadata")
            if isinstance(meta, dict):
                self._usage = meta
            candidates = payload.get("candidates") or []
            for position, candidate in enumerate(candidates):
                out.extend(self._candidate(candidate, position))
            blocked = _get(_get(payload, "promptFeedback"), "blockReason")
            if not candidates and blocked and 0 not in self._finished:
                self._finished.add(0)
                self.done = True
                out.append(self._delta(0, {}, "content_filter"))
        return out

    def _candidate(self, candidate: dict, position: int) -> list[dict]:
        index = candidate.get("index", position)
        if index in self._finished:
            return self._grounding(index, candidate)
        out = []
        texts = self._texts.setdefault(index, [])
        for part in _get(candidate.get("content"), "parts") or []:
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str):
                if text:
                    thought = part.get("thought") is True
                    if not thought:
                        texts.append(text)
                    key = "reasoning_content" if thought else "content"
                    out.append(self._delta(index, {key: text}))
                continue
            call = _get(part, "functionCall")
            if isinstance(call, dict):
                number = self._tool_count.get(index, 0)
                self._tool_count[index] = number + 1
                out.append(
                    self._delta(index, {"tool_calls": [_answer_tool_call(call, part, number)]})
                )
                continue
            code = _code_text(part)
            if code is not None:
                texts.append(code)
                out.append(self._delta(index, {"content": code}))
        out.extend(self._grounding(index, candidate))
        reason = _get(candidate, "finishReason")
        if reason:
            self._finished.add(index)
            self.done = True
            out.append(self._delta(index, {}, _chat_finish(reason, index in self._tool_count)))
        return out

    def _grounding(self, index: int, candidate: dict) -> list[dict]:
        """A candidate's groundingMetadata (usually on the last chunk, possibly repeated) ->
        a delta with the annotations not sent yet; its searches are counted once."""
        meta = _get(candidate, "groundingMetadata")
        if not isinstance(meta, dict):
            return []
        self._searches[index] = max(self._searches.get(index, 0), search_count(meta))
        cited = self._cited.setdefault(index, set())
        fresh = []
        for annotation in grounding_annotations(meta, "".join(self._texts.get(index, ()))):
            citation = annotation["url_citation"]
            key = (citation["url"], citation["start_index"], citation["end_index"])
            if key not in cited:
                cited.add(key)
                fresh.append(annotation)
        return [self._delta(index, {"annotations": fresh})] if fresh else []

    def finish(self) -> list[dict]:
        if self._closed:
            return []
        self._closed = True
        out = [
            self._delta(index, {}, _chat_finish("STOP", index in self._tool_count))
            for index in self._started or [0]
            if index not in self._finished
        ]
        usage_chunk = self._chunk([])
        usage_chunk["usage"] = add_search_usage(
            _chat_usage(self._usage), sum(self._searches.values())
        )
        out.append(usage_chunk)
        return out
