"""``POST /v1/responses`` (the OpenAI Responses API) for the fake OpenAI upstream.

``FakeOpenAIUpstream`` registers the routes and hands each request to ``serve``; everything the
Responses API needs lives here: validation, the deterministic answers, the stored responses
``previous_response_id`` reads, the SSE event sequence and the fault dialect.

Validation is as strict as the real API for the things a translating gateway can get wrong (the
400s carry OpenAI's envelope ``{"error": {message, type, param, code}}``):

* Unknown top-level fields: ``Unknown parameter: 'messages'.`` (``unknown_parameter``). The known
  ones are ``CreateResponse``'s in the OpenAPI spec plus ``client_metadata`` (Codex CLI sends it
  to the real API; it is not in the spec). Chat-only fields (``messages``, ``max_tokens``,
  ``response_format``, ``n``) are therefore refused.
* ``model`` required; types, enums and ranges checked the way the API words them:
  ``Invalid type for 'stream': expected a boolean, but got a string instead.``,
  ``Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10
  instead.`` (``integer_below_min_value``), ``temperature`` 0..2, ``top_p`` 0..1,
  ``Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'.`` (``invalid_value``).
* ``input``: a string or an array of items. Message items (easy form or ``type: message``) with
  role user/assistant/system/developer and content a string or parts (``input_text``,
  ``input_image``, ``input_file``, ``input_audio``; an assistant's are ``output_text`` /
  ``refusal``); ``function_call``, ``function_call_output``, ``reasoning`` (``encrypted_content``
  accepted as is), ``web_search_call`` (action ``search`` / ``open_page`` / ``find_in_page``),
  ``item_reference`` and the other item types of the spec (checked for being objects only).
  Unknown keys on the checked items are ``Unknown parameter: 'input[0].name'.``. Item ``id`` is
  optional (Codex leaves it out).
* Tool-call pairing: every ``function_call_output`` needs its ``function_call`` earlier in the
  input or in the stored conversation ``previous_response_id`` continues (``No tool call found for
  function call output with call_id call_x.``), and every ``function_call`` (including the calls
  the previous response ended with) needs its output (``No tool output found for function call
  call_x.``).
* Stored state: a ``reasoning`` item with an ``id`` but no ``encrypted_content``, or an
  ``item_reference``, must name an item the fake stored, else 404 ``Item with id 'rs_x' not
  found.`` (plus the API's hint about ``store: false`` when the request has it);
  ``previous_response_id`` must be a response the fake stored (400 ``Previous response with id
  'resp_x' not found.``, ``previous_response_not_found``); the fake stores every response it
  creates unless ``store`` is false. ``conversation`` and ``prompt`` ids are never known here.
* ``tools``: the spec's types (function, custom, namespace, file_search, web_search[_2025_08_26],
  web_search_preview[_2025_03_11], code_interpreter, image_generation, mcp, local_shell, shell,
  computer, computer_use_preview, apply_patch, tool_search, programmatic_tool_calling); anything
  else is ``Invalid value: 'x'. Supported values are: ...`` on ``tools[i].type``. Function tools are
  flat (``{type, name, parameters, strict, description}``): a Chat-shaped one gets ``Missing
  required parameter: 'tools[0].name'.``. Namespace tools (what Codex CLI wraps MCP tools in:
  ``{type: namespace, name, description, tools: [function|custom]}``) are checked the same way
  inside. Built-in tools are checked for their required fields only (their option sets grow).
* ``tool_choice`` (modes, ``{type: function, name}`` naming a function of ``tools``,
  ``allowed_tools``, built-in and MCP forms), ``text.format`` (text / json_object / json_schema
  with ``name`` and ``schema``; json_object needs the word "json" in the input, as the API
  demands), ``reasoning`` {effort, summary}, ``include`` (known values only), ``metadata`` (16
  string values at most, 512 characters each), ``previous_response_id``'s characters.

Where the real API's wording is not known (the ``tool_choice`` name check, both
``previous_response_id`` and ``conversation``, ``prompt``) the message is the fake's own.

Answers are deterministic, chosen in this order:

1. A ``reasoning`` item first when ``reasoning.summary`` is set (one ``summary_text``) or
   ``include`` asks for ``reasoning.encrypted_content`` (then with ``encrypted_content``).
2. When the last input item is a ``function_call_output``: a message "The tool returned: <output>".
3. When a web search tool is given, ``tool_choice`` allows it and the last user message contains
   "search": a ``web_search_call`` (status completed, ``action: {type: search, query, queries}``,
   ``sources`` with ``include: ["web_search_call.action.sources"]``), then a message whose
   ``output_text`` carries one flat ``url_citation`` annotation.
4. When function tools are given (top level or in a namespace) and ``tool_choice`` allows: one
   ``function_call`` (``call_id`` unique per response, arguments ``{"city": "Paris"}``, and
   ``namespace`` when the function is in one).
5. ``text.format`` json_schema / json_object: the text ``{"answer": "fake"}``.
6. Otherwise ``REPLY_TEXT``.

Usage is always ``USAGE``: 12 input tokens (4 cached), 9 output tokens (2 of them reasoning),
21 in total. The response object echoes the request's parameters the way the API does
(instructions, tools, tool_choice, temperature, top_p, parallel_tool_calls, store, text,
reasoning, metadata, previous_response_id, max_output_tokens, truncation...), with ``model``
suffixed like the Chat answers (``<model>-2024-01-01``).

Streams (``stream: true``) are ``event: <type>\\ndata: <json>\\n\\n`` SSE with ``sequence_number``
from 0 on every event and no ``[DONE]``: ``response.created``, ``response.in_progress``, then per
output item ``response.output_item.added`` ... ``response.output_item.done`` (reasoning:
``reasoning_summary_part.added``, ``reasoning_summary_text.delta`` (one per word),
``reasoning_summary_text.done``, ``reasoning_summary_part.done``; web search:
``web_search_call.in_progress`` / ``.searching`` / ``.completed``; message:
``content_part.added``, ``output_text.delta`` (one per word), ``output_text.annotation.added``,
``output_text.done``, ``content_part.done``; function call: ``function_call_arguments.delta``
(three fragments), ``function_call_arguments.done``), and ``response.completed`` with the whole
response. Delta events carry ``obfuscation`` unless ``stream_options.include_obfuscation`` is
false.

The Chat error models answer here too (``fake-error-500`` / ``-503`` / ``-429`` / ``-400``,
``fake-leaky-error``, ``fake-malformed``, ``fake-hang``, ``fake-slow-stream``,
``fake-stall-midstream``, ``fake-drop-midstream``), after validation. Streamed, the stall/drop
models stop after the first text delta; without ``stream`` they send half the JSON body, then go
silent or abort. ``fake-slow-stream`` streams 200 words 50 ms apart (without ``stream``: the same
text at once). Two models are the Responses API's own:
``fake-midstream-error`` (some text, then an ``error`` event) and ``fake-midstream-failed`` (some
text, then ``response.failed`` with ``response.error``); both record ``("stream_errored",
model)`` and answer 500 without ``stream``. The ``orca-fault:`` markers play in this dialect
(``_FaultDialect``): the in-stream error is an ``error`` event, malformed events keep their
``event:`` line. In the ``total`` fault the repeated drip event reuses one sequence number (the
shared fault layer sends the same bytes each time).

``GET /v1/responses/{id}`` returns a stored response (404 otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import faults
from .base import FAULT, fragments, scripted, words

if TYPE_CHECKING:
    from .openai_upstream import FakeOpenAIUpstream

JSONDict = dict[str, Any]

REPLY_TEXT = "Hello from the fake Responses upstream."
JSON_REPLY = '{"answer": "fake"}'
TOOL_ARGUMENTS = '{"city": "Paris"}'
REASONING_SUMMARY = "The user wants a fake answer, so I give one."
SEARCH_URL = "https://example.com/fake-search-result"
SEARCH_TITLE = "Fake Search Result"
SEARCH_REPLY = f"According to {SEARCH_TITLE}, the fake web search worked."
TOOL_RESULT_PREFIX = "The tool returned: "
MIDSTREAM_ERROR = "The fake upstream failed in the middle of the response."
USAGE: JSONDict = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 21,
}
MIDSTREAM_MODELS = ("fake-midstream-error", "fake-midstream-failed")
# The events of a stream the stall/drop models and the mid-stream errors send before they act:
# created, in_progress, output_item.added, content_part.added and the first text delta.
OPENING_EVENTS = 5

# ---------------------------------------------------------------------------------- the spec

_CREATE_FIELDS = frozenset(
    {
        "background",
        "client_metadata",  # not in the spec, but Codex CLI sends it and the API accepts it
        "context_management",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "moderation",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)
TOOL_TYPES = (
    "function",
    "file_search",
    "computer",
    "computer_use_preview",
    "web_search",
    "web_search_2025_08_26",
    "mcp",
    "code_interpreter",
    "programmatic_tool_calling",
    "image_generation",
    "local_shell",
    "shell",
    "custom",
    "namespace",
    "tool_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "apply_patch",
)
WEB_SEARCH_TOOLS = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
# Built-in tools: their required fields (their other options are not checked).
_BUILTIN_REQUIRED: dict[str, tuple[str, ...]] = {
    "file_search": ("vector_store_ids",),
    "mcp": ("server_label",),
    "code_interpreter": ("container",),
    "computer_use_preview": ("environment", "display_width", "display_height"),
}
_FUNCTION_TOOL_FIELDS = frozenset(
    {
        "type",
        "name",
        "description",
        "parameters",
        "strict",
        "output_schema",
        "defer_loading",
        "allowed_callers",
    }
)
_CUSTOM_TOOL_FIELDS = frozenset(
    {"type", "name", "description", "format", "defer_loading", "allowed_callers"}
)
_NAMESPACE_FIELDS = frozenset({"type", "name", "description", "tools"})
_TOOL_CHOICE_MODES = ("none", "auto", "required")
# tool_choice object types: the spec's, plus the current web_search types (the spec only lists
# web_search_preview there, but the tool itself is current; refusing it would be a guess).
_TOOL_CHOICE_TYPES = (
    "function",
    "custom",
    "mcp",
    "allowed_tools",
    "file_search",
    "web_search_preview",
    "web_search_preview_2025_03_11",
    "web_search",
    "web_search_2025_08_26",
    "computer",
    "computer_use_preview",
    "computer_use",
    "image_generation",
    "code_interpreter",
    "shell",
    "apply_patch",
    "programmatic_tool_calling",
)
_ROLES = ("assistant", "system", "developer", "user")
_INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio")
_ASSISTANT_PARTS = ("output_text", "refusal")
_ITEM_STATUSES = ("in_progress", "completed", "incomplete")
_INPUT_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "web_search_call",
    "item_reference",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "shell_call",
    "shell_call_output",
    "apply_patch_call",
    "apply_patch_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "custom_tool_call",
    "custom_tool_call_output",
    "tool_search_call",
    "tool_search_output",
    "additional_tools",
    "compaction",
    "compaction_trigger",
    "program",
    "program_output",
)
_ITEM_FIELDS: dict[str, frozenset[str]] = {
    "message": frozenset({"type", "role", "content", "id", "status", "phase"}),
    "function_call": frozenset(
        {"id", "type", "call_id", "caller", "namespace", "name", "arguments", "status"}
    ),
    "function_call_output": frozenset(
        {"id", "call_id", "type", "output", "name", "namespace", "caller", "status"}
    ),
    "reasoning": frozenset({"type", "id", "encrypted_content", "summary", "content", "status"}),
    "web_search_call": frozenset({"id", "type", "status", "action"}),
    "item_reference": frozenset({"type", "id"}),
}
_PART_FIELDS: dict[str, frozenset[str]] = {
    "input_text": frozenset({"type", "text", "prompt_cache_breakpoint"}),
    "input_image": frozenset({"type", "image_url", "file_id", "detail", "prompt_cache_breakpoint"}),
    "input_file": frozenset(
        {
            "type",
            "file_id",
            "filename",
            "file_data",
            "file_url",
            "detail",
            "prompt_cache_breakpoint",
        }
    ),
    "input_audio": frozenset({"type", "input_audio"}),
    "output_text": frozenset({"type", "text", "annotations", "logprobs"}),
    "refusal": frozenset({"type", "refusal"}),
}
_WEB_SEARCH_ACTIONS = ("search", "open_page", "find_in_page")
_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_METADATA = 16
_STORE_FALSE_HINT = (
    " Items are not persisted when `store` is set to false. Try again with `store` set to true,"
    " or remove this item from your input."
)


class RequestInvalid(Exception):
    """A request the real API refuses; ``status`` is 400 unless it is a missing item (404)."""

    def __init__(
        self, message: str, param: str | None = None, code: str | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status


# ---------------------------------------------------------------------------------- helpers


def _error_response(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    envelope = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(envelope, status=status, headers=headers)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}{uuid.uuid4().hex[:16]}"


def _sse(event: JSONDict) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _described(value: Any) -> str:
    """How the API names a JSON value's type in its messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _quoted(values: Sequence[str]) -> str:
    """'a' / 'a' and 'b' / 'a', 'b', and 'c' -- the API's list of supported values."""
    shown = [f"'{v}'" for v in values]
    if len(shown) <= 2:
        return " and ".join(shown)
    return ", ".join(shown[:-1]) + ", and " + shown[-1]


