"""What the Gemini translation modules share: the camelCase/snake_case field reader, lenient
integers, fresh call ids, canonical text, and the readers of a Gemini model turn (code
execution parts, functionCall parts, a whole turn as one assistant message) plus the
tool-argument coercion used both for a Gemini response and for a Gemini upstream request.

Here rather than in one direction module so request, response and stream need not import
each other for these.
"""

import re
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from ..common import assistant_message, dumps, is_int, parse_object, text_of
from .signed_ids import signed_call_id

# --------------------------------------------------------------------------------------------
# small helpers


@lru_cache(maxsize=256)
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if not isinstance(obj, dict):
        return default
    if name in obj:
        return obj[name]
    return obj.get(_snake(name), default)


def _as_int(value: Any) -> int | None:
    """An integer, accepting integral floats (google-genai types topK as float)."""
    if is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _text_of(content: Any) -> str:
    """The text of a canonical message content (a string or a list of parts)."""
    return text_of(content, ("text", "input_text", "output_text"))


def _code_text(part: dict) -> str | None:
    code = _get(part, "executableCode")
    if isinstance(code, dict):
        language = str(_get(code, "language") or "").lower()
        language = "" if language in ("", "language_unspecified") else language
        return f"\n```{language}\n{_get(code, 'code') or ''}\n```\n"
    result = _get(part, "codeExecutionResult")
    if isinstance(result, dict):
        return f"\n```output\n{_get(result, 'output') or ''}\n```\n"
    return None


def _chat_tool_call(
    call: dict,
    part: dict,
    index: int | None = None,
    *,
    call_id: str | None = None,
    sign_id: bool = False,
) -> dict:
    """A functionCall part as a canonical tool call; its id is `call_id` when given, else the
    call's own id or a fresh random one. With `sign_id` (a Gemini answer's calls) the id
    also carries the part's thoughtSignature (signed_ids.py)."""
    if call_id is None:
        own_id = _get(call, "id")
        call_id = own_id if isinstance(own_id, str) and own_id else _new_call_id()
    args = _get(call, "args")
    tool_call: dict[str, Any] = {}
    if index is not None:
        tool_call["index"] = index
    tool_call["id"] = call_id
    tool_call["type"] = "function"
    tool_call["function"] = {
        "name": str(_get(call, "name") or ""),
        "arguments": dumps(args if args is not None else {}),
    }
    signature = _get(part, "thoughtSignature")
    if isinstance(signature, str) and signature:
        tool_call["extra_content"] = {"google": {"thought_signature": signature}}
        if sign_id:
            tool_call["id"] = signed_call_id(call_id, signature)
    return tool_call


def _answer_tool_call(call: dict, part: dict, index: int | None = None) -> dict:
    """A Gemini answer's functionCall part as a canonical tool call, signature in its id."""
    return _chat_tool_call(call, part, index, sign_id=True)


def _model_message(parts: Iterable[Any], tool_call: Callable[[dict, dict], dict]) -> dict:
    """A model turn's parts as one canonical assistant message; `tool_call(functionCall, part)`
    turns each call into a canonical tool call. Thought text becomes reasoning_content; code
    execution parts become fenced text; anything else (inline media...) is dropped."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            (thoughts if part.get("thought") is True else texts).append(text)
            continue
        call = _get(part, "functionCall")
        if isinstance(call, dict):
            calls.append(tool_call(call, part))
            continue
        code = _code_text(part)
        if code is not None:
            texts.append(code)
    return assistant_message(texts, calls, thoughts)


def _args_object(arguments: Any) -> dict:
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    parsed = parse_object(arguments)
    return parsed if parsed is not None else {"arguments": arguments}
