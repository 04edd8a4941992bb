"""A Responses-kind upstream's answer as canonical chat: responses_to_chat_response() reads a
Response object, ResponsesStreamDecoder its event stream. (The request side is upstream.py.)

The stream decoder gets one whole SSE event per feed() (`event: <type>` and `data: <json>`
lines) and emits, as OpenAI chat streams do: a role chunk (at response.created, or before the
first delta if that never came), content / reasoning_content / refusal / annotations deltas,
tool calls (the first delta of each carrying index, id, type, name and "" arguments; indexes
0, 1, ... in the order the calls appear), and at response.completed / response.incomplete the
finish chunk and the usage-only chunk (`choices: []`). response.failed and `error` events raise
StreamError; an event that is not a JSON object raises malformed_event(). Unknown event types
are ignored: new ones appear often. A text, summary or argument that never got a delta (a
server sending only the `.done` events) is taken from the `.done` event, never doubled.

Reasoning: summary texts (else, for an item without a summary, its raw reasoning text) become
`reasoning_content`, parts joined by a blank line. Hosted tool calls (web_search_call, ...)
are counted per tool under the canonical extension `x_orca_tool_calls`, inside `usage` of the
completion and of the usage-only chunk (where the meters read units from).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from ..common import assistant_message, is_number
from ..errors import StreamError, malformed_event
from ..sse import data_lines
from .tools import CALL_ITEMS

HOSTED_TOOLS_KEY = "x_orca_tool_calls"  # listed in canonical.EXTENSION_FIELDS
# calls the client runs (and bills nothing apart): never counted as hosted
CLIENT_CALL_ITEMS = CALL_ITEMS | {"computer_call"}


# --- Response object -> canonical chat.completion --------------------------------------------


def _tokens(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return min(max(int(value), 0), 2**31 - 1)


def chat_usage(usage: Any) -> dict[str, Any]:
    """Responses usage as canonical usage (zeros for what the upstream left out)."""
    usage = usage if isinstance(usage, dict) else {}
    given_in, given_out = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    in_details = given_in if isinstance(given_in, dict) else {}
    out_details = given_out if isinstance(given_out, dict) else {}
    prompt, completion = _tokens(usage.get("input_tokens")), _tokens(usage.get("output_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": _tokens(in_details.get("cached_tokens")),
            "cache_write_tokens": _tokens(in_details.get("cache_write_tokens")),
        },
        "completion_tokens_details": {
            "reasoning_tokens": _tokens(out_details.get("reasoning_tokens"))
        },
    }


def finish_reason(response: dict, has_calls: bool) -> str:
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        # max_output_tokens (or "max_tokens", as some servers say): truncated either way
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def hosted_tool(item_type: Any) -> str | None:
    """The hosted tool an output item's type names (web_search_call -> web_search), or None
    for the calls the client runs (function, custom, shell, apply_patch, computer) and
    everything that is not a call."""
    if not isinstance(item_type, str) or not item_type.endswith("_call"):
        return None
    return None if item_type in CLIENT_CALL_ITEMS else item_type.removesuffix("_call")


def count_hosted(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items if isinstance(items, list) else ():
        tool = hosted_tool(item.get("type")) if isinstance(item, dict) else None
        if tool is not None:
            counts[tool] = counts.get(tool, 0) + 1
    return counts


def url_citation(annotation: Any, offset: int) -> dict | None:
    """A Responses url_citation as chat's, its indexes moved by `offset` (the length of the
    text before its part); other annotation kinds have no chat form."""
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    citation: dict[str, Any] = {
        "url": annotation.get("url") or "",
        "title": annotation.get("title") or "",
    }
    for name in ("start_index", "end_index"):
        citation[name] = _tokens(annotation.get(name)) + offset
    return {"type": "url_citation", "url_citation": citation}


def _reasoning_texts(item: dict) -> list[str]:
    """A reasoning item's summary texts, or its raw reasoning text when it has no summary."""
    for field, kind in (("summary", "summary_text"), ("content", "reasoning_text")):
        texts = [
            part["text"]
            for part in item.get(field) or ()
            if isinstance(part, dict)
            and part.get("type") == kind
            and isinstance(part.get("text"), str)
            and part["text"]
        ]
        if texts:
            return texts
    return []


def _failure_message(data: dict) -> str:
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "the upstream response failed"


