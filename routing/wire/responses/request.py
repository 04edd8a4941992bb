"""Client -> Orca: a /v1/responses request checked and turned into a canonical chat request.

validate_responses_request() names the first bad field as a 400; responses_to_chat() then maps
input items, tools, tool_choice and text format onto Chat, joining the stored history of a
previous_response_id in front of the new input. Nothing here looks at an upstream answer.
Tools and the items of tool calls are translated in tools.py; a tool that cannot be translated
is left out and listed (routing/wire/tools.py), never refused.
"""

from __future__ import annotations

from typing import Any

from ..openai_chat import InvalidRequest
from ..tools import DROPPED, FORCED
from .search import SEARCH_KEY, canonical_search, is_search_tool
from .tools import (
    CALL_ITEMS,
    HOSTED_ITEMS,
    OUTPUT_ITEMS,
    TOOL_LIST_ITEMS,
    ToolMap,
    chat_tools,
    client_tools,
    item_call,
    tool_output,
    validate_tool_item,
    validate_tools,
)

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
REASONING_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
REASONING_SUMMARIES = frozenset({"auto", "concise", "detailed"})
TEXT_FORMATS = frozenset({"text", "json_object", "json_schema"})
VERBOSITIES = frozenset({"low", "medium", "high"})
ITEM_TYPES = frozenset(
    {"message", "function_call_output", "custom_tool_call_output", "reasoning"}
    | CALL_ITEMS
    | OUTPUT_ITEMS
    | HOSTED_ITEMS
    | TOOL_LIST_ITEMS
)
TEXT_PARTS = frozenset({"input_text", "output_text"})
INPUT_PARTS = frozenset({"input_text", "input_image", "input_file", "input_audio"})
ASSISTANT_PARTS = frozenset({"output_text", "input_text", "refusal"})
IMAGE_DETAILS = frozenset({"low", "high", "auto"})


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
        _typed(item, "namespace", str, "a string", f"{where}.namespace")
    elif kind in ("function_call_output", "custom_tool_call_output"):
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
    elif kind in CALL_ITEMS or kind in OUTPUT_ITEMS or kind in TOOL_LIST_ITEMS:
        validate_tool_item(item, kind, where)
    elif kind in HOSTED_ITEMS:
        return  # dropped by the translation: a hosted tool's call replays nothing
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
    validate_tools(body)
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


def _input_messages(items: list, prior: list[dict], tools: ToolMap) -> list[dict]:
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
        elif kind in CALL_ITEMS:
            call = item_call(item, kind, tools)
            if open_assistant is None:
                open_assistant = {"role": "assistant", "content": None}
                others.append(open_assistant)
            open_assistant.setdefault("tool_calls", []).append(call)
        elif kind in ("function_call_output", "custom_tool_call_output") or kind in OUTPUT_ITEMS:
            if kind in OUTPUT_ITEMS:
                call_id, text = tool_output(item, kind)
                media: list[dict] = []
            else:
                call_id, (text, media) = item["call_id"], _tool_output(item, where)
            tool = {"role": "tool", "tool_call_id": call_id, "content": text}
            outputs.setdefault(call_id, []).append((tool, media, where))
            open_assistant = None
        elif kind == "reasoning" or kind in HOSTED_ITEMS or kind in TOOL_LIST_ITEMS:
            # dropped: no reasoning state, nor hosted tool calls, can be replayed (the tools
            # of a tool list item joined the request's: client_tools())
            continue
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
        answered_media: list[dict] = []
        for call in calls:
            if owner[call.get("id")] != position:
                continue
            for tool, call_media, _ in outputs.pop(call.get("id"), []):
                result.append(tool)
                answered_media.extend(call_media)
        if answered_media:
            result.append({"role": "user", "content": answered_media})
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


def _search_allowed(choice: Any) -> bool:
    """Whether tool_choice leaves the web search on: not `none`, nor an allowed_tools list
    without it."""
    if choice == "none":
        return False
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return any(is_search_tool(entry) for entry in choice.get("tools") or ())
    return True


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
    tool_map = ToolMap(client_tools(body))
    if isinstance(input_, str):
        messages = _input_messages([{"role": "user", "content": input_}], prior, tool_map)
    else:
        messages = _input_messages(input_, prior, tool_map)

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
    tools, choice, forced = chat_tools(body, tool_map)
    if tools:  # Chat rejects tool_choice / parallel_tool_calls without tools
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = choice
    else:
        chat.pop("parallel_tool_calls", None)
    if tool_map.search is not None and _search_allowed(body.get("tool_choice")):
        chat["web_search_options"], knobs = canonical_search(tool_map.search)
        if knobs is not None:
            chat[SEARCH_KEY] = knobs
    if tool_map.dropped:
        chat[DROPPED] = tool_map.dropped
    if forced is not None:
        chat[FORCED] = forced
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    verbosity = (body.get("text") or {}).get("verbosity")
    if verbosity is not None:
        chat["verbosity"] = verbosity
    return chat
