"""OpenAI Chat Completions: request validation, usage reading and stream metering.

Validation catches what would otherwise cost an upstream round trip to learn (and what an
upstream would reject anyway); everything it does not understand is left for the upstream.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import InvalidRequest, StreamError, malformed_event
from .sse import data_lines
from .usage import Usage

MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    stream: bool
    include_usage: bool
    n: int
    has_tools: bool


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_in(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_number(value):
        raise InvalidRequest(f"`{name}` must be a number", param=name, code="invalid_type")
    if not low <= value <= high:
        raise InvalidRequest(
            f"`{name}` must be between {low:g} and {high:g}, got {value}", param=name
        )


def _int_at_least(body: dict, name: str, low: int, high: int | None = None) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_int(value):
        raise InvalidRequest(f"`{name}` must be an integer", param=name, code="invalid_type")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"`{name}` must be {bound}, got {value}", param=name)


def _bool(body: dict, name: str) -> None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"`{name}` must be a boolean", param=name, code="invalid_type")


def _validate_messages(messages: Any) -> None:
    if messages is None:
        raise InvalidRequest(
            "`messages` is required", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list):
        raise InvalidRequest("`messages` must be an array", param="messages", code="invalid_type")
    if not messages:
        raise InvalidRequest("`messages` must contain at least one message", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"`{where}` must be an object", param=where, code="invalid_type")
        role = message.get("role")
        if role not in MESSAGE_ROLES:
            raise InvalidRequest(
                f"`{where}.role` must be one of {sorted(MESSAGE_ROLES)}, got {role!r}",
                param=f"{where}.role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequest(
                f"`{where}.content` must be a string or an array of content parts",
                param=f"{where}.content",
                code="invalid_type",
            )
        if content is None and role in ("system", "developer", "user", "tool"):
            raise InvalidRequest(
                f"`{where}.content` is required for role {role!r}",
                param=f"{where}.content",
                code="missing_required_parameter",
            )
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise InvalidRequest(
                        f"`{where}.content[{j}]` must be an object with a `type`",
                        param=f"{where}.content[{j}]",
                        code="invalid_type",
                    )


def _validate_tools(body: dict) -> bool:
    choice = body.get("tool_choice")
    if choice is not None and not (
        isinstance(choice, dict) or (isinstance(choice, str) and choice in TOOL_CHOICE_MODES)
    ):
        raise InvalidRequest(
            f"`tool_choice` must be one of {sorted(TOOL_CHOICE_MODES)} or an object",
            param="tool_choice",
        )
    tools = body.get("tools")
    if tools is None:
        return False
    if not isinstance(tools, list):
        raise InvalidRequest("`tools` must be an array", param="tools", code="invalid_type")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise InvalidRequest(
                f"`tools[{i}]` must be an object with a `type`", param=f"tools[{i}]"
            )
        # function and custom tools are checked; another type is left for the upstream (a
        # translation to another kind leaves it out: routing/wire/tools.py)
        kind = tool["type"]
        if kind in ("function", "custom"):
            spec = tool.get(kind)
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                raise InvalidRequest(
                    f"`tools[{i}].{kind}.name` is required",
                    param=f"tools[{i}].{kind}.name",
                    code="missing_required_parameter",
                )
    return bool(tools)


def validate_chat_request(body: Any) -> ChatRequest:
    """Check a parsed request body; raise InvalidRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    model = body.get("model")
    if model is None:
        raise InvalidRequest(
            "`model` is required", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest(
            "`model` must be a non-empty string", param="model", code="invalid_type"
        )
    _validate_messages(body.get("messages"))
    _number_in(body, "temperature", 0, 2)
    _number_in(body, "top_p", 0, 1)
    _number_in(body, "presence_penalty", -2, 2)
    _number_in(body, "frequency_penalty", -2, 2)
    _int_at_least(body, "n", 1, 128)
    _int_at_least(body, "max_tokens", 1)
    _int_at_least(body, "max_completion_tokens", 1)
    _int_at_least(body, "top_logprobs", 0, 20)
    _int_at_least(body, "seed", -(2**63))
    for name in ("stream", "logprobs", "parallel_tool_calls", "store"):
        _bool(body, name)
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise InvalidRequest("`stop` must be a string or an array of strings", param="stop")
    stream = body.get("stream") is True
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise InvalidRequest("`stream_options` must be an object", param="stream_options")
        if not stream:
            raise InvalidRequest(
                "`stream_options` is only allowed when `stream` is true", param="stream_options"
            )
        _bool(options, "include_usage")
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or response_format.get("type") not in RESPONSE_FORMATS
    ):
        raise InvalidRequest(
            f"`response_format.type` must be one of {sorted(RESPONSE_FORMATS)}",
            param="response_format",
        )
    has_tools = _validate_tools(body)
    return ChatRequest(
        model=model.strip(),
        stream=stream,
        include_usage=bool(options and options.get("include_usage")),
        n=body.get("n") or 1,
        has_tools=has_tools,
    )


