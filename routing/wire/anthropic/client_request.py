"""Anthropic Messages as the client surface: `messages_to_chat` turns a (validated, see
validation.py) Messages request into a canonical chat request.

Every call reaches the canonical form, pass-through ones included (guardrails, prompts and
the token estimate read it), so nothing here refuses what an Anthropic upstream would accept:
a part with no canonical form (a server tool, `mcp_servers`, a `search_result` block, an
image given by file id...) is left out and the first of them is recorded
(routing.wire.untranslatable), for the translators to other dialects to refuse.

The web search server tool (`web_search_20250305` and newer dated variants) has one: chat's
`web_search_options` plus the extension `x_orca_search` (search.py). A past turn's
`server_tool_use` (web_search) and `web_search_tool_result` blocks are the upstream's own
bookkeeping, not content: they are left out without a gap, as are text blocks' citations.

Mid-conversation system turns (`{"role": "system"}` messages, and the beta `mid_conv_system`
block at the end of a turn, which Claude Code sends) become canonical system messages at
their place in the conversation. Fields that only steer Anthropic's own service
(`context_management`, `container`, `cache_control`, `service_tier`, `speed`...) have no
canonical form and are dropped; a pass-through call sends them as the client did.

`metadata.user_id` becomes canonical `user`, bounded to what OpenAI takes there: its
`safety_identifier` is at most 64 characters (the OpenAPI spec) and the API holds `user` to
the same, while Claude Code sends about 150. A longer id becomes `orca-` and the first 40
hex digits of its SHA-256: stable for one id, the same on every call, and never the id
itself in pieces.
"""

import hashlib
from typing import Any

from .. import untranslatable
from ..canonical import InvalidRequest
from ..common import data_url, effort_for_budget, is_int
from .search import is_search_tool, search_tool_to_canonical
from .shared import _blocks_to_chat, _unsupported

# Anthropic output_config.effort -> canonical reasoning_effort.
_EFFORT_FROM_ANTHROPIC = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
STRUCTURED_OUTPUT_NAME = "structured_output"
USER_LIMIT = 64  # OpenAI's most for `user` / `safety_identifier`
MID_CONVERSATION_SYSTEM = "mid_conv_system"

Gaps = list[InvalidRequest]


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
    """One user content block as canonical parts; raises InvalidRequest when it has none."""
    kind = block.get("type")
    if kind == "text":
        return [{"type": "text", "text": block.get("text") or ""}]
    if kind == "image":
        return [_image_part(block, where)]
    if kind == "document":
        return _document_parts(block, where)
    raise _unsupported(f"a {kind!r} content block", where)


def _tool_message(block: dict, where: str, gaps: Gaps) -> tuple[dict, list[dict]]:
    """A tool_result block -> (a Chat tool message, parts that must move to the user turn)."""
    content = block.get("content")
    moved: list[dict] = []
    if isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            at = f"{where}.content[{k}]"
            if inner.get("type") == "text":
                texts.append(inner.get("text") or "")
                continue
            try:
                if inner.get("type") not in ("image", "document"):
                    raise _unsupported(f"a {inner.get('type')!r} block inside a tool result", at)
                moved.extend(_user_part(inner, at))  # tool messages cannot hold media
            except InvalidRequest as exc:
                gaps.append(exc)
        text = "\n\n".join(texts)
    else:
        text = content if isinstance(content, str) else ""
    if block.get("is_error"):
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}, moved


def _user_to_chat(content: Any, where: str, gaps: Gaps) -> list[dict]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict] = []
    moved: list[dict] = []
    parts: list[dict] = []
    for j, block in enumerate(content or []):
        at = f"{where}.content[{j}]"
        kind = block.get("type")
        if kind == MID_CONVERSATION_SYSTEM:
            continue  # read by _trailing_system
        if kind == "tool_result":
            message, media = _tool_message(block, at, gaps)
            tools.append(message)
            moved.extend(media)
            continue
        try:
            parts.extend(_user_part(block, at))
        except InvalidRequest as exc:
            gaps.append(exc)
    parts = moved + parts
    if not parts:
        return tools
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*tools, {"role": "user", "content": parts[0]["text"]}]
    return [*tools, {"role": "user", "content": parts}]


