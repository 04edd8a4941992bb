"""A recording, scripted, validating fake model upstream for real coding agents (Claude Code,
Codex CLI), met directly or through Orca.

It speaks four dialects on one port, checks each request as strictly as the real API does for the
things a client or a translating gateway can get wrong (a refused request gets that API's 400
envelope and lands in ``rejections``), records every request, and plays a fixed two-turn plan:

* Anthropic Messages: ``POST /v1/messages`` (any query, e.g. ``?beta=true``), Messages SSE or
  JSON; ``POST /v1/messages/count_tokens``. Checked by ``tests/fakes/anthropic_validation.py``
  (plus the required ``anthropic-version`` header). With thinking on (``enabled`` /
  ``adaptive``) every answer starts with a signed ``thinking`` block (empty text for
  ``display: "omitted"``), as the real API's, so the tool loop's "assistant turn starts with its
  thinking block" rule can be met.
* OpenAI Responses: ``POST /v1/responses`` (also ``/responses``), Responses SSE or JSON.
  Checked by ``tests/fakes/openai_responses.py``'s ``validate_request``.
* OpenAI Chat Completions: ``POST /v1/chat/completions`` (also ``/chat/completions``), data-only
  SSE ending in ``data: [DONE]`` (a ``choices: []`` usage chunk first when
  ``stream_options.include_usage``) or JSON. Checked by ``validate_chat`` below: unknown fields,
  roles and their keys, content part types, ``tool_calls`` shape (``arguments`` a string),
  every tool call answered by ``tool`` messages before the next turn and every ``tool`` message
  answering one, tool names and parameter schemas, ``tool_choice`` / ``parallel_tool_calls`` only
  with ``tools``, ``stream_options`` only with ``stream``, sampling ranges, and, as
  api.openai.com, ``max_tokens`` refused beside ``reasoning_effort`` (reasoning models take only
  ``max_completion_tokens``; the others refuse ``reasoning_effort``: no model takes both).
* Gemini: ``POST /{v1beta|v1}/models/{model}:generateContent``, ``:streamGenerateContent``
  (``?alt=sse``: SSE; without: a streamed JSON array) and ``:countTokens``. Checked by
  ``tests/fakes/gemini_upstream.py``'s ``validate_request`` (unknown fields, OpenAPI-subset
  ``parameters``, function call / response turn rules...). A ``functionCall`` part carries a
  ``thoughtSignature`` (not required back; the next request is recorded, so a test can look).
* ``GET /v1/models`` (both list shapes in one body), ``HEAD``/``GET /``: 200. Anything else: 404,
  recorded all the same, so a capture shows every endpoint an agent tried.

With ``api_key`` set, every model request must carry it the way its API wants (``x-api-key`` or
``Authorization: Bearer`` for Messages, ``Authorization: Bearer`` for OpenAI, ``x-goog-api-key``
or ``?key=`` for Gemini), else 401 (Gemini: 400 ``API_KEY_INVALID``), recorded as a rejection.

The plan (``mode="script"``, the default), decided from each request alone, so it holds however
many side requests (titles, quota probes, summaries) an agent sends between the real turns:

* turn 1 -- the request offers the agent's own shell tool (found by name among the offered tools
  in the request's dialect: Claude Code's ``Bash``; Codex's ``exec_command``, ``shell_command``,
  ``shell``) and its conversation holds no tool result yet: answer with one call of that tool
  running ``echo orca-agent-ok`` (``Bash`` with ``{"command": ..., "description": ...}``;
  ``exec_command`` ``{"cmd": ...}``, the others shaped from the tool's own parameter schema).
* turn 2 -- the conversation holds a tool result: answer with text holding ``DONE_MARKER`` and, if
  the result contained ``orca-agent-ok``, ``SEEN_MARKER`` (proof the agent really ran the command
  and its output came back).
* any other request (no shell tool offered, e.g. a title or quota call): a short plain text.

``mode="record"`` answers every model request with the plain text only (no tool call): enough to
capture what an agent's first request looks like.

Each recorded request is ``{"method", "path", "query", "headers" (secrets redacted), "body",
"answer", "seq"}``; model turns also have ``"dialect"`` (``anthropic`` / ``responses`` / ``chat`` /
``gemini``) and, when refused, ``"answer": {"rejected": <message>, "status": <code>}``.

Run standalone (logs one JSON object per request to ``--log``, prints ``PORT <n>`` once listening)::

    .venv/bin/python tests/agents/scripted_upstream.py --port 0 --log /tmp/capture.jsonl

or in-process: ``with ScriptedUpstream() as up: ... up.base_url, up.requests``.

``--proxy-port`` also starts a refusing HTTP(S) proxy that logs every ``CONNECT host:port`` or
absolute-URL request: point ``HTTPS_PROXY``/``HTTP_PROXY`` at it (with ``NO_PROXY=127.0.0.1``)
to see any traffic an agent tries to send anywhere but its model server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

try:
    from tests.fakes import anthropic_validation, gemini_upstream, openai_responses
except ImportError:  # run as a script: put the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.fakes import anthropic_validation, gemini_upstream, openai_responses

DONE_MARKER = "ORCA-AGENT-DONE"
SEEN_MARKER = "saw:orca-agent-ok"
TOOL_COMMAND = "echo orca-agent-ok"
TOOL_OUTPUT = "orca-agent-ok"
PLAIN_TEXT = "orca fake upstream: plain answer"
CLAUDE_SHELL_TOOL = "Bash"
CODEX_SHELL_TOOLS = ("exec_command", "shell_command", "shell", "container.exec")
# base64, so that a gateway may carry it into a dialect that wants bytes (Gemini)
THINKING_SIGNATURE = base64.b64encode(b"scripted-upstream-thinking-signature").decode()
THOUGHT_SIGNATURE = base64.b64encode(b"scripted-upstream-thought-signature").decode()
THINKING_TEXT = "The user wants the marker command run."

SECRET_HEADERS = {
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
    "proxy-authorization",
    "openai-api-key",
}

JSON = dict[str, Any]
USAGE_ANTHROPIC = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 7,
}
USAGE_CHAT = {
    "prompt_tokens": 12,
    "completion_tokens": 7,
    "total_tokens": 19,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
USAGE_GEMINI = {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19}
GEMINI_PATH = re.compile(
    r"^/(?:v1beta|v1)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent|countTokens)$"
)


class RequestInvalid(Exception):
    """A request the real API refuses with 400 (``param`` / ``code`` as OpenAI names them)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


