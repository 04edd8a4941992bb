"""OpenAI Responses (`POST /v1/responses`), served by translation to canonical chat.

There is no Responses-kind upstream: every request is validated here, turned into a canonical
chat request (see canonical.py), and the canonical answer is rendered back as a Response
object or as the Responses event stream.

Choices made where the Responses API and Chat differ:
  * Reasoning input items are dropped (nothing in them can be replayed faithfully: we never
    hand out encrypted reasoning state). Built-in tools, `item_reference`, `conversation`,
    file ids and file URLs cannot be served and are rejected with a 400.
  * Function call outputs are moved to sit straight after the assistant message that made the
    call; an output with no call, or a call with no output, is a 400 (as OpenAI does).
  * `call_id`s handed to the client are unique within a response and at most 64 characters;
    longer or repeated upstream ids are rewritten deterministically, and history_after()
    applies the same rewrite so stored conversations join with the client's outputs.
  * Item ids are derived from the response id and the output index, so a stream and its
    final Response agree.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .common import text_of
from .openai_chat import InvalidRequest

__all__ = [
    "InvalidRequest",
    "ResponsesStreamEncoder",
    "chat_to_responses_response",
    "history_after",
    "responses_to_chat",
    "responses_usage",
    "validate_responses_request",
]

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
REASONING_SUMMARIES = frozenset({"auto", "concise", "detailed"})
TEXT_FORMATS = frozenset({"text", "json_object", "json_schema"})
VERBOSITIES = frozenset({"low", "medium", "high"})
ITEM_TYPES = frozenset({"message", "function_call", "function_call_output", "reasoning"})
TEXT_PARTS = frozenset({"input_text", "output_text"})
INPUT_PARTS = frozenset({"input_text", "input_image", "input_file", "input_audio"})
ASSISTANT_PARTS = frozenset({"output_text", "input_text", "refusal"})
IMAGE_DETAILS = frozenset({"low", "high", "auto"})
MAX_CALL_ID = 64


# --- validation ------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bad(message: str, param: str | None, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _number_in(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_number(value):
        raise _bad(f"`{name}` must be a number", name, "invalid_type")
    if not low <= value <= high:
        raise _bad(f"`{name}` must be between {low:g} and {high:g}, got {value}", name)


def _int_at_least(body: dict, name: str, low: int, high: int | None = None) -> None:
    value = body.get(name)
    if value is None:
        return
    if not _is_int(value):
        raise _bad(f"`{name}` must be an integer", name, "invalid_type")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _bad(f"`{name}` must be {bound}, got {value}", name)


def _typed(container: dict, name: str, kind: type, what: str, where: str) -> None:
    """`container[name]`, when present and not null, must be of `kind`."""
    value = container.get(name)
    if value is None:
        return
    if not isinstance(value, kind):
        raise _bad(f"`{where}` must be {what}", where, "invalid_type")


def _required_str(container: dict, name: str, where: str) -> None:
    value = container.get(name)
    if value is None:
        raise _bad(f"`{where}` is required", where, "missing_required_parameter")
    if not isinstance(value, str) or not value:
        raise _bad(f"`{where}` must be a non-empty string", where, "invalid_type")


def _item_type(item: dict) -> str | None:
    """An input item's type; the "easy" message form has a role and no type."""
    kind = item.get("type")
    if kind is None and "role" in item:
        return "message"
    return kind


def _validate_part(part: Any, where: str, allowed: frozenset[str]) -> None:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise _bad(f"`{where}` must be an object with a `type`", where, "invalid_type")
    kind = part["type"]
    if kind not in allowed:
        raise _bad(
            f"`{where}.type` must be one of {sorted(allowed)}, got {kind!r}", f"{where}.type"
        )
    if kind in TEXT_PARTS:
        _required_text(part, "text", f"{where}.text")
    elif kind == "refusal":
        _required_text(part, "refusal", f"{where}.refusal")
    elif kind == "input_image":
        _typed(part, "image_url", str, "a string", f"{where}.image_url")
        _typed(part, "file_id", str, "a string", f"{where}.file_id")
        if not part.get("image_url") and not part.get("file_id"):
            raise _bad(
                f"`{where}` needs `image_url` or `file_id`",
                f"{where}.image_url",
                "missing_required_parameter",
            )
    elif kind == "input_file":
        for name in ("file_data", "file_id", "file_url", "filename"):
            _typed(part, name, str, "a string", f"{where}.{name}")
        if not any(part.get(name) for name in ("file_data", "file_id", "file_url")):
            raise _bad(
                f"`{where}` needs `file_data`, `file_id` or `file_url`",
                f"{where}.file_data",
                "missing_required_parameter",
            )
    elif kind == "input_audio":
        _typed(part, "input_audio", dict, "an object", f"{where}.input_audio")
        if part.get("input_audio") is None:
            raise _bad(
                f"`{where}.input_audio` is required",
                f"{where}.input_audio",
                "missing_required_parameter",
            )


