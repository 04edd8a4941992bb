"""Small helpers shared by the native wire modules (anthropic, gemini). Pure: no Django, no I/O."""

from collections.abc import Container
from typing import Any

import orjson


def is_int(value: Any) -> bool:
    """An int that is not a bool (JSON true/false parse as bools)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def dumps(value: Any) -> str:
    """Compact JSON text, as tool-call arguments are carried in canonical form."""
    return orjson.dumps(value).decode()


def parse_object(value: Any) -> dict | None:
    """A dict as is; a string holding a JSON object, parsed; anything else None."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def data_url(media_type: str, data: str) -> str:
    """A base64 data: URL for already base64-encoded data."""
    return f"data:{media_type};base64,{data}"


def assistant_message(texts: list[str], calls: list[dict], reasoning: list[str]) -> dict:
    """A canonical assistant message from a turn's pieces: `content` is the joined texts (None
    for a turn of tool calls only), then `tool_calls` and `reasoning_content` when there are
    any."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
    }
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    return message


def text_of(content: Any, kinds: Container[str], *, strings_only: bool = False) -> str:
    """The text of a canonical message content: a string as is, else the joined `text` of the
    list's parts whose `type` is in `kinds` (with `strings_only`, only parts whose `text` is a
    string); anything else is ""."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or ""
            for part in content
            if isinstance(part, dict)
            and part.get("type") in kinds
            and (not strings_only or isinstance(part.get("text"), str))
        )
    return ""


def effort_for_budget(budget: int) -> str:
    """The chat `reasoning_effort` nearest a thinking budget in tokens, one scale for every
    dialect: Gemini's dynamic budget (-1) is medium, no thinking (0) is minimal, and the
    bounds follow the budgets the translators ask for per effort (low 1024, medium 8192)."""
    if budget < 0:
        return "medium"
    if budget == 0:
        return "minimal"
    if budget <= 1024:
        return "low"
    if budget <= 8192:
        return "medium"
    return "high"