def _number_text(value: Any) -> str:
    return json.dumps(value)


def missing(param: str) -> RequestInvalid:
    return RequestInvalid(
        f"Missing required parameter: '{param}'.", param, "missing_required_parameter"
    )


def unknown(param: str) -> RequestInvalid:
    return RequestInvalid(f"Unknown parameter: '{param}'.", param, "unknown_parameter")


def wrong_type(param: str, expected: str, value: Any) -> RequestInvalid:
    return RequestInvalid(
        f"Invalid type for '{param}': expected {expected}, but got {_described(value)} instead.",
        param,
        "invalid_type",
    )


def invalid_value(param: str, value: Any, supported: Sequence[str]) -> RequestInvalid:
    return RequestInvalid(
        f"Invalid value: '{value}'. Supported values are: {_quoted(supported)}.",
        param,
        "invalid_value",
    )


def _check_keys(obj: JSONDict, allowed: Iterable[str], path: str) -> None:
    names = frozenset(allowed)
    for key in obj:
        if key not in names:
            raise unknown(_join(path, key))


def _require(obj: JSONDict, keys: Iterable[str], path: str) -> None:
    for key in keys:
        if obj.get(key) is None:
            raise missing(_join(path, key))


def _object(value: Any, param: str) -> JSONDict:
    if not isinstance(value, dict):
        raise wrong_type(param, "an object", value)
    return value


