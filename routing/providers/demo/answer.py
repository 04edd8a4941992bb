"""What the demo model says to a chat request: a tool call or text, decided from the
conversation the way a well-behaved model would, so agent loops (Claude Code, Codex) finish.

- A tool is called on a fresh request (the user spoke last, no tool result since the last
  assistant turn) when tools are offered and `tool_choice` allows it; `"required"`, a named
  function, or `allowed_tools` in required mode force a call on any turn; `"none"` forbids.
- After tool results it answers in text, quoting them.
- With `response_format` the text is JSON: an example valid against a `json_schema`, or an
  object for `json_object`.
- Call ids hash the conversation, the choice and the tool: a new id on every turn of a
  conversation (the conversation grows), the same id for the same request, streamed or not.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from .schema import example_for

SUMMARY_CHARS = 200


@dataclass(frozen=True)
class Answer:
    text: str | None  # the content, when it answers in text
    tool: str | None = None  # the function it calls, when it calls one
    arguments: str = "{}"  # JSON, valid against the function's parameters


def conversation_digest(messages: list) -> str:
    return hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()


def call_id(digest: str, choice: int, position: int, name: str) -> str:
    seed = f"{digest}:{choice}:{position}:{name}".encode()
    return f"call_demo_{hashlib.sha256(seed).hexdigest()[:24]}"


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text") or "")
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text", "output_text")
        )
    return ""


def _offered(body: dict) -> tuple[list[dict], bool]:
    """(the function tools it may call, whether it must call one)."""
    tools = [
        t
        for t in body.get("tools") or []
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
    ]
    choice = body.get("tool_choice")
    if choice == "none":
        return [], False
    if choice == "required":
        return tools, True
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        named = [t for t in tools if t["function"]["name"] == name]
        return named, bool(named)
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {
            (entry.get("function") or {}).get("name") or entry.get("name")
            for entry in allowed.get("tools") or []
            if isinstance(entry, dict)
        }
        return [t for t in tools if t["function"]["name"] in names], allowed.get(
            "mode"
        ) == "required"
    return tools, False


def _since_assistant(messages: list) -> list[dict]:
    """The messages after the last assistant turn, in order."""
    tail: list[dict] = []
    for message in reversed(messages):
        if not isinstance(message, dict):
            continue
        if message.get("role") == "assistant":
            break
        tail.append(message)
    return tail[::-1]


def _last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def _arguments(tool: dict) -> str:
    parameters = tool["function"].get("parameters")
    value = example_for(parameters) if isinstance(parameters, dict) else {}
    return orjson.dumps(value if isinstance(value, dict) else {}).decode()


def _structured(body: dict, text: str) -> str:
    fmt = body.get("response_format")
    fmt = fmt if isinstance(fmt, dict) else {}
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        value = example_for(schema if isinstance(schema, dict) else {}, optional=True)
        return orjson.dumps(value).decode()
    if kind == "json_object":
        return orjson.dumps({"answer": text}).decode()
    return text


def decide(body: dict) -> Answer:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tail = _since_assistant(messages)
    results = [text_of(m.get("content")) for m in tail if m.get("role") == "tool"]
    fresh = not results and any(m.get("role") == "user" for m in tail)
    tools, forced = _offered(body)
    if tools and (forced or fresh):
        return Answer(None, tools[0]["function"]["name"], _arguments(tools[0]))
    if results:
        returned = "\n".join(r for r in results if r)[:SUMMARY_CHARS]
        text = f"The tool returned: {returned}" if returned else "The tool returned nothing."
    elif said := _last_user_text(messages).strip():
        text = f"Hello from Orca's demo model. You said: {said[:SUMMARY_CHARS]}"
    else:
        text = "Hello from Orca's demo model."
    return Answer(_structured(body, text))
