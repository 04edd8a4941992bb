"""What the fake Anthropic upstream (anthropic_upstream.py) accepts: `validate_request`
raises `RequestInvalid` naming the first problem the real Messages API would report (in its
wording where known), for `POST /v1/messages` and, with `count_tokens`, for
`POST /v1/messages/count_tokens`. The checks are listed in anthropic_upstream.py's docstring.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

JSONDict = dict[str, Any]

_CREATE_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "metadata",
        "service_tier",
        "stream",
        "thinking",
        "tools",
        "tool_choice",
        "output_config",
        "output_format",  # the older structured-outputs beta
        "cache_control",
        "container",
        "context_management",
        "diagnostics",
        "inference_geo",
        "mcp_servers",
        "speed",
        "user_profile_id",
        "workspace_id",
    }
)
_COUNT_TOKENS_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "thinking",
        "tools",
        "tool_choice",
        "output_config",
        "output_format",
        "cache_control",
        "context_management",
        "mcp_servers",
        "speed",
        "user_profile_id",
        "workspace_id",
    }
)
_BLOCK_TYPES = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "compaction",
        "mid_conv_system",
    }
)
_BLOCK_KEYS: dict[str, frozenset[str]] = {
    "text": frozenset({"type", "text", "cache_control", "citations"}),
    "image": frozenset({"type", "source", "cache_control"}),
    "tool_use": frozenset({"type", "id", "name", "input", "cache_control", "caller"}),
    "tool_result": frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
    "mid_conv_system": frozenset({"type", "content", "cache_control"}),
}
_TOOL_KEYS = frozenset(
    {
        "type",
        "name",
        "description",
        "input_schema",
        "cache_control",
        "strict",
        "input_examples",
        "defer_loading",
        "allowed_callers",
        "eager_input_streaming",
    }
)
_SEARCH_TOOL = re.compile(r"^web_search_\d{8}$")
_SEARCH_TOOL_KEYS = frozenset(
    {
        "type",
        "name",
        "max_uses",
        "allowed_domains",
        "blocked_domains",
        "user_location",
        "cache_control",
        "defer_loading",
        "strict",
        "allowed_callers",
    }
)
_IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_THINKING_ON = frozenset({"enabled", "adaptive", "between_tools"})


class RequestInvalid(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Claude model generations by thinking form: adaptive from 4.6 (where `enabled` is deprecated
# but still taken), `enabled` refused from Opus 4.7 on, adaptive refused before 4.6 (and
# `output_config.effort` before 4.5, where Opus 4.5 brought it). Names the fake cannot read
# (`claude-fake`, the error models) take every form.
ADAPTIVE_FROM = (4, 6)
ADAPTIVE_ONLY = (4, 7)
_CLAUDE_VERSION = re.compile(r"^claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?:-\d{8})?$")
_CLAUDE_OLD_VERSION = re.compile(r"^claude-(\d+)(?:-(\d))?-(?:opus|sonnet|haiku)")


def claude_version(model: Any) -> tuple[int, int] | None:
    """(major, minor) of a Claude model id (`claude-opus-4-7`, `claude-3-7-sonnet-…`)."""
    if not isinstance(model, str):
        return None
    found = _CLAUDE_VERSION.match(model) or _CLAUDE_OLD_VERSION.match(model)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def _thinking_type(body: JSONDict) -> str | None:
    thinking = body.get("thinking")
    return thinking.get("type") if isinstance(thinking, dict) else None


# ---------------------------------------------------------------------------------- validation


def validate_request(body: Any, *, count_tokens: bool = False) -> None:
    """Raise ``RequestInvalid`` naming the first problem the real API would report."""
    if not isinstance(body, dict):
        raise RequestInvalid("The request body must be a JSON object.")
    allowed = _COUNT_TOKENS_FIELDS if count_tokens else _CREATE_FIELDS
    for key in body:
        if key not in allowed:
            raise RequestInvalid(f"{key}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestInvalid("model: Field required")

    max_tokens = body.get("max_tokens")
    if not count_tokens:
        if "max_tokens" not in body:
            raise RequestInvalid("max_tokens: Field required")
        if not _is_int(max_tokens) or max_tokens < 0:
            raise RequestInvalid("max_tokens: Input should be a non-negative integer")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise RequestInvalid("stream: Input should be a valid boolean")

    _validate_sampling(body)
    _validate_thinking(body, max_tokens if not count_tokens else None)
    _validate_system(body.get("system"))
    tool_names = _validate_tools(body)
    _validate_output_format(body)
    if "metadata" in body:
        metadata = body["metadata"]
        if not isinstance(metadata, dict) or set(metadata) - {"user_id"}:
            raise RequestInvalid("metadata: only user_id is permitted")
    if "stop_sequences" in body:
        stops = body["stop_sequences"]
        if not isinstance(stops, list) or not all(isinstance(s, str) and s.strip() for s in stops):
            raise RequestInvalid("stop_sequences: Input should be a list of non-blank strings")
    _validate_messages(body, tool_names)


def _validate_sampling(body: JSONDict) -> None:
    temperature = body.get("temperature")
    if "temperature" in body and (not _is_number(temperature) or not 0 <= temperature <= 1):
        raise RequestInvalid("temperature: Input should be less than or equal to 1")
    top_p = body.get("top_p")
    if "top_p" in body and (not _is_number(top_p) or not 0 <= top_p <= 1):
        raise RequestInvalid("top_p: Input should be between 0 and 1")
    if "top_k" in body and (not _is_int(body["top_k"]) or body["top_k"] < 0):
        raise RequestInvalid("top_k: Input should be a non-negative integer")


def _validate_thinking(body: JSONDict, max_tokens: int | None) -> None:
    if "thinking" not in body:
        return
    thinking = body["thinking"]
    if not isinstance(thinking, dict) or thinking.get("type") not in (
        *_THINKING_ON,
        "disabled",
    ):
        raise RequestInvalid(
            "thinking: Input tag found using 'type' does not match any of the expected tags: "
            "'enabled', 'adaptive', 'disabled', 'between_tools'"
        )
    kind = thinking["type"]
    version = claude_version(body.get("model"))
    if kind == "enabled" and version is not None and version >= ADAPTIVE_ONLY:
        raise RequestInvalid(
            '"thinking.type.enabled" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
        )
    if kind == "adaptive" and version is not None and version < ADAPTIVE_FROM:
        raise RequestInvalid("adaptive thinking is not supported on this model")
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and version is not None and version < (4, 5):
        raise RequestInvalid("output_config.effort: effort is not supported on this model")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not _is_int(budget):
            raise RequestInvalid("thinking.enabled.budget_tokens: Field required")
        if budget < 1024:
            raise RequestInvalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if max_tokens is not None and budget >= max_tokens:
            raise RequestInvalid("`max_tokens` must be greater than `thinking.budget_tokens`.")
    if kind in _THINKING_ON:
        if "temperature" in body and body["temperature"] != 1:
            raise RequestInvalid(
                "`temperature` may only be set to 1 when thinking is enabled or in extended "
                "thinking mode."
            )
        if "top_k" in body:
            raise RequestInvalid("`top_k` must be unset when thinking is enabled.")
        if "top_p" in body and body["top_p"] < 0.95:
            raise RequestInvalid(
                "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled."
            )


def _validate_system(system: Any) -> None:
    if system is None:
        return
    if isinstance(system, str):
        return
    if not isinstance(system, list):
        raise RequestInvalid("system: Input should be a valid string or a list of text blocks")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise RequestInvalid(f"system.{i}.type: Input should be 'text'")
        _validate_text_block(block, f"system.{i}")


def _validate_tools(body: JSONDict) -> list[str]:
    tools = body.get("tools")
    names: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise RequestInvalid("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            where = f"tools.{i}"
            if not isinstance(tool, dict):
                raise RequestInvalid(f"{where}: Input should be a valid dictionary")
            kind = tool.get("type")
            if kind not in (None, "custom"):
                if kind == "function":  # the OpenAI shape
                    raise RequestInvalid(
                        f"{where}.type: Input tag 'function' found using 'type' does not match "
                        "any of the expected tags"
                    )
                if isinstance(kind, str) and _SEARCH_TOOL.match(kind):
                    _validate_search_tool(tool, where)
                # A server tool (web_search_20250305, bash_20250124, ...): name is enough.
                if isinstance(tool.get("name"), str):
                    names.append(tool["name"])
                continue
            for key in tool:
                if key not in _TOOL_KEYS:
                    raise RequestInvalid(f"{where}.custom.{key}: Extra inputs are not permitted")
            name = tool.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                raise RequestInvalid(
                    f"{where}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
                )
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise RequestInvalid(f"{where}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise RequestInvalid(f"{where}.custom.input_schema.type: Input should be 'object'")
            if name in names:
                raise RequestInvalid(f"tools: Tool names must be unique. Duplicate name: {name}")
            names.append(name)

    if "tool_choice" in body:
        choice = body["tool_choice"]
        if not isinstance(choice, dict):
            raise RequestInvalid(
                "tool_choice: Input should be a valid dictionary or object to extract fields from"
            )
        kind = choice.get("type")
        if kind not in ("auto", "any", "tool", "none"):
            raise RequestInvalid(
                "tool_choice: Input tag found using 'type' does not match any of the expected "
                "tags: 'auto', 'any', 'tool', 'none'"
            )
        if kind == "tool" and choice.get("name") not in names:
            raise RequestInvalid(f"tool_choice.tool.name: tool {choice.get('name')!r} not found")
        if kind != "none" and tools is None:
            raise RequestInvalid("tool_choice may only be specified while providing tools.")
        extra = set(choice) - {"type", "name", "disable_parallel_tool_use"}
        if extra:
            raise RequestInvalid(f"tool_choice.{sorted(extra)[0]}: Extra inputs are not permitted")
    return names


def _validate_search_tool(tool: JSONDict, where: str) -> None:
    """The web search server tool, as the real API checks it."""
    tag = f"{where}.{tool['type']}"
    for key in tool:
        if key not in _SEARCH_TOOL_KEYS:
            raise RequestInvalid(f"{tag}.{key}: Extra inputs are not permitted")
    if tool.get("name") != "web_search":
        raise RequestInvalid(f"{tag}.name: Input should be 'web_search'")
    max_uses = tool.get("max_uses")
    if max_uses is not None and not (_is_int(max_uses) and max_uses > 0):
        raise RequestInvalid(f"{tag}.max_uses: Input should be greater than 0")
    for name in ("allowed_domains", "blocked_domains"):
        domains = tool.get(name)
        if domains is not None and not (
            isinstance(domains, list) and all(isinstance(d, str) for d in domains)
        ):
            raise RequestInvalid(f"{tag}.{name}: Input should be a valid list")
    if tool.get("allowed_domains") is not None and tool.get("blocked_domains") is not None:
        raise RequestInvalid(
            f"{tag}: Cannot specify both allowed_domains and blocked_domains in the same request"
        )
    location = tool.get("user_location")
    if location is not None:
        if not isinstance(location, dict) or location.get("type") != "approximate":
            raise RequestInvalid(f"{tag}.user_location.type: Input should be 'approximate'")
        for key, value in location.items():
            if key not in ("type", "city", "region", "country", "timezone"):
                raise RequestInvalid(f"{tag}.user_location.{key}: Extra inputs are not permitted")
            if not isinstance(value, str):
                raise RequestInvalid(f"{tag}.user_location.{key}: Input should be a valid string")


def _validate_output_format(body: JSONDict) -> None:
    formats: list[tuple[str, Any]] = []
    if "output_config" in body:
        config = body["output_config"]
        if not isinstance(config, dict) or set(config) - {"effort", "format"}:
            raise RequestInvalid("output_config: only effort and format are permitted")
        if config.get("effort") not in (None, "low", "medium", "high", "xhigh", "max"):
            raise RequestInvalid("output_config.effort: Input should be 'low', 'medium', 'high'…")
        if config.get("format") is not None:
            formats.append(("output_config.format", config["format"]))
    if body.get("output_format") is not None:
        formats.append(("output_format", body["output_format"]))
    for where, fmt in formats:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
            raise RequestInvalid(f"{where}.type: Input should be 'json_schema'")
        if not isinstance(fmt.get("schema"), dict):
            raise RequestInvalid(f"{where}.schema: Field required")


def _validate_text_block(block: JSONDict, where: str) -> None:
    for key in block:
        if key not in _BLOCK_KEYS["text"]:
            raise RequestInvalid(f"{where}.text.{key}: Extra inputs are not permitted")
    if not isinstance(block.get("text"), str):
        raise RequestInvalid(f"{where}.text.text: Field required")
    if not block["text"]:
        raise RequestInvalid(f"{where}: text content blocks must be non-empty")


def _validate_image_block(block: JSONDict, where: str) -> None:
    source = block.get("source")
    if not isinstance(source, dict):
        raise RequestInvalid(f"{where}.image.source: Field required")
    kind = source.get("type")
    if kind == "base64":
        if source.get("media_type") not in _IMAGE_MEDIA_TYPES:
            raise RequestInvalid(
                f"{where}.image.source.base64.media_type: Input should be 'image/jpeg', "
                "'image/png', 'image/gif' or 'image/webp'"
            )
        data = source.get("data")
        try:
            if not isinstance(data, str) or not data:
                raise ValueError
            base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error):
            raise RequestInvalid(
                f"{where}.image.source.base64.data: The image data is not valid base64 "
                "(send the bare payload, without a data: URL prefix)"
            ) from None
    elif kind == "url":
        if not isinstance(source.get("url"), str):
            raise RequestInvalid(f"{where}.image.source.url.url: Field required")
    elif kind == "file":
        if not isinstance(source.get("file_id"), str):
            raise RequestInvalid(f"{where}.image.source.file.file_id: Field required")
    else:
        raise RequestInvalid(
            f"{where}.image.source: Input tag found using 'type' does not match any of the "
            "expected tags: 'base64', 'url', 'file'"
        )


def _blocks_of(message: JSONDict) -> list[JSONDict]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _validate_messages(body: JSONDict, tool_names: list[str]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestInvalid("messages: Field required")
    if not messages:
        raise RequestInvalid("messages: at least one message is required")

    _validate_system_turns(messages)
    # System turns aside, the conversation alternates user and assistant turns.
    positions = [i for i, m in enumerate(messages) if m.get("role") != "system"]
    conversation = [messages[i] for i in positions]
    uses_tools = False
    for i, message in enumerate(conversation):
        where = f"messages.{positions[i]}"
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise RequestInvalid(f"{where}.role: Input should be 'user', 'assistant' or 'system'")
        for key in message:
            if key not in ("role", "content"):
                raise RequestInvalid(f"{where}.{key}: Extra inputs are not permitted")
        if i == 0 and role != "user":
            raise RequestInvalid('messages: first message must use the "user" role')
        if i > 0 and conversation[i - 1].get("role") == role:
            raise RequestInvalid(
                f'{where}: roles must alternate between "user" and "assistant", '
                f"but found multiple {role!r} roles in a row"
            )
        content = message.get("content")
        is_final_assistant = role == "assistant" and i == len(conversation) - 1
        if isinstance(content, str):
            if not content and not is_final_assistant:
                raise RequestInvalid(
                    f"{where}: all messages must have non-empty content except for the "
                    "optional final assistant message"
                )
            continue
        if not isinstance(content, list):
            raise RequestInvalid(f"{where}.content: Field required")
        if not content and not is_final_assistant:
            raise RequestInvalid(
                f"{where}: all messages must have non-empty content except for the optional "
                "final assistant message"
            )
        for j, block in enumerate(content):
            if _validate_block(block, f"{where}.content.{j}", role):
                uses_tools = True
        _validate_mid_conv_blocks(content, where)

    if uses_tools and not tool_names:
        raise RequestInvalid(
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )
    _validate_tool_protocol(conversation)
    _validate_thinking_in_tool_loop(body, conversation)


def _validate_system_text(content: Any, where: str) -> None:
    """A system turn's content: a non-empty string or a non-empty list of text blocks."""
    if isinstance(content, str):
        if not content:
            raise RequestInvalid(f"{where}: system messages must have non-empty content")
        return
    if not isinstance(content, list) or not content:
        raise RequestInvalid(f"{where}: Input should be a valid string or a list of text blocks")
    for j, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise RequestInvalid(f"{where}.{j}.type: Input should be 'text'")
        _validate_text_block(block, f"{where}.{j}")