def _array(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise wrong_type(param, "an array", value)
    return value


def _string(obj: JSONDict, key: str, path: str, *, max_length: int | None = None) -> None:
    value = obj.get(key)
    if value is None:
        return
    param = _join(path, key)
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    if max_length is not None and len(value) > max_length:
        raise RequestInvalid(
            f"Invalid '{param}': string too long. Expected a string with maximum length"
            f" {max_length}, but got a string with length {len(value)} instead.",
            param,
            "string_above_max_length",
        )


def _boolean(obj: JSONDict, key: str, path: str = "") -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise wrong_type(_join(path, key), "a boolean", value)


def _enum(obj: JSONDict, key: str, path: str, values: Sequence[str]) -> None:
    value = obj.get(key)
    if value is None:
        return
    param = _join(path, key)
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    if value not in values:
        raise invalid_value(param, value, values)


def _ranged(
    obj: JSONDict,
    key: str,
    *,
    integer: bool,
    low: float | None = None,
    high: float | None = None,
) -> None:
    value = obj.get(key)
    if value is None:
        return
    kind = "integer" if integer else "decimal"
    if not (_is_int(value) if integer else _is_number(value)):
        raise wrong_type(key, f"an {kind}" if integer else "a decimal", value)
    if low is not None and value < low:
        raise RequestInvalid(
            f"Invalid '{key}': {kind} below minimum value. Expected a value >= "
            f"{_number_text(low)}, but got {_number_text(value)} instead.",
            key,
            f"{kind}_below_min_value",
        )
    if high is not None and value > high:
        raise RequestInvalid(
            f"Invalid '{key}': {kind} above maximum value. Expected a value <= "
            f"{_number_text(high)}, but got {_number_text(value)} instead.",
            key,
            f"{kind}_above_max_value",
        )


def _name(obj: JSONDict, key: str, path: str, max_length: int = 64) -> None:
    """A function, namespace or schema name: letters, digits, _ and -, at most 64."""
    value = obj.get(key)
    param = _join(path, key)
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    if not _NAME.match(value):
        raise RequestInvalid(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches"
            f" the pattern '{_NAME.pattern}'.",
            param,
            "invalid_value",
        )
    _string(obj, key, path, max_length=max_length)


# ---------------------------------------------------------------------------------- stored state


@dataclass
class StoredResponse:
    """A response the fake created with ``store`` not false, and what led to it."""

    response: JSONDict
    input_items: list[JSONDict]
    previous_id: str | None

    def items(self) -> list[JSONDict]:
        return [*self.input_items, *self.response["output"]]


@dataclass
class ResponsesStore:
    """The fake's server-side state: stored responses and the items they hold, by id."""

    responses: dict[str, StoredResponse] = field(default_factory=dict)
    items: dict[str, JSONDict] = field(default_factory=dict)

    def clear(self) -> None:
        self.responses.clear()
        self.items.clear()

    def add(self, stored: StoredResponse) -> None:
        self.responses[stored.response["id"]] = stored
        for item in stored.items():
            if isinstance(item.get("id"), str):
                self.items[item["id"]] = item

    def chain(self, response_id: str | None) -> list[JSONDict]:
        """Every item of the conversation ending with ``response_id``, oldest first."""
        stored: list[StoredResponse] = []
        seen: set[str] = set()
        while response_id and response_id in self.responses and response_id not in seen:
            seen.add(response_id)
            stored.append(self.responses[response_id])
            response_id = self.responses[response_id].previous_id
        return [item for entry in reversed(stored) for item in entry.items()]


# ---------------------------------------------------------------------------------- validation


def validate_request(body: Any, store: ResponsesStore) -> None:
    """Raise ``RequestInvalid`` naming the first problem the real API would report."""
    if not isinstance(body, dict):
        raise RequestInvalid("The request body must be a JSON object.")
    for key in body:
        if key not in _CREATE_FIELDS:
            raise unknown(key)
    if body.get("model") is None:
        raise missing("model")
    if not isinstance(body["model"], str):
        raise wrong_type("model", "a string", body["model"])
    _scalars(body)
    _metadata(body)
    _reasoning(body)
    _text(body)
    include = body.get("include")
    if include is not None:
        for i, value in enumerate(_array(include, "include")):
            if value not in INCLUDABLE:
                raise invalid_value(f"include[{i}]", value, INCLUDABLE)
    tools = body.get("tools")
    if tools is not None:
        for i, tool in enumerate(_array(tools, "tools")):
            _tool(tool, f"tools[{i}]", nested=False)
    _tool_choice(body)
    _state(body)
    _input(body, store)


def _scalars(body: JSONDict) -> None:
    _string(body, "instructions", "")
    _ranged(body, "temperature", integer=False, low=0, high=2)
    _ranged(body, "top_p", integer=False, low=0, high=1)
    _ranged(body, "max_output_tokens", integer=True, low=16)
    _ranged(body, "top_logprobs", integer=True, low=0, high=20)
    _ranged(body, "max_tool_calls", integer=True)
    for key in ("parallel_tool_calls", "store", "stream", "background"):
        _boolean(body, key)
    _enum(body, "truncation", "", ("auto", "disabled"))
    _enum(
        body,
        "service_tier",
        "",
        ("auto", "default", "flex", "scale", "priority", "fast", "ultrafast"),
    )
    _enum(body, "prompt_cache_retention", "", ("in_memory", "24h"))
    _string(body, "prompt_cache_key", "")
    for key in ("user", "safety_identifier"):  # the spec's 64 for safety_identifier; the
        _string(body, key, "", max_length=64)  # API holds the deprecated `user` to it too
    options = body.get("stream_options")
    if options is not None:
        _check_keys(_object(options, "stream_options"), ("include_obfuscation",), "stream_options")
        _boolean(options, "include_obfuscation", "stream_options")
    for key in ("prompt_cache_options", "moderation", "client_metadata"):
        if body.get(key) is not None:
            _object(body[key], key)
    management = body.get("context_management")
    if management is not None:
        for i, entry in enumerate(_array(management, "context_management")):
            _require(
                _object(entry, f"context_management[{i}]"), ("type",), f"context_management[{i}]"
            )


def _metadata(body: JSONDict) -> None:
    metadata = body.get("metadata")
    if metadata is None:
        return
    _object(metadata, "metadata")
    if len(metadata) > _MAX_METADATA:
        raise RequestInvalid(
            f"Invalid 'metadata': too many properties. Expected an object with at most"
            f" {_MAX_METADATA} properties, but got an object with {len(metadata)} properties"
            " instead.",
            "metadata",
            "object_above_max_properties",
        )
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise wrong_type(f"metadata.{key}", "a string", value)
        _string(metadata, key, "metadata", max_length=512)


def _reasoning(body: JSONDict) -> None:
    reasoning = body.get("reasoning")
    if reasoning is None:
        return
    _object(reasoning, "reasoning")
    _check_keys(
        reasoning, ("effort", "summary", "generate_summary", "context", "mode"), "reasoning"
    )
    _enum(
        reasoning,
        "effort",
        "reasoning",
        ("none", "minimal", "low", "medium", "high", "xhigh", "max"),
    )
    for key in ("summary", "generate_summary"):
        _enum(reasoning, key, "reasoning", ("auto", "concise", "detailed"))
    _enum(reasoning, "context", "reasoning", ("auto", "current_turn", "all_turns"))
    _string(reasoning, "mode", "reasoning")


def _text(body: JSONDict) -> None:
    text = body.get("text")
    if text is None:
        return
    _object(text, "text")
    _check_keys(text, ("format", "verbosity"), "text")
    _enum(text, "verbosity", "text", ("low", "medium", "high"))
    fmt = text.get("format")
    if fmt is None:
        return
    _object(fmt, "text.format")
    _require(fmt, ("type",), "text.format")
    _enum(fmt, "type", "text.format", ("text", "json_schema", "json_object"))
    if fmt["type"] != "json_schema":
        _check_keys(fmt, ("type",), "text.format")
        return
    _require(fmt, ("name", "schema"), "text.format")
    _check_keys(fmt, ("type", "name", "schema", "strict", "description"), "text.format")
    _name(fmt, "name", "text.format")
    _object(fmt["schema"], "text.format.schema")
    _boolean(fmt, "strict", "text.format")
    _string(fmt, "description", "text.format")


def _tool(tool: Any, path: str, *, nested: bool) -> None:
    _object(tool, path)
    _require(tool, ("type",), path)
    kind = tool["type"]
    allowed_types = ("function", "custom") if nested else TOOL_TYPES
    if not isinstance(kind, str) or kind not in allowed_types:
        raise invalid_value(_join(path, "type"), kind, allowed_types)
    if kind == "function":
        _require(tool, ("name",), path)
        _check_keys(tool, _FUNCTION_TOOL_FIELDS, path)
        _name(tool, "name", path)
        _string(tool, "description", path)
        if tool.get("parameters") is not None:
            _object(tool["parameters"], _join(path, "parameters"))
        _boolean(tool, "strict", path)
    elif kind == "custom":
        _require(tool, ("name",), path)
        _check_keys(tool, _CUSTOM_TOOL_FIELDS, path)
        _name(tool, "name", path)
        _string(tool, "description", path)
        _custom_format(tool.get("format"), _join(path, "format"))
    elif kind == "namespace":
        _require(tool, ("name", "description", "tools"), path)
        _check_keys(tool, _NAMESPACE_FIELDS, path)
        _name(tool, "name", path)
        _string(tool, "description", path)
        members = _array(tool["tools"], _join(path, "tools"))
        if not members:
            raise RequestInvalid(
                f"Invalid '{path}.tools': empty array. Expected an array with minimum length 1,"
                " but got an empty array instead.",
                f"{path}.tools",
                "empty_array",
            )
        for i, member in enumerate(members):
            _tool(member, f"{path}.tools[{i}]", nested=True)
    else:
        _require(tool, _BUILTIN_REQUIRED.get(kind, ()), path)
        if kind in ("web_search", "web_search_2025_08_26", "web_search_preview"):
            _enum(tool, "search_context_size", path, ("low", "medium", "high"))


def _custom_format(fmt: Any, path: str) -> None:
    if fmt is None:
        return
    _object(fmt, path)
    _require(fmt, ("type",), path)
    _enum(fmt, "type", path, ("text", "grammar"))
    if fmt["type"] == "text":
        _check_keys(fmt, ("type",), path)
        return
    _require(fmt, ("syntax", "definition"), path)
    _check_keys(fmt, ("type", "syntax", "definition"), path)
    _enum(fmt, "syntax", path, ("lark", "regex"))
    _string(fmt, "definition", path)


def function_tools(tools: Any) -> list[tuple[str, str | None]]:
    """(name, namespace) of every function in ``tools``, namespaces flattened, in order."""
    found: list[tuple[str, str | None]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "function":
            found.append((tool["name"], None))
        elif tool.get("type") == "namespace":
            found += [
                (member["name"], tool["name"])
                for member in tool.get("tools", [])
                if isinstance(member, dict) and member.get("type") == "function"
            ]
    return found


def _tool_choice(body: JSONDict) -> None:
    choice = body.get("tool_choice")
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICE_MODES:
            raise invalid_value("tool_choice", choice, _TOOL_CHOICE_MODES)
        return
    _object(choice, "tool_choice")
    _require(choice, ("type",), "tool_choice")
    _enum(choice, "type", "tool_choice", _TOOL_CHOICE_TYPES)
    kind = choice["type"]
    if kind in ("function", "custom"):
        _require(choice, ("name",), "tool_choice")
        _check_keys(choice, ("type", "name"), "tool_choice")
        tools = body.get("tools") or []
        names = (
            {name for name, _ in function_tools(tools)}
            if kind == "function"
            else {t.get("name") for t in tools if t.get("type") == "custom"}
        )
        if choice["name"] not in names:
            raise RequestInvalid(
                f"Tool choice '{kind}' with name '{choice['name']}' not found in 'tools'"
                " parameter.",
                "tool_choice",
                "invalid_value",
            )
    elif kind == "mcp":
        _require(choice, ("server_label",), "tool_choice")
    elif kind == "allowed_tools":
        _require(choice, ("mode", "tools"), "tool_choice")
        _enum(choice, "mode", "tool_choice", ("auto", "required"))
        for i, entry in enumerate(_array(choice["tools"], "tool_choice.tools")):
            _object(entry, f"tool_choice.tools[{i}]")


def _state(body: JSONDict) -> None:
    previous = body.get("previous_response_id")
    if previous is not None:
        if not isinstance(previous, str):
            raise wrong_type("previous_response_id", "a string", previous)
        if not _ID.match(previous):
            raise RequestInvalid(
                f"Invalid 'previous_response_id': '{previous}'. Expected an ID that contains"
                " letters, numbers, underscores, or dashes, but this value contained additional"
                " characters.",
                "previous_response_id",
                "invalid_value",
            )
    conversation = body.get("conversation")
    if conversation is not None:
        if previous is not None:
            raise RequestInvalid(
                "Mutually exclusive parameters: provide either 'previous_response_id' or"
                " 'conversation', not both.",
                "conversation",
                "mutually_exclusive_parameters",
            )
        conversation_id = conversation.get("id") if isinstance(conversation, dict) else conversation
        if not isinstance(conversation_id, str):
            raise wrong_type("conversation", "a string", conversation)
        raise RequestInvalid(
            f"Conversation with id '{conversation_id}' not found.", "conversation", None, 404
        )
    prompt = body.get("prompt")
    if prompt is not None:
        _require(_object(prompt, "prompt"), ("id",), "prompt")
        raise RequestInvalid(f"Prompt with id '{prompt['id']}' not found.", "prompt", None, 404)


def normalized_input(body: JSONDict) -> list[JSONDict]:
    """The input as items: a string becomes one user message."""
    value = body.get("input")
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


def _item_type(item: JSONDict) -> str | None:
    kind = item.get("type")
    if kind is None and "role" in item:
        return "message"
    if kind is None and "id" in item:
        return "item_reference"
    return kind


def _input(body: JSONDict, store: ResponsesStore) -> None:
    value = body.get("input")
    if value is None:
        raise missing("input")
    if not isinstance(value, str | list):
        raise wrong_type("input", "one of a string or an array of input items", value)
    previous = body.get("previous_response_id")
    if previous is not None and previous not in store.responses:
        raise RequestInvalid(
            f"Previous response with id '{previous}' not found.",
            "previous_response_id",
            "previous_response_not_found",
        )
    items = normalized_input(body)
    resolved: list[JSONDict] = []
    for i, item in enumerate(items):
        resolved.append(_input_item(item, f"input[{i}]", store, body.get("store") is False))
    _tool_pairs(resolved, store.chain(previous))
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_object" and not _mentions_json(body, resolved):
        raise RequestInvalid(
            "Response input messages must contain the word 'json' in some form to use"
            " 'text.format' of type 'json_object'.",
            "input",
        )


def _input_item(item: Any, path: str, store: ResponsesStore, store_false: bool) -> JSONDict:
    """Check one input item; return it (an ``item_reference``: the item it names)."""
    _object(item, path)
    kind = _item_type(item)
    if kind is None:
        raise missing(_join(path, "type"))
    if kind not in _INPUT_ITEM_TYPES:
        raise invalid_value(_join(path, "type"), kind, _INPUT_ITEM_TYPES)
    if kind in _ITEM_FIELDS:
        _check_keys(item, _ITEM_FIELDS[kind], path)
    if kind == "message":
        _message(item, path)
    elif kind == "function_call":
        _require(item, ("call_id", "name", "arguments"), path)
        for key in ("call_id", "name", "arguments", "namespace", "id"):
            _string(item, key, path)
        _enum(item, "status", path, _ITEM_STATUSES)
    elif kind == "function_call_output":
        _require(item, ("call_id", "output"), path)
        _string(item, "call_id", path, max_length=64)
        output = item["output"]
        if isinstance(output, list):
            for j, part in enumerate(output):
                _part(part, f"{path}.output[{j}]", ("input_text", "input_image", "input_file"))
        elif not isinstance(output, str):
            raise wrong_type(_join(path, "output"), "one of a string or an array", output)
    elif kind == "reasoning":
        _reasoning_item(item, path, store, store_false)
    elif kind == "web_search_call":
        _require(item, ("action",), path)
        action = _object(item["action"], _join(path, "action"))
        _require(action, ("type",), _join(path, "action"))
        if action["type"] not in _WEB_SEARCH_ACTIONS:
            raise invalid_value(_join(path, "action.type"), action["type"], _WEB_SEARCH_ACTIONS)
        _enum(item, "status", path, ("in_progress", "searching", "completed", "failed"))
    elif kind == "item_reference":
        _require(item, ("id",), path)
        referenced = store.items.get(item["id"])
        if referenced is None:
            hint = _STORE_FALSE_HINT if store_false else ""
            raise RequestInvalid(
                f"Item with id '{item['id']}' not found.{hint}", "input", None, 404
            )
        return referenced
    return item


def _message(item: JSONDict, path: str) -> None:
    _require(item, ("role", "content"), path)
    role = item["role"]
    if role not in _ROLES:
        raise invalid_value(_join(path, "role"), role, _ROLES)
    _enum(item, "status", path, _ITEM_STATUSES)
    _enum(item, "phase", path, ("commentary", "final_answer"))
    content = item["content"]
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise wrong_type(_join(path, "content"), "one of a string or array of objects", content)
    allowed = _ASSISTANT_PARTS if role == "assistant" else _INPUT_PARTS
    for j, part in enumerate(content):
        _part(part, f"{path}.content[{j}]", allowed)


def _part(part: Any, path: str, allowed: Sequence[str]) -> None:
    _object(part, path)
    _require(part, ("type",), path)
    kind = part["type"]
    if kind not in allowed:
        raise invalid_value(path, kind, allowed)
    _check_keys(part, _PART_FIELDS[kind], path)
    if kind in ("input_text", "output_text"):
        _require(part, ("text",), path)
        _string(part, "text", path)
    elif kind == "refusal":
        _require(part, ("refusal",), path)
    elif kind == "input_image":
        if part.get("image_url") is None and part.get("file_id") is None:
            raise missing(_join(path, "image_url"))
        _enum(part, "detail", path, ("low", "high", "auto", "original"))
    elif kind == "input_file":
        if all(part.get(k) is None for k in ("file_id", "file_data", "file_url")):
            raise missing(_join(path, "file_id"))
    elif kind == "input_audio":
        _require(part, ("input_audio",), path)


def _reasoning_item(item: JSONDict, path: str, store: ResponsesStore, store_false: bool) -> None:
    _require(item, ("summary",), path)
    for j, part in enumerate(_array(item["summary"], _join(path, "summary"))):
        part_path = f"{path}.summary[{j}]"
        _object(part, part_path)
        _require(part, ("type", "text"), part_path)
        if part["type"] != "summary_text":
            raise invalid_value(_join(part_path, "type"), part["type"], ("summary_text",))
    if item.get("content") is not None:
        for j, part in enumerate(_array(item["content"], _join(path, "content"))):
            part_path = f"{path}.content[{j}]"
            _object(part, part_path)
            _require(part, ("type", "text"), part_path)
            if part["type"] != "reasoning_text":
                raise invalid_value(_join(part_path, "type"), part["type"], ("reasoning_text",))
    _string(item, "encrypted_content", path)
    _enum(item, "status", path, _ITEM_STATUSES)
    item_id = item.get("id")
    # Without its encrypted content a reasoning item is only a pointer to server-side state.
    if item_id is not None and item.get("encrypted_content") is None and item_id not in store.items:
        hint = _STORE_FALSE_HINT if store_false else ""
        raise RequestInvalid(f"Item with id '{item_id}' not found.{hint}", "input", None, 404)


def _tool_pairs(items: list[JSONDict], history: list[JSONDict]) -> None:
    """Outputs need their calls (earlier, or in the stored history) and calls their outputs."""
    known: set[str] = set()
    pending: list[str] = []  # calls without an output yet, in order
    for item in [*history, *items]:
        kind = item.get("type")
        call_id = str(item.get("call_id"))
        if kind == "function_call":
            known.add(call_id)
            if call_id not in pending:
                pending.append(call_id)
        elif kind == "function_call_output":
            if call_id not in known:
                raise RequestInvalid(
                    f"No tool call found for function call output with call_id {call_id}.",
                    "input",
                )
            if call_id in pending:
                pending.remove(call_id)
    if pending:
        raise RequestInvalid(f"No tool output found for function call {pending[0]}.", "input")


def _mentions_json(body: JSONDict, items: list[JSONDict]) -> bool:
    texts = [body.get("instructions") or ""]
    for item in items:
        if _item_type(item) == "message":
            texts.append(_content_text(item.get("content")))
    return "json" in " ".join(texts).lower()


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


# ---------------------------------------------------------------------------------- answers


def encrypted_content(item_id: str) -> str:
    """The fake's opaque reasoning blob (Fernet-looking, like the API's)."""
    digest = hashlib.sha256(item_id.encode()).digest()
    return "gAAAAAB" + base64.urlsafe_b64encode(b"orca-fake-reasoning:" + digest).decode()


def _message_item(text: str, annotations: Sequence[JSONDict] = ()) -> JSONDict:
    part = {"type": "output_text", "annotations": list(annotations), "logprobs": [], "text": text}
    return {
        "id": _new_id("msg"),
        "type": "message",
        "status": "completed",
        "content": [part],
        "role": "assistant",
    }


def _last_user_text(items: list[JSONDict]) -> str:
    for item in reversed(items):
        if _item_type(item) == "message" and item.get("role") == "user":
            return _content_text(item.get("content"))
    return ""


def _output_text(output: Any) -> str:
    return output if isinstance(output, str) else _content_text(output)


def _choice_allows(choice: Any, kinds: frozenset[str]) -> bool:
    """Whether ``tool_choice`` lets the model use a tool of one of ``kinds``."""
    if choice is None or choice in ("auto", "required"):
        return True
    if not isinstance(choice, dict):
        return False
    if choice.get("type") == "allowed_tools":
        return any(isinstance(t, dict) and t.get("type") in kinds for t in choice["tools"])
    return choice.get("type") in kinds


def _function_to_call(body: JSONDict) -> tuple[str, str | None] | None:
    functions = function_tools(body.get("tools"))
    choice = body.get("tool_choice")
    if not functions or not _choice_allows(choice, frozenset({"function"})):
        return None
    wanted: set[str] | None = None
    if isinstance(choice, dict) and choice.get("type") == "function":
        wanted = {choice["name"]}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        wanted = {t.get("name") for t in choice["tools"] if t.get("type") == "function"}
    for name, namespace in functions:
        if wanted is None or name in wanted:
            return name, namespace
    return None


def plan_output(body: JSONDict, items: list[JSONDict]) -> list[JSONDict]:
    """The output items the fake answers ``body`` with (see the module docstring)."""
    output: list[JSONDict] = []
    include = body.get("include") or []
    reasoning = body.get("reasoning") or {}
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    if summary or "reasoning.encrypted_content" in include:
        reasoning_id = _new_id("rs")
        item: JSONDict = {"id": reasoning_id, "type": "reasoning", "summary": []}
        if summary:
            item["summary"] = [{"type": "summary_text", "text": REASONING_SUMMARY}]
        if "reasoning.encrypted_content" in include:
            item["encrypted_content"] = encrypted_content(reasoning_id)
        output.append(item)

    fmt = ((body.get("text") or {}).get("format") or {}).get("type")
    json_answer = fmt in ("json_schema", "json_object")
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = body.get("tool_choice")
    last = items[-1] if items else {}
    if last.get("type") == "function_call_output":
        text = JSON_REPLY if json_answer else TOOL_RESULT_PREFIX + _output_text(last["output"])
        return [*output, _message_item(text)]

    query = _last_user_text(items).strip()
    searchable = any(t.get("type") in WEB_SEARCH_TOOLS for t in tools)
    if searchable and "search" in query.lower() and _choice_allows(choice, WEB_SEARCH_TOOLS):
        action: JSONDict = {"type": "search", "query": query, "queries": [query]}
        if "web_search_call.action.sources" in include:
            action["sources"] = [{"type": "url", "url": SEARCH_URL}]
        start = SEARCH_REPLY.index(SEARCH_TITLE)
        citation = {
            "type": "url_citation",
            "start_index": start,
            "end_index": start + len(SEARCH_TITLE),
            "url": SEARCH_URL,
            "title": SEARCH_TITLE,
        }
        search = {
            "id": _new_id("ws"),
            "type": "web_search_call",
            "status": "completed",
            "action": action,
        }
        return [*output, search, _message_item(SEARCH_REPLY, [citation])]

    function = _function_to_call(body)
    if function is not None:
        name, namespace = function
        call: JSONDict = {
            "id": _new_id("fc"),
            "type": "function_call",
            "status": "completed",
            "arguments": TOOL_ARGUMENTS,
            "call_id": f"call_{uuid.uuid4().hex[:24]}",
            "name": name,
        }
        if namespace is not None:
            call["namespace"] = namespace
        return [*output, call]
    said = scripted(query)
    return [*output, _message_item(JSON_REPLY if json_answer else said or REPLY_TEXT)]


def _given(body: JSONDict, key: str, default: Any) -> Any:
    value = body.get(key)
    return default if value is None else value


def response_object(
    body: JSONDict,
    output: list[JSONDict],
    *,
    response_id: str | None = None,
    status: str = "completed",
    usage: JSONDict | None = None,
    error: JSONDict | None = None,
) -> JSONDict:
    """The Response object, echoing the request's parameters as the API does."""
    created = int(time.time())
    reasoning = body.get("reasoning") or {}
    text = dict(body.get("text") or {})
    text["format"] = text.get("format") or {"type": "text"}
    text["verbosity"] = text.get("verbosity") or "medium"
    return {
        "id": response_id or _new_id("resp"),
        "object": "response",
        "created_at": created,
        "status": status,
        "background": _given(body, "background", False),
        "completed_at": created if status == "completed" else None,
        "error": error,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": str(body.get("model", "")) + _model_suffix(),
        "output": output,
        "parallel_tool_calls": _given(body, "parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {
            "effort": reasoning.get("effort"),
            "summary": reasoning.get("summary") or reasoning.get("generate_summary"),
        },
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default"
        if body.get("service_tier") in (None, "auto")
        else body["service_tier"],
        "store": body.get("store") is not False,
        "temperature": _given(body, "temperature", 1.0),
        "text": text,
        "tool_choice": _given(body, "tool_choice", "auto"),
        "tools": _given(body, "tools", []),
        "top_logprobs": _given(body, "top_logprobs", 0),
        "top_p": _given(body, "top_p", 1.0),
        "truncation": _given(body, "truncation", "disabled"),
        "usage": dict(USAGE) if usage is None and status == "completed" else usage,
        "user": body.get("user"),
        "metadata": _given(body, "metadata", {}),
    }


def _model_suffix() -> str:
    from .openai_upstream import MODEL_SUFFIX  # imported late: that module imports this one

    return MODEL_SUFFIX


# ---------------------------------------------------------------------------------- streaming


def _obfuscation(delta: str) -> str:
    """Padding the API adds to delta events (random there; derived from the delta here)."""
    return hashlib.sha1(delta.encode()).hexdigest()[: max(1, 16 - len(delta) % 16)]


def _delta(event: JSONDict, obfuscate: bool) -> JSONDict:
    return {**event, "obfuscation": _obfuscation(event["delta"])} if obfuscate else event


def _item_events(index: int, item: JSONDict, obfuscate: bool) -> list[JSONDict]:
    kind = item["type"]
    item_id = item["id"]
    at = {"item_id": item_id, "output_index": index}
    events: list[JSONDict] = []
    if kind == "message":
        added: JSONDict = {**item, "status": "in_progress", "content": []}
    elif kind == "function_call":
        added = {**item, "status": "in_progress", "arguments": ""}
    elif kind == "reasoning":
        added = {k: v for k, v in item.items() if k != "encrypted_content"}
        added["summary"] = []
    else:  # web_search_call
        added = {**item, "status": "in_progress", "action": {"type": "search"}}
    events.append({"type": "response.output_item.added", "output_index": index, "item": added})

    if kind == "message":
        for c, part in enumerate(item["content"]):
            empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            events.append(
                {"type": "response.content_part.added", **at, "content_index": c, "part": empty}
            )
            for piece in words(part["text"]):
                delta = {
                    "type": "response.output_text.delta",
                    **at,
                    "content_index": c,
                    "delta": piece,
                    "logprobs": [],
                }
                events.append(_delta(delta, obfuscate))
            for a, annotation in enumerate(part["annotations"]):
                events.append(
                    {
                        "type": "response.output_text.annotation.added",
                        **at,
                        "content_index": c,
                        "annotation_index": a,
                        "annotation": annotation,
                    }
                )
            events.append(
                {
                    "type": "response.output_text.done",
                    **at,
                    "content_index": c,
                    "text": part["text"],
                    "logprobs": [],
                }
            )
            events.append(
                {"type": "response.content_part.done", **at, "content_index": c, "part": part}
            )
    elif kind == "function_call":
        for piece in fragments(item["arguments"]):
            delta = {"type": "response.function_call_arguments.delta", **at, "delta": piece}
            events.append(_delta(delta, obfuscate))
        events.append(
            {
                "type": "response.function_call_arguments.done",
                **at,
                "name": item["name"],
                "arguments": item["arguments"],
            }
        )
    elif kind == "reasoning":
        for s, part in enumerate(item["summary"]):
            summary_at = {**at, "summary_index": s}
            empty = {"type": "summary_text", "text": ""}
            events.append(
                {"type": "response.reasoning_summary_part.added", **summary_at, "part": empty}
            )
            for piece in words(part["text"]):
                delta = {"type": "response.reasoning_summary_text.delta", **summary_at}
                events.append(_delta({**delta, "delta": piece}, obfuscate))
            events.append(
                {"type": "response.reasoning_summary_text.done", **summary_at, "text": part["text"]}
            )
            events.append(
                {"type": "response.reasoning_summary_part.done", **summary_at, "part": part}
            )
    else:
        for phase in ("in_progress", "searching", "completed"):
            events.append({"type": f"response.web_search_call.{phase}", **at})
    events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    return events


def stream_events(response: JSONDict, *, obfuscate: bool = True) -> list[JSONDict]:
    """Every event of the stream that ends with ``response`` (``sequence_number`` not yet set)."""
    opening = {
        **response,
        "status": "in_progress",
        "completed_at": None,
        "output": [],
        "usage": None,
    }
    events: list[JSONDict] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
    ]
    for index, item in enumerate(response["output"]):
        events += _item_events(index, item, obfuscate)
    events.append({"type": "response.completed", "response": response})
    return events


def numbered(events: list[JSONDict], start: int = 0) -> list[JSONDict]:
    return [
        {
            "type": e["type"],
            "sequence_number": start + n,
            **{k: v for k, v in e.items() if k != "type"},
        }
        for n, e in enumerate(events)
    ]


def encoded(events: list[JSONDict]) -> list[bytes]:
    return [_sse(event) for event in numbered(events)]


def _obfuscate(body: JSONDict) -> bool:
    return (body.get("stream_options") or {}).get("include_obfuscation") is not False


# ---------------------------------------------------------------------------------- faults


class _FaultDialect(faults.Dialect):
    """The Responses pieces the shared faults are made of."""

    def __init__(self, model: str, stream: bool, body: JSONDict) -> None:
        super().__init__(model, stream)
        self.request = body
        self._after_opening = OPENING_EVENTS

    def error(self, status: int, message: str, headers: dict[str, str]) -> web.Response:
        type_ = {400: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
        return _error_response(status, message, type_, headers=headers)

    def body(self, text: str) -> bytes:
        return json.dumps(response_object(self.request, [_message_item(text)])).encode()

    def stream_parts(self, pieces: list[str]) -> faults.StreamParts:
        response = response_object(self.request, [_message_item("".join(pieces))])
        events = stream_events(response, obfuscate=False)
        deltas = [n for n, e in enumerate(events) if e["type"] == "response.output_text.delta"]
        head, tail = events[: deltas[0]], events[deltas[-1] + 1 :]
        content = [{**events[deltas[0]], "delta": piece} for piece in pieces]
        raw = [_sse(e) for e in numbered([*head, *content, *tail])]
        self._after_opening = len(head) + 1  # the in-stream error follows the first delta
        return faults.StreamParts(
            head=raw[: len(head)],
            content=raw[len(head) : len(head) + len(content)],
            tail=raw[len(head) + len(content) :],
        )

    def stream_error(self, message: str) -> bytes:
        return _sse(
            {
                "type": "error",
                "sequence_number": self._after_opening,
                "code": "server_error",
                "message": message,
                "param": None,
            }
        )


# ---------------------------------------------------------------------------------- serving


async def serve(fake: FakeOpenAIUpstream, request: web.Request) -> web.StreamResponse:
    """``POST /v1/responses``."""
    from . import openai_upstream as chat  # the shared error models and timings

    try:
        body = json.loads(await request.read())
    except ValueError:
        return fake._reject_responses(
            RequestInvalid("We could not parse the JSON body of your request."), ""
        )
    try:
        validate_request(body, fake.responses_store)
    except RequestInvalid as exc:
        named = body.get("model") if isinstance(body, dict) else ""
        return fake._reject_responses(exc, named if isinstance(named, str) else "")
    model: str = body["model"]
    stream = body.get("stream") is True

    fault = request[FAULT]
    if fault:
        return await faults.serve(fake, request, fault, _FaultDialect(model, stream, body))
    canned = fake._canned_error(request, model)
    if canned is not None:
        return canned
    if model == "fake-hang" and await fake._wait_unless_gone(request, chat.LONG_WAIT):
        fake._event("request_aborted", model)
        return web.Response(status=499)  # nobody is listening any more
    if model in MIDSTREAM_MODELS and not stream:
        status, message, type_, _, _, _ = chat._ERRORS["fake-error-500"]
        return _error_response(status, message, type_)

    items = normalized_input(body)
    if model == "fake-slow-stream":
        text = " ".join(f"tick{k}" for k in range(chat.SLOW_STREAM_CHUNKS))
        output = [_message_item(text)]
    else:
        output = plan_output(body, _resolved(items, fake.responses_store))
    response = response_object(body, output)
    if body.get("store") is not False:
        resolved = _resolved(items, fake.responses_store)
        fake.responses_store.add(
            StoredResponse(response, resolved, body.get("previous_response_id"))
        )

    if model in ("fake-stall-midstream", "fake-drop-midstream"):
        then = "stall" if model == "fake-stall-midstream" else "drop"
        if stream:
            events = encoded(stream_events(response, obfuscate=_obfuscate(body)))
            return await fake._send_stream(
                request, model, events[:OPENING_EVENTS], delay=fake.chunk_delay, then=then
            )
        return await _half_body(fake, request, model, response, then)
    if model in MIDSTREAM_MODELS:
        return await _midstream_failure(fake, request, model, response, body)
    if stream:
        delay = chat.SLOW_STREAM_DELAY if model == "fake-slow-stream" else fake.chunk_delay
        events = encoded(stream_events(response, obfuscate=_obfuscate(body)))
        return await fake._send_stream(request, model, events, delay=delay)
    return web.json_response(response)


def _resolved(items: list[JSONDict], store: ResponsesStore) -> list[JSONDict]:
    """The input with each ``item_reference`` replaced by the item it names."""
    return [
        store.items.get(item["id"], item) if _item_type(item) == "item_reference" else item
        for item in items
        if isinstance(item, dict)
    ]


async def retrieve(fake: FakeOpenAIUpstream, request: web.Request) -> web.Response:
    """``GET /v1/responses/{id}``."""
    response_id = request.match_info["response_id"]
    stored = fake.responses_store.responses.get(response_id)
    if stored is None:
        return _error_response(404, f"Response with id '{response_id}' not found.")
    return web.json_response(stored.response)


async def _half_body(
    fake: FakeOpenAIUpstream, request: web.Request, model: str, response: JSONDict, then: str
) -> web.StreamResponse:
    """Non-stream stall/drop: half the JSON body, then silence or a TCP abort."""
    from . import openai_upstream as chat

    raw = json.dumps(response).encode()
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    if not await fake._write_events(request, resp, model, [raw[: len(raw) // 2]], delay=0):
        return resp
    if then == "drop":
        if request.transport is not None:
            request.transport.abort()
        fake._event("stream_dropped", model)
    elif await fake._wait_unless_gone(request, chat.LONG_WAIT):
        fake._event("stream_aborted", model)
    return resp


async def _midstream_failure(
    fake: FakeOpenAIUpstream,
    request: web.Request,
    model: str,
    response: JSONDict,
    body: JSONDict,
) -> web.StreamResponse:
    """Some text, then an ``error`` event or ``response.failed``; records ``stream_errored``."""
    events = stream_events(response, obfuscate=_obfuscate(body))[:OPENING_EVENTS]
    if model == "fake-midstream-error":
        last: JSONDict = {
            "type": "error",
            "code": "server_error",
            "message": MIDSTREAM_ERROR,
            "param": None,
        }
    else:
        failed = response_object(
            body,
            [],
            response_id=response["id"],
            status="failed",
            error={"code": "server_error", "message": MIDSTREAM_ERROR},
        )
        last = {"type": "response.failed", "response": failed}
    raw = encoded([*events, last])
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    if await fake._write_events(request, resp, model, raw, delay=fake.chunk_delay):
        await fake._complete_stream(resp, model, "stream_errored")
    return resp
