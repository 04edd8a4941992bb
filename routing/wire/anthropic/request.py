"""Request translation both ways.

Client surface: `messages_to_chat` turns a (validated, see validation.py) Anthropic Messages
request into a canonical chat request. Upstream kind: `chat_to_anthropic_request` turns a
canonical chat request into the Messages body sent to an Anthropic upstream.
"""

import hashlib
import re
from typing import Any

from ..canonical import InvalidRequest
from ..common import data_url, effort_for_budget, is_int, is_number
from ..tools import function_tools
from .shared import (
    _UNSAFE_ID_CHARS,
    MIN_THINKING_BUDGET,
    _arguments_object,
    _blocks_to_chat,
    _text_of,
    _unsupported,
)

# --- shared tables ---------------------------------------------------------------------------

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# reasoning_effort -> thinking budget (orcarouter.md §5.2; xhigh/max follow LiteLLM's ladder).
EFFORT_BUDGETS = {"low": 1280, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
# Anthropic output_config.effort -> canonical reasoning_effort.
_EFFORT_FROM_ANTHROPIC = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}

JSON_OBJECT_INSTRUCTION = (
    "Respond with one valid JSON object and nothing else: no prose, no code fences."
)
STRUCTURED_OUTPUT_NAME = "structured_output"
_HISTORY_TOOL_DESCRIPTION = "Declared only because earlier turns of this conversation used it."

_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]+$")

_DATA_URL = re.compile(r"^data:([^;,]+)((?:;[^;,]*)*),(.*)$", re.DOTALL)


# === Anthropic Messages as the client surface ================================================


def _image_part(block: dict, where: str) -> dict:
    source: Any = block.get("source") or {}  # client JSON: its fields are not checked here
    if source.get("type") == "base64":
        url = data_url(source.get("media_type"), source.get("data"))
    elif source.get("type") == "url":
        url = source.get("url")
    else:
        raise _unsupported(f"an image source of type {source.get('type')!r}", f"{where}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_parts(block: dict, where: str) -> list[dict]:
    source: Any = block.get("source") or {}  # client JSON: its fields are not checked here
    kind = source.get("type")
    if kind == "base64":
        media_type = source.get("media_type") or "application/pdf"
        file: dict[str, Any] = {"file_data": data_url(media_type, source.get("data"))}
        if isinstance(block.get("title"), str):
            file["filename"] = block["title"]
        return [{"type": "file", "file": file}]
    if kind == "text":
        return [{"type": "text", "text": source.get("data") or ""}]
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}]
        parts: list[dict] = []
        for k, inner_block in enumerate(inner or []):
            parts.extend(_user_part(inner_block, f"{where}.source.content[{k}]"))
        return parts
    raise _unsupported(f"a document source of type {kind!r}", f"{where}.source")


def _user_part(block: dict, where: str) -> list[dict]:
    kind = block.get("type")
    if kind == "text":
        return [{"type": "text", "text": block.get("text") or ""}]
    if kind == "image":
        return [_image_part(block, where)]
    if kind == "document":
        return _document_parts(block, where)
    raise _unsupported(f"a {kind!r} content block", where)


def _tool_message(block: dict, where: str) -> tuple[dict, list[dict]]:
    """A tool_result block -> (a Chat tool message, parts that must move to the user turn)."""
    content = block.get("content")
    moved: list[dict] = []
    if isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            at = f"{where}.content[{k}]"
            if inner.get("type") == "text":
                texts.append(inner.get("text") or "")
            elif inner.get("type") in ("image", "document"):
                moved.extend(_user_part(inner, at))  # tool messages cannot hold media
            else:
                raise _unsupported(f"a {inner.get('type')!r} block inside a tool result", at)
        text = "\n\n".join(texts)
    else:
        text = content if isinstance(content, str) else ""
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}, moved


def _user_to_chat(content: Any, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict] = []
    moved: list[dict] = []
    parts: list[dict] = []
    for j, block in enumerate(content or []):
        at = f"{where}.content[{j}]"
        if block.get("type") == "tool_result":
            message, media = _tool_message(block, at)
            tools.append(message)
            moved.extend(media)
        else:
            parts.extend(_user_part(block, at))
    parts = moved + parts
    if not parts:
        return tools
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*tools, {"role": "user", "content": parts[0]["text"]}]
    return [*tools, {"role": "user", "content": parts}]