def _required_text(part: dict, name: str, where: str) -> None:
    if not isinstance(part.get(name), str):
        code = "missing_required_parameter" if part.get(name) is None else "invalid_type"
        raise _bad(f"`{where}` must be a string", where, code)


def _validate_item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise _bad(f"`{where}` must be an object", where, "invalid_type")
    kind = _item_type(item)
    if kind is None:
        raise _bad(f"`{where}.type` is required", f"{where}.type", "missing_required_parameter")
    if kind == "message":
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            raise _bad(
                f"`{where}.role` must be one of {sorted(MESSAGE_ROLES)}, got {role!r}",
                f"{where}.role",
            )
        content = item.get("content")
        if isinstance(content, str):
            return
        if not isinstance(content, list):
            code = "missing_required_parameter" if content is None else "invalid_type"
            raise _bad(
                f"`{where}.content` must be a string or an array of content parts",
                f"{where}.content",
                code,
            )
        allowed = ASSISTANT_PARTS if role == "assistant" else INPUT_PARTS | TEXT_PARTS
        for j, part in enumerate(content):
            _validate_part(part, f"{where}.content[{j}]", allowed)
    elif kind == "function_call":
        _required_str(item, "call_id", f"{where}.call_id")
        _required_str(item, "name", f"{where}.name")
        if not isinstance(item.get("arguments"), str):
            code = "missing_required_parameter" if item.get("arguments") is None else "invalid_type"
            raise _bad(f"`{where}.arguments` must be a JSON string", f"{where}.arguments", code)
    elif kind == "function_call_output":
        _required_str(item, "call_id", f"{where}.call_id")
        output = item.get("output")
        if isinstance(output, list):
            for j, part in enumerate(output):
                _validate_part(part, f"{where}.output[{j}]", INPUT_PARTS - {"input_audio"})
        elif not isinstance(output, str):
            code = "missing_required_parameter" if output is None else "invalid_type"
            raise _bad(
                f"`{where}.output` must be a string or an array of content parts",
                f"{where}.output",
                code,
            )
    elif kind == "reasoning":
        _typed(item, "summary", list, "an array", f"{where}.summary")
    elif kind == "item_reference":
        raise _bad(
            "`item_reference` input items are not supported; send the items themselves "
            "or use `previous_response_id`",
            f"{where}.type",
            "unsupported_value",
        )
    else:
        raise _bad(
            f"`{where}.type` must be one of {sorted(ITEM_TYPES)}, got {kind!r}",
            f"{where}.type",
            "unsupported_value",
        )


def _validate_tools(body: dict) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad("`tools` must be an array", "tools", "invalid_type")
        for i, tool in enumerate(tools):
            where = f"tools[{i}]"
            if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
                raise _bad(f"`{where}` must be an object with a `type`", where, "invalid_type")
            if tool["type"] == "function":
                _required_str(tool, "name", f"{where}.name")
                _typed(tool, "description", str, "a string", f"{where}.description")
                _typed(tool, "parameters", dict, "an object", f"{where}.parameters")
                _typed(tool, "strict", bool, "a boolean", f"{where}.strict")
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        if choice in TOOL_CHOICE_MODES:
            return
        raise _bad(
            f"`tool_choice` must be one of {sorted(TOOL_CHOICE_MODES)} or an object, "
            f"got {choice!r}",
            "tool_choice",
        )
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise _bad("`tool_choice` must be a string or an object with a `type`", "tool_choice")
    if choice["type"] == "function":
        _required_str(choice, "name", "tool_choice.name")