def _validate_system_turns(messages: list[Any]) -> None:
    """Where a ``{"role": "system"}`` message may stand: right after a user turn, before an
    assistant turn or at the end; never first, never two in a row."""
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestInvalid(f"messages.{i}: Input should be a valid dictionary")
    for i, message in enumerate(messages):
        if message.get("role") != "system":
            continue
        where = f"messages.{i}"
        for key in message:
            if key not in ("role", "content"):
                raise RequestInvalid(f"{where}.{key}: Extra inputs are not permitted")
        _validate_system_text(message.get("content"), f"{where}.content")
        before = messages[i - 1].get("role") if i > 0 else None
        after = messages[i + 1].get("role") if i + 1 < len(messages) else None
        if after == "system":
            raise RequestInvalid(
                f"{where}: consecutive system messages are not allowed; merge them into one"
            )
        if before != "user":
            raise RequestInvalid(
                f"{where}: a system message must immediately follow a user message"
            )
        if after not in (None, "assistant"):
            raise RequestInvalid(
                f"{where}: a system message must be followed by an assistant message or end "
                "the conversation"
            )


def _validate_mid_conv_blocks(content: list[Any], where: str) -> None:
    """``mid_conv_system`` blocks stand at the end of a turn, holding text blocks."""
    kinds = [block.get("type") for block in content]
    for j, block in enumerate(content):
        if kinds[j] != "mid_conv_system":
            continue
        if any(kind != "mid_conv_system" for kind in kinds[j:]):
            raise RequestInvalid(
                f"{where}.content.{j}: mid_conv_system blocks must be the last blocks of a turn"
            )
        _validate_system_text(block.get("content"), f"{where}.content.{j}.content")


