"""Checks on a client's Anthropic Messages body (POST /v1/messages) before it is translated.

`validate_messages_request` raises InvalidRequest naming the first bad field and changes
nothing. It checks only what Orca must understand to route, translate, meter or bill a call:
the model, `max_tokens`, the shape of the conversation (roles `user`, `assistant` and
`system`, the content blocks Orca reads) and the options it maps, the web search tool's
among them. Anything else (unknown top-level fields, block types, other server tools, beta
features) is the provider's to judge: a same-format call sends it as it came, and a
translated one refuses it only where it has no equivalent (client_request.py,
routing.wire.untranslatable).
"""

from typing import Any

from ..canonical import InvalidRequest
from ..common import is_int, is_number
from .search import is_search_tool
from .shared import MIN_THINKING_BUDGET

TOOL_CHOICE_TYPES = frozenset({"auto", "any", "tool", "none"})
ROLES = ("user", "assistant", "system")


# === Anthropic Messages as the client surface ================================================


def _missing(name: str) -> InvalidRequest:
    return InvalidRequest(f"`{name}` is required", param=name, code="missing_required_parameter")


def _wrong_type(name: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"`{name}` must be {expected}", param=name, code="invalid_type")


def _check_number(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not is_number(value):
        raise _wrong_type(name, "a number")
    if not low <= value <= high:
        raise InvalidRequest(
            f"`{name}` must be between {low:g} and {high:g}, got {value}", param=name
        )


def _check_string(block: dict, key: str, where: str) -> None:
    if not isinstance(block.get(key), str):
        raise _wrong_type(f"{where}.{key}", "a string")


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise InvalidRequest(
            f"`{where}` must be an object with a string `type`", param=where, code="invalid_type"
        )
    kind = block["type"]
    if kind == "text":
        _check_string(block, "text", where)
    elif kind in ("image", "document"):
        if not isinstance(block.get("source"), dict):
            raise _wrong_type(f"{where}.source", "an object")
    elif kind == "tool_use":
        _check_string(block, "id", where)
        _check_string(block, "name", where)
        if not isinstance(block.get("input"), dict):
            raise _wrong_type(f"{where}.input", "an object")
    elif kind == "tool_result":
        _check_string(block, "tool_use_id", where)
        content = block.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _wrong_type(f"{where}.content", "a string or an array of content blocks")
        if isinstance(content, list):
            for k, inner in enumerate(content):
                _check_block(inner, f"{where}.content[{k}]")
    elif kind == "thinking":
        _check_string(block, "thinking", where)
        _check_string(block, "signature", where)
    elif kind == "redacted_thinking":
        _check_string(block, "data", where)
    elif kind == "mid_conv_system":
        _check_content(block.get("content"), where)


def _check_content(content: Any, where: str) -> None:
    if content is None:
        raise _missing(f"{where}.content")
    if not isinstance(content, str | list):
        raise _wrong_type(f"{where}.content", "a string or an array of content blocks")
    if isinstance(content, list):
        for j, block in enumerate(content):
            _check_block(block, f"{where}.content[{j}]")


def _check_messages(messages: Any) -> None:
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array")
    if not messages:
        raise InvalidRequest("`messages` must contain at least one message", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _wrong_type(where, "an object")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"`{where}.role` must be 'user', 'assistant' or 'system', got {role!r}",
                param=f"{where}.role",
            )
        _check_content(message.get("content"), where)


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _wrong_type("system", "a string or an array of text blocks")
    for i, block in enumerate(system):
        where = f"system[{i}]"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise InvalidRequest(
                f"`{where}` must be a text block", param=where, code="invalid_type"
            )
        _check_string(block, "text", where)


def _check_tools(body: dict) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _wrong_type("tools", "an array")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _wrong_type(where, "an object")
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            raise _wrong_type(f"{where}.type", "a string")
        if is_search_tool(tool):
            _check_search_tool(tool, where)
            continue
        if kind not in (None, "custom"):
            continue  # a server tool (code_execution, ...): the upstream judges it
        name = tool.get("name")
        if name is None:
            raise _missing(f"{where}.name")
        if not isinstance(name, str) or not name:
            raise _wrong_type(f"{where}.name", "a non-empty string")
        schema = tool.get("input_schema")
        if schema is None:
            raise _missing(f"{where}.input_schema")
        if not isinstance(schema, dict):
            raise _wrong_type(f"{where}.input_schema", "an object")


def _check_search_tool(tool: dict, where: str) -> None:
    """The web search tool's fields Orca translates (search.py)."""
    max_uses = tool.get("max_uses")
    if max_uses is not None:
        if not is_int(max_uses):
            raise _wrong_type(f"{where}.max_uses", "an integer")
        if max_uses < 1:
            raise InvalidRequest(
                f"`{where}.max_uses` must be at least 1, got {max_uses}", param=f"{where}.max_uses"
            )
    for name in ("allowed_domains", "blocked_domains"):
        domains = tool.get(name)
        if domains is not None and not (
            isinstance(domains, list) and all(isinstance(d, str) for d in domains)
        ):
            raise _wrong_type(f"{where}.{name}", "an array of strings")
    if tool.get("allowed_domains") is not None and tool.get("blocked_domains") is not None:
        raise InvalidRequest(
            f"`{where}`: use either allowed_domains or blocked_domains, not both",
            param=f"{where}.blocked_domains",
        )
    location = tool.get("user_location")
    if location is not None and not isinstance(location, dict):
        raise _wrong_type(f"{where}.user_location", "an object")


def _check_tool_choice(choice: Any) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict):
        raise _wrong_type("tool_choice", "an object")
    if choice.get("type") not in TOOL_CHOICE_TYPES:
        raise InvalidRequest(
            f"`tool_choice.type` must be one of {sorted(TOOL_CHOICE_TYPES)}",
            param="tool_choice.type",
        )
    if choice["type"] == "tool":
        name = choice.get("name")
        if name is None:
            raise _missing("tool_choice.name")
        if not isinstance(name, str) or not name:
            raise _wrong_type("tool_choice.name", "a non-empty string")
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise _wrong_type("tool_choice.disable_parallel_tool_use", "a boolean")