def _assistant_to_chat(content: Any, where: str) -> dict:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    return _blocks_to_chat(content, where)


def _system_to_chat(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n\n".join(b.get("text") or "" for b in system if isinstance(b, dict))
    return ""


def messages_to_chat(body: dict) -> dict:
    """A (validated) Messages request as a canonical chat request."""
    out: dict[str, Any] = {"model": body["model"]}
    messages: list[dict] = []
    system = _system_to_chat(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body.get("messages") or []):
        where = f"messages[{i}]"
        if message.get("role") == "assistant":
            messages.append(_assistant_to_chat(message.get("content"), where))
        else:
            messages.extend(_user_to_chat(message.get("content"), where))
    out["messages"] = messages
    out["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])

    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("type") not in (None, "custom"):
            raise _unsupported(f"the server tool {tool.get('type')!r}", f"tools[{i}]")
        function: dict[str, Any] = {"name": tool.get("name")}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    if tools:
        out["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            kind = choice.get("type")
            if kind == "any":
                out["tool_choice"] = "required"
            elif kind == "tool":
                out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
            elif kind in ("auto", "none"):
                out["tool_choice"] = kind
            if choice.get("disable_parallel_tool_use") is True:
                out["parallel_tool_calls"] = False
    if body.get("mcp_servers"):
        raise _unsupported("`mcp_servers`", "mcp_servers")

    thinking = given_thinking if isinstance(given_thinking := body.get("thinking"), dict) else {}
    output_config = (
        given_config if isinstance(given_config := body.get("output_config"), dict) else {}
    )
    if thinking.get("type") == "enabled" and is_int(thinking.get("budget_tokens")):
        out["reasoning_budget_tokens"] = thinking["budget_tokens"]
        out["reasoning_effort"] = effort_for_budget(thinking["budget_tokens"])
    elif (
        thinking.get("type") != "disabled" and output_config.get("effort") in _EFFORT_FROM_ANTHROPIC
    ):
        out["reasoning_effort"] = _EFFORT_FROM_ANTHROPIC[output_config["effort"]]

    fmt = output_config.get("format") or body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": STRUCTURED_OUTPUT_NAME, "schema": fmt.get("schema") or {}},
        }
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


# === Anthropic as the upstream kind ==========================================================


def _tool_id(raw: Any) -> str:
    """A tool id Anthropic accepts; unsafe ids get a stable rewrite (same input, same output)."""
    text = raw if isinstance(raw, str) else ""
    if _TOOL_ID.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    cleaned = _UNSAFE_ID_CHARS.sub("_", text)[:40]
    return f"{cleaned}_{digest}" if cleaned else f"toolu_{digest}"


def _parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a base64 data: URL, else None."""
    match = _DATA_URL.match(url)
    if not match or ";base64" not in match.group(2).lower():
        return None
    return match.group(1).strip().lower(), match.group(3)


def _image_block(part: dict, where: str) -> dict:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"`{where}.image_url.url` is required", param=f"{where}.image_url")
    if url.startswith("data:"):
        parsed = _parse_data_url(url)
        if parsed is None:
            raise InvalidRequest(
                "image data URLs must be base64 encoded", param=f"{where}.image_url"
            )
        media_type, data = parsed
        if media_type == "image/jpg":
            media_type = "image/jpeg"
        if media_type not in IMAGE_MEDIA_TYPES:
            raise InvalidRequest(
                f"image type {media_type!r} is not supported by this model "
                f"(use one of {sorted(IMAGE_MEDIA_TYPES)})",
                param=f"{where}.image_url",
                code="unsupported_value",
            )
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(
        "image URLs must be http(s) or base64 data URLs", param=f"{where}.image_url"
    )


def _document_block(part: dict, where: str) -> dict:
    file = given_file if isinstance(given_file := part.get("file"), dict) else {}
    data = file.get("file_data")
    parsed = _parse_data_url(data) if isinstance(data, str) else None
    if parsed is None or parsed[0] != "application/pdf":
        raise _unsupported("a file part (only base64 PDF data is accepted)", f"{where}.file")
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": parsed[1]},
    }
    if isinstance(file.get("filename"), str):
        block["title"] = file["filename"]
    return block


def _with_cache_control(block: dict, part: dict) -> dict:
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _content_blocks(content: Any, where: str, *, media: bool) -> list[dict]:
    """Chat content (string or parts) as Anthropic blocks, dropping empty text."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    blocks = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("text", "refusal"):
            text = part.get("text") or part.get("refusal") or ""
            if isinstance(text, str) and text.strip():
                blocks.append(_with_cache_control({"type": "text", "text": text}, part))
        elif media and kind == "image_url":
            blocks.append(_with_cache_control(_image_block(part, at), part))
        elif media and kind == "file":
            blocks.append(_with_cache_control(_document_block(part, at), part))
        elif kind == "input_audio":
            raise _unsupported("audio input", at)
        else:
            raise _unsupported(f"a {kind!r} content part", at)
    return blocks


def _assistant_blocks(message: dict, where: str) -> list[dict]:
    blocks = [
        dict(block)
        for block in message.get("thinking_blocks") or ()
        if isinstance(block, dict) and block.get("type") in ("thinking", "redacted_thinking")
    ]
    text = _text_of(message.get("content"))
    if text.strip():
        blocks.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": _tool_id(call.get("id")),
                "name": function.get("name") or "",
                "input": _arguments_object(function.get("arguments")),
            }
        )
    return blocks