def _validate_text(body: dict) -> None:
    text = body.get("text")
    if text is None:
        return
    if not isinstance(text, dict):
        raise _bad("`text` must be an object", "text", "invalid_type")
    verbosity = text.get("verbosity")
    if verbosity is not None and verbosity not in VERBOSITIES:
        raise _bad(f"`text.verbosity` must be one of {sorted(VERBOSITIES)}", "text.verbosity")
    fmt = text.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise _bad("`text.format` must be an object", "text.format", "invalid_type")
    if fmt.get("type") not in TEXT_FORMATS:
        raise _bad(
            f"`text.format.type` must be one of {sorted(TEXT_FORMATS)}, got {fmt.get('type')!r}",
            "text.format.type",
        )
    if fmt["type"] == "json_schema":
        _required_str(fmt, "name", "text.format.name")
        if not isinstance(fmt.get("schema"), dict):
            code = "missing_required_parameter" if fmt.get("schema") is None else "invalid_type"
            raise _bad(
                "`text.format.schema` must be a JSON schema object", "text.format.schema", code
            )
        _typed(fmt, "strict", bool, "a boolean", "text.format.strict")
        _typed(fmt, "description", str, "a string", "text.format.description")


def _validate_reasoning(body: dict) -> None:
    reasoning = body.get("reasoning")
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise _bad("`reasoning` must be an object", "reasoning", "invalid_type")
    effort = reasoning.get("effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise _bad(
            f"`reasoning.effort` must be one of {sorted(REASONING_EFFORTS)}, got {effort!r}",
            "reasoning.effort",
        )
    summary = reasoning.get("summary")
    if summary is not None and summary not in REASONING_SUMMARIES:
        raise _bad(
            f"`reasoning.summary` must be one of {sorted(REASONING_SUMMARIES)}, got {summary!r}",
            "reasoning.summary",
        )