def _validate_block(block: Any, where: str, role: str) -> bool:
    """Check one content block; return True when it is a tool_use or tool_result."""
    if not isinstance(block, dict):
        raise RequestInvalid(f"{where}: Input should be a valid dictionary")
    kind = block.get("type")
    if kind not in _BLOCK_TYPES:
        raise RequestInvalid(
            f"{where}: Input tag {kind!r} found using 'type' does not match any of the "
            "expected tags"
        )
    for key in block:
        if kind in _BLOCK_KEYS and key not in _BLOCK_KEYS[kind]:
            raise RequestInvalid(f"{where}.{kind}.{key}: Extra inputs are not permitted")
    if kind == "text":
        _validate_text_block(block, where)
    elif kind == "image":
        _validate_image_block(block, where)
    elif kind == "tool_use":
        if role != "assistant":
            raise RequestInvalid(f"{where}: tool_use blocks may only appear in assistant turns")
        if not isinstance(block.get("id"), str) or not _TOOL_ID.match(block["id"]):
            raise RequestInvalid(
                f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
            )
        if not isinstance(block.get("name"), str) or not block["name"]:
            raise RequestInvalid(f"{where}.tool_use.name: Field required")
        if not isinstance(block.get("input"), dict):
            raise RequestInvalid(f"{where}.tool_use.input: Input should be a valid dictionary")
        return True
    elif kind == "tool_result":
        if role != "user":
            raise RequestInvalid(f"{where}: tool_result blocks may only appear in user turns")
        if not isinstance(block.get("tool_use_id"), str):
            raise RequestInvalid(f"{where}.tool_result.tool_use_id: Field required")
        content = block.get("content")
        if isinstance(content, list):
            for k, inner in enumerate(content):
                inner_where = f"{where}.tool_result.content.{k}"
                if not isinstance(inner, dict) or inner.get("type") not in (
                    "text",
                    "image",
                    "document",
                    "search_result",
                    "tool_reference",
                ):
                    raise RequestInvalid(f"{inner_where}: Input tag does not match expected tags")
                if inner["type"] == "text":
                    _validate_text_block(inner, inner_where)
                elif inner["type"] == "image":
                    _validate_image_block(inner, inner_where)
        elif content is not None and not isinstance(content, str):
            raise RequestInvalid(f"{where}.tool_result.content: Input should be a string or list")
        if "is_error" in block and not isinstance(block["is_error"], bool):
            raise RequestInvalid(f"{where}.tool_result.is_error: Input should be a valid boolean")
        return True
    elif kind in ("thinking", "redacted_thinking"):
        if role != "assistant":
            raise RequestInvalid(f"{where}: {kind} blocks may only appear in assistant turns")
        if kind == "thinking" and not (
            isinstance(block.get("thinking"), str) and isinstance(block.get("signature"), str)
        ):
            raise RequestInvalid(f"{where}.thinking: thinking and signature are required")
        if kind == "redacted_thinking" and not isinstance(block.get("data"), str):
            raise RequestInvalid(f"{where}.redacted_thinking.data: Field required")
    return False