def _tool_result_block(message: dict, where: str) -> dict:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": _tool_id(message.get("tool_call_id")),
    }
    content = message.get("content")
    if isinstance(content, list):
        texts = _content_blocks(content, where, media=False)
        if texts:
            block["content"] = texts
    elif isinstance(content, str) and content.strip():
        block["content"] = content
    return block


def _append_turn(turns: list[dict], role: str, blocks: list[dict]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def _append_tool_result(turns: list[dict], block: dict) -> None:
    """Tool results open the next user turn, ahead of any user text already placed there."""
    if turns and turns[-1]["role"] == "user":
        content = turns[-1]["content"]
        position = 0
        while position < len(content) and content[position].get("type") == "tool_result":
            position += 1
        content.insert(position, block)
    else:
        turns.append({"role": "user", "content": [block]})


def _thinking_budget(chat: dict) -> int | None:
    budget: Any = chat.get("reasoning_budget_tokens")
    effort = chat.get("reasoning_effort")
    if is_int(budget) and budget > 0:
        return budget
    if is_int(budget) and budget == 0:
        return None  # an explicit "no thinking"
    if effort in EFFORT_BUDGETS:
        return EFFORT_BUDGETS[effort]
    if is_int(budget) and budget < 0:
        return EFFORT_BUDGETS["medium"]  # Gemini's -1, "dynamic": a middle budget
    return None  # no request, "minimal" or "none"


def _replay_lacks_thinking(turns: list[dict]) -> bool:
    """True when the last assistant turn called tools but has no thinking block to replay."""
    for turn in reversed(turns):
        if turn["role"] != "assistant":
            continue
        content = turn["content"]
        calls_tools = any(block.get("type") == "tool_use" for block in content)
        starts_thinking = bool(content) and content[0].get("type") in (
            "thinking",
            "redacted_thinking",
        )
        return calls_tools and not starts_thinking
    return False


def _user_id(chat: dict) -> str | None:
    for name in ("user", "safety_identifier"):
        value = chat.get(name)
        if not isinstance(value, str) or not value.strip():
            continue
        digits = sum(c.isdigit() for c in value)
        if "@" in value or (digits >= 7 and not re.search(r"[A-Za-z]", value)):
            continue  # Anthropic refuses emails and phone numbers as user ids
        return value
    return None


def _tool_choice_out(chat: dict, tools: list[dict]) -> tuple[dict | None, list[dict]]:
    choice = chat.get("tool_choice")
    out: dict | None = None
    if choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "function":
            out = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
        elif kind == "allowed_tools":
            allowed = choice.get("allowed_tools") or {}
            names = {
                (t.get("function") or {}).get("name") or t.get("name")
                for t in allowed.get("tools") or ()
                if isinstance(t, dict)
            }
            tools = [t for t in tools if t["name"] in names]
            out = {"type": "any" if allowed.get("mode") == "required" else "auto"}
        else:
            raise _unsupported(f"a tool_choice of type {kind!r}", "tool_choice")
    if chat.get("parallel_tool_calls") is False and tools:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out, tools


def chat_to_anthropic_request(chat: dict, *, upstream_model: str, default_max_tokens: int) -> dict:
    """A canonical chat request as an Anthropic Messages body for `upstream_model`."""
    chat = function_tools(chat)  # custom tools as functions, other types left out
    n: Any = chat.get("n")
    if is_int(n) and n > 1:
        raise InvalidRequest(
            "`n` greater than 1 is not supported by this model",
            param="n",
            code="unsupported_parameter",
        )
    system: list[dict] = []
    turns: list[dict] = []
    for i, message in enumerate(chat.get("messages") or []):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_content_blocks(message.get("content"), where, media=False))
        elif role == "tool":
            _append_tool_result(turns, _tool_result_block(message, where))
        elif role == "user":
            blocks = _content_blocks(message.get("content"), where, media=True)
            if blocks:
                _append_turn(turns, "user", blocks)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
            if blocks:
                _append_turn(turns, "assistant", blocks)
        else:
            raise _unsupported(f"a message with role {role!r}", f"{where}.role")
    if not turns:
        raise InvalidRequest("at least one user or assistant message is required", param="messages")
    last = turns[-1]
    if last["role"] == "assistant" and last["content"][-1].get("type") == "text":
        # A trailing assistant turn is a prefill; Anthropic refuses one ending in whitespace.
        tail = last["content"][-1]
        tail["text"] = tail["text"].rstrip()

    tools = []
    for i, tool in enumerate(chat.get("tools") or []):
        if tool.get("type") != "function":
            raise _unsupported(f"a tool of type {tool.get('type')!r}", f"tools[{i}]")
        function = tool.get("function") or {}
        schema = function.get("parameters")
        if not isinstance(schema, dict) or not schema:
            schema = {"type": "object", "properties": {}}
        elif "type" not in schema:
            schema = {"type": "object", **schema}
        out_tool: dict[str, Any] = {"name": function.get("name"), "input_schema": schema}
        if function.get("description"):
            out_tool["description"] = function["description"]
        if isinstance(function.get("strict"), bool):
            out_tool["strict"] = function["strict"]
        tools.append(_with_cache_control(out_tool, tool))
    tool_choice, tools = _tool_choice_out(chat, tools)
    if not tools:
        # Anthropic wants tools declared whenever the history holds tool_use blocks.
        used = dict.fromkeys(
            block["name"]
            for turn in turns
            for block in turn["content"]
            if block.get("type") == "tool_use"
        )
        if used:
            tools = [
                {
                    "name": name,
                    "description": _HISTORY_TOOL_DESCRIPTION,
                    "input_schema": {"type": "object"},
                }
                for name in used
            ]
            tool_choice = {"type": "none"}

    max_tokens = next(
        (
            chat[name]
            for name in ("max_completion_tokens", "max_tokens")
            if is_int(chat.get(name)) and chat[name] > 0
        ),
        default_max_tokens,
    )
    budget = _thinking_budget(chat)
    forced = tools and tool_choice is not None and tool_choice["type"] in ("any", "tool")
    if budget is not None and (forced or _replay_lacks_thinking(turns)):
        budget = None

    response_format = chat.get("response_format")
    output_config = None
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            output_config = {"format": {"type": "json_schema", "schema": schema}}
        elif response_format.get("type") == "json_object":
            system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})

    body: dict[str, Any] = {"model": upstream_model, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    body["messages"] = turns
    if budget is not None:
        budget = max(budget, MIN_THINKING_BUDGET)
        if max_tokens <= budget:
            body["max_tokens"] = budget + max_tokens  # keep the asked-for room for the answer
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:
        # Sampling knobs are only sent without thinking, which rejects them.
        temperature: Any = chat.get("temperature")
        if is_number(temperature):
            body["temperature"] = min(max(temperature, 0), 1)
        if is_number(chat.get("top_p")):
            body["top_p"] = chat["top_p"]
        if is_int(chat.get("top_k")):
            body["top_k"] = chat["top_k"]
    stop = chat.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s.strip()]
    if stops:
        body["stop_sequences"] = stops
    if tools:
        body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if output_config is not None:
        body["output_config"] = output_config
    user_id = _user_id(chat)
    if user_id:
        body["metadata"] = {"user_id": user_id}
    if chat.get("stream") is True:
        body["stream"] = True
    return body