# --------------------------------------------------------------------------- recording


def sanitize_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            out[low] = f"<redacted {scheme} len={len(value)}>".replace("  ", " ")
        else:
            out[low] = value
    return out


# --------------------------------------------------------------------------- the plan


def _text_of(value: Any) -> str:
    """A tool result's text, whatever its shape (string, text parts, an object)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(
            _text_of(p.get("text", p.get("output", ""))) if isinstance(p, dict) else str(p)
            for p in value
        )
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def _anthropic_tool_result(body: JSON) -> str | None:
    """The text of the last tool_result in the conversation, or None when there is none."""
    found: str | None = None
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                found = _text_of(block.get("content"))
    return found


def _responses_tool_result(body: JSON) -> str | None:
    found: str | None = None
    items = body.get("input")
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and item.get("type") in (
            "function_call_output",
            "custom_tool_call_output",
            "local_shell_call_output",
            "shell_call_output",
        ):
            found = _text_of(item.get("output"))
    return found


def _chat_tool_result(body: JSON) -> str | None:
    found: str | None = None
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "tool":
            found = _text_of(message.get("content"))
    return found


def _gemini_tool_result(body: JSON) -> str | None:
    found: str | None = None
    for content in body.get("contents") or []:
        for part in (content or {}).get("parts") or []:
            response = part.get("functionResponse") or part.get("function_response")
            if isinstance(response, dict):
                found = _text_of(response.get("response"))
    return found


def final_text(tool_result: str) -> str:
    seen = f" {SEEN_MARKER}" if TOOL_OUTPUT in tool_result else " tool output not seen"
    return f"{DONE_MARKER}{seen}"


def _codex_shell_args(params: Any) -> JSON:
    props = (params or {}).get("properties") or {} if isinstance(params, dict) else {}
    if "cmd" in props:
        return {"cmd": TOOL_COMMAND}
    command = props.get("command") or {}
    if isinstance(command, dict) and str(command.get("type")).lower() == "array":
        return {"command": ["bash", "-lc", TOOL_COMMAND]}
    return {"command": TOOL_COMMAND}


def plan_turn(tools: dict[str, Any], tool_result: str | None, mode: str) -> JSON:
    """{'text': str} or {'tool': name, 'input': dict}; ``tools`` maps each offered tool's name to
    its parameter schema (in whatever dialect's key it came)."""
    if mode == "script":
        if tool_result is not None:
            return {"text": final_text(tool_result)}
        if CLAUDE_SHELL_TOOL in tools:
            return {
                "tool": CLAUDE_SHELL_TOOL,
                "input": {"command": TOOL_COMMAND, "description": "Print a marker"},
            }
        for name in CODEX_SHELL_TOOLS:
            if name in tools:
                return {"tool": name, "input": _codex_shell_args(tools[name])}
    return {"text": PLAIN_TEXT}


def plan_anthropic(body: JSON, mode: str) -> JSON:
    tools = {
        t.get("name"): t.get("input_schema")
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") in (None, "custom")
    }
    return plan_turn(tools, _anthropic_tool_result(body), mode)


def plan_responses(body: JSON, mode: str) -> JSON:
    tools = {
        t.get("name"): t.get("parameters")
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function"
    }
    return plan_turn(tools, _responses_tool_result(body), mode)


def plan_chat(body: JSON, mode: str) -> JSON:
    tools = {
        (t.get("function") or {}).get("name"): (t.get("function") or {}).get("parameters")
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function"
    }
    return plan_turn(tools, _chat_tool_result(body), mode)


def plan_gemini(body: JSON, mode: str) -> JSON:
    tools: dict[str, Any] = {}
    for tool in body.get("tools") or []:
        for decl in tool.get("functionDeclarations") or tool.get("function_declarations") or []:
            schema = decl.get("parametersJsonSchema") or decl.get("parameters_json_schema")
            tools[decl.get("name")] = schema or decl.get("parameters")
    return plan_turn(tools, _gemini_tool_result(body), mode)


# --------------------------------------------------------------------------- Chat validation

_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_completion_tokens",
        "max_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "user",
        "safety_identifier",
        "metadata",
        "store",
        "service_tier",
        "reasoning_effort",
        "verbosity",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "prompt_cache_key",
        "prompt_cache_retention",
        "functions",
        "function_call",
    }
)
_CHAT_ROLE_KEYS = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
_CHAT_USER_PARTS = ("text", "image_url", "input_audio", "file")
_CHAT_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _chat_text_parts(content: Any, where: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(content, list):
        raise RequestInvalid(
            f"Invalid type for '{where}': expected one of a string or array of objects, but got "
            f"{type(content).__name__} instead."
        )
    if not content:
        raise RequestInvalid(
            f"Invalid '{where}': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead."
        )
    for k, part in enumerate(content):
        at = f"{where}[{k}]"
        if not isinstance(part, dict) or part.get("type") not in allowed:
            kind = part.get("type") if isinstance(part, dict) else part
            raise RequestInvalid(
                f"Invalid value: '{kind}'. Supported values are: "
                + ", ".join(f"'{a}'" for a in allowed)
                + f". ({at}.type)"
            )
        kind = part["type"]
        if kind == "text":
            if set(part) - {"type", "text"}:
                extra = sorted(set(part) - {"type", "text"})[0]
                raise RequestInvalid(f"Unrecognized request argument supplied: {at}.{extra}")
            if not isinstance(part.get("text"), str):
                raise RequestInvalid(f"Missing required parameter: '{at}.text'.")
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise RequestInvalid(f"Missing required parameter: '{at}.image_url.url'.")


def _chat_tool_calls(calls: Any, where: str) -> list[str]:
    if not isinstance(calls, list):
        raise RequestInvalid(f"Invalid type for '{where}': expected an array.")
    if not calls:
        raise RequestInvalid(
            f"Invalid '{where}': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead."
        )
    ids = []
    for k, call in enumerate(calls):
        at = f"{where}[{k}]"
        if not isinstance(call, dict):
            raise RequestInvalid(f"Invalid type for '{at}': expected an object.")
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise RequestInvalid(f"Missing required parameter: '{at}.id'.")
        kind = call.get("type")
        if kind == "function":
            if set(call) - {"id", "type", "function"}:
                extra = sorted(set(call) - {"id", "type", "function"})[0]
                raise RequestInvalid(f"Unrecognized request argument supplied: {at}.{extra}")
            function = call.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise RequestInvalid(f"Missing required parameter: '{at}.function.name'.")
            if not isinstance(function.get("arguments"), str):
                raise RequestInvalid(
                    f"Invalid type for '{at}.function.arguments': expected a string, but got "
                    f"{type(function.get('arguments')).__name__} instead."
                )
            if set(function) - {"name", "arguments"}:
                extra = sorted(set(function) - {"name", "arguments"})[0]
                raise RequestInvalid(
                    f"Unrecognized request argument supplied: {at}.function.{extra}"
                )
        elif kind == "custom":
            custom = call.get("custom")
            if not isinstance(custom, dict) or not isinstance(custom.get("name"), str):
                raise RequestInvalid(f"Missing required parameter: '{at}.custom.name'.")
            if not isinstance(custom.get("input"), str):
                raise RequestInvalid(f"Invalid type for '{at}.custom.input': expected a string.")
        else:
            raise RequestInvalid(
                f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'. "
                f"({at}.type)"
            )
        ids.append(call["id"])
    return ids


def _chat_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise RequestInvalid("Invalid type for 'messages': expected an array.")
    if not messages:
        raise RequestInvalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead."
        )
    pending: list[str] = []  # tool call ids not answered yet
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestInvalid(f"Invalid type for '{where}': expected an object.")
        role = message.get("role")
        if role not in _CHAT_ROLE_KEYS:
            raise RequestInvalid(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                f"'function', 'tool', and 'developer'. ({where}.role)"
            )
        extra = sorted(set(message) - _CHAT_ROLE_KEYS[role])
        if extra:
            raise RequestInvalid(f"Unrecognized request argument supplied: {where}.{extra[0]}")
        if role != "tool" and pending:
            raise RequestInvalid(
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(pending)}"
            )
        content = message.get("content")
        at = f"{where}.content"
        if role in ("system", "developer", "tool"):
            if "content" not in message:
                raise RequestInvalid(f"Missing required parameter: '{at}'.")
            if not isinstance(content, str):
                _chat_text_parts(content, at, ("text",))
        elif role == "user":
            if "content" not in message:
                raise RequestInvalid(f"Missing required parameter: '{at}'.")
            if not isinstance(content, str):
                _chat_text_parts(content, at, _CHAT_USER_PARTS)
        elif role == "assistant":
            calls = message.get("tool_calls")
            if content is None:
                if calls is None and message.get("function_call") is None:
                    raise RequestInvalid(f"Invalid value for '{at}': expected a string, got null.")
            elif not isinstance(content, str):
                _chat_text_parts(content, at, ("text", "refusal"))
            if calls is not None:
                pending = _chat_tool_calls(calls, f"{where}.tool_calls")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise RequestInvalid(f"Missing required parameter: '{where}.tool_call_id'.")
            if call_id not in pending:
                raise RequestInvalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceeding message with 'tool_calls'. ({where})"
                )
            pending.remove(call_id)
    if pending:
        raise RequestInvalid(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(pending)}"
        )