def responses_to_chat_response(data: object, model: str) -> dict:
    """A Response object as a canonical chat.completion (ValueError if it is malformed, failed
    or not finished)."""
    if not isinstance(data, dict):
        raise ValueError("the upstream Response is not a JSON object")
    status = data.get("status")
    if status == "failed" or (status is None and data.get("error")):
        raise ValueError(_failure_message(data))
    if status not in (None, "completed", "incomplete"):
        raise ValueError(f"the upstream Response is not finished (status {status!r})")
    output = data.get("output")
    if not isinstance(output, list):
        raise ValueError("the upstream Response has no `output` list")
    texts: list[str] = []
    calls: list[dict] = []
    reasoning: list[str] = []
    annotations: list[dict] = []
    refusals: list[str] = []
    length = 0
    for item in output:
        if not isinstance(item, dict):
            raise ValueError("an upstream Response output item is not an object")
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    for annotation in part.get("annotations") or ():
                        if (citation := url_citation(annotation, length)) is not None:
                            annotations.append(citation)
                    texts.append(part["text"])
                    length += len(part["text"])
                elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                    refusals.append(part["refusal"])
        elif kind == "function_call":
            arguments = item.get("arguments")
            calls.append(
                {
                    "id": item.get("call_id") or item.get("id") or f"call_{len(calls)}",
                    "type": "function",
                    "function": {
                        "name": item.get("name") or "",
                        "arguments": arguments
                        if isinstance(arguments, str) and arguments
                        else "{}",
                    },
                }
            )
        elif kind == "reasoning":
            reasoning.extend(_reasoning_texts(item))
    message = assistant_message(texts, calls, ["\n\n".join(reasoning)] if reasoning else [])
    if refusals:
        message["refusal"] = "".join(refusals)
        if not texts:
            message["content"] = None
    if annotations:
        message["annotations"] = annotations
    created: Any = data.get("created_at")
    completion: dict[str, Any] = {
        "id": data.get("id") if isinstance(data.get("id"), str) else "",
        "object": "chat.completion",
        "created": int(created) if is_number(created) else int(time.time()),
        "model": model or (data.get("model") if isinstance(data.get("model"), str) else ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(data, bool(calls)),
            }
        ],
        "usage": chat_usage(data.get("usage")),
    }
    hosted = count_hosted(output)
    if hosted and isinstance(completion["usage"], dict):
        completion["usage"][HOSTED_TOOLS_KEY] = hosted  # metered as units (usage_from_object)
    return completion


# --- event stream -> canonical chat chunks ---------------------------------------------------

_TERMINAL = frozenset({"response.completed", "response.incomplete"})


def _event_name(event: bytes) -> str | None:
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip().decode("utf-8", "replace")
    return None


def _stream_error(error: Any, fallback_code: Any = None) -> StreamError:
    error = error if isinstance(error, dict) else {}
    message = error.get("message")
    type_ = error.get("type") if error.get("type") not in (None, "error") else None
    code = error.get("code") or fallback_code
    return StreamError(
        message if isinstance(message, str) and message else "upstream stream error",
        str(type_ or code or "api_error"),
    )


