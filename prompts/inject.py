"""Putting a rendered prompt into a request, in the client's own dialect: pure, no Django.

The prompt's system text goes before the caller's own system text, its messages (a
few-shot prefix) before the caller's conversation, and its model and parameters apply only
where the request leaves them out. The body stays the client's dialect, so a same-format
call still passes it through and a translated one translates it like any other.
"""

from typing import Any

SURFACES = ("chat", "messages", "generate", "responses")


def _join(first: str, then: Any) -> Any:
    return first if not then else f"{first}\n\n{then}"


def _chat(body: dict, system: str, messages: list[dict]) -> None:
    conversation = body.get("messages")
    if not isinstance(conversation, list):
        return  # validation names the problem
    lead = 0  # the caller's own system/developer messages stay first among theirs
    while (
        lead < len(conversation)
        and isinstance(conversation[lead], dict)
        and (conversation[lead].get("role") in ("system", "developer"))
    ):
        lead += 1
    added = [{"role": m["role"], "content": m["content"]} for m in messages]
    head = [{"role": "system", "content": system}] if system else []
    body["messages"] = [*head, *conversation[:lead], *added, *conversation[lead:]]


def _messages(body: dict, system: str, messages: list[dict]) -> None:
    if system:
        own = body.get("system")
        if isinstance(own, list):  # blocks (cache_control and all) stay as they were
            body["system"] = [{"type": "text", "text": system}, *own]
        else:
            body["system"] = _join(system, own)
    conversation = body.get("messages")
    if messages and isinstance(conversation, list):
        added = [{"role": m["role"], "content": m["content"]} for m in messages]
        body["messages"] = [*added, *conversation]


def _generate(body: dict, system: str, messages: list[dict]) -> None:
    if system:
        key = "system_instruction" if "system_instruction" in body else "systemInstruction"
        own = body.get(key)
        parts = own.get("parts") if isinstance(own, dict) else None
        body[key] = {
            **(own if isinstance(own, dict) else {}),
            "parts": [{"text": system}, *(parts if isinstance(parts, list) else [])],
        }
    contents = body.get("contents")
    if messages and isinstance(contents, list):
        added = [
            {
                "role": "model" if m["role"] == "assistant" else "user",
                "parts": [{"text": m["content"]}],
            }
            for m in messages
        ]
        body["contents"] = [*added, *contents]


def _responses(body: dict, system: str, messages: list[dict]) -> None:
    if system:
        body["instructions"] = _join(system, body.get("instructions"))
    if not messages or body.get("previous_response_id"):
        return  # a follow-up's conversation already begins with the few-shot prefix
    added = [{"role": m["role"], "content": m["content"]} for m in messages]
    items = body.get("input")
    if isinstance(items, str):
        body["input"] = [*added, {"role": "user", "content": items}]
    elif isinstance(items, list):
        body["input"] = [*added, *items]


_INJECT = {"chat": _chat, "messages": _messages, "generate": _generate, "responses": _responses}


def inject(surface: str, body: dict, system: str, messages: list[dict]) -> None:
    _INJECT[surface](body, system, messages)


def apply_defaults(surface: str, body: dict, model: str, parameters: dict[str, Any]) -> None:
    """The version's model and parameters, where the request has none of its own."""
    if model and surface != "generate" and not body.get("model"):  # Gemini's is in the path
        body["model"] = model
    temperature, top_p = parameters.get("temperature"), parameters.get("top_p")
    max_tokens, response_format = parameters.get("max_tokens"), parameters.get("response_format")
    if surface == "generate":
        key = "generation_config" if "generation_config" in body else "generationConfig"
        config = body.get(key)
        config = {} if config is None else config
        if not isinstance(config, dict):
            return
        for name, value in (
            ("temperature", temperature),
            ("topP", top_p),
            ("maxOutputTokens", max_tokens),
        ):
            if value is not None and name not in config:
                config[name] = value
        wants_json = isinstance(response_format, dict) and response_format.get("type") in (
            "json_object",
            "json_schema",
        )
        if wants_json and isinstance(response_format, dict) and "responseMimeType" not in config:
            config["responseMimeType"] = "application/json"
            schema = (response_format.get("json_schema") or {}).get("schema")
            if schema is not None:
                config["responseJsonSchema"] = schema
        if config:
            body[key] = config
        return
    for name, value in (("temperature", temperature), ("top_p", top_p)):
        if value is not None and name not in body:
            body[name] = value
    if max_tokens is not None:
        if surface == "responses":
            body.setdefault("max_output_tokens", max_tokens)
        elif surface == "chat":
            # chat's current name (reasoning models refuse `max_tokens`); Orca reads both
            if "max_tokens" not in body and "max_completion_tokens" not in body:
                body["max_completion_tokens"] = max_tokens
        elif "max_tokens" not in body:
            body["max_tokens"] = max_tokens
    if isinstance(response_format, dict):
        if surface == "chat":
            body.setdefault("response_format", response_format)
        elif surface == "responses":
            text = body.setdefault("text", {})
            if isinstance(text, dict) and "format" not in text:
                text["format"] = _responses_format(response_format)


def _responses_format(response_format: dict) -> dict:
    if response_format.get("type") != "json_schema":
        return {"type": response_format.get("type", "text")}
    spec = response_format.get("json_schema") or {}
    out = {
        "type": "json_schema",
        "name": spec.get("name", "response"),
        "schema": spec.get("schema"),
    }
    if "strict" in spec:
        out["strict"] = spec["strict"]
    return out