def _chat_tools(tools: Any) -> list[str]:
    if not isinstance(tools, list):
        raise RequestInvalid("Invalid type for 'tools': expected an array.")
    if len(tools) > 128:
        raise RequestInvalid(
            f"Invalid 'tools': array too long. Expected an array with maximum length 128, but "
            f"got an array with length {len(tools)} instead."
        )
    names = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise RequestInvalid(f"Invalid type for '{where}': expected an object.")
        kind = tool.get("type")
        if kind == "function":
            extra = sorted(set(tool) - {"type", "function"})
            if extra:
                raise RequestInvalid(f"Unrecognized request argument supplied: {where}.{extra[0]}")
            function = tool.get("function")
            if not isinstance(function, dict):
                raise RequestInvalid(f"Missing required parameter: '{where}.function'.")
            extra = sorted(set(function) - {"name", "description", "parameters", "strict"})
            if extra:
                raise RequestInvalid(
                    f"Unrecognized request argument supplied: {where}.function.{extra[0]}"
                )
            name = function.get("name")
            if not isinstance(name, str) or not _CHAT_NAME.match(name):
                raise RequestInvalid(
                    f"Invalid '{where}.function.name': string does not match pattern. Expected "
                    "a string that matches the pattern '^[a-zA-Z0-9_-]+$' (at most 64 "
                    f"characters), got {name!r}."
                )
            params = function.get("parameters")
            if params is not None:
                if not isinstance(params, dict):
                    raise RequestInvalid(
                        f"Invalid type for '{where}.function.parameters': expected an object."
                    )
                if params.get("type", "object") != "object":
                    raise RequestInvalid(
                        f"Invalid schema for function '{name}': schema must be a JSON Schema of "
                        f"'type: \"object\"', got 'type: \"{params.get('type')}\"'."
                    )
            if "description" in function and not isinstance(function["description"], str):
                raise RequestInvalid(
                    f"Invalid type for '{where}.function.description': expected a string."
                )
        elif kind == "custom":
            custom = tool.get("custom")
            if not isinstance(custom, dict) or not isinstance(custom.get("name"), str):
                raise RequestInvalid(f"Missing required parameter: '{where}.custom.name'.")
            name = custom["name"]
        else:
            raise RequestInvalid(
                f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'. "
                f"({where}.type)"
            )
        names.append(name)
    return names