def _count(value: Any) -> int:
    """A token count as sent by an upstream; anything odd counts as 0 rather than failing."""
    if type(value) is int and 0 <= value < 2**31:  # the usual case, checked cheaply
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return min(max(int(value), 0), 2**31 - 1)


HOSTED_TOOL_CALLS = "x_orca_tool_calls"  # canonical extension inside `usage` (canonical.py)


def usage_from_object(usage: Any) -> Usage | None:
    """Read an OpenAI `usage` object; None when absent or not an object. Never raises."""
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    used = Usage(
        _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")), reported=True
    )
    if isinstance(prompt_details, dict):
        used.cached_tokens = _count(prompt_details.get("cached_tokens"))
        used.cache_write_tokens = _count(prompt_details.get("cache_write_tokens"))
    if isinstance(completion_details, dict):
        used.reasoning_tokens = _count(completion_details.get("reasoning_tokens"))
    hosted = usage.get(HOSTED_TOOL_CALLS)
    if isinstance(hosted, dict):  # a Responses upstream's hosted tool calls, priced per call
        used.units = {str(k): n for k, v in hosted.items() if (n := _count(v))}
    return used


# --- web search: what an OpenAI-kind chat upstream ran ----------------------------------------
#
# Chat Completions reports no search count: CompletionUsage has token counts only
# (openai-openapi.yaml), and OpenAI bills its search models per request. So a chat answer
# citing the web (a `url_citation` annotation, which only a search produces) counts as
# SEARCHES_PER_ANSWER search, put under usage.x_orca_tool_calls.web_search unless the upstream
# counted some itself; an answer that searched and cited nothing is not counted.
SEARCHES_PER_ANSWER = 1
WEB_SEARCH = "web_search"  # the unit, priced from the model's extra_prices["web_search"]


def cites_the_web(annotations: Any) -> bool:
    return isinstance(annotations, list) and any(
        isinstance(a, dict) and a.get("type") == "url_citation" for a in annotations
    )


def _add_search_count(usage: dict) -> None:
    hosted = usage.get(HOSTED_TOOL_CALLS)
    hosted = dict(hosted) if isinstance(hosted, dict) else {}
    if not _count(hosted.get(WEB_SEARCH)):
        hosted[WEB_SEARCH] = SEARCHES_PER_ANSWER
        usage[HOSTED_TOOL_CALLS] = hosted


def count_searches(completion: Any) -> Any:
    """A chat.completion from an OpenAI-kind upstream with its web search counted (in place,
    returned): see SEARCHES_PER_ANSWER."""
    if not isinstance(completion, dict):
        return completion
    cited = any(
        isinstance(choice, dict)
        and isinstance(choice.get("message"), dict)
        and cites_the_web(choice["message"].get("annotations"))
        for choice in completion.get("choices") or ()
    )
    if cited:
        usage = completion.get("usage")
        if not isinstance(usage, dict):
            usage = completion["usage"] = {}
        _add_search_count(usage)
    return completion