class ResponsesStreamDecoder:
    """Responses events in, canonical chat chunks out (StreamDecoder protocol)."""

    def __init__(self, model: str = "") -> None:
        self.done = False
        self._id = "resp_" + secrets.token_hex(12)
        self._model = model
        self._fixed_model = bool(model)
        self._created = int(time.time())
        self._started = False
        self._calls: dict[Any, int] = {}  # item id and ("out", output_index) -> tool index
        self._call_has_arguments: list[bool] = []
        self._hosted: dict[Any, str] = {}  # item id (else output index) -> hosted tool
        self._text_starts: dict[tuple, int] = {}  # (item_id, content_index) -> offset
        self._text_length = 0
        self._reasoning_keys: set[tuple] = set()
        self._summarised: set[Any] = set()  # reasoning items that sent summary text
        self._last_reasoning: tuple | None = None

    # --- chunks ---------------------------------------------------------------------------

    def _chunk(self, delta: dict, finish: str | None = None) -> dict:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def _start(self, out: list[dict]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _meta(self, response: Any) -> None:
        if not isinstance(response, dict):
            return
        if isinstance(response.get("id"), str) and response["id"]:
            self._id = response["id"]
        if not self._fixed_model and isinstance(response.get("model"), str):
            self._model = response["model"]
        if is_number(response.get("created_at")):
            self._created = int(response["created_at"])

    # --- feed -----------------------------------------------------------------------------

    def feed(self, event: bytes) -> list[dict]:
        payload = b"\n".join(data_lines(event)).strip()
        if not payload or payload == b"[DONE]":
            return []  # keep-alives; [DONE] is no terminal event here
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise malformed_event() from None
        if not isinstance(data, dict):
            raise malformed_event()
        kind = data.get("type") or _event_name(event)
        if self.done:
            return []
        if kind == "error":
            nested = data.get("error")
            raise _stream_error(nested if isinstance(nested, dict) else data)
        if kind == "response.failed":
            response = given if isinstance(given := data.get("response"), dict) else {}
            raise _stream_error(response.get("error"), "server_error")
        out: list[dict] = []
        if kind in ("response.created", "response.in_progress", "response.queued"):
            self._meta(data.get("response"))
            self._start(out)
        elif kind in _TERMINAL:
            self._terminal(data.get("response"), out)
        elif isinstance(kind, str) and kind.startswith("response.") and kind in _HANDLERS:
            self._start(out)
            _HANDLERS[kind](self, data, out)
        return out

    def finish(self) -> list[dict]:
        """The upstream closed the stream. Without a terminal event the answer is not whole,
        so nothing is made up and the stream stays not done."""
        return []

    # --- events ---------------------------------------------------------------------------

    def _text(self, data: dict, text: Any, out: list[dict]) -> None:
        key = (data.get("item_id"), data.get("content_index"))
        self._text_starts.setdefault(key, self._text_length)
        if isinstance(text, str) and text:
            self._text_length += len(text)
            out.append(self._chunk({"content": text}))

    def _text_delta(self, data: dict, out: list[dict]) -> None:
        self._text(data, data.get("delta"), out)

    def _text_done(self, data: dict, out: list[dict]) -> None:
        if (data.get("item_id"), data.get("content_index")) not in self._text_starts:
            self._text(data, data.get("text"), out)

    def _annotation(self, data: dict, out: list[dict]) -> None:
        key = (data.get("item_id"), data.get("content_index"))
        offset = self._text_starts.get(key, self._text_length)  # its part's place in content
        citation = url_citation(data.get("annotation"), offset)
        if citation is not None:
            out.append(self._chunk({"annotations": [citation]}))

    def _refusal(self, data: dict, out: list[dict]) -> None:
        if isinstance(data.get("delta"), str) and data["delta"]:
            out.append(self._chunk({"refusal": data["delta"]}))

    def _reasoning(self, key: tuple, text: Any, out: list[dict]) -> None:
        self._reasoning_keys.add(key)
        if not isinstance(text, str) or not text:
            return
        if self._last_reasoning is not None and self._last_reasoning != key:
            text = "\n\n" + text  # summary parts are paragraphs, as the non-stream joins them
        self._last_reasoning = key
        out.append(self._chunk({"reasoning_content": text}))

    def _summary_delta(self, data: dict, out: list[dict]) -> None:
        self._summarised.add(data.get("item_id"))
        key = ("summary", data.get("item_id"), data.get("summary_index"))
        self._reasoning(key, data.get("delta"), out)

    def _summary_done(self, data: dict, out: list[dict]) -> None:
        key = ("summary", data.get("item_id"), data.get("summary_index"))
        if key not in self._reasoning_keys:
            self._summarised.add(data.get("item_id"))
            self._reasoning(key, data.get("text"), out)

    def _reasoning_text(self, data: dict, out: list[dict], field: str) -> None:
        # raw reasoning text only stands in for a summary (the non-stream reads it the same way)
        if data.get("item_id") in self._summarised:
            return
        key = ("content", data.get("item_id"), data.get("content_index"))
        if field == "delta" or key not in self._reasoning_keys:
            self._reasoning(key, data.get(field), out)

    def _call_index(self, data: dict) -> int | None:
        index = self._calls.get(data.get("item_id"))
        return index if index is not None else self._calls.get(("out", data.get("output_index")))

    def _arguments(self, index: int, fragment: Any, out: list[dict]) -> None:
        if isinstance(fragment, str) and fragment:
            self._call_has_arguments[index] = True
            call = {"index": index, "function": {"arguments": fragment}}
            out.append(self._chunk({"tool_calls": [call]}))

    def _item(self, data: dict, out: list[dict], done: bool) -> None:
        item = given if isinstance(given := data.get("item"), dict) else {}
        keys = [("out", data.get("output_index"))]
        if isinstance(item.get("id"), str):
            keys.append(item["id"])
        tool = hosted_tool(item.get("type"))
        if tool is not None:
            self._hosted[keys[-1]] = tool  # one entry per item, added or done
            return
        if item.get("type") != "function_call":
            return
        index = next((self._calls[key] for key in keys if key in self._calls), None)
        if index is None:
            index = len(self._call_has_arguments)
            self._call_has_arguments.append(False)
            call = {
                "index": index,
                "id": item.get("call_id") or item.get("id") or f"call_{index}",
                "type": "function",
                "function": {"name": item.get("name") or "", "arguments": ""},
            }
            out.append(self._chunk({"tool_calls": [call]}))
        for key in keys:
            self._calls[key] = index
        if not self._call_has_arguments[index]:
            arguments = item.get("arguments")
            if done and not arguments:
                arguments = "{}"  # a call without arguments must still parse as JSON
            if done or arguments:
                self._arguments(index, arguments, out)

    def _item_added(self, data: dict, out: list[dict]) -> None:
        self._item(data, out, done=False)

    def _item_done(self, data: dict, out: list[dict]) -> None:
        self._item(data, out, done=True)

    def _arguments_delta(self, data: dict, out: list[dict]) -> None:
        index = self._call_index(data)
        if index is not None:
            self._arguments(index, data.get("delta"), out)

    def _arguments_done(self, data: dict, out: list[dict]) -> None:
        index = self._call_index(data)
        if index is not None and not self._call_has_arguments[index]:
            self._arguments(index, data.get("arguments"), out)

    def _terminal(self, response: Any, out: list[dict]) -> None:
        response = response if isinstance(response, dict) else {}
        self._meta(response)
        self._start(out)
        out.append(self._chunk({}, finish_reason(response, bool(self._call_has_arguments))))
        usage_chunk: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [],
            "usage": chat_usage(response.get("usage")),
        }
        output = response.get("output")
        hosted = count_hosted(output) if isinstance(output, list) and output else {}
        if not hosted:  # no output list in the terminal event: count the items streamed
            for tool in self._hosted.values():
                hosted[tool] = hosted.get(tool, 0) + 1
        if hosted and isinstance(usage_chunk.get("usage"), dict):
            usage_chunk["usage"][HOSTED_TOOLS_KEY] = hosted
        out.append(usage_chunk)
        self.done = True


