"""Anthropic as the upstream kind: `chat_to_anthropic_request` turns a canonical chat request
into the Messages body sent to an Anthropic upstream. (The client surface's direction,
`messages_to_chat`, is client_request.py.)

A system or developer message anywhere in the conversation is folded into the top-level
`system` blocks, in order. The API also takes `{"role": "system"}` turns in `messages`, but
only on some models (Claude Opus 4.8) and only right after a user turn, before an assistant
turn or at the end, so folding is the form every Anthropic model accepts.

`web_search_options` (with the extension `x_orca_search`) becomes the `web_search_20250305`
server tool, after the function tools (search.py).

A reasoning effort (or an exact thinking budget) asks for the thinking form the model takes:
`thinking: {type: "adaptive"}` plus `output_config.effort` from Claude 4.6 on (Opus 4.7 and
later refuse anything else), the legacy `{type: "enabled", budget_tokens}` before
(takes_adaptive_thinking decides, from the model id or the catalog's `adaptive_thinking`
capability).
"""

import hashlib
import re
from typing import Any

from .. import untranslatable
from ..canonical import InvalidRequest
from ..common import effort_for_budget, is_int, is_number
from ..tools import function_tools
from .search import canonical_to_search_tool
from .shared import (
    _UNSAFE_ID_CHARS,
    MIN_THINKING_BUDGET,
    _arguments_object,
    _text_of,
    _unsupported,
)

# --- shared tables ---------------------------------------------------------------------------

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# reasoning_effort -> thinking budget (orcarouter.md §5.2; xhigh/max follow LiteLLM's ladder).
EFFORT_BUDGETS = {"low": 1280, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
# reasoning_effort -> output_config.effort, for models that think adaptively.
ADAPTIVE_EFFORTS = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
ADAPTIVE_CAPABILITY = "adaptive_thinking"  # routing.models.Capability
ADAPTIVE_FROM = (4, 6)
# The Claude generation in a model id: claude-opus-4-7, claude-sonnet-4-5-20250929 (4.5),
# claude-opus-4-20250514 (4.0), anthropic.claude-opus-5-5-v1; claude-3-7-sonnet is older.
_CLAUDE_VERSION = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?!\d)")

JSON_OBJECT_INSTRUCTION = (
    "Respond with one valid JSON object and nothing else: no prose, no code fences."
)
_HISTORY_TOOL_DESCRIPTION = "Declared only because earlier turns of this conversation used it."

_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]+$")

_DATA_URL = re.compile(r"^data:([^;,]+)((?:;[^;,]*)*),(.*)$", re.DOTALL)


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


def takes_adaptive_thinking(model: str, capabilities: tuple[str, ...] = ()) -> bool:
    """Whether a Claude model thinks adaptively (`thinking: {type: "adaptive"}` and
    `output_config.effort`): every model from 4.6 on (Opus 4.7 and later refuse the legacy
    `enabled` + `budget_tokens`, which 4.5 and older need), read from its id, or a catalog
    model listing the `adaptive_thinking` capability."""
    if ADAPTIVE_CAPABILITY in capabilities:
        return True
    found = _CLAUDE_VERSION.search(model)
    return found is not None and (int(found[1]), int(found[2] or 0)) >= ADAPTIVE_FROM


def _adaptive_effort(chat: dict) -> str | None:
    """The output_config.effort for an adaptive model, None for no thinking; an exact
    budget (a Gemini or Anthropic client's) counts first, as _thinking_budget reads it."""
    budget: Any = chat.get("reasoning_budget_tokens")
    if is_int(budget) and budget != 0:
        return ADAPTIVE_EFFORTS[effort_for_budget(budget)]
    if is_int(budget):
        return None  # an explicit "no thinking"
    return ADAPTIVE_EFFORTS.get(chat.get("reasoning_effort"))  # type: ignore[arg-type]


def chat_to_anthropic_request(
    chat: dict, *, upstream_model: str, default_max_tokens: int, adaptive_thinking: bool = False
) -> dict:
    """A canonical chat request as an Anthropic Messages body for `upstream_model`; with
    `adaptive_thinking` (takes_adaptive_thinking) a reasoning effort asks for adaptive
    thinking at that effort, else for the legacy thinking budget."""
    untranslatable.refuse(chat)
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
    search_tool = canonical_to_search_tool(chat)
    if search_tool is not None:
        if tool_choice == {"type": "none"} and not chat.get("tools"):
            tool_choice = None  # only history tools were declared: let the search run
        if tool_choice is None or tool_choice["type"] != "none":
            tools.append(search_tool)

    max_tokens = next(
        (
            chat[name]
            for name in ("max_completion_tokens", "max_tokens")
            if is_int(chat.get(name)) and chat[name] > 0
        ),
        default_max_tokens,
    )
    effort = _adaptive_effort(chat) if adaptive_thinking else None
    budget = None if adaptive_thinking else _thinking_budget(chat)
    forced = tools and tool_choice is not None and tool_choice["type"] in ("any", "tool")
    if (budget is not None or effort is not None) and (forced or _replay_lacks_thinking(turns)):
        budget = effort = None

    response_format = chat.get("response_format")
    output_config: dict[str, Any] | None = None
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
    if effort is not None:
        body["thinking"] = {"type": "adaptive"}
        output_config = {**(output_config or {}), "effort": effort}
    elif budget is not None:
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