def validate_chat(body: Any) -> None:
    """Raise ``RequestInvalid`` naming the first problem the real Chat Completions API reports."""
    if not isinstance(body, dict):
        raise RequestInvalid("We could not parse the JSON body of your request.")
    for key in body:
        if key not in _CHAT_FIELDS:
            raise RequestInvalid(f"Unrecognized request argument supplied: {key}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise RequestInvalid("you must provide a model parameter")
    if "messages" not in body:
        raise RequestInvalid("Missing required parameter: 'messages'.")
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise RequestInvalid("Invalid type for 'stream': expected a boolean.")
    if body.get("stream_options") is not None:
        if body.get("stream") is not True:
            raise RequestInvalid(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            )
        options = body["stream_options"]
        if not isinstance(options, dict) or set(options) - {"include_usage", "include_obfuscation"}:
            raise RequestInvalid("Invalid 'stream_options': unknown or malformed option.")
        for name, value in options.items():
            if not isinstance(value, bool):
                raise RequestInvalid(
                    f"Invalid type for 'stream_options.{name}': expected a boolean."
                )
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and (not _is_int(value) or value < 1):
            raise RequestInvalid(
                f"Invalid '{name}': integer below minimum value. Expected a value >= 1."
            )
    for name, low, high in (
        ("temperature", 0, 2),
        ("top_p", 0, 1),
        ("presence_penalty", -2, 2),
        ("frequency_penalty", -2, 2),
    ):
        value = body.get(name)
        if value is not None and (not _is_number(value) or not low <= value <= high):
            raise RequestInvalid(f"Invalid '{name}': expected a number in [{low}, {high}].")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str)
        or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
    ):
        raise RequestInvalid("Invalid 'stop': expected a string or an array of up to 4 strings.")
    identifier = body.get("safety_identifier")
    if identifier is not None and (not isinstance(identifier, str) or len(identifier) > 64):
        raise RequestInvalid(
            "Invalid 'safety_identifier': string too long. Expected a string with maximum "
            "length 64.",
            param="safety_identifier",
        )
    effort = body.get("reasoning_effort")
    if effort is not None and body.get("max_tokens") is not None:
        # reasoning_effort is for reasoning models only, and those refuse max_tokens: no
        # OpenAI model takes both (a non-reasoning one refuses reasoning_effort instead)
        raise RequestInvalid(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            param="max_tokens",
            code="unsupported_parameter",
        )
    if effort is not None and effort not in _REASONING_EFFORTS:
        raise RequestInvalid(
            f"Invalid value: '{effort}'. Supported values are: "
            + ", ".join(f"'{e}'" for e in _REASONING_EFFORTS)
            + ". (reasoning_effort)"
        )
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise RequestInvalid(
                f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object' and "
                "'json_schema'. (response_format.type)"
            )
        if kind == "json_schema" and not isinstance(
            (response_format.get("json_schema") or {}).get("name"), str
        ):
            raise RequestInvalid("Missing required parameter: 'response_format.json_schema.name'.")
    names = _chat_tools(body["tools"]) if body.get("tools") is not None else []
    choice = body.get("tool_choice")
    if choice is not None:
        if body.get("tools") is None:
            raise RequestInvalid(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                "specified."
            )
        if isinstance(choice, str):
            if choice not in ("none", "auto", "required"):
                raise RequestInvalid(
                    f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and "
                    "'required'. (tool_choice)"
                )
        elif isinstance(choice, dict) and choice.get("type") == "function":
            named = (choice.get("function") or {}).get("name")
            if named not in names:
                raise RequestInvalid(
                    f"Invalid value for 'tool_choice': tool '{named}' is not among the tools."
                )
        elif not (isinstance(choice, dict) and choice.get("type") in ("allowed_tools", "custom")):
            raise RequestInvalid("Invalid 'tool_choice': expected a string or a tool object.")
    if body.get("parallel_tool_calls") is not None:
        if body.get("tools") is None:
            raise RequestInvalid(
                "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
                "when 'tools' are specified."
            )
        if not isinstance(body["parallel_tool_calls"], bool):
            raise RequestInvalid("Invalid type for 'parallel_tool_calls': expected a boolean.")
    _chat_messages(body["messages"])