def _chunk_cites(chunk: dict) -> bool:
    return any(
        isinstance(choice, dict)
        and isinstance(choice.get("delta"), dict)
        and cites_the_web(choice["delta"].get("annotations"))
        for choice in chunk.get("choices") or ()
    )


@dataclass(slots=True)
class StreamMeter:
    """Watches a pass-through chat stream's events: usage, whether output began, whether it
    finished, and whether the upstream broke it (an error event, or an event that is not
    JSON: `failed`). Each event is parsed once (about a microsecond); the bytes go out as
    they came."""

    usage: Usage | None = None
    content_chunks: int = 0
    done: bool = False
    failed: StreamError | None = None
    cited: bool = False  # a delta cited the web: one search (SEARCHES_PER_ANSWER)
    # Set by a caller whose watchers see the chunks: the content chunks of the last event.
    seen: list[dict] | None = None

    def observe(self, event: bytes) -> bool:
        """Record what the event says. Returns True if it is the usage-only chunk."""
        usage_only = False
        # Runs for every event of every stream a worker relays: the usual event, one
        # `data: ` line, skips the line splitting.
        if event.startswith(b"data: ") and event.find(b"\n") == len(event) - 2:
            payloads: Iterable[bytes] = (event[6:-2],)
        else:
            payloads = data_lines(event)
        for payload in payloads:
            if payload == b"[DONE]":
                self.done = True
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                chunk = None
            if not isinstance(chunk, dict):
                self.failed = malformed_event()
                return False
            if chunk.get("error"):
                self.failed = _error_of(chunk["error"])
                return False
            if self.seen is not None and chunk.get("choices"):
                self.seen.append(chunk)
            usage = chunk.get("usage")
            usage = None if usage is None else usage_from_object(usage)
            if usage is not None:
                self.usage = usage
                usage_only = not chunk.get("choices")
            elif chunk.get("choices"):
                self.content_chunks += 1
                # find(), not `in`: bytes.__contains__ first tries the needle as an int and
                # builds (then drops) a TypeError, ~2k instructions on every event.
                if not self.cited and payload.find(b"url_citation") >= 0:
                    self.cited = _chunk_cites(chunk)
        return usage_only

    def final_usage(self) -> Usage:
        if self.usage is not None:
            if self.cited and not (self.usage.units or {}).get(WEB_SEARCH):
                self.usage.units = {**(self.usage.units or {}), WEB_SEARCH: SEARCHES_PER_ANSWER}
            return self.usage
        # No usage from upstream: one token per content chunk is the usual granularity.
        return Usage(completion_tokens=self.content_chunks, reported=False)


def _error_of(error: Any) -> StreamError:
    message = error.get("message") if isinstance(error, dict) else str(error)
    return StreamError(message or "upstream stream error", "api_error")


class OpenAIStreamDecoder:
    """An OpenAI-kind upstream's SSE events as canonical chunks (they already are)."""

    def __init__(self) -> None:
        self.done = False
        self.cited = False  # a delta cited the web: the usage chunk counts one search

    def feed(self, event: bytes) -> list[dict]:
        chunks = []
        for payload in data_lines(event):
            if payload == b"[DONE]":
                self.done = True
                continue
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                raise malformed_event() from None
            if not isinstance(chunk, dict):
                raise malformed_event()
            if chunk.get("error"):
                raise _error_of(chunk["error"])
            if chunk.get("choices"):
                self.cited = self.cited or _chunk_cites(chunk)
            elif self.cited and isinstance(chunk.get("usage"), dict):
                _add_search_count(chunk["usage"])
            chunks.append(chunk)
        return chunks

    def finish(self) -> list[dict]:
        return []


def with_stream_usage(body: dict) -> dict:
    """Ask an OpenAI-format upstream for the usage chunk, so every stream can be metered."""
    return {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}
