"""Stream translation both ways, as two small state machines fed a piece at a time.

Client surface: `MessagesStreamEncoder` turns canonical chat chunks into the named SSE events
an Anthropic client reads. Upstream kind: `AnthropicStreamDecoder` turns an Anthropic
upstream's SSE events into canonical chunks.
"""

import time
from typing import Any

import orjson

from ..canonical import StreamError
from ..common import dumps
from ..errors import malformed_event
from ..sse import data_lines
from .response import _anthropic_usage, _finish_reason, _stop_reason, usage_to_canonical
from .search import (
    annotation_citation,
    canonical_searches,
    citation_annotation,
    cited_sources,
    is_search_call,
    reported_searches,
    search_blocks,
    server_tool_usage,
)
from .shared import _count, _new_id


def _event(type_: str, payload: dict) -> bytes:
    return b"event: " + type_.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


# === Anthropic Messages as the client surface ================================================


class MessagesStreamEncoder:
    """Canonical chat chunks -> Anthropic's named SSE events (reference §7.4 B).

    One content block is open at a time; block indexes count up across block types; a delta
    always matches the type of the open block. message_delta is held back until `finish()`,
    after the usage chunk, so it can carry real cumulative counts.

    Web search: `delta.annotations` become citations_delta events on the open text block,
    and searches in the usage (x_orca_tool_calls.web_search) a server_tool_use +
    web_search_tool_result pair after the content plus usage.server_tool_use."""

    def __init__(self, *, model: str, message_id: str | None = None) -> None:
        self.model = model
        self.message_id = message_id or _new_id("msg_")
        self._started = False
        self._finished = False
        self._next_index = 0
        self._open: str | None = None  # "thinking" | "text" | "tool_use"
        self._open_tool: int | None = None  # canonical tool index of the open tool_use block
        self._tools_seen: set[int] = set()
        self._finish_reason: str | None = None
        self._stop_sequence: str | None = None
        self._usage: dict | None = None
        self._deltas = 0
        self._texts: list[str] = []  # the content so far, for the cited spans
        self._annotations: list[dict] = []

    def start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return _event("message_start", {"type": "message_start", "message": message}) + self.ping()

    def ping(self) -> bytes:
        return _event("ping", {"type": "ping"})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index = self._next_index - 1
        self._open = None
        self._open_tool = None
        return _event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _open_block(self, kind: str, block: dict) -> bytes:
        out = self._close()
        index = self._next_index
        self._next_index += 1
        self._open = kind
        payload = {"type": "content_block_start", "index": index, "content_block": block}
        return out + _event("content_block_start", payload)

    def _delta(self, delta: dict) -> bytes:
        self._deltas += 1
        payload = {"type": "content_block_delta", "index": self._next_index - 1, "delta": delta}
        return _event("content_block_delta", payload)

    def _thinking(self, text: str) -> bytes:
        out = b""
        if self._open != "thinking":
            out = self._open_block(
                "thinking", {"type": "thinking", "thinking": "", "signature": ""}
            )
        return out + self._delta({"type": "thinking_delta", "thinking": text})

    def _text(self, text: str) -> bytes:
        out = b""
        if self._open != "text":
            out = self._open_block("text", {"type": "text", "text": ""})
        self._texts.append(text)
        return out + self._delta({"type": "text_delta", "text": text})

    def _citations(self, annotations: list) -> bytes:
        """Chat annotations as citations_delta events on the open text block (a new empty
        one when none is open: the text they cite has gone out already)."""
        text = "".join(self._texts)
        out = b""
        for annotation in annotations:
            citation = annotation_citation(annotation, text)
            if citation is None:
                continue
            self._annotations.append(annotation)
            if self._open != "text":
                out += self._open_block("text", {"type": "text", "text": ""})
            out += self._delta({"type": "citations_delta", "citation": citation})
        return out

    def _search_blocks(self) -> bytes:
        """The server_tool_use + web_search_tool_result pair standing for the searches the
        usage reports; it comes after the content, known only once the usage arrived."""
        out = b""
        for block in search_blocks(cited_sources(self._annotations)):
            out += self._open_block(block["type"], block) + self._close()
        return out

    def _tool(self, call: dict) -> bytes:
        index = call.get("index", 0)
        function = call.get("function") or {}
        out = b""
        if not (self._open == "tool_use" and self._open_tool == index):
            if index in self._tools_seen:
                # A fragment for a call whose block is already closed cannot be delivered.
                return b""
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or _new_id("toolu_"),
                "name": function.get("name") or "",
                "input": {},
            }
            out = self._open_block("tool_use", block)
            self._open_tool = index
            self._tools_seen.add(index)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            out += self._delta({"type": "input_json_delta", "partial_json": arguments})
        return out

    def feed(self, chunk: dict) -> bytes:
        if self._finished:
            return b""
        out = [self.start()]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out.append(self._thinking(reasoning))
            signature = delta.get("thinking_signature")
            if isinstance(signature, str) and signature and self._open == "thinking":
                out.append(self._delta({"type": "signature_delta", "signature": signature}))
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                out.append(self._text(text))
            annotations = delta.get("annotations")
            if isinstance(annotations, list) and annotations:
                out.append(self._citations(annotations))
            for call in delta.get("tool_calls") or ():
                if isinstance(call, dict):
                    out.append(self._tool(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
                if isinstance(choice.get("stop_sequence"), str):
                    self._stop_sequence = choice["stop_sequence"]
                out.append(self._close())
        return b"".join(out)

    def finish(self) -> bytes:
        if self._finished:
            return b""
        out = [self.start(), self._close()]
        self._finished = True
        stop_reason = _stop_reason(self._finish_reason, self._stop_sequence, bool(self._tools_seen))
        usage: dict[str, Any]
        if self._usage is not None:
            usage = _anthropic_usage(self._usage)
            searches = canonical_searches(self._usage)
            if searches:
                out.append(self._search_blocks())
                usage["server_tool_use"] = server_tool_usage(searches)
        else:
            usage = {"output_tokens": self._deltas}  # nothing reported: a rough estimate only
        delta = {
            "stop_reason": stop_reason,
            "stop_sequence": self._stop_sequence if stop_reason == "stop_sequence" else None,
        }
        out.append(
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, message: str, type_: str = "api_error") -> bytes:
        self._finished = True
        payload = {"type": "error", "error": {"type": type_, "message": message}}
        return _event("error", payload)


# === Anthropic as the upstream kind ==========================================================

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


class AnthropicStreamDecoder:
    """Anthropic's SSE events -> canonical chunks (reference §7.4 A).

    Tool calls get their own counter, separate from block indexes. Usage is the maximum, field
    by field, of what message_start and message_delta reported (both are cumulative).

    Web search: server_tool_use / web_search_tool_result blocks are no content; a text
    block's citations (in its start, or citations_delta events) become one annotations delta
    over the block's span when it closes; the searches (usage.server_tool_use, else the
    web_search server_tool_use blocks counted) go in the usage chunk's x_orca_tool_calls."""

    def __init__(self) -> None:
        self.done = False
        self._id = _new_id("msg_")
        self._model = ""
        self._created = int(time.time())
        self._started = False
        self._finished = False
        self._usage: dict[str, int] = dict.fromkeys(_USAGE_FIELDS, 0)
        self._thinking_tokens = 0
        # keyed by the upstream event's `index`, as sent (JSON, not checked to be an int)
        self._blocks: dict[Any, dict[str, Any]] = {}
        self._tools = 0
        self._text_length = 0  # of the content so far: where a cited block starts
        self._searches = 0  # web_search server_tool_use blocks seen
        self._reported_searches: int | None = None  # usage.server_tool_use.web_search_requests

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    def _remember_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        for name in _USAGE_FIELDS:
            self._usage[name] = max(self._usage[name], _count(usage.get(name)))
        details = usage.get("output_tokens_details") or {}
        self._thinking_tokens = max(self._thinking_tokens, _count(details.get("thinking_tokens")))
        reported = reported_searches(usage)
        if reported is not None:
            self._reported_searches = max(self._reported_searches or 0, reported)

    def _start(self, out: list[dict]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _usage_chunk(self) -> dict:
        reported: dict[str, Any] = {
            **self._usage,
            "output_tokens_details": {"thinking_tokens": self._thinking_tokens},
        }
        if self._reported_searches is not None:
            reported["server_tool_use"] = {"web_search_requests": self._reported_searches}
        usage = usage_to_canonical(reported, self._searches)
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "usage": usage,
        }

    def feed(self, event: bytes) -> list[dict]:
        payload = b"\n".join(data_lines(event))
        if not payload.strip():
            return []
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise malformed_event() from None
        if not isinstance(data, dict):
            raise malformed_event()
        kind = data.get("type")
        out: list[dict] = []
        if kind == "message_start":
            message = data.get("message") or {}
            if isinstance(message.get("id"), str) and message["id"]:
                self._id = message["id"]
            if isinstance(message.get("model"), str):
                self._model = message["model"]
            self._remember_usage(message.get("usage"))
            self._start(out)
        elif kind == "content_block_start":
            self._start(out)
            self._block_start(data, out)
        elif kind == "content_block_delta":
            self._start(out)
            self._block_delta(data, out)
        elif kind == "content_block_stop":
            block = self._blocks.get(data.get("index"))
            if block and block["kind"] == "text" and block["citations"]:
                cited = self._annotations(block)
                if cited is not None:
                    out.append(cited)
            if block and block["kind"] == "tool_use" and not block["has_input"]:
                block["has_input"] = True
                call = {"index": block["tool"], "function": {"arguments": "{}"}}
                out.append(self._chunk({"tool_calls": [call]}))
        elif kind == "message_delta":
            self._remember_usage(data.get("usage"))
            delta = data.get("delta") or {}
            if not self._finished:
                self._start(out)
                self._finished = True
                chunk = self._chunk({}, _finish_reason(delta.get("stop_reason")))
                if isinstance(delta.get("stop_sequence"), str):
                    chunk["choices"][0]["stop_sequence"] = delta["stop_sequence"]
                out.append(chunk)
        elif kind == "message_stop":
            out.extend(self._end())
        elif kind == "error":
            error = given_error if isinstance(given_error := data.get("error"), dict) else {}
            raise StreamError(
                error.get("message") or "upstream stream error", error.get("type") or "api_error"
            )
        # ping and unknown event types carry nothing for the canonical stream
        return out

    def _block_start(self, data: dict, out: list[dict]) -> None:
        block = data.get("content_block") or {}
        kind = block.get("type")
        state: dict[str, Any] = {"kind": kind}
        self._blocks[data.get("index")] = state
        if kind == "text":
            state["start"] = self._text_length
            citations = block.get("citations")
            state["citations"] = list(citations) if isinstance(citations, list) else []
            if isinstance(block.get("text"), str) and block["text"]:
                self._text_length += len(block["text"])
                out.append(self._chunk({"content": block["text"]}))
        elif is_search_call(block):
            self._searches += 1
        elif kind == "thinking" and block.get("thinking"):
            out.append(self._chunk({"reasoning_content": block["thinking"]}))
        elif kind == "tool_use":
            state["tool"] = self._tools
            state["has_input"] = False
            self._tools += 1
            call = {
                "index": state["tool"],
                "id": block.get("id") or _new_id("toolu_"),
                "type": "function",
                "function": {"name": block.get("name") or "", "arguments": ""},
            }
            out.append(self._chunk({"tool_calls": [call]}))
            if isinstance(block.get("input"), dict) and block["input"]:
                state["has_input"] = True
                fragment = {
                    "index": state["tool"],
                    "function": {"arguments": dumps(block["input"])},
                }
                out.append(self._chunk({"tool_calls": [fragment]}))

    def _block_delta(self, data: dict, out: list[dict]) -> None:
        state = self._blocks.get(data.get("index")) or {}
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            self._text_length += len(delta["text"])
            out.append(self._chunk({"content": delta["text"]}))
        elif kind == "citations_delta" and state.get("kind") == "text":
            state["citations"].append(delta.get("citation"))
        elif kind == "thinking_delta" and delta.get("thinking"):
            out.append(self._chunk({"reasoning_content": delta["thinking"]}))
        elif kind == "signature_delta" and delta.get("signature"):
            out.append(self._chunk({"thinking_signature": delta["signature"]}))
        elif kind == "input_json_delta" and state.get("kind") == "tool_use":
            fragment = delta.get("partial_json")
            if isinstance(fragment, str) and fragment:
                state["has_input"] = True
                call = {"index": state["tool"], "function": {"arguments": fragment}}
                out.append(self._chunk({"tool_calls": [call]}))

    def _annotations(self, state: dict) -> dict | None:
        """The citations of a text block that just closed, as one annotations delta over the
        block's span of the content."""
        annotations = [
            annotation
            for citation in state["citations"]
            if (annotation := citation_annotation(citation, state["start"], self._text_length))
        ]
        state["citations"] = []
        return self._chunk({"annotations": annotations}) if annotations else None

    def _end(self) -> list[dict]:
        if self.done:
            return []
        out: list[dict] = []
        self._start(out)
        if not self._finished:
            self._finished = True
            out.append(self._chunk({}, "tool_calls" if self._tools else "stop"))
        out.append(self._usage_chunk())
        self.done = True
        return out

    def finish(self) -> list[dict]:
        """The upstream closed the stream. If message_delta already arrived the answer is whole
        and only message_stop went missing; otherwise the stream stays not done."""
        if self.done or not self._finished:
            return []
        return self._end()
