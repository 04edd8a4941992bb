"""Anthropic Messages, both as a client surface (POST /v1/messages) and as an upstream kind.

Client surface: `validate_messages_request` checks a body, `messages_to_chat` turns it into a
canonical chat request, `chat_to_messages_response` and `MessagesStreamEncoder` render canonical
output back as an Anthropic Message / named SSE events, `error_envelope` shapes errors.

Upstream kind: `chat_to_anthropic_request` builds the Messages body for a canonical request,
`anthropic_to_chat_response` and `AnthropicStreamDecoder` read the answer back into canonical
form, `usage_to_canonical` converts the usage object.

Policies where the reference leaves a choice (kept the same everywhere in this module):
  * Chat -> Anthropic hoists every system/developer message, wherever it sits, into the
    top-level `system` blocks, in order.
  * Tool-call arguments that are empty, not JSON or not a JSON object become `{}`.
  * Tool ids outside `^[a-zA-Z0-9_-]+$` are rewritten by one deterministic function, applied
    to `tool_use` ids and `tool_result` references alike, so pairs stay matched.
  * Thinking is switched off (rather than failing upstream) when the tool choice forces a
    tool, or when the last assistant tool turn carries no thinking block to replay.
  * Things that cannot be expressed on the other side (server tools, MCP servers, PDF URLs,
    audio, provider file ids, n > 1) raise InvalidRequest instead of being dropped silently;
    sampling knobs Anthropic lacks (penalties, seed, logprobs, ...) are dropped.
"""

import hashlib
import re
import time
import uuid
from typing import Any

import orjson

from .canonical import InvalidRequest, StreamError
from .common import assistant_message, data_url, dumps, is_int, is_number, parse_object, text_of
from .errors import malformed_event
from .sse import data_lines

__all__ = [
    "AnthropicStreamDecoder",
    "MessagesStreamEncoder",
    "anthropic_to_chat_response",
    "chat_to_anthropic_request",
    "chat_to_messages_response",
    "error_envelope",
    "messages_to_chat",
    "usage_to_canonical",
    "validate_messages_request",
]

# --- shared tables ---------------------------------------------------------------------------

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
TOOL_CHOICE_TYPES = frozenset({"auto", "any", "tool", "none"})
THINKING_TYPES = frozenset({"enabled", "disabled", "adaptive"})
MIN_THINKING_BUDGET = 1024

# reasoning_effort -> thinking budget (orcarouter.md §5.2; xhigh/max follow LiteLLM's ladder).
EFFORT_BUDGETS = {"low": 1280, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
# Anthropic output_config.effort -> canonical reasoning_effort.
_EFFORT_FROM_ANTHROPIC = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}

_STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}

JSON_OBJECT_INSTRUCTION = (
    "Respond with one valid JSON object and nothing else: no prose, no code fences."
)
STRUCTURED_OUTPUT_NAME = "structured_output"
_HISTORY_TOOL_DESCRIPTION = "Declared only because earlier turns of this conversation used it."

_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_DATA_URL = re.compile(r"^data:([^;,]+)((?:;[^;,]*)*),(.*)$", re.DOTALL)


# --- small helpers ---------------------------------------------------------------------------


def _count(value: Any) -> int:
    """A token count read leniently: anything that is not a number counts as 0."""
    if is_number(value):
        return max(int(value), 0)
    return 0


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _arguments_object(raw: Any) -> dict:
    """Chat's JSON-string arguments as the object Anthropic wants ({} when unusable)."""
    value = parse_object(raw)
    return value if value is not None else {}


def _tool_id(raw: Any) -> str:
    """A tool id Anthropic accepts; unsafe ids get a stable rewrite (same input, same output)."""
    text = raw if isinstance(raw, str) else ""
    if _TOOL_ID.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    cleaned = _UNSAFE_ID_CHARS.sub("_", text)[:40]
    return f"{cleaned}_{digest}" if cleaned else f"toolu_{digest}"