def _check_thinking(thinking: Any, max_tokens: int | None) -> None:
    """`enabled` carries the budget Orca translates; other types (`adaptive`, `disabled`, and
    any newer one) are the provider's to judge."""
    if thinking is None:
        return
    if not isinstance(thinking, dict):
        raise _wrong_type("thinking", "an object")
    if not isinstance(thinking.get("type"), str):
        raise _wrong_type("thinking.type", "a string")
    if thinking["type"] != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise _missing("thinking.budget_tokens")
    if not is_int(budget):
        raise _wrong_type("thinking.budget_tokens", "an integer")
    if budget < MIN_THINKING_BUDGET:
        raise InvalidRequest(
            f"`thinking.budget_tokens` must be at least {MIN_THINKING_BUDGET}, got {budget}",
            param="thinking.budget_tokens",
        )
    if max_tokens is not None and budget >= max_tokens:
        raise InvalidRequest(
            f"`thinking.budget_tokens` ({budget}) must be less than `max_tokens` ({max_tokens})",
            param="thinking.budget_tokens",
        )


def _check_max_tokens(body: dict, *, required: bool) -> int | None:
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        if required:
            raise _missing("max_tokens")
        return None
    if not is_int(max_tokens):
        raise _wrong_type("max_tokens", "an integer")
    if max_tokens < 1:
        raise InvalidRequest(
            f"`max_tokens` must be at least 1, got {max_tokens}", param="max_tokens"
        )
    return max_tokens


def validate_messages_request(body: Any, *, count_tokens: bool = False) -> None:
    """Check a parsed Messages body; raise InvalidRequest naming the first bad field. A
    `count_tokens` body has no `max_tokens` (nor anything checked against it)."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    model = body.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model.strip():
        raise _wrong_type("model", "a non-empty string")
    max_tokens = _check_max_tokens(body, required=not count_tokens)
    _check_messages(body.get("messages"))
    _check_system(body.get("system"))
    _check_number(body, "temperature", 0, 1)
    _check_number(body, "top_p", 0, 1)
    top_k = body.get("top_k")
    if top_k is not None:
        if not is_int(top_k):
            raise _wrong_type("top_k", "an integer")
        if top_k < 0:
            raise InvalidRequest(f"`top_k` must be at least 0, got {top_k}", param="top_k")
    stops = body.get("stop_sequences")
    if stops is not None and not (
        isinstance(stops, list) and all(isinstance(s, str) for s in stops)
    ):
        raise _wrong_type("stop_sequences", "an array of strings")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean")
    _check_tools(body)
    _check_tool_choice(body.get("tool_choice"))
    _check_thinking(body.get("thinking"), max_tokens)
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _wrong_type("metadata", "an object")
        user_id = metadata.get("user_id")
        if user_id is not None and not isinstance(user_id, str):
            raise _wrong_type("metadata.user_id", "a string")