def _assistant_to_chat(content: Any, where: str, gaps: Gaps) -> dict:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    return _blocks_to_chat(content, where, gaps)


def _text_blocks(blocks: Any, where: str, gaps: Gaps) -> str:
    """The text of system text blocks, joined; a block of another kind is a gap."""
    texts = []
    for j, block in enumerate(blocks or ()):
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        else:
            gaps.append(
                _unsupported(f"a {block.get('type')!r} block in a system turn", f"{where}[{j}]")
            )
    return "\n\n".join(text for text in texts if text)


def _system_to_chat(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n\n".join(b.get("text") or "" for b in system if isinstance(b, dict))
    return ""


def _system_message(content: Any, where: str, gaps: Gaps) -> list[dict]:
    """A `{"role": "system"}` turn as a canonical system message (none when it is empty)."""
    text = content if isinstance(content, str) else _text_blocks(content, f"{where}.content", gaps)
    return [{"role": "system", "content": text}] if text else []


def _trailing_system(content: Any, where: str, gaps: Gaps) -> list[dict]:
    """The `mid_conv_system` blocks of a turn, as the system messages that follow it."""
    if not isinstance(content, list):
        return []
    messages = []
    for j, block in enumerate(content):
        if block.get("type") == MID_CONVERSATION_SYSTEM:
            messages += _system_message(block.get("content"), f"{where}.content[{j}]", gaps)
    return messages


def _tools_to_chat(body: dict, out: dict, gaps: Gaps) -> None:
    tools = []
    searches: set[str] = set()
    for i, tool in enumerate(body.get("tools") or []):
        if is_search_tool(tool):
            if "web_search_options" not in out:  # one search tool is all Anthropic takes
                search_tool_to_canonical(tool, out)
            searches.add(tool.get("name") or "")
            continue
        if tool.get("type") not in (None, "custom"):
            gaps.append(_unsupported(f"the server tool {tool.get('type')!r}", f"tools[{i}]"))
            continue
        function: dict[str, Any] = {"name": tool.get("name")}
        if tool.get("description"):
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    if not tools:
        return
    out["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "any":
            out["tool_choice"] = "required"
        elif kind == "tool" and choice.get("name") in searches:
            pass  # forcing the search: chat has no such choice, web_search_options stays
        elif kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in ("auto", "none"):
            out["tool_choice"] = kind
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False


def _reasoning_to_chat(body: dict, out: dict) -> None:
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


def bounded_user(user_id: str) -> str:
    """An end-user id as OpenAI takes it: as given up to USER_LIMIT characters, else a
    stable hash of it (module docstring)."""
    if len(user_id) <= USER_LIMIT:
        return user_id
    return "orca-" + hashlib.sha256(user_id.encode("utf-8", "replace")).hexdigest()[:40]


def messages_to_chat(body: dict) -> dict:
    """A (validated) Messages request as a canonical chat request; what has no canonical form
    is left out, the first such part recorded under untranslatable.KEY."""
    gaps: Gaps = []
    out: dict[str, Any] = {"model": body["model"]}
    messages: list[dict] = []
    system = _system_to_chat(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body.get("messages") or []):
        where = f"messages[{i}]"
        role, content = message.get("role"), message.get("content")
        if role == "system":
            messages += _system_message(content, where, gaps)
            continue
        if role == "assistant":
            messages.append(_assistant_to_chat(content, where, gaps))
        else:
            messages.extend(_user_to_chat(content, where, gaps))
        messages += _trailing_system(content, where, gaps)
    out["messages"] = messages
    if body.get("max_tokens") is not None:  # a count_tokens body has none
        out["max_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    _tools_to_chat(body, out, gaps)
    if body.get("mcp_servers"):
        gaps.append(_unsupported("`mcp_servers`", "mcp_servers"))
    _reasoning_to_chat(body, out)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = bounded_user(metadata["user_id"])
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if gaps:
        untranslatable.record(out, gaps[0])
    return out