def _text_of(content: Any) -> str:
    """The text of a Chat content value (a string, or parts of which the text ones count)."""
    return text_of(content, ("text", "refusal"), strings_only=True)


def _event(type_: str, payload: dict) -> bytes:
    return b"event: " + type_.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _stop_reason(finish_reason: Any, stop_sequence: Any, has_tool_use: bool) -> str:
    if finish_reason == "stop" or finish_reason is None:
        if has_tool_use:
            return "tool_use"  # some upstreams say "stop" on a turn that called tools
        return "stop_sequence" if stop_sequence else "end_turn"
    return _FINISH_TO_STOP.get(finish_reason, "end_turn")


def _finish_reason(stop_reason: Any) -> str:
    return _STOP_TO_FINISH.get(stop_reason, "stop")


def _anthropic_usage(usage: Any) -> dict[str, int]:
    """Canonical usage -> Anthropic's split (input excludes cache reads and writes)."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    cached = _count(details.get("cached_tokens"))
    written = _count(details.get("cache_write_tokens"))
    return {
        "input_tokens": max(_count(usage.get("prompt_tokens")) - cached - written, 0),
        "output_tokens": _count(usage.get("completion_tokens")),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def usage_to_canonical(usage: dict) -> dict:
    """Anthropic usage -> canonical usage, with prompt_tokens counting cached input too."""
    usage = usage if isinstance(usage, dict) else {}
    read = _count(usage.get("cache_read_input_tokens"))
    written = _count(usage.get("cache_creation_input_tokens"))
    prompt = _count(usage.get("input_tokens")) + read + written
    completion = _count(usage.get("output_tokens"))
    thinking = _count((usage.get("output_tokens_details") or {}).get("thinking_tokens"))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
        "completion_tokens_details": {"reasoning_tokens": thinking},
    }


def error_envelope(status: int, message: str) -> dict:
    """Anthropic's error body for an HTTP status."""
    type_ = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": type_, "message": message}}


# === Anthropic Messages as the client surface ================================================


def _missing(name: str) -> InvalidRequest:
    return InvalidRequest(f"`{name}` is required", param=name, code="missing_required_parameter")


def _wrong_type(name: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"`{name}` must be {expected}", param=name, code="invalid_type")