_HANDLERS = {
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.output_text.annotation.added": ResponsesStreamDecoder._annotation,
    "response.refusal.delta": ResponsesStreamDecoder._refusal,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._summary_delta,
    "response.reasoning_summary_text.done": ResponsesStreamDecoder._summary_done,
    "response.reasoning_text.delta": lambda self, data, out: self._reasoning_text(
        data, out, "delta"
    ),
    "response.reasoning_text.done": lambda self, data, out: self._reasoning_text(data, out, "text"),
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._arguments_delta,
    "response.function_call_arguments.done": ResponsesStreamDecoder._arguments_done,
}


_OUTPUT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
        "response.reasoning_summary_text.delta",
        "response.refusal.delta",
    }
)


class ResponsesStreamMeter:
    """Watches a pass-through Responses stream (events relayed as they came) for what the
    pipeline needs: the usage of its terminal event, whether output began, whether it
    ended, and whether the upstream broke it (an `error` or `response.failed` event, or an
    event that is not JSON). Each event is parsed once; no canonical chunk is built, which
    is what the full decoder spends its time on."""

    __slots__ = ("done", "failed", "outputs", "usage")

    def __init__(self) -> None:
        self.done = False
        self.failed: StreamError | None = None
        self.outputs = 0
        self.usage: dict[str, Any] | None = None  # canonical usage, from the terminal event

    def observe(self, event: bytes) -> None:
        payload = b"\n".join(data_lines(event)).strip()
        if not payload or payload == b"[DONE]" or self.done:
            return
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            self.failed = malformed_event()
            return
        kind = data.get("type") or _event_name(event)
        if kind in _OUTPUT_DELTAS:
            self.outputs += 1
        elif kind in _TERMINAL:
            response = given if isinstance(given := data.get("response"), dict) else {}
            usage = chat_usage(response.get("usage"))
            hosted = count_hosted(response.get("output"))
            if hosted:
                usage[HOSTED_TOOLS_KEY] = hosted
            self.usage = usage
            self.done = True
        elif kind == "error":
            nested = data.get("error")
            self.failed = _stream_error(nested if isinstance(nested, dict) else data)
        elif kind == "response.failed":
            response = given if isinstance(given := data.get("response"), dict) else {}
            self.failed = _stream_error(response.get("error"), "server_error")