def validate_responses_request(body: Any) -> None:
    """Check a parsed /v1/responses body; raise InvalidRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object", None, "invalid_type")
    model = body.get("model")
    if model is None:
        raise _bad("`model` is required", "model", "missing_required_parameter")
    if not isinstance(model, str) or not model.strip():
        raise _bad("`model` must be a non-empty string", "model", "invalid_type")
    input_ = body.get("input")
    if input_ is None:
        raise _bad("`input` is required", "input", "missing_required_parameter")
    if isinstance(input_, list):
        if not input_:
            raise _bad("`input` must contain at least one item", "input")
        for i, item in enumerate(input_):
            _validate_item(item, f"input[{i}]")
    elif not isinstance(input_, str):
        raise _bad("`input` must be a string or an array of items", "input", "invalid_type")
    _typed(body, "instructions", str, "a string", "instructions")
    _number_in(body, "temperature", 0, 2)
    _number_in(body, "top_p", 0, 1)
    _int_at_least(body, "max_output_tokens", 1)
    _int_at_least(body, "top_logprobs", 0, 20)
    _int_at_least(body, "max_tool_calls", 1)
    for name in ("stream", "store", "parallel_tool_calls", "background"):
        _typed(body, name, bool, "a boolean", name)
    for name in ("previous_response_id", "user", "safety_identifier", "prompt_cache_key"):
        _typed(body, name, str, "a string", name)
    _typed(body, "metadata", dict, "an object", "metadata")
    include = body.get("include")
    if include is not None and not (
        isinstance(include, list) and all(isinstance(x, str) for x in include)
    ):
        raise _bad("`include` must be an array of strings", "include", "invalid_type")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise _bad("`stream_options` must be an object", "stream_options", "invalid_type")
        if body.get("stream") is not True:
            raise _bad("`stream_options` is only allowed when `stream` is true", "stream_options")
    _validate_tools(body)
    _validate_reasoning(body)
    _validate_text(body)


# --- request: Responses -> canonical chat ----------------------------------------------------


def _unsupported(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="unsupported_value")


def _chat_part(part: dict, where: str) -> dict:
    """One Responses input content part as a canonical chat content part."""
    kind = part["type"]
    if kind in TEXT_PARTS:
        return {"type": "text", "text": part["text"]}
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not url:
            raise _unsupported(
                "images given by `file_id` are not supported; send `image_url` "
                "(an https or data: URL)",
                f"{where}.file_id",
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in IMAGE_DETAILS:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not part.get("file_data"):
            name = "file_id" if part.get("file_id") else "file_url"
            raise _unsupported(
                f"files given by `{name}` are not supported; send `file_data`", f"{where}.{name}"
            )
        file: dict[str, Any] = {"file_data": part["file_data"]}
        if part.get("filename"):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part["input_audio"]}
    raise _unsupported(f"content part type {kind!r} is not supported", f"{where}.type")


def _message(item: dict, where: str) -> dict:
    role = item["role"]
    content = item["content"]
    if isinstance(content, str):
        return {"role": role, "content": content}
    parts = [_chat_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    all_text = all(part["type"] == "text" for part in parts)
    if role == "assistant" or (role in ("system", "developer") and all_text):
        # assistant history (and system text) as one plain string: every upstream accepts it
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    if role in ("system", "developer"):
        raise _unsupported(f"{role} messages can only hold text", f"{where}.content")
    if all_text and len(parts) == 1:
        return {"role": role, "content": parts[0]["text"]}
    return {"role": role, "content": parts}


def _tool_output(item: dict, where: str) -> tuple[str, list[dict]]:
    """A function_call_output's text, and any images/files (which go in a following user
    message, because tool messages can hold only text)."""
    output = item["output"]
    if isinstance(output, str):
        return output, []
    texts, media = [], []
    for j, part in enumerate(output):
        converted = _chat_part(part, f"{where}.output[{j}]")
        if converted["type"] == "text":
            texts.append(converted["text"])
        else:
            media.append(converted)
    return "".join(texts), media


def _input_messages(items: list, prior: list[dict]) -> list[dict]:
    """Input items -> messages, appended to `prior` (instructions and history), with every
    tool result placed straight after the assistant message that made the call."""
    others: list[dict] = []
    outputs: dict[str, list[tuple[dict, list[dict], str]]] = {}
    open_assistant: dict | None = None  # the assistant message function_call items join
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = _item_type(item)
        if kind == "message":
            message = _message(item, where)
            others.append(message)
            open_assistant = message if message["role"] == "assistant" else None
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"] or "{}"},
            }
            if open_assistant is None:
                open_assistant = {"role": "assistant", "content": None}
                others.append(open_assistant)
            open_assistant.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            text, media = _tool_output(item, where)
            tool = {"role": "tool", "tool_call_id": item["call_id"], "content": text}
            outputs.setdefault(item["call_id"], []).append((tool, media, where))
            open_assistant = None
        elif kind == "reasoning":
            continue  # dropped: no reasoning state we can replay
        else:  # validation lets nothing else through
            raise _unsupported(f"input item type {kind!r} is not supported", f"{where}.type")

    combined = prior + others
    # an output belongs to the LAST assistant message that made a call with its id (some
    # upstreams reuse ids such as "call_0" on every turn)
    owner: dict[Any, int] = {}
    for n, message in enumerate(combined):
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or ():
                owner[call.get("id")] = n
    result: list[dict] = []
    i = 0
    while i < len(combined):
        position, message = i, combined[i]
        result.append(message)
        i += 1
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        if not calls:
            continue
        while i < len(combined) and combined[i].get("role") == "tool":
            result.append(combined[i])
            i += 1
        media: list[dict] = []
        for call in calls:
            if owner[call.get("id")] != position:
                continue
            for tool, call_media, _ in outputs.pop(call.get("id"), []):
                result.append(tool)
                media.extend(call_media)
        if media:
            result.append({"role": "user", "content": media})
    for entries in outputs.values():
        _, _, where = entries[0]
        raise InvalidRequest(
            f"no function call found for function_call_output with call_id "
            f"{entries[0][0]['tool_call_id']!r}",
            param=f"{where}.call_id",
            code="invalid_value",
        )
    _check_every_call_answered(result)
    return result


def _check_every_call_answered(messages: list[dict]) -> None:
    for n, message in enumerate(messages):
        calls = message.get("tool_calls") if message.get("role") == "assistant" else None
        if not calls:
            continue
        answered = set()
        for following in messages[n + 1 :]:
            if following.get("role") != "tool":
                break
            answered.add(following.get("tool_call_id"))
        for call in calls:
            if call.get("id") not in answered:
                raise InvalidRequest(
                    f"no function_call_output found for function call {call.get('id')!r}",
                    param="input",
                    code="invalid_value",
                )


def _chat_tools(body: dict) -> tuple[list[dict], Any]:
    """(chat tools, chat tool_choice or None)."""
    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        if tool["type"] != "function":
            raise _unsupported(
                f"tool type {tool['type']!r} is not supported; only function tools are",
                f"tools[{i}].type",
            )
        function: dict[str, Any] = {"name": tool["name"]}
        for name in ("description", "parameters", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        tools.append({"type": "function", "function": function})

    choice = body.get("tool_choice")
    if choice is None or isinstance(choice, str):
        return tools, choice
    kind = choice["type"]
    if kind == "function":
        return tools, {"type": "function", "function": {"name": choice["name"]}}
    if kind == "allowed_tools":
        # Chat has no portable equivalent: offer only the allowed functions instead.
        mode = choice.get("mode", "auto")
        allowed = choice.get("tools")
        if mode not in ("auto", "required") or not isinstance(allowed, list):
            raise _bad("`tool_choice` allowed_tools needs `mode` and `tools`", "tool_choice")
        names = set()
        for j, entry in enumerate(allowed):
            if not isinstance(entry, dict) or entry.get("type") != "function":
                raise _unsupported(
                    "only function tools can be listed in allowed_tools",
                    f"tool_choice.tools[{j}]",
                )
            names.add(entry.get("name"))
        return [t for t in tools if t["function"]["name"] in names], mode
    raise _unsupported(f"tool_choice type {kind!r} is not supported", "tool_choice.type")


def _response_format(text: dict | None) -> dict | None:
    fmt = (text or {}).get("format")
    if not fmt or fmt["type"] == "text":
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": fmt["name"], "schema": fmt["schema"]}
    for name in ("description", "strict"):
        if fmt.get(name) is not None:
            schema[name] = fmt[name]
    return {"type": "json_schema", "json_schema": schema}


def responses_to_chat(body: dict, *, history: list[dict] | None = None) -> dict:
    """A validated Responses request as a canonical chat request.

    `history` is the canonical conversation of the earlier turns (previous_response_id),
    without system messages; `instructions` are never inherited from it."""
    if body.get("conversation") is not None:
        raise _unsupported(
            "`conversation` is not supported; use `previous_response_id`", "conversation"
        )
    prior: list[dict] = []
    if body.get("instructions"):
        prior.append({"role": "system", "content": body["instructions"]})
    prior.extend(history or [])
    input_ = body["input"]
    if isinstance(input_, str):
        messages = _input_messages([{"role": "user", "content": input_}], prior)
    else:
        messages = _input_messages(input_, prior)

    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    for name in ("temperature", "top_p", "parallel_tool_calls", "metadata", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    effort = (body.get("reasoning") or {}).get("effort")
    if effort is not None:
        chat["reasoning_effort"] = effort
    tools, choice = _chat_tools(body)
    if tools:  # Chat rejects tool_choice / parallel_tool_calls without tools
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = choice
    else:
        chat.pop("parallel_tool_calls", None)
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    verbosity = (body.get("text") or {}).get("verbosity")
    if verbosity is not None:
        chat["verbosity"] = verbosity
    return chat


# --- response: canonical chat -> Response object --------------------------------------------


def _suffix(response_id: str) -> str:
    return response_id.removeprefix("resp_")


def _item_id(prefix: str, response_id: str, index: int) -> str:
    return f"{prefix}_{_suffix(response_id)}_{index}"


def _fallback_call_id(chat_id: Any, n: int) -> str:
    """A call_id for the n-th tool call of a completion whose upstream gave none; derived from
    the completion id so that history_after() mints the same one."""
    return f"call_{chat_id}_{n}" if chat_id else f"call_{n}"


class _CallIds:
    """Client-facing call_ids: unique within a response, at most 64 characters, and the
    same for the same sequence of upstream ids (so stored history matches)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def visible(self, upstream_id: str | None, fallback: str) -> str:
        call_id = upstream_id or fallback
        if len(call_id) > MAX_CALL_ID:
            digest = hashlib.sha256(call_id.encode()).hexdigest()[:16]
            call_id = f"{call_id[: MAX_CALL_ID - 17]}_{digest}"
        base, n = call_id, 1
        while call_id in self._seen:
            tail = f"_{n}"
            call_id = base[: MAX_CALL_ID - len(tail)] + tail
            n += 1
        self._seen.add(call_id)
        return call_id


