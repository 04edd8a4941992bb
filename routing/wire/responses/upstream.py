"""Orca -> a Responses-kind upstream (OpenAI, xAI `POST /v1/responses`), and its answer back.

chat_to_responses_request() (here) turns a canonical chat request into a Responses body;
responses_to_chat_response() and ResponsesStreamDecoder (upstream_response.py, re-exported
here) read the Response object or its event stream back as canonical chat. Pure: no Django,
no I/O.

Choices made where Chat and Responses differ:
  * Leading system/developer messages become `instructions` (joined by a blank line); later
    ones become developer input items. System content can only be text.
  * Assistant text is sent as `{"type":"message","role":"assistant","content":"<text>"}`
    (refusals included as text): the part-list form is typed as a stored output message,
    with an item id and status that store:false history does not have.
  * Reasoning state (reasoning_content, thinking_blocks, Gemini thought signatures) is never
    replayed: `store` is always false and we hold no encrypted reasoning to send back.
  * Function tools always carry `strict` (false unless the client said true) because
    Responses makes an omitted `strict` mean true, Chat false.
  * `call_id`s longer than 64 characters (the OpenAI limit) are shortened deterministically,
    so a tool message still joins its call.
  * An exact thinking budget (reasoning_budget_tokens, from an Anthropic or Gemini client)
    becomes the nearest effort, with `summary: "auto"` so the client gets thinking text back.
  * Refused, naming the parameter: n > 1, stop, logprobs, non-zero penalties, logit_bias,
    audio in or out, predicted outputs, legacy `functions`, and max_tokens below 16
    (Responses' minimum). Dropped: seed (best effort only), top_k,
    stream_options.include_usage (usage always comes), chat's own `store`.
  * Tools as for every native kind (routing/wire/tools.py function_tools()): Chat custom
    tools become functions of one string argument, other non-function tools are left out
    (dropped_tools() reports them), never refused. Chat's `web_search_options` becomes the
    hosted `web_search` tool, which Responses has.
  * Hosted tool calls in the output (web_search_call, ...) are counted per tool under the
    canonical extension `x_orca_tool_calls` ({"web_search": 2}); chat has no field for them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import untranslatable
from ..common import dumps, effort_for_budget, is_int, is_number
from ..errors import InvalidRequest
from ..tools import function_tools
from .response import MAX_CALL_ID
from .search import SEARCH_KEY
from .upstream_response import HOSTED_TOOLS_KEY, ResponsesStreamDecoder, responses_to_chat_response

__all__ = [
    "HOSTED_TOOLS_KEY",
    "ResponsesStreamDecoder",
    "chat_to_responses_request",
    "responses_to_chat_response",
]

MIN_OUTPUT_TOKENS = 16
_PASSED_THROUGH = (
    "temperature",
    "top_p",
    "user",
    "metadata",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
)
_IMAGE_DETAILS = frozenset({"auto", "low", "high"})


def _unsupported(what: str, param: str, code: str = "unsupported_value") -> InvalidRequest:
    return InvalidRequest(f"{what} is not supported by this model", param=param, code=code)


# --- request: canonical chat -> Responses ---------------------------------------------------


def call_id(raw: Any) -> str:
    """A chat tool call id as a Responses call_id: at most 64 characters, same in, same out."""
    text = raw if isinstance(raw, str) else ""
    if len(text) <= MAX_CALL_ID:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[: MAX_CALL_ID - 17]}_{digest}"


def _refuse_unsupported(chat: dict) -> None:
    n: Any = chat.get("n")
    if is_int(n) and n > 1:
        raise _unsupported("`n` greater than 1", "n", "unsupported_parameter")
    stop = chat.get("stop")
    if (isinstance(stop, str) and stop) or (isinstance(stop, list) and any(stop)):
        raise _unsupported("`stop`", "stop", "unsupported_parameter")
    if chat.get("logprobs") is True:
        raise _unsupported("`logprobs`", "logprobs", "unsupported_parameter")
    for name in ("frequency_penalty", "presence_penalty"):
        if is_number(chat.get(name)) and chat[name] != 0:
            raise _unsupported(f"`{name}`", name, "unsupported_parameter")
    modalities = chat.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        raise _unsupported("audio output", "modalities", "unsupported_parameter")
    for name in ("logit_bias", "audio", "prediction", "functions", "function_call"):
        if chat.get(name):
            raise _unsupported(f"`{name}`", name, "unsupported_parameter")


def _text(content: Any, where: str, kinds: tuple[str, ...] = ("text",)) -> str:
    """A system message's (or tool result's) text; other parts cannot be carried."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InvalidRequest(f"`{where}.content` must be a string or a list", param=where)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in kinds:
            raise _unsupported(f"a {kind!r} part here", f"{where}.content[{j}]")
        texts.append(part.get("text") or part.get("refusal") or "")
    return "".join(texts)


