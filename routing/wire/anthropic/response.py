"""Non-stream answers both ways, and the mappings they share with the streams.

Client surface: `chat_to_messages_response` renders a canonical chat.completion as an
Anthropic Message; `error_envelope` shapes errors. Upstream kind: `anthropic_to_chat_response`
reads an Anthropic Message back as a chat.completion. The usage and stop-reason mappings live
here too; stream.py imports them. Web search (citations <-> annotations, the server tool
blocks, the search count) uses search.py.
"""

import time
from typing import Any

from .search import (
    add_searches,
    blocks_annotations,
    canonical_searches,
    cited_sources,
    cited_text_blocks,
    is_search_call,
    reported_searches,
    search_blocks,
    server_tool_usage,
)
from .shared import _UNSAFE_ID_CHARS, _arguments_object, _blocks_to_chat, _count, _new_id, _text_of

# --- shared tables ---------------------------------------------------------------------------

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


# --- small helpers ---------------------------------------------------------------------------


def _stop_reason(finish_reason: Any, stop_sequence: Any, has_tool_use: bool) -> str:
    if finish_reason == "stop" or finish_reason is None:
        if has_tool_use:
            return "tool_use"  # some upstreams say "stop" on a turn that called tools
        return "stop_sequence" if stop_sequence else "end_turn"
    return _FINISH_TO_STOP.get(finish_reason, "end_turn")


def _finish_reason(stop_reason: Any) -> str:
    return _STOP_TO_FINISH.get(stop_reason, "stop")


def _anthropic_usage(usage: Any) -> dict[str, Any]:
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


def usage_to_canonical(usage: dict, searches: int = 0) -> dict:
    """Anthropic usage -> canonical usage, with prompt_tokens counting cached input too, and
    the web searches run (usage.server_tool_use.web_search_requests, else `searches`, the
    count of web_search server_tool_use blocks) under x_orca_tool_calls."""
    usage = usage if isinstance(usage, dict) else {}
    reported = reported_searches(usage)
    read = _count(usage.get("cache_read_input_tokens"))
    written = _count(usage.get("cache_creation_input_tokens"))
    prompt = _count(usage.get("input_tokens")) + read + written
    completion = _count(usage.get("output_tokens"))
    thinking = _count((usage.get("output_tokens_details") or {}).get("thinking_tokens"))
    canonical = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
        "completion_tokens_details": {"reasoning_tokens": thinking},
    }
    return add_searches(canonical, searches if reported is None else reported)


def error_envelope(status: int, message: str) -> dict:
    """Anthropic's error body for an HTTP status."""
    type_ = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": type_, "message": message}}


# === Anthropic Messages as the client surface ================================================


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
    annotations = message.get("annotations") if isinstance(message.get("content"), str) else None
    searches = canonical_searches(chat.get("usage"))
    if searches:
        content.extend(search_blocks(cited_sources(annotations)))
    if annotations:
        content.extend(cited_text_blocks(text if isinstance(text, str) else "", annotations))
    elif text:
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
    rendered: dict[str, Any] = {
        "id": _message_id(chat.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": _anthropic_usage(chat.get("usage")),
    }
    if searches:
        rendered["usage"]["server_tool_use"] = server_tool_usage(searches)
    return rendered


# === Anthropic as the upstream kind ==========================================================


def anthropic_to_chat_response(body: dict) -> dict:
    """An Anthropic Message as a canonical chat.completion."""
    content = body.get("content")
    message = _blocks_to_chat(content, None)
    annotations = blocks_annotations(content)
    if annotations:
        message["annotations"] = annotations
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
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
        "usage": usage_to_canonical(
            body.get("usage") or {}, sum(1 for b in content or () if is_search_call(b))
        ),
    }