def _text_of(content: Any) -> str:
    return text_of(content, ("text", "output_text"))


def _reasoning_text(message: dict) -> str:
    text = message.get("reasoning_content")
    if isinstance(text, str) and text:
        return text
    blocks = message.get("thinking_blocks") or []
    return "".join(
        block.get("thinking") or ""
        for block in blocks
        if isinstance(block, dict) and block.get("type") == "thinking"
    )


def responses_usage(usage: Any) -> dict[str, Any]:
    """Canonical chat usage -> Responses usage; zeros when the upstream reported none."""
    usage = usage if isinstance(usage, dict) else {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    input_tokens = int(usage.get("prompt_tokens") or 0)
    output_tokens = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": int(prompt_details.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt_details.get("cache_write_tokens") or 0),
        },
        "output_tokens": output_tokens,
        "output_tokens_details": {
            "reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)
        },
        "total_tokens": input_tokens + output_tokens,
    }


# Response.error.code is an enum in the spec; the `error` event's code is free-form.
RESPONSE_ERROR_CODES = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "unsupported_image_media_type",
        "failed_to_download_image",
    }
)


def _failure_code(code: str | None) -> str:
    if code in RESPONSE_ERROR_CODES:
        return code
    if code and "rate_limit" in code:
        return "rate_limit_exceeded"
    return "server_error"