def _validate_tool_protocol(messages: list[JSONDict]) -> None:
    """Each tool_use is answered at the start of the next user turn; results match calls."""
    for i, message in enumerate(messages):
        if message["role"] != "user":
            continue
        blocks = _blocks_of(message)
        previous = _blocks_of(messages[i - 1]) if i > 0 else []
        call_ids = [b.get("id") for b in previous if b.get("type") == "tool_use"]
        result_ids: list[str] = []
        seen_other = False
        for j, block in enumerate(blocks):
            if block.get("type") != "tool_result":
                seen_other = True
                continue
            tool_use_id = block.get("tool_use_id")
            if tool_use_id not in call_ids:
                raise RequestInvalid(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {tool_use_id}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message."
                )
            if seen_other:
                raise RequestInvalid(
                    f"messages.{i}.content.{j}: `tool_result` blocks must come first in the "
                    "user message, before any other content"
                )
            if tool_use_id in result_ids:
                raise RequestInvalid(
                    f"messages.{i}.content.{j}: each `tool_use` id must have exactly one "
                    f"`tool_result`; {tool_use_id} is answered twice"
                )
            result_ids.append(tool_use_id)
        missing = [c for c in call_ids if c not in result_ids]
        if missing:
            raise RequestInvalid(
                f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(map(str, missing))}. Each `tool_use` block must "
                "have a corresponding `tool_result` block in the next message."
            )


def _validate_thinking_in_tool_loop(body: JSONDict, messages: list[JSONDict]) -> None:
    """With thinking on, an unfinished tool loop's assistant turn must start with thinking."""
    if _thinking_type(body) not in ("enabled", "adaptive") or len(messages) < 2:
        return
    last = _blocks_of(messages[-1])
    if messages[-1]["role"] != "user" or not last or last[0].get("type") != "tool_result":
        return
    assistant = _blocks_of(messages[-2])
    first = assistant[0].get("type") if assistant else None
    if first not in ("thinking", "redacted_thinking"):
        raise RequestInvalid(
            f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
            f"`redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final "
            "`assistant` message must start with a thinking block (preceding the lastmost set "
            "of `tool_use` and `tool_result` blocks). To avoid this requirement, disable "
            "`thinking`."
        )
