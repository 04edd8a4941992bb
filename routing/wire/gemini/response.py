"""Non-stream responses both ways: a canonical chat.completion rendered as a Gemini
GenerateContentResponse (chat_to_generate_response) and an upstream's GenerateContentResponse
read back as a chat.completion (gemini_to_chat_response), plus the finish-reason and usage
mappings and the client-facing error body (error_envelope), which stream.py reuses.
"""

import time
import uuid
from typing import Any

from ..canonical import empty_usage
from .grounding import (
    add_search_usage,
    grounding_annotations,
    grounding_metadata,
    search_count,
    text_parts,
)
from .shared import _answer_tool_call, _args_object, _get, _model_message, _text_of

_FINISH_TO_CHAT = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "IMAGE_OTHER": "content_filter",
    "NO_IMAGE": "content_filter",
}
_FINISH_TO_GEMINI = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "function_call": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}


def _chat_finish(reason: Any, has_calls: bool) -> str:
    mapped = _FINISH_TO_CHAT.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if has_calls and mapped == "stop" else mapped


# --------------------------------------------------------------------------------------------
# client surface: canonical -> Gemini response


def _function_call_part(call: dict) -> dict:
    function = call.get("function") or {}
    body: dict[str, Any] = {
        "name": function.get("name") or "",
        "args": _args_object(function.get("arguments")),
    }
    if call.get("id"):
        body["id"] = call["id"]
    part: dict[str, Any] = {"functionCall": body}
    signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
    if isinstance(signature, str) and signature:
        part["thoughtSignature"] = signature
    return part


def _usage_metadata(usage: Any) -> dict:
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = min(reasoning, completion)
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - reasoning,
        "totalTokenCount": prompt + completion,
    }
    if reasoning:
        meta["thoughtsTokenCount"] = reasoning
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def chat_to_generate_response(chat: dict, *, model: str, include_thoughts: bool = True) -> dict:
    """A canonical chat.completion -> a GenerateContentResponse."""
    candidates = []
    for position, choice in enumerate(chat.get("choices") or []):
        message = choice.get("message") or {}
        parts: list[dict] = []
        reasoning = message.get("reasoning_content")
        if include_thoughts and isinstance(reasoning, str) and reasoning:
            parts.append({"text": reasoning, "thought": True})
        text = _text_of(message.get("content"))
        if text:
            parts.append({"text": text})
        parts.extend(_function_call_part(call) for call in message.get("tool_calls") or [])
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": parts or [{"text": ""}]},
            "finishReason": _FINISH_TO_GEMINI.get(choice.get("finish_reason"), "STOP"),
            "index": choice.get("index", position),
        }
        grounding = grounding_metadata(message.get("annotations"), text)
        if grounding is not None:
            candidate["groundingMetadata"] = grounding
        candidates.append(candidate)
    return {
        "candidates": candidates,
        "usageMetadata": _usage_metadata(chat.get("usage")),
        "modelVersion": model,
        "responseId": str(chat.get("id") or uuid.uuid4().hex),
    }


def error_envelope(status: int, message: str) -> dict:
    """The Gemini error body. The HTTP code is kept; the status string is the closest one."""
    name = _STATUS_BY_CODE.get(status)
    if name is None:
        if 400 <= status < 500:
            name = "FAILED_PRECONDITION"
        elif status >= 500:
            name = "INTERNAL"
        else:
            name = "UNKNOWN"
    return {"error": {"code": status, "message": message, "status": name}}


# --------------------------------------------------------------------------------------------
# upstream kind: Gemini responses -> canonical


def _chat_usage(meta: Any) -> dict:
    if not isinstance(meta, dict):
        return empty_usage()
    prompt = int(_get(meta, "promptTokenCount") or 0) + int(
        _get(meta, "toolUsePromptTokenCount") or 0
    )
    candidates = int(_get(meta, "candidatesTokenCount") or 0)
    thoughts = int(_get(meta, "thoughtsTokenCount") or 0)
    total = _get(meta, "totalTokenCount")
    # Some Vertex responses already count thoughts inside candidates.
    if thoughts and isinstance(total, int) and prompt + candidates == total:
        completion = candidates
    else:
        completion = candidates + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(_get(meta, "cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _chat_id(response_id: Any) -> str:
    if isinstance(response_id, str) and response_id:
        return f"chatcmpl-{response_id}"
    return f"chatcmpl-{uuid.uuid4().hex}"


def gemini_to_chat_response(body: dict, *, model: str) -> dict:
    """A GenerateContentResponse -> a canonical chat.completion."""
    choices = []
    searches = 0
    for position, candidate in enumerate(body.get("candidates") or []):
        parts = _get(candidate.get("content"), "parts") or []
        message = _model_message(parts, _answer_tool_call)
        grounding = _get(candidate, "groundingMetadata")
        if isinstance(grounding, dict):
            searches += search_count(grounding)
            content, where = text_parts(parts)
            annotations = grounding_annotations(grounding, content, where)
            if annotations:
                message["annotations"] = annotations
        finish = _chat_finish(_get(candidate, "finishReason"), "tool_calls" in message)
        choices.append(
            {"index": candidate.get("index", position), "message": message, "finish_reason": finish}
        )
    if not choices:
        blocked = _get(_get(body, "promptFeedback"), "blockReason")
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter" if blocked else "stop",
            }
        )
    return {
        "id": _chat_id(_get(body, "responseId")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": add_search_usage(_chat_usage(_get(body, "usageMetadata")), searches),
    }