def _status(finish_reason: Any) -> tuple[str, dict | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _response_object(
    *, response_id: str, model: str, request: dict, created_at: int, status: str
) -> dict[str, Any]:
    """A Response object with the request's settings echoed and no output yet."""
    reasoning = request.get("reasoning") if isinstance(request.get("reasoning"), dict) else {}
    text = request.get("text") if isinstance(request.get("text"), dict) else {}
    echoed_text: dict[str, Any] = {"format": text.get("format") or {"type": "text"}}
    if text.get("verbosity") is not None:
        echoed_text["verbosity"] = text["verbosity"]
    parallel = request.get("parallel_tool_calls")
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": parallel if isinstance(parallel, bool) else True,
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "temperature": request.get("temperature"),
        "text": echoed_text,
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": list(request.get("tools") or []),
        "top_p": request.get("top_p"),
        "metadata": request.get("metadata") or {},
        "usage": None,
    }
    if request.get("user") is not None:
        response["user"] = request["user"]
    return response


def chat_to_responses_response(
    chat: dict, *, response_id: str, model: str, request: dict, created_at: int
) -> dict:
    """A canonical chat.completion as a Response object."""
    choices = chat.get("choices") or [{}]
    choice = choices[0] or {}
    message = choice.get("message") or {}
    status, incomplete = _status(choice.get("finish_reason"))
    output: list[dict] = []

    reasoning = _reasoning_text(message)
    if reasoning:
        output.append(
            {
                "id": _item_id("rs", response_id, len(output)),
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": reasoning}],
            }
        )
    content: list[dict] = []
    text = _text_of(message.get("content"))
    if text:
        content.append({"type": "output_text", "text": text, "annotations": []})
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        content.append({"type": "refusal", "refusal": message["refusal"]})
    if content:
        output.append(
            {
                "id": _item_id("msg", response_id, len(output)),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": content,
            }
        )
    ids = _CallIds()
    for n, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        output.append(
            {
                "id": _item_id("fc", response_id, len(output)),
                "type": "function_call",
                "status": "completed",
                "call_id": ids.visible(call.get("id"), _fallback_call_id(chat.get("id"), n)),
                "name": function.get("name") or "",
                "arguments": function.get("arguments") or "{}",
            }
        )
    if status == "incomplete" and output and output[-1]["type"] != "reasoning":
        output[-1]["status"] = "incomplete"  # the cut-off item is the last one

    response = _response_object(
        response_id=response_id,
        model=model,
        request=request,
        created_at=created_at,
        status=status,
    )
    response["incomplete_details"] = incomplete
    response["output"] = output
    response["usage"] = responses_usage(chat.get("usage"))
    return response


# --- stream: canonical chunks -> Responses events --------------------------------------------