# --------------------------------------------------------------------------- Anthropic wire


def _sse(event: str, data: JSON) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _data_sse(data: JSON | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def _thinking_block(body: JSON | None) -> JSON | None:
    """The signed thinking block a real model starts with when thinking is on, else None."""
    thinking = (body or {}).get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    text = "" if thinking.get("display") == "omitted" else THINKING_TEXT
    return {"type": "thinking", "thinking": text, "signature": THINKING_SIGNATURE}


def anthropic_message(model: str, plan: JSON, body: JSON | None = None) -> JSON:
    content: list[JSON] = []
    thinking = _thinking_block(body)
    if thinking:
        content.append(thinking)
    if "tool" in plan:
        content.append(
            {
                "type": "tool_use",
                "id": "toolu_" + uuid.uuid4().hex[:20],
                "name": plan["tool"],
                "input": plan["input"],
            }
        )
        stop = "tool_use"
    else:
        content.append({"type": "text", "text": plan["text"]})
        stop = "end_turn"
    return {
        "id": "msg_" + uuid.uuid4().hex[:20],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": dict(USAGE_ANTHROPIC),
    }


def _anthropic_block_events(index: int, block: JSON) -> list[bytes]:
    def delta(d: JSON) -> bytes:
        return _sse(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
        )

    if block["type"] == "thinking":
        opened: JSON = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = (
            [{"type": "thinking_delta", "thinking": block["thinking"]}] if block["thinking"] else []
        )
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif block["type"] == "text":
        opened = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": block["text"]}]
    else:
        opened = dict(block, input={})
        deltas = [
            {"type": "input_json_delta", "partial_json": part}
            for part in ("", json.dumps(block["input"]))
        ]
    out = [
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opened},
        )
    ]
    out += [delta(d) for d in deltas]
    out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    return out


def anthropic_events(model: str, plan: JSON, body: JSON | None = None) -> list[bytes]:
    msg = anthropic_message(model, plan, body)
    start = dict(msg, content=[], stop_reason=None, usage=dict(msg["usage"], output_tokens=1))
    out = [_sse("message_start", {"type": "message_start", "message": start})]
    out.append(_sse("ping", {"type": "ping"}))
    for index, block in enumerate(msg["content"]):
        out += _anthropic_block_events(index, block)
    out.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": msg["usage"]["output_tokens"]},
            },
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


# --------------------------------------------------------------------------- Responses wire