def _input_part(part: Any, where: str) -> dict:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"type": "input_text", "text": part.get("text") or ""}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise InvalidRequest(f"`{where}.image_url.url` is required", param=f"{where}.image_url")
        detail = image.get("detail") if isinstance(image, dict) else None
        return {
            "type": "input_image",
            "image_url": url,
            "detail": detail if detail in _IMAGE_DETAILS else "auto",
        }
    if kind == "file":
        file = given if isinstance(given := part.get("file"), dict) else {}
        out: dict[str, Any] = {"type": "input_file"}
        for name in ("file_data", "file_id", "filename"):
            if isinstance(file.get(name), str) and file[name]:
                out[name] = file[name]
        if "file_data" not in out and "file_id" not in out:
            raise InvalidRequest(f"`{where}.file` needs `file_data` or `file_id`", param=where)
        return out
    if kind == "input_audio":
        raise _unsupported("audio input", where)
    raise _unsupported(f"a {kind!r} content part", where)


def _user_content(content: Any, where: str) -> list[dict]:
    if content is None or isinstance(content, str):
        return [{"type": "input_text", "text": content or ""}]
    if not isinstance(content, list):
        raise InvalidRequest(f"`{where}.content` must be a string or a list", param=where)
    return [_input_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]


def _assistant_items(message: dict, where: str) -> list[dict]:
    content = message.get("content")
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        text = _text(content, where, ("text", "refusal"))
    if not text and isinstance(message.get("refusal"), str):
        text = message["refusal"]  # a refusal in history is what the assistant said
    items: list[dict] = []
    if text:
        # the plain-string form: an `output_text` list would need the item id and status
        # of a stored output message (the SDK's types), which store:false history lacks
        items.append({"type": "message", "role": "assistant", "content": text})
    for j, call in enumerate(message.get("tool_calls") or ()):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict) or call.get("type", "function") != "function":
            raise _unsupported("a non-function tool call", f"{at}.type")
        function = given if isinstance(given := call.get("function"), dict) else {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = dumps(arguments) if arguments is not None else ""
        items.append(
            {
                "type": "function_call",
                "call_id": call_id(call.get("id")),
                "name": function.get("name") or "",
                "arguments": arguments or "{}",
            }
        )
    return items


def _tool_output(message: dict, where: str) -> dict:
    content = message.get("content")
    output: str | list[dict]
    if isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") != "text" for p in content
    ):
        output = [_input_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    else:
        output = _text(content, where)
    return {
        "type": "function_call_output",
        "call_id": call_id(message.get("tool_call_id")),
        "output": output,
    }


def _instructions_and_input(messages: Any) -> tuple[str | None, list[dict]]:
    if not isinstance(messages, list):
        raise InvalidRequest("`messages` must be a list", param="messages")
    instructions: list[str] = []
    items: list[dict] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            text = _text(message.get("content"), where)
            if not items:
                if text:
                    instructions.append(text)
            else:
                content = [{"type": "input_text", "text": text}]
                items.append({"type": "message", "role": "developer", "content": content})
        elif role == "user":
            content = _user_content(message.get("content"), where)
            items.append({"type": "message", "role": "user", "content": content})
        elif role == "assistant":
            items.extend(_assistant_items(message, where))
        elif role == "tool":
            items.append(_tool_output(message, where))
        else:
            raise _unsupported(f"a message with role {role!r}", f"{where}.role")
    if not items:
        raise InvalidRequest("at least one non-system message is required", param="messages")
    return ("\n\n".join(instructions) or None), items


def _web_search_tool(options: Any, knobs: Any = None) -> dict:
    """Chat's web_search_options (+ the x_orca_search extension) as the web_search tool:
    allowed_domains become `filters.allowed_domains`; blocked_domains and max_uses have no
    Responses field and are left out."""
    tool: dict[str, Any] = {"type": "web_search"}
    options = options if isinstance(options, dict) else {}
    if options.get("search_context_size") is not None:
        tool["search_context_size"] = options["search_context_size"]
    location = options.get("user_location")
    if isinstance(location, dict):
        approximate = location.get("approximate")
        approximate = approximate if isinstance(approximate, dict) else {}
        tool["user_location"] = {"type": "approximate", **approximate}
    domains = knobs.get("allowed_domains") if isinstance(knobs, dict) else None
    if isinstance(domains, list) and domains:
        tool["filters"] = {"allowed_domains": [d for d in domains if isinstance(d, str)]}
    return tool


def _tools(chat: dict) -> list[dict]:
    tools = []
    for i, tool in enumerate(chat.get("tools") or ()):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue  # function_tools() left only functions; dropped_tools() names the rest
        function = given if isinstance(given := tool.get("function"), dict) else {}
        if not isinstance(function.get("name"), str) or not function["name"]:
            raise InvalidRequest("a function tool needs a name", param=f"tools[{i}].function.name")
        parameters = function.get("parameters")
        out: dict[str, Any] = {"type": "function", "name": function["name"]}
        if isinstance(function.get("description"), str):
            out["description"] = function["description"]
        out["parameters"] = (
            parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
        )
        out["strict"] = function.get("strict") is True
        tools.append(out)
    if chat.get("web_search_options") is not None:
        tools.append(_web_search_tool(chat["web_search_options"], chat.get(SEARCH_KEY)))
    return tools


def _tool_choice(choice: Any) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("`tool_choice.function.name` is required", param="tool_choice")
        return {"type": "function", "name": name}
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        tools = [
            {
                "type": "function",
                "name": (tool.get("function") or {}).get("name") or tool.get("name"),
            }
            for tool in allowed.get("tools") or ()
            if isinstance(tool, dict) and tool.get("type") == "function"
        ]  # entries naming left-out tools go with them
        mode = allowed.get("mode") if allowed.get("mode") in ("auto", "required") else "auto"
        return {"type": "allowed_tools", "mode": mode, "tools": tools}
    return None  # names a left-out tool: dropped_tools() reports it as forced


def _text_format(response_format: Any) -> dict | None:
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise _unsupported(f"a response_format of type {kind!r}", "response_format")
    schema = response_format.get("json_schema") or {}
    if not isinstance(schema.get("schema"), dict):
        raise InvalidRequest(
            "`response_format.json_schema.schema` is required",
            param="response_format.json_schema.schema",
            code="missing_required_parameter",
        )
    fmt: dict[str, Any] = {
        "type": "json_schema",
        "name": schema.get("name") or "response",
        "schema": schema["schema"],
    }
    if isinstance(schema.get("description"), str):
        fmt["description"] = schema["description"]
    if isinstance(schema.get("strict"), bool):
        fmt["strict"] = schema["strict"]
    return fmt


def _max_output_tokens(chat: dict) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value: Any = chat.get(name)
        if is_int(value) and value > 0:
            if value < MIN_OUTPUT_TOKENS:
                raise InvalidRequest(
                    f"`{name}` must be at least {MIN_OUTPUT_TOKENS} for this model",
                    param=name,
                    code="unsupported_value",
                )
            return value
    return None


def _reasoning(chat: dict) -> dict | None:
    budget: Any = chat.get("reasoning_budget_tokens")
    if is_int(budget):  # an exact budget wins over reasoning_effort, as for every native kind
        reasoning = {"effort": effort_for_budget(budget)}
        if budget > 0:
            reasoning["summary"] = "auto"  # the client asked to see thinking
        return reasoning
    effort = chat.get("reasoning_effort")
    return {"effort": effort} if isinstance(effort, str) and effort else None


def chat_to_responses_request(request: dict, upstream_model: str) -> dict:
    """A canonical chat request as a Responses body for `upstream_model` (InvalidRequest
    naming the parameter for what cannot be sent faithfully)."""
    untranslatable.refuse(request)
    request = function_tools(request)  # custom tools as functions, other types left out
    _refuse_unsupported(request)
    instructions, items = _instructions_and_input(request.get("messages"))
    body: dict[str, Any] = {"model": upstream_model}
    if instructions is not None:
        body["instructions"] = instructions
    body["input"] = items
    tools = _tools(request)
    if tools:
        body["tools"] = tools
        choice = _tool_choice(request.get("tool_choice"))
        if choice is not None:
            body["tool_choice"] = choice
        if isinstance(request.get("parallel_tool_calls"), bool):
            body["parallel_tool_calls"] = request["parallel_tool_calls"]
    text: dict[str, Any] = {}
    fmt = _text_format(request.get("response_format"))
    if fmt is not None:
        text["format"] = fmt
    if isinstance(request.get("verbosity"), str):
        text["verbosity"] = request["verbosity"]
    if text:
        body["text"] = text
    max_tokens = _max_output_tokens(request)
    if max_tokens is not None:
        body["max_output_tokens"] = max_tokens
    reasoning = _reasoning(request)
    if reasoning is not None:
        body["reasoning"] = reasoning
    for name in _PASSED_THROUGH:
        if request.get(name) is not None:
            body[name] = request[name]
    body["store"] = False
    if request.get("stream") is True:
        body["stream"] = True
        options = request.get("stream_options")
        if isinstance(options, dict) and isinstance(options.get("include_obfuscation"), bool):
            body["stream_options"] = {"include_obfuscation": options["include_obfuscation"]}
    return body
