"""Where the text of a request or an answer is, per client dialect: pure, no Django.

A slot is a (container, key) pair whose value is a string; screening reads the strings and
masking writes changed ones back in place, so a masked request keeps every other field the
client sent (a same-format call still passes the client's own body through).
"""

from typing import Any

Slot = tuple[Any, Any]  # container[key] is a str


def _add(slots: list[Slot], container: Any, key: Any) -> None:
    if isinstance(container[key], str) and container[key]:
        slots.append((container, key))


def _nested(slots: list[Slot], value: Any, depth: int = 0) -> None:
    """Every string inside a JSON value (a tool result given as an object)."""
    if depth > 64:  # deeper than the JSON parser lets a body be
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                _add(slots, value, key)
            else:
                _nested(slots, item, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                _add(slots, value, index)
            else:
                _nested(slots, item, depth + 1)


def _parts_text(slots: list[Slot], owner: dict, key: str, text_key: str = "text") -> None:
    """`owner[key]` is a string or a list of parts with a text field."""
    content = owner.get(key)
    if isinstance(content, str):
        _add(slots, owner, key)
    elif isinstance(content, list):
        for index, part in enumerate(content):
            if isinstance(part, dict):
                _part(slots, part, text_key)
            elif isinstance(part, str):
                _add(slots, content, index)


def _part(slots: list[Slot], part: dict, text_key: str) -> None:
    if isinstance(part.get(text_key), str):
        _add(slots, part, text_key)
    kind = part.get("type")
    if kind == "tool_result" or kind == "mid_conv_system":
        _parts_text(slots, part, "content")
    elif kind == "tool_use":
        _nested(slots, part.get("input"))
    elif kind == "refusal":
        _add_if(slots, part, "refusal")
    elif kind == "document":  # Anthropic text documents, plain or as content blocks
        source = part.get("source")
        if isinstance(source, dict):
            if source.get("type") == "text":
                _add_if(slots, source, "data")
            elif source.get("type") == "content":
                _parts_text(slots, source, "content")


def _chat(body: dict) -> list[Slot]:
    slots: list[Slot] = []
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        _parts_text(slots, message, "content")
        _add_if(slots, message, "refusal")
        for call in message.get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            if isinstance(function, dict):
                _add_if(slots, function, "arguments")
            custom = call.get("custom")
            if isinstance(custom, dict):
                _add_if(slots, custom, "input")
        legacy = message.get("function_call")
        if isinstance(legacy, dict):
            _add_if(slots, legacy, "arguments")
    prediction = body.get("prediction")
    if isinstance(prediction, dict):
        _parts_text(slots, prediction, "content")
    return slots


def _messages(body: dict) -> list[Slot]:
    slots: list[Slot] = []
    _parts_text(slots, body, "system")
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            _parts_text(slots, message, "content")
    return slots


def _gemini_content(slots: list[Slot], content: Any) -> None:
    if not isinstance(content, dict):
        return
    for part in content.get("parts") or ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            _add(slots, part, "text")
        for name in ("functionResponse", "function_response"):
            response = part.get(name)
            if isinstance(response, dict):
                _nested(slots, response.get("response"))
        for name in ("functionCall", "function_call"):
            called = part.get(name)
            if isinstance(called, dict):
                _nested(slots, called.get("args"))


def _generate(body: dict) -> list[Slot]:
    slots: list[Slot] = []
    _gemini_content(slots, body.get("systemInstruction") or body.get("system_instruction"))
    for content in body.get("contents") or ():
        _gemini_content(slots, content)
    return slots


def _responses(body: dict) -> list[Slot]:
    slots: list[Slot] = []
    _add_if(slots, body, "instructions")
    items = body.get("input")
    if isinstance(items, str):
        _add(slots, body, "input")
        return slots
    for item in items or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            _parts_text(slots, item, "content")
        elif kind.endswith("_call_output"):  # function, custom, shell, local_shell, patch…
            _parts_text(slots, item, "output")
        elif kind == "function_call":
            _add_if(slots, item, "arguments")
        elif kind == "custom_tool_call":
            _add_if(slots, item, "input")
    return slots


def _embeddings(body: dict) -> list[Slot]:
    slots: list[Slot] = []
    value = body.get("input")
    if isinstance(value, str):
        _add(slots, body, "input")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                _add(slots, value, index)
    return slots


def _embed_content(body: dict) -> list[Slot]:
    slots: list[Slot] = []
    _gemini_content(slots, body.get("content"))
    for request in body.get("requests") or ():
        if isinstance(request, dict):
            _gemini_content(slots, request.get("content"))
    return slots


def _add_if(slots: list[Slot], owner: dict, key: str) -> None:
    if isinstance(owner.get(key), str):
        _add(slots, owner, key)


_REQUESTS = {
    "chat": _chat,
    "messages": _messages,
    "generate": _generate,
    "responses": _responses,
    "embeddings": _embeddings,
    "embed_content": _embed_content,
}


def request_slots(surface: str, body: dict) -> list[Slot]:
    """The text a client's request carries, in its own dialect: system text, messages, tool
    results (and the earlier tool calls a conversation replays), Responses `input` and
    `instructions`, embedding inputs. An unknown surface has none (a family added later
    lists its own here)."""
    walk = _REQUESTS.get(surface)
    return walk(body) if walk is not None else []


def completion_slots(completion: dict) -> list[Slot]:
    """The text of a canonical (chat.completion) answer: message content and tool-call
    arguments of every choice."""
    slots: list[Slot] = []
    for choice in completion.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        _parts_text(slots, message, "content")
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                _add_if(slots, function, "arguments")
    return slots


def write_back(slots: list[Slot], texts: list[str]) -> None:
    for (container, key), text in zip(slots, texts, strict=True):
        if container[key] is not text:
            container[key] = text