def responses_output_item(plan: JSON) -> JSON:
    if "tool" in plan:
        return {
            "type": "function_call",
            "id": "fc_" + uuid.uuid4().hex[:20],
            "call_id": "call_" + uuid.uuid4().hex[:20],
            "name": plan["tool"],
            "arguments": json.dumps(plan["input"]),
            "status": "completed",
        }
    return {
        "type": "message",
        "id": "msg_" + uuid.uuid4().hex[:20],
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": plan["text"], "annotations": []}],
    }


def responses_object(body: JSON, status: str, output: list[JSON], usage: JSON | None) -> JSON:
    return {
        "id": body.get("_resp_id") or "resp_" + uuid.uuid4().hex[:20],
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": body.get("model") or "fake",
        "output": output,
        "parallel_tool_calls": bool(body.get("parallel_tool_calls", True)),
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "reasoning": body.get("reasoning"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "usage": usage,
    }


USAGE_RESPONSES = {
    "input_tokens": 12,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 19,
}


def responses_events(body: JSON, plan: JSON) -> list[bytes]:
    body = dict(body, _resp_id="resp_" + uuid.uuid4().hex[:20])
    item = responses_output_item(plan)
    seq = iter(range(1000))
    out: list[bytes] = []

    def ev(kind: str, **data: Any) -> None:
        out.append(_sse(kind, {"type": kind, "sequence_number": next(seq), **data}))

    ev("response.created", response=responses_object(body, "in_progress", [], None))
    ev("response.in_progress", response=responses_object(body, "in_progress", [], None))
    if item["type"] == "message":
        text = item["content"][0]["text"]
        ev(
            "response.output_item.added",
            output_index=0,
            item=dict(item, status="in_progress", content=[]),
        )
        part = {"type": "output_text", "text": "", "annotations": []}
        ids = {"item_id": item["id"], "output_index": 0, "content_index": 0}
        ev("response.content_part.added", **ids, part=part)
        ev("response.output_text.delta", **ids, delta=text, logprobs=[])
        ev("response.output_text.done", **ids, text=text, logprobs=[])
        ev("response.content_part.done", **ids, part=dict(part, text=text))
    else:
        ev(
            "response.output_item.added",
            output_index=0,
            item=dict(item, arguments="", status="in_progress"),
        )
        ev(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=0,
            delta=item["arguments"],
        )
        ev(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=0,
            name=item["name"],
            arguments=item["arguments"],
        )
    ev("response.output_item.done", output_index=0, item=item)
    ev("response.completed", response=responses_object(body, "completed", [item], USAGE_RESPONSES))
    return out


# --------------------------------------------------------------------------- Chat wire


def chat_completion(model: str, plan: JSON) -> JSON:
    message: JSON = {"role": "assistant", "content": None, "refusal": None}
    if "tool" in plan:
        message["tool_calls"] = [
            {
                "id": "call_" + uuid.uuid4().hex[:20],
                "type": "function",
                "function": {"name": plan["tool"], "arguments": json.dumps(plan["input"])},
            }
        ]
        finish = "tool_calls"
    else:
        message["content"] = plan["text"]
        finish = "stop"
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": dict(USAGE_CHAT),
    }


def chat_events(model: str, plan: JSON, include_usage: bool) -> list[bytes]:
    base: JSON = {
        "id": "chatcmpl-" + uuid.uuid4().hex[:24],
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: JSON, finish: str | None = None) -> bytes:
        data = dict(
            base,
            choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        )
        if include_usage:
            data["usage"] = None
        return _data_sse(data)

    if "tool" in plan:
        arguments = json.dumps(plan["input"])
        half = len(arguments) // 2
        call_id = "call_" + uuid.uuid4().hex[:20]
        out = [
            chunk({"role": "assistant", "content": None}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": plan["tool"], "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]}),
            chunk({}, "tool_calls"),
        ]
    else:
        text = plan["text"]
        half = len(text) // 2
        out = [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": text[:half]}),
            chunk({"content": text[half:]}),
            chunk({}, "stop"),
        ]
    if include_usage:
        out.append(_data_sse(dict(base, choices=[], usage=dict(USAGE_CHAT))))
    out.append(_data_sse("[DONE]"))
    return out


# --------------------------------------------------------------------------- Gemini wire


def gemini_parts(plan: JSON) -> list[JSON]:
    if "tool" in plan:
        return [
            {
                "functionCall": {"name": plan["tool"], "args": plan["input"]},
                "thoughtSignature": THOUGHT_SIGNATURE,
            }
        ]
    return [{"text": plan["text"]}]


def gemini_response(model: str, parts: list[JSON], finish: bool, rid: str) -> JSON:
    candidate: JSON = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    usage = dict(USAGE_GEMINI) if finish else {"promptTokenCount": 12, "totalTokenCount": 12}
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": rid,
    }


def gemini_chunks(model: str, plan: JSON) -> list[JSON]:
    rid = uuid.uuid4().hex[:22]
    if "tool" in plan:
        return [gemini_response(model, gemini_parts(plan), True, rid)]
    text = plan["text"]
    half = len(text) // 2
    return [
        gemini_response(model, [{"text": text[:half]}], False, rid),
        gemini_response(model, [{"text": text[half:]}], True, rid),
    ]