def _check_number(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not is_number(value):
        raise _wrong_type(name, "a number")
    if not low <= value <= high:
        raise InvalidRequest(
            f"`{name}` must be between {low:g} and {high:g}, got {value}", param=name
        )


def _check_string(block: dict, key: str, where: str) -> None:
    if not isinstance(block.get(key), str):
        raise _wrong_type(f"{where}.{key}", "a string")


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise InvalidRequest(
            f"`{where}` must be an object with a string `type`", param=where, code="invalid_type"
        )
    kind = block["type"]
    if kind == "text":
        _check_string(block, "text", where)
    elif kind in ("image", "document"):
        if not isinstance(block.get("source"), dict):
            raise _wrong_type(f"{where}.source", "an object")
    elif kind == "tool_use":
        _check_string(block, "id", where)
        _check_string(block, "name", where)
        if not isinstance(block.get("input"), dict):
            raise _wrong_type(f"{where}.input", "an object")
    elif kind == "tool_result":
        _check_string(block, "tool_use_id", where)
        content = block.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _wrong_type(f"{where}.content", "a string or an array of content blocks")
        if isinstance(content, list):
            for k, inner in enumerate(content):
                _check_block(inner, f"{where}.content[{k}]")
    elif kind == "thinking":
        _check_string(block, "thinking", where)
        _check_string(block, "signature", where)
    elif kind == "redacted_thinking":
        _check_string(block, "data", where)


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array")
    if not messages:
        raise InvalidRequest("`messages` must contain at least one message", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _wrong_type(where, "an object")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise InvalidRequest(
                f"`{where}.role` must be 'user' or 'assistant', got {role!r}",
                param=f"{where}.role",
            )
        content = message.get("content")
        if content is None:
            raise _missing(f"{where}.content")
        if not isinstance(content, str | list):
            raise _wrong_type(f"{where}.content", "a string or an array of content blocks")
        if isinstance(content, list):
            for j, block in enumerate(content):
                _check_block(block, f"{where}.content[{j}]")


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _wrong_type("system", "a string or an array of text blocks")
    for i, block in enumerate(system):
        where = f"system[{i}]"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise InvalidRequest(
                f"`{where}` must be a text block", param=where, code="invalid_type"
            )
        _check_string(block, "text", where)


def _check_tools(body: dict) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _wrong_type("tools", "an array")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _wrong_type(where, "an object")
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            raise _wrong_type(f"{where}.type", "a string")
        if kind not in (None, "custom"):
            continue  # a server tool (web_search, code_execution, ...): the upstream judges it
        name = tool.get("name")
        if name is None:
            raise _missing(f"{where}.name")
        if not isinstance(name, str) or not name:
            raise _wrong_type(f"{where}.name", "a non-empty string")
        schema = tool.get("input_schema")
        if schema is None:
            raise _missing(f"{where}.input_schema")
        if not isinstance(schema, dict):
            raise _wrong_type(f"{where}.input_schema", "an object")


def _check_tool_choice(choice: Any) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict):
        raise _wrong_type("tool_choice", "an object")
    if choice.get("type") not in TOOL_CHOICE_TYPES:
        raise InvalidRequest(
            f"`tool_choice.type` must be one of {sorted(TOOL_CHOICE_TYPES)}",
            param="tool_choice.type",
        )
    if choice["type"] == "tool":
        name = choice.get("name")
        if name is None:
            raise _missing("tool_choice.name")
        if not isinstance(name, str) or not name:
            raise _wrong_type("tool_choice.name", "a non-empty string")
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise _wrong_type("tool_choice.disable_parallel_tool_use", "a boolean")


def _check_thinking(thinking: Any, max_tokens: int) -> None:
    if thinking is None:
        return
    if not isinstance(thinking, dict):
        raise _wrong_type("thinking", "an object")
    if thinking.get("type") not in THINKING_TYPES:
        raise InvalidRequest(
            f"`thinking.type` must be one of {sorted(THINKING_TYPES)}", param="thinking.type"
        )
    if thinking["type"] != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise _missing("thinking.budget_tokens")
    if not is_int(budget):
        raise _wrong_type("thinking.budget_tokens", "an integer")
    if budget < MIN_THINKING_BUDGET:
        raise InvalidRequest(
            f"`thinking.budget_tokens` must be at least {MIN_THINKING_BUDGET}, got {budget}",
            param="thinking.budget_tokens",
        )
    if budget >= max_tokens:
        raise InvalidRequest(
            f"`thinking.budget_tokens` ({budget}) must be less than `max_tokens` ({max_tokens})",
            param="thinking.budget_tokens",
        )


def validate_messages_request(body: Any) -> None:
    """Check a parsed Messages body; raise InvalidRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model.strip():
        raise _wrong_type("model", "a non-empty string")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise _missing("max_tokens")
    if not is_int(max_tokens):
        raise _wrong_type("max_tokens", "an integer")
    if max_tokens < 1:
        raise InvalidRequest(
            f"`max_tokens` must be at least 1, got {max_tokens}", param="max_tokens"
        )
    _check_messages(body.get("messages"))
    _check_system(body.get("system"))
    _check_number(body, "temperature", 0, 1)
    _check_number(body, "top_p", 0, 1)
    top_k = body.get("top_k")
    if top_k is not None:
        if not is_int(top_k):
            raise _wrong_type("top_k", "an integer")
        if top_k < 0:
            raise InvalidRequest(f"`top_k` must be at least 0, got {top_k}", param="top_k")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise _wrong_type("stop_sequences", "an array of strings")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean")
    _check_tools(body)
    _check_tool_choice(body.get("tool_choice"))
    _check_thinking(body.get("thinking"), max_tokens)
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _wrong_type("metadata", "an object")
        user_id = metadata.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            raise _wrong_type("metadata.user_id", "a string")


def _unsupported(what: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"{what} cannot be translated for this model", param=param, code="unsupported_parameter"
    )


def _image_part(block: dict, where: str) -> dict:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = data_url(source.get("media_type"), source.get("data"))
    elif source.get("type") == "url":
        url = source.get("url")
    else:
        raise _unsupported(f"an image source of type {source.get('type')!r}", f"{where}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict, where: str) -> list[dict]:
    source = block.get("source") or {}
    kind = source.get("type")
    if kind == "base64":
        media_type = source.get("media_type") or "application/pdf"
        file: dict[str, Any] = {"file_data": data_url(media_type, source.get("data"))}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        return [{"type": "file", "file": file}]
    if kind == "text":
        return [{"type": "text", "text": source.get("data") or ""}]
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}]
        parts: list[dict] = []
        for k, inner_block in enumerate(inner or []):
            parts.extend(_user_part(inner_block, f"{where}.source.content[{k}]"))
        return parts
    raise _unsupported(f"a document source of type {kind!r}", f"{where}.source")


def _user_part(block: dict, where: str) -> list[dict]:
    kind = block.get("type")
    if kind == "text":
        return [{"type": "text", "text": block.get("text") or ""}]
    if kind == "image":
        return [_image_part(block, where)]
    if kind == "document":
        return _document_parts(block, where)
    raise _unsupported(f"a {kind!r} content block", where)


def _tool_message(block: dict, where: str) -> tuple[dict, list[dict]]:
    """A tool_result block -> (a Chat tool message, parts that must move to the user turn)."""
    content = block.get("content")
    moved: list[dict] = []
    if isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            at = f"{where}.content[{k}]"
            if inner.get("type") == "text":
                texts.append(inner.get("text") or "")
            elif inner.get("type") in ("image", "document"):
                moved.extend(_user_part(inner, at))  # tool messages cannot hold media
            else:
                raise _unsupported(f"a {inner.get('type')!r} block inside a tool result", at)
        text = "\n\n".join(texts)
    else:
        text = content if isinstance(content, str) else ""
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}, moved


def _user_to_chat(content: Any, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict] = []
    moved: list[dict] = []
    parts: list[dict] = []
    for j, block in enumerate(content or []):
        at = f"{where}.content[{j}]"
        if block.get("type") == "tool_result":
            message, media = _tool_message(block, at)
            tools.append(message)
            moved.extend(media)
        else:
            parts.extend(_user_part(block, at))
    parts = moved + parts
    if not parts:
        return tools
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*tools, {"role": "user", "content": parts[0]["text"]}]
    return [*tools, {"role": "user", "content": parts}]


def _blocks_to_chat(content: Any, where: str | None) -> dict:
    """Anthropic content blocks as one canonical assistant message.

    With `where` (a client's request, already validated) blocks are taken as they are and one
    with no Chat form is refused, naming `where`. Without it (an upstream's answer) non-objects,
    server tool blocks and citations are left out, and a tool_use lacking an id or a name gets
    a fresh id or "".
    """
    texts: list[str] = []
    calls: list[dict] = []
    reasoning: list[str] = []
    blocks: list[dict] = []
    for j, block in enumerate(content or ()):
        if where is None and not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            call_id, name = block.get("id"), block.get("name")
            if where is None:
                call_id, name = call_id or _new_id("toolu_"), name or ""
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": dumps(block.get("input") or {})},
                }
            )
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking") or "",
                    "signature": block.get("signature") or "",
                }
            )
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": block.get("data") or ""})
        elif where is not None:
            raise _unsupported(f"a {kind!r} content block", f"{where}.content[{j}]")
    message = assistant_message(texts, calls, reasoning)
    if blocks:
        message["thinking_blocks"] = blocks
    return message


def _assistant_to_chat(content: Any, where: str) -> dict:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    return _blocks_to_chat(content, where)


def _system_to_chat(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n\n".join(b.get("text") or "" for b in system if isinstance(b, dict))
    return ""


def _effort_for_budget(budget: int) -> str:
    if budget <= 2048:
        return "low"
    if budget <= 8192:
        return "medium"
    return "high"


def messages_to_chat(body: dict) -> dict:
    """A (validated) Messages request as a canonical chat request."""
    out: dict[str, Any] = {"model": body["model"]}
    messages: list[dict] = []
    system = _system_to_chat(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body.get("messages") or []):
        where = f"messages[{i}]"
        if message.get("role") == "assistant":
            messages.append(_assistant_to_chat(message.get("content"), where))
        else:
            messages.extend(_user_to_chat(message.get("content"), where))
    out["messages"] = messages
    out["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])

    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("type") not in (None, "custom"):
            raise _unsupported(f"the server tool {tool.get('type')!r}", f"tools[{i}]")
        function: dict[str, Any] = {"name": tool.get("name")}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    if tools:
        out["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            kind = choice.get("type")
            if kind == "any":
                out["tool_choice"] = "required"
            elif kind == "tool":
                out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
            elif kind in ("auto", "none"):
                out["tool_choice"] = kind
            if choice.get("disable_parallel_tool_use") is True:
                out["parallel_tool_calls"] = False
    if body.get("mcp_servers"):
        raise _unsupported("`mcp_servers`", "mcp_servers")

    thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
    output_config = body.get("output_config") if isinstance(body.get("output_config"), dict) else {}
    if thinking.get("type") == "enabled" and is_int(thinking.get("budget_tokens")):
        out["reasoning_budget_tokens"] = thinking["budget_tokens"]
        out["reasoning_effort"] = _effort_for_budget(thinking["budget_tokens"])
    elif (
        thinking.get("type") != "disabled" and output_config.get("effort") in _EFFORT_FROM_ANTHROPIC
    ):
        out["reasoning_effort"] = _EFFORT_FROM_ANTHROPIC[output_config["effort"]]

    fmt = output_config.get("format") or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": STRUCTURED_OUTPUT_NAME, "schema": fmt.get("schema") or {}},
        }
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _message_id(chat_id: Any) -> str:
    if isinstance(chat_id, str) and chat_id:
        if chat_id.startswith("msg_"):
            return chat_id
        tail = _UNSAFE_ID_CHARS.sub("", chat_id.removeprefix("chatcmpl-"))
        if tail:
            return "msg_" + tail
    return _new_id("msg_")


def chat_to_messages_response(chat: dict, *, model: str) -> dict:
    """A canonical chat.completion (choice 0) as an Anthropic Message."""
    choices = chat.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[dict] = []
    if message.get("thinking_blocks"):
        content.extend(dict(block) for block in message["thinking_blocks"])
    elif message.get("reasoning_content"):
        content.append(
            {"type": "thinking", "thinking": message["reasoning_content"], "signature": ""}
        )
    text = _text_of(message.get("content")) or (
        message.get("refusal") if isinstance(message.get("refusal"), str) else ""
    )
    if text:
        content.append({"type": "text", "text": text})
    tool_calls = message.get("tool_calls") or []
    for call in tool_calls:
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or _new_id("toolu_"),
                "name": function.get("name") or "",
                "input": _arguments_object(function.get("arguments")),
            }
        )
    finish = choice.get("finish_reason")
    if finish is None and message.get("refusal"):
        finish = "content_filter"
    stop_sequence = (
        choice.get("stop_sequence") if isinstance(choice.get("stop_sequence"), str) else None
    )
    stop_reason = _stop_reason(finish, stop_sequence, bool(tool_calls))
    return {
        "id": _message_id(chat.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": _anthropic_usage(chat.get("usage")),
    }


class MessagesStreamEncoder:
    """Canonical chat chunks -> Anthropic's named SSE events (reference §7.4 B).

    One content block is open at a time; block indexes count up across block types; a delta
    always matches the type of the open block. message_delta is held back until `finish()`,
    after the usage chunk, so it can carry real cumulative counts."""

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

    def start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message = {
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
        return out + self._delta({"type": "text_delta", "text": text})

    def _tool(self, call: dict) -> bytes:
        index = call.get("index", 0)
        function = call.get("function") or {}
        out = b""
        if not (self._open == "tool_use" and self._open_tool == index):
            if index in self._tools_seen:
                # A fragment for a call whose block is already closed cannot be delivered.
                return b""
            block = {
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
        if self._usage is not None:
            usage: dict[str, int] = _anthropic_usage(self._usage)
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


def _parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a base64 data: URL, else None."""
    match = _DATA_URL.match(url)
    if not match or ";base64" not in match.group(2).lower():
        return None
    return match.group(1).strip().lower(), match.group(3)


def _image_block(part: dict, where: str) -> dict:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"`{where}.image_url.url` is required", param=f"{where}.image_url")
    if url.startswith("data:"):
        parsed = _parse_data_url(url)
        if parsed is None:
            raise InvalidRequest(
                "image data URLs must be base64 encoded", param=f"{where}.image_url"
            )
        media_type, data = parsed
        if media_type == "image/jpg":
            media_type = "image/jpeg"
        if media_type not in IMAGE_MEDIA_TYPES:
            raise InvalidRequest(
                f"image type {media_type!r} is not supported by this model "
                f"(use one of {sorted(IMAGE_MEDIA_TYPES)})",
                param=f"{where}.image_url",
                code="unsupported_value",
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(
        "image URLs must be http(s) or base64 data URLs", param=f"{where}.image_url"
    )


def _document_block(part: dict, where: str) -> dict:
    file = part.get("file") if isinstance(part.get("file"), dict) else {}
    data = file.get("file_data")
    parsed = _parse_data_url(data) if isinstance(data, str) else None
    if parsed is None or parsed[0] != "application/pdf":
        raise _unsupported("a file part (only base64 PDF data is accepted)", f"{where}.file")
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": parsed[1]},
    }
    if isinstance(file.get("filename"), str):
        block["title"] = file["filename"]
    return block


def _with_cache_control(block: dict, part: dict) -> dict:
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _content_blocks(content: Any, where: str, *, media: bool) -> list[dict]:
    """Chat content (string or parts) as Anthropic blocks, dropping empty text."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            text = part.get("text") or part.get("refusal") or ""
            if isinstance(text, str) and text.strip():
                blocks.append(_with_cache_control({"type": "text", "text": text}, part))
        elif media and kind == "image_url":
            blocks.append(_with_cache_control(_image_block(part, at), part))
        elif media and kind == "file":
            blocks.append(_with_cache_control(_document_block(part, at), part))
        elif kind == "input_audio":
            raise _unsupported("audio input", at)
        else:
            raise _unsupported(f"a {kind!r} content part", at)
    return blocks


def _assistant_blocks(message: dict, where: str) -> list[dict]:
    blocks = [
        dict(block)
        for block in message.get("thinking_blocks") or ()
        if isinstance(block, dict) and block.get("type") in ("thinking", "redacted_thinking")
    ]
    text = _text_of(message.get("content"))
    if text.strip():
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": _tool_id(call.get("id")),
                "name": function.get("name") or "",
                "input": _arguments_object(function.get("arguments")),
            }
        )
    return blocks


def _tool_result_block(message: dict, where: str) -> dict:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": _tool_id(message.get("tool_call_id")),
    }
    content = message.get("content")
    if isinstance(content, list):
        texts = _content_blocks(content, where, media=False)
        if texts:
            block["content"] = texts
    elif isinstance(content, str) and content.strip():
        block["content"] = content
    return block


def _append_turn(turns: list[dict], role: str, blocks: list[dict]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def _append_tool_result(turns: list[dict], block: dict) -> None:
    """Tool results open the next user turn, ahead of any user text already placed there."""
    if turns and turns[-1]["role"] == "user":
        content = turns[-1]["content"]
        position = 0
        while position < len(content) and content[position].get("type") == "tool_result":
            position += 1
        content.insert(position, block)
    else:
        turns.append({"role": "user", "content": [block]})


def _thinking_budget(chat: dict) -> int | None:
    budget = chat.get("reasoning_budget_tokens")
    effort = chat.get("reasoning_effort")
    if is_int(budget) and budget > 0:
        return budget
    if is_int(budget) and budget == 0:
        return None  # an explicit "no thinking"
    if effort in EFFORT_BUDGETS:
        return EFFORT_BUDGETS[effort]
    if is_int(budget) and budget < 0:
        return EFFORT_BUDGETS["medium"]  # Gemini's -1, "dynamic": a middle budget
    return None  # no request, "minimal" or "none"


def _replay_lacks_thinking(turns: list[dict]) -> bool:
    """True when the last assistant turn called tools but has no thinking block to replay."""
    for turn in reversed(turns):
        if turn["role"] != "assistant":
            continue
        content = turn["content"]
        calls_tools = any(block.get("type") == "tool_use" for block in content)
        starts_thinking = bool(content) and content[0].get("type") in (
            "thinking",
            "redacted_thinking",
        )
        return calls_tools and not starts_thinking
    return False


def _user_id(chat: dict) -> str | None:
    for name in ("user", "safety_identifier"):
        value = chat.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        digits = sum(c.isdigit() for c in value)
        if "@" in value or (digits >= 7 and not re.search(r"[A-Za-z]", value)):
            continue  # Anthropic refuses emails and phone numbers as user ids
        return value
    return None


def _tool_choice_out(chat: dict, tools: list[dict]) -> tuple[dict | None, list[dict]]:
    choice = chat.get("tool_choice")
    out: dict | None = None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function":
            out = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
        elif kind == "allowed_tools":
            allowed = choice.get("allowed_tools") or {}
            names = {
                (t.get("function") or {}).get("name") or t.get("name")
                for t in allowed.get("tools") or ()
                if isinstance(t, dict)
            }
            tools = [t for t in tools if t["name"] in names]
            out = {"type": "any" if allowed.get("mode") == "required" else "auto"}
        else:
            raise _unsupported(f"a tool_choice of type {kind!r}", "tool_choice")
    if chat.get("parallel_tool_calls") is False and tools:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out, tools


def chat_to_anthropic_request(chat: dict, *, upstream_model: str, default_max_tokens: int) -> dict:
    """A canonical chat request as an Anthropic Messages body for `upstream_model`."""
    n = chat.get("n")
    if is_int(n) and n > 1:
        raise InvalidRequest(
            "`n` greater than 1 is not supported by this model",
            param="n",
            code="unsupported_parameter",
        )
    system: list[dict] = []
    turns: list[dict] = []
    for i, message in enumerate(chat.get("messages") or []):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_content_blocks(message.get("content"), where, media=False))
        elif role == "tool":
            _append_tool_result(turns, _tool_result_block(message, where))
        elif role == "user":
            blocks = _content_blocks(message.get("content"), where, media=True)
            if blocks:
                _append_turn(turns, "user", blocks)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
            if blocks:
                _append_turn(turns, "assistant", blocks)
        else:
            raise _unsupported(f"a message with role {role!r}", f"{where}.role")
    if not turns:
        raise InvalidRequest("at least one user or assistant message is required", param="messages")
    last = turns[-1]
    if last["role"] == "assistant" and last["content"][-1].get("type") == "text":
        # A trailing assistant turn is a prefill; Anthropic refuses one ending in whitespace.
        tail = last["content"][-1]
        tail["text"] = tail["text"].rstrip()

    tools = []
    for i, tool in enumerate(chat.get("tools") or []):
        if tool.get("type") != "function":
            raise _unsupported(f"a tool of type {tool.get('type')!r}", f"tools[{i}]")
        function = tool.get("function") or {}
        schema = function.get("parameters")
        if not isinstance(schema, dict) or not schema:
            schema = {"type": "object", "properties": {}}
        elif "type" not in schema:
            schema = {"type": "object", **schema}
        out_tool: dict[str, Any] = {"name": function.get("name"), "input_schema": schema}
        if function.get("description"):
            out_tool["description"] = function["description"]
        if isinstance(function.get("strict"), bool):
            out_tool["strict"] = function["strict"]
        tools.append(_with_cache_control(out_tool, tool))
    tool_choice, tools = _tool_choice_out(chat, tools)
    if not tools:
        # Anthropic wants tools declared whenever the history holds tool_use blocks.
        used = dict.fromkeys(
            block["name"]
            for turn in turns
            for block in turn["content"]
            if block.get("type") == "tool_use"
        )
        if used:
            tools = [
                {
                    "name": name,
                    "description": _HISTORY_TOOL_DESCRIPTION,
                    "input_schema": {"type": "object"},
                }
                for name in used
            ]
            tool_choice = {"type": "none"}

    max_tokens = next(
        (
            chat[name]
            for name in ("max_completion_tokens", "max_tokens")
            if is_int(chat.get(name)) and chat[name] > 0
        ),
        default_max_tokens,
    )
    budget = _thinking_budget(chat)
    forced = tools and tool_choice is not None and tool_choice["type"] in ("any", "tool")
    if budget is not None and (forced or _replay_lacks_thinking(turns)):
        budget = None

    response_format = chat.get("response_format")
    output_config = None
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            output_config = {"format": {"type": "json_schema", "schema": schema}}
        elif response_format.get("type") == "json_object":
            system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})

    body: dict[str, Any] = {"model": upstream_model, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    body["messages"] = turns
    if budget is not None:
        budget = max(budget, MIN_THINKING_BUDGET)
        if max_tokens <= budget:
            body["max_tokens"] = budget + max_tokens  # keep the asked-for room for the answer
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:
        # Sampling knobs are only sent without thinking, which rejects them.
        temperature = chat.get("temperature")
        if is_number(temperature):
            body["temperature"] = min(max(temperature, 0), 1)
        if is_number(chat.get("top_p")):
            body["top_p"] = chat["top_p"]
        if is_int(chat.get("top_k")):
            body["top_k"] = chat["top_k"]
    stop = chat.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s.strip()]
    if stops:
        body["stop_sequences"] = stops
    if tools:
        body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if output_config is not None:
        body["output_config"] = output_config
    user_id = _user_id(chat)
    if user_id:
        body["metadata"] = {"user_id": user_id}
    if chat.get("stream") is True:
        body["stream"] = True
    return body


def anthropic_to_chat_response(body: dict) -> dict:
    """An Anthropic Message as a canonical chat.completion."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": _blocks_to_chat(body.get("content"), None),
        "logprobs": None,
        "finish_reason": _finish_reason(body.get("stop_reason")),
    }
    if isinstance(body.get("stop_sequence"), str):
        choice["stop_sequence"] = body["stop_sequence"]
    return {
        "id": body.get("id") or _new_id("msg_"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "",
        "choices": [choice],
        "usage": usage_to_canonical(body.get("usage") or {}),
    }


_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


class AnthropicStreamDecoder:
    """Anthropic's SSE events -> canonical chunks (reference §7.4 A).

    Tool calls get their own counter, separate from block indexes. Usage is the maximum, field
    by field, of what message_start and message_delta reported (both are cumulative)."""

    def __init__(self) -> None:
        self.done = False
        self._id = _new_id("msg_")
        self._model = ""
        self._created = int(time.time())
        self._started = False
        self._finished = False
        self._usage: dict[str, int] = dict.fromkeys(_USAGE_FIELDS, 0)
        self._thinking_tokens = 0
        self._blocks: dict[int, dict[str, Any]] = {}
        self._tools = 0

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

    def _start(self, out: list[dict]) -> None:
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))

    def _usage_chunk(self) -> dict:
        usage = usage_to_canonical(
            {**self._usage, "output_tokens_details": {"thinking_tokens": self._thinking_tokens}}
        )
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
            error = data.get("error") if isinstance(data.get("error"), dict) else {}
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
        if kind == "text" and block.get("text"):
            out.append(self._chunk({"content": block["text"]}))
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
        if kind == "text_delta" and delta.get("text"):
            out.append(self._chunk({"content": delta["text"]}))
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