class ResponsesStreamEncoder:
    """Canonical chat chunks -> the Responses event stream.

    At most one output item is open at a time: a reasoning item (one summary part), a message
    item (output_text / refusal parts), or a function_call item. A delta of another kind
    closes the open item and opens a new one at the next output index. Each event is written
    as `event: <type>` + `data: <json>` and carries a sequence_number counting from 0."""

    def __init__(self, *, response_id: str, model: str, request: dict, created_at: int) -> None:
        self._response_id = response_id
        self._model = model
        self._request = request
        self._created_at = created_at
        self._seq = 0
        self._started = False
        self._ended = False
        self._output: list[dict] = []
        self._open: dict | None = None  # the open output item
        self._open_index = -1
        self._part: dict | None = None  # the open content part of a message item
        self._buffer: list[str] = []  # text of the open part / summary / arguments
        self._tools: dict[int, dict] = {}  # chat tool-call index -> function_call item
        self._call_ids = _CallIds()
        self._chat_id = ""
        self._finish_reason: str | None = None
        self._usage: dict | None = None
        self._final: dict | None = None

    # -- public ----------------------------------------------------------------------------

    def start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        response = self._response("in_progress")
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def feed(self, chunk: dict) -> bytes:
        if self._ended:
            return b""
        out = [self.start()]
        self._chat_id = self._chat_id or chunk.get("id") or ""
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # Responses has no n; only the first choice is rendered
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out.append(self._reasoning(delta["reasoning_content"]))
            if delta.get("content"):
                out.append(self._text("output_text", delta["content"]))
            if delta.get("refusal"):
                out.append(self._text("refusal", delta["refusal"]))
            for call in delta.get("tool_calls") or []:
                out.append(self._tool_call(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._ended:
            return b""
        out = [self.start()]
        status, incomplete = _status(self._finish_reason)
        out.append(self._close(final_status="incomplete" if incomplete else "completed"))
        response = self._response(status)
        response["incomplete_details"] = incomplete
        response["output"] = self._output
        response["usage"] = responses_usage(self._usage)
        kind = "response.incomplete" if incomplete else "response.completed"
        out.append(self._event(kind, response=response))
        self._ended = True
        self._final = response
        return b"".join(out)

    def error(self, message: str, code: str | None = None) -> bytes:
        """An `error` event then `response.failed`; the stream is over after this."""
        if self._ended:
            return b""
        out = [self.start()]
        out.append(self._event("error", code=code, message=message, param=None))
        self._settle_open("incomplete")
        response = self._response("failed")
        response["error"] = {"code": _failure_code(code), "message": message}
        response["output"] = self._output
        response["usage"] = responses_usage(self._usage) if self._usage else None
        out.append(self._event("response.failed", response=response))
        self._ended = True
        return b"".join(out)

    @property
    def final_response(self) -> dict | None:
        """The Response object sent in the terminal event, once finish() ran."""
        return self._final

    # -- internals -------------------------------------------------------------------------

    def _event(self, type_: str, **fields: Any) -> bytes:
        payload = {"type": type_, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + type_.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

    def _response(self, status: str) -> dict:
        return _response_object(
            response_id=self._response_id,
            model=self._model,
            request=self._request,
            created_at=self._created_at,
            status=status,
        )

    def _open_item(self, item: dict) -> bytes:
        self._open_index = len(self._output)
        self._output.append(item)
        self._open = item
        self._buffer = []
        return self._event("response.output_item.added", output_index=self._open_index, item=item)

    def _where(self) -> dict[str, Any]:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": self._open_index}

    def _reasoning(self, delta: str) -> bytes:
        out = []
        if self._open is None or self._open["type"] != "reasoning":
            out.append(self._close())
            index = len(self._output)
            item = {
                "id": _item_id("rs", self._response_id, index),
                "type": "reasoning",
                "summary": [],
            }
            out.append(self._open_item(item))
            out.append(
                self._event(
                    "response.reasoning_summary_part.added",
                    **self._where(),
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
        self._buffer.append(delta)
        out.append(
            self._event(
                "response.reasoning_summary_text.delta",
                **self._where(),
                summary_index=0,
                delta=delta,
            )
        )
        return b"".join(out)

    def _text(self, kind: str, delta: str) -> bytes:
        """kind: output_text or refusal, both parts of a message item."""
        out = []
        if self._open is None or self._open["type"] != "message":
            out.append(self._close())
            index = len(self._output)
            item = {
                "id": _item_id("msg", self._response_id, index),
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            out.append(self._open_item(item))
        assert self._open is not None
        if self._part is None or self._part["type"] != kind:
            out.append(self._close_part())
            self._part = (
                {"type": "output_text", "text": "", "annotations": []}
                if kind == "output_text"
                else {"type": "refusal", "refusal": ""}
            )
            out.append(
                self._event(
                    "response.content_part.added",
                    **self._where(),
                    content_index=len(self._open["content"]),
                    part=self._part,
                )
            )
        self._buffer.append(delta)
        where = {**self._where(), "content_index": len(self._open["content"])}
        if kind == "output_text":
            out.append(self._event("response.output_text.delta", **where, delta=delta, logprobs=[]))
        else:
            out.append(self._event("response.refusal.delta", **where, delta=delta))
        return b"".join(out)

    def _tool_call(self, call: dict) -> bytes:
        index = call.get("index", 0)
        function = call.get("function") or {}
        arguments = function.get("arguments") or ""
        item = self._tools.get(index)
        out = []
        if item is None:
            out.append(self._close())
            position = len(self._output)
            item = {
                "id": _item_id("fc", self._response_id, position),
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": self._call_ids.visible(
                    call.get("id"), _fallback_call_id(self._chat_id, len(self._tools))
                ),
                "name": function.get("name") or "",
            }
            self._tools[index] = item
            out.append(self._open_item(item))
        if arguments:
            if item is self._open:
                self._buffer.append(arguments)
                out.append(
                    self._event(
                        "response.function_call_arguments.delta", **self._where(), delta=arguments
                    )
                )
            else:
                # a late fragment for a call already closed: it still reaches the final output
                item["arguments"] += arguments
        return b"".join(out)

    def _close_part(self) -> bytes:
        """Close the open content part of the open message item."""
        part = self._part
        if part is None or self._open is None:
            return b""
        text = "".join(self._buffer)
        self._buffer = []
        self._part = None
        where = {**self._where(), "content_index": len(self._open["content"])}
        if part["type"] == "output_text":
            part = {**part, "text": text}
            done = self._event("response.output_text.done", **where, text=text, logprobs=[])
        else:
            part = {**part, "refusal": text}
            done = self._event("response.refusal.done", **where, refusal=text)
        self._open["content"].append(part)
        return done + self._event("response.content_part.done", **where, part=part)

    def _close(self, final_status: str = "completed") -> bytes:
        """Close the open item with its *.done events and output_item.done."""
        item = self._open
        if item is None:
            return b""
        out = []
        if item["type"] == "message":
            out.append(self._close_part())
            item["status"] = final_status
        elif item["type"] == "reasoning":
            text = "".join(self._buffer)
            part = {"type": "summary_text", "text": text}
            out.append(
                self._event(
                    "response.reasoning_summary_text.done",
                    **self._where(),
                    summary_index=0,
                    text=text,
                )
            )
            out.append(
                self._event(
                    "response.reasoning_summary_part.done",
                    **self._where(),
                    summary_index=0,
                    part=part,
                )
            )
            item["summary"] = [part]
        else:
            arguments = "".join(self._buffer)
            if not arguments:
                arguments = "{}"  # a call without parameters still has an (empty) object
                out.append(
                    self._event(
                        "response.function_call_arguments.delta", **self._where(), delta=arguments
                    )
                )
            item["arguments"] = arguments
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    **self._where(),
                    name=item["name"],
                    arguments=arguments,
                )
            )
            item["status"] = final_status
        out.append(
            self._event("response.output_item.done", output_index=self._open_index, item=item)
        )
        self._open = None
        self._buffer = []
        return b"".join(out)

    def _settle_open(self, status: str) -> None:
        """Fold the open item's buffered text into it without sending events (on failure)."""
        item = self._open
        if item is None:
            return
        text = "".join(self._buffer)
        if item["type"] == "message":
            if self._part is not None:
                key = "text" if self._part["type"] == "output_text" else "refusal"
                item["content"].append({**self._part, key: text})
            item["status"] = status
        elif item["type"] == "reasoning":
            item["summary"] = [{"type": "summary_text", "text": text}]
        else:
            item["arguments"] = text
            item["status"] = status
        self._open = None
        self._part = None
        self._buffer = []


# --- stored conversations --------------------------------------------------------------------


def history_after(chat_request: dict, chat_completion: dict) -> list[dict]:
    """The canonical conversation to keep for a later previous_response_id: the request's
    messages without system/developer ones (instructions are not inherited), then the
    assistant's answer with the same call_ids the client was shown."""
    history = [
        message
        for message in chat_request.get("messages") or []
        if message.get("role") not in ("system", "developer")
    ]
    choices = chat_completion.get("choices") or [{}]
    message = (choices[0] or {}).get("message") or {}
    assistant: dict[str, Any] = {"role": "assistant", "content": _text_of(message.get("content"))}
    calls = message.get("tool_calls") or []
    if calls:
        ids = _CallIds()
        assistant["tool_calls"] = []
        for n, call in enumerate(calls):
            visible = ids.visible(call.get("id"), _fallback_call_id(chat_completion.get("id"), n))
            function = call.get("function") or {}
            stored = {
                **call,
                "id": visible,
                "type": "function",
                "function": {
                    "name": function.get("name") or "",
                    "arguments": function.get("arguments") or "{}",
                },
            }
            stored.pop("index", None)
            assistant["tool_calls"].append(stored)
        if not assistant["content"]:
            assistant["content"] = None
    history.append(assistant)
    return history