# --------------------------------------------------------------------------- the server


@dataclass
class Refusal:
    status: int
    message: str
    param: str | None = None
    code: str | None = None


class ScriptedUpstream:
    """The fake, on 127.0.0.1:<port> (0: a free one), served by its own loop in a daemon thread.
    ``api_key``: the credential every model request must carry (None: any or none)."""

    def __init__(
        self,
        port: int = 0,
        mode: str = "script",
        log_path: str | None = None,
        proxy_port: int | None = None,
        api_key: str | None = None,
    ) -> None:
        self.port = port
        self.mode = mode
        self.log_path = log_path
        self.proxy_port = proxy_port
        self.api_key = api_key
        self.requests: list[JSON] = []
        self.proxy_attempts: list[str] = []
        self.rejections: list[str] = []  # "<dialect>: <message>" of every refused request
        self.base_url = ""
        self._store = openai_responses.ResponsesStore()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._proxy: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ---- recording

    def _record(self, entry: JSON) -> None:
        with self._lock:
            entry["seq"] = len(self.requests)
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")

    def model_requests(self) -> list[JSON]:
        """The model turns received (refused ones included), in order."""
        with self._lock:
            return [r for r in self.requests if "dialect" in r]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.proxy_attempts.clear()
            self.rejections.clear()

    # ---- checks

    def _credential_ok(self, request: web.Request, dialect: str) -> bool:
        if self.api_key is None:
            return True
        bearer = request.headers.get("Authorization") == f"Bearer {self.api_key}"
        if dialect == "anthropic":
            return bearer or request.headers.get("x-api-key") == self.api_key
        if dialect == "gemini":
            return self.api_key in (
                request.headers.get("x-goog-api-key"),
                request.query.get("key"),
            )
        return bearer

    def _refuse(self, entry: JSON, dialect: str, refusal: Refusal) -> web.Response:
        entry["answer"] = {"rejected": refusal.message, "status": refusal.status}
        with self._lock:
            self.rejections.append(f"{dialect}: {refusal.message}")
        self._record(entry)
        if dialect == "anthropic":
            kind = "authentication_error" if refusal.status == 401 else "invalid_request_error"
            body: JSON = {"type": "error", "error": {"type": kind, "message": refusal.message}}
        elif dialect == "gemini":
            status = "INVALID_ARGUMENT" if refusal.status == 400 else "PERMISSION_DENIED"
            body = {"error": {"code": refusal.status, "message": refusal.message, "status": status}}
        else:
            body = {
                "error": {
                    "message": refusal.message,
                    "type": "invalid_request_error",
                    "param": refusal.param,
                    "code": refusal.code,
                }
            }
        return web.json_response(body, status=refusal.status)

    def _check(self, request: web.Request, dialect: str, body: Any) -> Refusal | None:
        """How the real API would refuse the request, or None when it takes it."""
        if not self._credential_ok(request, dialect):
            if dialect == "gemini":
                return Refusal(
                    400, "API key not valid. Please pass a valid API key. (API_KEY_INVALID)"
                )
            if dialect == "anthropic":
                return Refusal(401, "invalid x-api-key")
            return Refusal(401, "Incorrect API key provided", code="invalid_api_key")
        try:
            if dialect == "anthropic":
                if not request.headers.get("anthropic-version"):
                    return Refusal(400, "anthropic-version: header is required")
                anthropic_validation.validate_request(body)
            elif dialect == "responses":
                openai_responses.validate_request(body, self._store)
            elif dialect == "chat":
                validate_chat(body)
            elif dialect == "gemini":
                gemini_upstream.validate_request(body)
        except RequestInvalid as exc:
            return Refusal(400, str(exc), exc.param, exc.code)
        except (anthropic_validation.RequestInvalid, gemini_upstream.RequestInvalid) as exc:
            return Refusal(400, str(exc))
        except openai_responses.RequestInvalid as exc:
            return Refusal(exc.status, exc.message, exc.param, exc.code)
        return None

    # ---- handlers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = request.path
        entry: JSON = {
            "method": request.method,
            "path": path,
            "query": request.query_string,
            "headers": sanitize_headers(request.headers),
            "body": body
            if body is not None
            else (raw[:2000].decode("utf-8", "replace") if raw else None),
        }
        post = request.method == "POST"
        gemini = GEMINI_PATH.match(path)
        if post and path.endswith("/messages/count_tokens"):
            entry["answer"] = "count_tokens"
            self._record(entry)
            return web.json_response({"input_tokens": 12})
        if post and gemini and gemini["method"] == "countTokens":
            entry["answer"] = "count_tokens"
            self._record(entry)
            return web.json_response({"totalTokens": 12})
        dialect = None
        if post and path.endswith("/messages"):
            dialect = "anthropic"
        elif post and path.endswith("/responses"):
            dialect = "responses"
        elif post and path.endswith("/chat/completions"):
            dialect = "chat"
        elif post and gemini:
            dialect = "gemini"
        if dialect is not None:
            entry["dialect"] = dialect
            refused = self._check(request, dialect, body)
            if refused is not None:
                return self._refuse(entry, dialect, refused)
            assert isinstance(body, dict)
            return await getattr(self, f"_{dialect}")(request, entry, body, gemini)
        if request.method == "GET" and path.endswith("/models"):
            entry["answer"] = "models"
            self._record(entry)
            return web.json_response(self._models())
        if path in ("/", ""):
            entry["answer"] = "root"
            self._record(entry)
            return web.Response(text="ok")
        entry["answer"] = 404
        self._record(entry)
        return web.json_response(
            {"error": {"type": "not_found_error", "message": f"no route {request.method} {path}"}},
            status=404,
        )

    async def _anthropic(
        self, request: web.Request, entry: JSON, body: JSON, _: Any
    ) -> web.StreamResponse:
        plan = plan_anthropic(body, self.mode)
        entry["answer"] = plan
        self._record(entry)
        model = str(body.get("model") or "fake")
        if body.get("stream"):
            return await self._stream(request, anthropic_events(model, plan, body))
        return web.json_response(anthropic_message(model, plan, body))

    async def _responses(
        self, request: web.Request, entry: JSON, body: JSON, _: Any
    ) -> web.StreamResponse:
        plan = plan_responses(body, self.mode)
        entry["answer"] = plan
        self._record(entry)
        if body.get("stream"):
            return await self._stream(request, responses_events(body, plan))
        rid = "resp_" + uuid.uuid4().hex[:20]
        item = responses_output_item(plan)
        return web.json_response(
            responses_object(dict(body, _resp_id=rid), "completed", [item], USAGE_RESPONSES)
        )

    async def _chat(
        self, request: web.Request, entry: JSON, body: JSON, _: Any
    ) -> web.StreamResponse:
        plan = plan_chat(body, self.mode)
        entry["answer"] = plan
        self._record(entry)
        model = body["model"]
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(request, chat_events(model, plan, usage))
        return web.json_response(chat_completion(model, plan))

    async def _gemini(
        self, request: web.Request, entry: JSON, body: JSON, match: re.Match[str]
    ) -> web.StreamResponse:
        plan = plan_gemini(body, self.mode)
        entry["answer"] = plan
        self._record(entry)
        model = match["model"]
        chunks = gemini_chunks(model, plan)
        if match["method"] == "generateContent":
            parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
            if "tool" not in plan:
                parts = [{"text": "".join(p["text"] for p in parts)}]
            return web.json_response(gemini_response(model, parts, True, chunks[0]["responseId"]))
        if request.query.get("alt") == "sse":
            return await self._stream(request, [_data_sse(c) for c in chunks])
        pieces = [("[" if i == 0 else ",") + json.dumps(c) for i, c in enumerate(chunks)]
        return await self._stream(
            request, [p.encode() for p in pieces] + [b"]"], content_type="application/json"
        )

    @staticmethod
    def _models() -> JSON:
        now = int(time.time())
        names = ["fake-agent-model"]
        return {
            "object": "list",
            "data": [
                {
                    "id": n,
                    "object": "model",
                    "created": now,
                    "owned_by": "orca-fake",
                    "type": "model",
                    "display_name": n,
                    "created_at": "2026-01-01T00:00:00Z",
                }
                for n in names
            ],
            "has_more": False,
            "first_id": names[0],
            "last_id": names[-1],
            "models": [],
        }

    async def _stream(
        self,
        request: web.Request,
        events: list[bytes],
        content_type: str = "text/event-stream",
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        for chunk in events:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def _proxy_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            with self._lock:
                self.proxy_attempts.append(line.decode("latin-1").strip())
            target = line.decode("latin-1").strip()
            self._record(
                {
                    "method": "PROXY",
                    "path": target,
                    "query": "",
                    "headers": {},
                    "body": None,
                    "answer": 403,
                }
            )
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    # ---- lifecycle

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self.port}"
        if self.proxy_port is not None:
            self._proxy = await asyncio.start_server(self._proxy_conn, "127.0.0.1", self.proxy_port)
            self.proxy_port = self._proxy.sockets[0].getsockname()[1]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
        if self._proxy:
            self._proxy.close()
        loop.close()

    def start(self) -> ScriptedUpstream:
        self._thread = threading.Thread(target=self._run, name="scripted-upstream", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise RuntimeError(f"scripted upstream failed to start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("script", "record"), default="script")
    parser.add_argument("--log", default=None, help="append one JSON object per request here")
    parser.add_argument(
        "--proxy-port", type=int, default=None, help="also run a refusing logging proxy"
    )
    parser.add_argument("--api-key", default=None, help="the credential model requests need")
    args = parser.parse_args()
    up = ScriptedUpstream(args.port, args.mode, args.log, args.proxy_port, args.api_key).start()
    print(f"PORT {up.port}", flush=True)
    if up.proxy_port is not None:
        print(f"PROXY {up.proxy_port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        up.stop()


if __name__ == "__main__":
    main()
