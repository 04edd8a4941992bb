"""Gemini generateContent, both as a client surface and as an upstream kind.

Client surface (`/v1beta/models/{model}:generateContent` and `:streamGenerateContent`):
  validate_generate_request, generate_to_chat (request in), chat_to_generate_response and
  GenerateStreamEncoder (responses out), error_envelope.
Upstream kind:
  chat_to_gemini_request (request out), gemini_to_chat_response and GeminiStreamDecoder
  (responses back in).

Input is read in camelCase or snake_case at every level: google-genai itself mixes them
(`inlineData: {mime_type}`, `thinkingConfig: {thinking_budget}`), REST users send either.
Output is always camelCase.

Choices made where the canonical contract is silent:
* reasoning_effort -> thinkingBudget (none 0, minimal 512, low 1024, medium 8192, high/xhigh/
  max 24576: all legal on every Gemini 2.5 model except none on Pro, and Gemini 3 still
  accepts thinkingBudget), with includeThoughts unless the budget is 0; an exact
  reasoning_budget_tokens wins. thinkingLevel is never sent. thinkingBudget -> effort uses
  the same buckets as Anthropic budgets: <=1024 low, <=8192 medium, above high; 0 -> minimal
  (with reasoning_budget_tokens 0, i.e. "off"), -1 (dynamic) -> medium without a budget.
* Tool-call ids minted for Gemini calls without an id: "call_<n>" inside one request (unique
  within the conversation being translated); "call_<random>" in responses, so that ids
  from different turns never collide (Anthropic rejects duplicate tool_use ids).
* Ids are not sent to a Gemini upstream (Vertex rejects `functionCall.id`); Gemini pairs
  calls and responses by name and order.
* A replayed assistant turn whose calls carry no thoughtSignature (history produced by another
  provider) gets Google's documented validator-skip sentinel on its first call, which Gemini 3
  requires; see SKIP_SIGNATURE.
* Non-JSON-object tool arguments going to Gemini become {} (empty) or {"arguments": raw};
  a tool result that is not a JSON object becomes {"result": text}.
* The stream encoder sends a functionCall as soon as its buffered arguments parse as a JSON
  object (a complete object cannot grow into another one), else at the finish.
* RECITATION, LANGUAGE and IMAGE_* finish reasons -> content_filter; the malformed/unexpected
  tool-call reasons and OTHER -> stop.
* executableCode / codeExecutionResult parts (code execution tool) become fenced text in the
  content; inline media in a model's output is dropped (Chat has no place for it).
* fileData of any mime type becomes an image_url part with the URI; a non-image inlineData
  becomes an OpenAI `file` part with a data: URL; audio becomes input_audio.
* includeThoughts has no canonical field: `wants_thoughts(body)` reads it, and the renderers
  take `include_thoughts` to hide reasoning from a client that did not ask for it.
"""

import base64
import re
import time
import uuid
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import orjson

from .canonical import InvalidRequest, StreamError, empty_usage
from .common import assistant_message, data_url, dumps, is_int, is_number, parse_object, text_of
from .errors import malformed_event
from .sse import data_lines, encode_data

__all__ = [
    "SKIP_SIGNATURE",
    "THINKING_BUDGETS",
    "GeminiStreamDecoder",
    "GenerateStreamEncoder",
    "chat_to_gemini_request",
    "chat_to_generate_response",
    "error_envelope",
    "gemini_to_chat_response",
    "generate_to_chat",
    "validate_generate_request",
    "wants_thoughts",
]

# reasoning_effort -> thinkingBudget. 512..24576 is inside every 2.5 model's range
# (Pro 128-32768, Flash 0-24576, Flash-Lite 0 or 512-24576); "none" turns thinking off
# (Pro cannot, and will say so).
THINKING_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 24576,
    "max": 24576,
}

# Google's documented value for a functionCall whose real signature is unknown.
SKIP_SIGNATURE = "skip_thought_signature_validator"

BUILTIN_TOOLS = ("googleSearch", "codeExecution", "urlContext")

_CONTENT_ROLES = frozenset({"user", "model", "function"})

_FINISH_TO_CHAT = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "LANGUAGE": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "IMAGE_OTHER": "content_filter",
    "NO_IMAGE": "content_filter",
}
_FINISH_TO_GEMINI = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "function_call": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}
# Gemini status -> the error type vocabulary of the other decoders.
_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "UNAVAILABLE": "overloaded_error",
    "DEADLINE_EXCEEDED": "timeout_error",
}

_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mp3": "mp3",
    "audio/mpeg": "mp3",
}
_MIME_BY_EXTENSION = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
    "mp3": "audio/mp3",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "txt": "text/plain",
}

# OpenAPI-subset Schema fields that hold sub-schemas.
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_SINGLE = ("items", "additionalProperties", "not")


# --------------------------------------------------------------------------------------------
# small helpers


@lru_cache(maxsize=256)
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=256)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _key(obj: dict, name: str) -> str:
    """The spelling of `name` (camelCase) that obj uses; camelCase when it has neither."""
    if name in obj:
        return name
    snake = _snake(name)
    return snake if snake in obj else name


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if not isinstance(obj, dict):
        return default
    if name in obj:
        return obj[name]
    return obj.get(_snake(name), default)


def _as_int(value: Any) -> int | None:
    """An integer, accepting integral floats (google-genai types topK as float)."""
    if is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _text_of(content: Any) -> str:
    """The text of a canonical message content (a string or a list of parts)."""
    return text_of(content, ("text", "input_text", "output_text"))


def _chat_finish(reason: Any, has_calls: bool) -> str:
    mapped = _FINISH_TO_CHAT.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def _code_text(part: dict) -> str | None:
    code = _get(part, "executableCode")
    if isinstance(code, dict):
        language = str(_get(code, "language") or "").lower()
        language = "" if language in ("", "language_unspecified") else language
        return f"\n```{language}\n{_get(code, 'code') or ''}\n```\n"
    result = _get(part, "codeExecutionResult")
    if isinstance(result, dict):
        return f"\n```output\n{_get(result, 'output') or ''}\n```\n"
    return None


def _chat_tool_call(
    call: dict, part: dict, index: int | None = None, *, call_id: str | None = None
) -> dict:
    """A functionCall part as a canonical tool call; its id is `call_id` when given, else the
    call's own id or a fresh random one."""
    if call_id is None:
        own_id = _get(call, "id")
        call_id = own_id if isinstance(own_id, str) and own_id else _new_call_id()
    args = _get(call, "args")
    tool_call: dict[str, Any] = {}
    if index is not None:
        tool_call["index"] = index
    tool_call["id"] = call_id
    tool_call["type"] = "function"
    tool_call["function"] = {
        "name": str(_get(call, "name") or ""),
        "arguments": dumps(args if args is not None else {}),
    }
    signature = _get(part, "thoughtSignature")
    if isinstance(signature, str) and signature:
        tool_call["extra_content"] = {"google": {"thought_signature": signature}}
    return tool_call


def _model_message(parts: Iterable[Any], tool_call: Callable[[dict, dict], dict]) -> dict:
    """A model turn's parts as one canonical assistant message; `tool_call(functionCall, part)`
    turns each call into a canonical tool call. Thought text becomes reasoning_content; code
    execution parts become fenced text; anything else (inline media...) is dropped."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str):
            (thoughts if part.get("thought") is True else texts).append(text)
            continue
        call = _get(part, "functionCall")
        if isinstance(call, dict):
            calls.append(tool_call(call, part))
            continue
        code = _code_text(part)
        if code is not None:
            texts.append(code)
    return assistant_message(texts, calls, thoughts)


# --------------------------------------------------------------------------------------------
# validation (client surface)


def _fail_type(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_type")


def _check_number(config: dict, name: str, where: str, low: float, high: float | None) -> None:
    key = _key(config, name)
    value = config.get(key)
    if value is None:
        return
    param = f"{where}.{key}"
    if not is_number(value):
        raise _fail_type(f"`{param}` must be a number", param)
    if value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise InvalidRequest(f"`{param}` must be {bound}, got {value}", param=param)


def _check_int(config: dict, name: str, where: str, low: int) -> None:
    key = _key(config, name)
    value = config.get(key)
    if value is None:
        return
    param = f"{where}.{key}"
    number = _as_int(value)
    if number is None:
        raise _fail_type(f"`{param}` must be an integer", param)
    if number < low:
        raise InvalidRequest(f"`{param}` must be at least {low}, got {value}", param=param)


def _check_parts(parts: Any, where: str) -> None:
    if not isinstance(parts, list):
        raise _fail_type(f"`{where}` must be an array of parts", where)
    for j, part in enumerate(parts):
        at = f"{where}[{j}]"
        if not isinstance(part, dict) or not part:
            raise _fail_type(f"`{at}` must be a non-empty object", at)
        text = part.get("text")
        if text is not None and not isinstance(text, str):
            raise _fail_type(f"`{at}.text` must be a string", f"{at}.text")
        for name, required in (
            ("inlineData", ("mimeType", "data")),
            ("fileData", ("fileUri",)),
            ("functionCall", ("name",)),
            ("functionResponse", ("name",)),
        ):
            key = _key(part, name)
            if key not in part:
                continue
            value = part[key]
            if not isinstance(value, dict):
                raise _fail_type(f"`{at}.{key}` must be an object", f"{at}.{key}")
            for field in required:
                if not isinstance(_get(value, field), str):
                    param = f"{at}.{key}.{_key(value, field)}"
                    raise InvalidRequest(
                        f"`{param}` is required", param=param, code="missing_required_parameter"
                    )
        args = _get(_get(part, "functionCall"), "args")
        if args is not None and not isinstance(args, dict):
            param = f"{at}.{_key(part, 'functionCall')}.args"
            raise _fail_type(f"`{param}` must be an object", param)


def _check_generation_config(config: Any, where: str) -> None:
    if not isinstance(config, dict):
        raise _fail_type(f"`{where}` must be an object", where)
    _check_number(config, "temperature", where, 0, 2)
    _check_number(config, "topP", where, 0, 1)
    _check_int(config, "topK", where, 1)
    _check_int(config, "maxOutputTokens", where, 1)
    _check_int(config, "candidateCount", where, 1)
    _check_number(config, "presencePenalty", where, -2, 2)
    _check_number(config, "frequencyPenalty", where, -2, 2)
    seed = _get(config, "seed")
    if seed is not None and _as_int(seed) is None:
        param = f"{where}.{_key(config, 'seed')}"
        raise _fail_type(f"`{param}` must be an integer", param)
    key = _key(config, "stopSequences")
    stop = config.get(key)
    if stop is not None:
        param = f"{where}.{key}"
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _fail_type(f"`{param}` must be an array of strings", param)
        if len(stop) > 5:
            raise InvalidRequest(f"`{param}` allows at most 5 sequences", param=param)
    mime = _get(config, "responseMimeType")
    if mime is not None and not isinstance(mime, str):
        param = f"{where}.{_key(config, 'responseMimeType')}"
        raise _fail_type(f"`{param}` must be a string", param)
    key = _key(config, "thinkingConfig")
    thinking = config.get(key)
    if thinking is not None:
        param = f"{where}.{key}"
        if not isinstance(thinking, dict):
            raise _fail_type(f"`{param}` must be an object", param)
        budget = _get(thinking, "thinkingBudget")
        if budget is not None and (_as_int(budget) is None or budget < -1):
            sub = f"{param}.{_key(thinking, 'thinkingBudget')}"
            raise InvalidRequest(f"`{sub}` must be an integer >= -1", param=sub)
        level = _get(thinking, "thinkingLevel")
        if level is not None and not isinstance(level, str):
            sub = f"{param}.{_key(thinking, 'thinkingLevel')}"
            raise _fail_type(f"`{sub}` must be a string", sub)
        if budget is not None and level is not None:
            raise InvalidRequest(
                f"`{param}` cannot set both thinkingBudget and thinkingLevel", param=param
            )


def validate_generate_request(body: Any) -> None:
    """Check a parsed generateContent body; raise InvalidRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", param=None, code="invalid_type")
    contents = body.get("contents")
    if contents is None:
        raise InvalidRequest(
            "`contents` is required", param="contents", code="missing_required_parameter"
        )
    if not isinstance(contents, list):
        raise _fail_type("`contents` must be an array", "contents")
    if not contents:
        raise InvalidRequest("`contents` must not be empty", param="contents")
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise _fail_type(f"`{where}` must be an object", where)
        role = content.get("role")
        if role is not None and role not in _CONTENT_ROLES:
            raise InvalidRequest(
                f"`{where}.role` must be one of {sorted(_CONTENT_ROLES)}, got {role!r}",
                param=f"{where}.role",
            )
        parts = content.get("parts")
        if parts is None:
            raise InvalidRequest(
                f"`{where}.parts` is required",
                param=f"{where}.parts",
                code="missing_required_parameter",
            )
        if isinstance(parts, list) and not parts:
            raise InvalidRequest(f"`{where}.parts` must not be empty", param=f"{where}.parts")
        _check_parts(parts, f"{where}.parts")

    key = _key(body, "systemInstruction")
    system = body.get(key)
    if system is not None and not isinstance(system, str):
        if not isinstance(system, dict):
            raise _fail_type(f"`{key}` must be an object with `parts`", key)
        if not isinstance(system.get("parts"), list):
            raise InvalidRequest(
                f"`{key}.parts` is required",
                param=f"{key}.parts",
                code="missing_required_parameter",
            )
        _check_parts(system["parts"], f"{key}.parts")

    key = _key(body, "generationConfig")
    if body.get(key) is not None:
        _check_generation_config(body[key], key)

    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail_type("`tools` must be an array", "tools")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise _fail_type(f"`tools[{i}]` must be an object", f"tools[{i}]")
            fkey = _key(tool, "functionDeclarations")
            declarations = tool.get(fkey)
            if declarations is None:
                continue
            where = f"tools[{i}].{fkey}"
            if not isinstance(declarations, list):
                raise _fail_type(f"`{where}` must be an array", where)
            for j, declaration in enumerate(declarations):
                if not isinstance(declaration, dict) or not isinstance(
                    declaration.get("name"), str
                ):
                    param = f"{where}[{j}].name"
                    raise InvalidRequest(
                        f"`{param}` is required", param=param, code="missing_required_parameter"
                    )

    key = _key(body, "toolConfig")
    tool_config = body.get(key)
    if tool_config is not None:
        if not isinstance(tool_config, dict):
            raise _fail_type(f"`{key}` must be an object", key)
        ckey = _key(tool_config, "functionCallingConfig")
        calling = tool_config.get(ckey)
        if calling is not None and not isinstance(calling, dict):
            raise _fail_type(f"`{key}.{ckey}` must be an object", f"{key}.{ckey}")


def wants_thoughts(body: dict) -> bool:
    """Whether a Gemini client asked to see thought summaries (thinkingConfig.includeThoughts)."""
    thinking = _get(_get(body, "generationConfig"), "thinkingConfig")
    return _get(thinking, "includeThoughts") is True


# --------------------------------------------------------------------------------------------
# schemas


def _normalise_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-subset Schema -> JSON Schema: lower-case types, nullable -> "null"."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    nullable = False
    for raw_key, value in schema.items():
        key = _camel(raw_key) if "_" in raw_key and not raw_key.startswith("$") else raw_key
        if key == "type":
            if isinstance(value, str):
                lowered = value.lower()
                if lowered != "type_unspecified":
                    out["type"] = lowered
            elif isinstance(value, list):
                out["type"] = [v.lower() if isinstance(v, str) else v for v in value]
        elif key == "nullable":
            nullable = value is True
        elif key == "propertyOrdering":
            continue
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _normalise_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_normalise_schema(sub) for sub in value]
        elif key in _SCHEMA_SINGLE:
            if isinstance(value, list):
                out[key] = [_normalise_schema(sub) for sub in value]
            else:
                out[key] = _normalise_schema(value)
        else:
            out[key] = value
    if nullable:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
    return out


# --------------------------------------------------------------------------------------------
# client surface: Gemini request -> canonical


def _user_part(part: dict) -> dict | None:
    """A Gemini part in a user turn -> a canonical content part (None: nothing to carry)."""
    text = part.get("text")
    if isinstance(text, str):
        return {"type": "text", "text": text}
    inline = _get(part, "inlineData")
    if isinstance(inline, dict):
        mime = str(_get(inline, "mimeType") or "application/octet-stream")
        data = str(_get(inline, "data") or "")
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": data_url(mime, data)}}
        if mime.startswith("audio/"):
            audio_format = _AUDIO_FORMATS.get(mime, mime.split("/", 1)[1])
            return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}
        file: dict[str, Any] = {"file_data": data_url(mime, data)}
        name = _get(inline, "displayName")
        if isinstance(name, str):
            file["filename"] = name
        return {"type": "file", "file": file}
    file_data = _get(part, "fileData")
    if isinstance(file_data, dict):
        return {"type": "image_url", "image_url": {"url": str(_get(file_data, "fileUri") or "")}}
    code = _code_text(part)
    if code is not None:
        return {"type": "text", "text": code}
    return None


def _message_content(parts: list[dict]) -> str | list[dict]:
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


class _CallLedger:
    """Pairs Gemini functionResponses with the calls they answer, minting ids as needed."""

    def __init__(self) -> None:
        self.count = 0
        self.open: list[tuple[str, str]] = []  # (id, name), unanswered, in call order
        self.last_by_name: dict[str, str] = {}

    def call(self, call_id: Any, name: str) -> str:
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{self.count}"
        self.count += 1
        self.open.append((call_id, name))
        self.last_by_name[name] = call_id
        return call_id

    def reserve(self, call_ids: set[str]) -> None:
        """Responses that name their call take it first; id-less ones pair with the rest."""
        self.open = [entry for entry in self.open if entry[0] not in call_ids]

    def answer(self, call_id: Any, name: str) -> str:
        if isinstance(call_id, str) and call_id:
            self.open = [entry for entry in self.open if entry[0] != call_id]
            return call_id
        for position, (open_id, open_name) in enumerate(self.open):
            if open_name == name:
                del self.open[position]
                return open_id
        if name in self.last_by_name:
            return self.last_by_name[name]
        minted = f"call_{self.count}"
        self.count += 1
        return minted


def _model_turn(parts: list, ledger: _CallLedger) -> dict:
    def tool_call(call: dict, part: dict) -> dict:
        call_id = ledger.call(_get(call, "id"), str(_get(call, "name") or ""))
        return _chat_tool_call(call, part, call_id=call_id)

    return _model_message(parts, tool_call)


def _user_turn(parts: list, ledger: _CallLedger) -> list[dict]:
    """Tool messages first (they must follow the assistant's calls), then any user content."""
    tool_messages: list[dict] = []
    content: list[dict] = []
    responses = [_get(part, "functionResponse") for part in parts if isinstance(part, dict)]
    ledger.reserve({_get(r, "id") for r in responses if isinstance(_get(r, "id"), str)})
    for part in parts:
        if not isinstance(part, dict):
            continue
        response = _get(part, "functionResponse")
        if isinstance(response, dict):
            name = str(_get(response, "name") or "")
            payload = _get(response, "response")
            tool_messages.append(
                {
                    "role": "tool",
                    "tool_call_id": ledger.answer(_get(response, "id"), name),
                    "content": dumps(payload if payload is not None else {}),
                }
            )
            continue
        converted = _user_part(part)
        if converted is not None:
            content.append(converted)
    if content:
        tool_messages.append({"role": "user", "content": _message_content(content)})
    return tool_messages


def _chat_tools(tools: Any) -> list[dict]:
    out: list[dict] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        for declaration in _get(tool, "functionDeclarations") or []:
            if not isinstance(declaration, dict):
                continue
            function: dict[str, Any] = {"name": declaration.get("name")}
            if isinstance(declaration.get("description"), str):
                function["description"] = declaration["description"]
            json_schema = _get(declaration, "parametersJsonSchema")
            parameters = _get(declaration, "parameters")
            if json_schema is not None:
                function["parameters"] = json_schema
            elif parameters is not None:
                function["parameters"] = _normalise_schema(parameters)
            out.append({"type": "function", "function": function})
        for builtin in BUILTIN_TOOLS:
            if _get(tool, builtin) is not None:
                out.append({"type": "function", "function": {"name": builtin}})
    return out


def _tool_choice(tool_config: Any, tools: list[dict]) -> tuple[Any, list[dict]]:
    calling = _get(tool_config, "functionCallingConfig")
    if not isinstance(calling, dict):
        return None, tools
    mode = str(calling.get("mode") or "").upper()
    allowed = _get(calling, "allowedFunctionNames")
    if mode == "NONE":
        return "none", tools
    if mode == "ANY":
        if isinstance(allowed, list) and len(allowed) == 1:
            return {"type": "function", "function": {"name": allowed[0]}}, tools
        if isinstance(allowed, list) and allowed:
            names = set(allowed)
            return "required", [t for t in tools if t["function"]["name"] in names]
        return "required", tools
    if mode in ("AUTO", "VALIDATED"):
        return "auto", tools
    return None, tools


def _effort_for_budget(budget: int) -> str:
    if budget < 0:
        return "medium"
    if budget == 0:
        return "minimal"
    if budget <= 1024:
        return "low"
    if budget <= 8192:
        return "medium"
    return "high"


def _apply_generation_config(config: Any, chat: dict) -> None:
    if not isinstance(config, dict):
        return
    for name, target in (
        ("temperature", "temperature"),
        ("topP", "top_p"),
        ("presencePenalty", "presence_penalty"),
        ("frequencyPenalty", "frequency_penalty"),
    ):
        value = _get(config, name)
        if value is not None:
            chat[target] = value
    for name, target in (
        ("topK", "top_k"),
        ("maxOutputTokens", "max_tokens"),
        ("candidateCount", "n"),
        ("seed", "seed"),
        ("logprobs", "top_logprobs"),
    ):
        value = _as_int(_get(config, name))
        if value is not None:
            chat[target] = value
    if _get(config, "responseLogprobs") is True:
        chat["logprobs"] = True
    stop = _get(config, "stopSequences")
    if isinstance(stop, list) and stop:
        chat["stop"] = list(stop)

    mime = _get(config, "responseMimeType")
    json_schema = _get(config, "responseJsonSchema")
    schema = _get(config, "responseSchema")
    if json_schema is None and schema is not None:
        json_schema = _normalise_schema(schema)
    if mime == "application/json" or (mime is None and json_schema is not None):
        if json_schema is not None:
            chat["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": json_schema},
            }
        else:
            chat["response_format"] = {"type": "json_object"}

    thinking = _get(config, "thinkingConfig")
    if isinstance(thinking, dict):
        budget = _as_int(_get(thinking, "thinkingBudget"))
        level = _get(thinking, "thinkingLevel")
        if budget is not None:
            if budget >= 0:
                chat["reasoning_budget_tokens"] = budget
            chat["reasoning_effort"] = _effort_for_budget(budget)
        elif isinstance(level, str) and level.lower() in ("minimal", "low", "medium", "high"):
            chat["reasoning_effort"] = level.lower()


def generate_to_chat(body: dict, *, model: str, stream: bool) -> dict:
    """A validated generateContent request -> a canonical chat request for `model`."""
    messages: list[dict] = []
    system = _get(body, "systemInstruction")
    if isinstance(system, str):
        messages.append({"role": "system", "content": system})
    elif isinstance(system, dict):
        texts = [
            {"type": "text", "text": part["text"]}
            for part in system.get("parts") or []
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        if texts:
            messages.append({"role": "system", "content": _message_content(texts)})

    ledger = _CallLedger()
    for content in body.get("contents") or []:
        parts = content.get("parts") or []
        if content.get("role") == "model":
            messages.append(_model_turn(parts, ledger))
        else:
            messages.extend(_user_turn(parts, ledger))

    chat: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream:
        chat["stream_options"] = {"include_usage": True}
    tools = _chat_tools(body.get("tools"))
    choice, tools = _tool_choice(_get(body, "toolConfig"), tools)
    if tools:
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = choice
    _apply_generation_config(_get(body, "generationConfig"), chat)
    return chat


# --------------------------------------------------------------------------------------------
# client surface: canonical -> Gemini response


def _args_object(arguments: Any) -> dict:
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    parsed = parse_object(arguments)
    return parsed if parsed is not None else {"arguments": arguments}


def _function_call_part(call: dict) -> dict:
    function = call.get("function") or {}
    body: dict[str, Any] = {
        "name": function.get("name") or "",
        "args": _args_object(function.get("arguments")),
    }
    if call.get("id"):
        body["id"] = call["id"]
    part: dict[str, Any] = {"functionCall": body}
    signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
    if isinstance(signature, str) and signature:
        part["thoughtSignature"] = signature
    return part


def _usage_metadata(usage: Any) -> dict:
    usage = usage if isinstance(usage, dict) else {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = min(reasoning, completion)
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - reasoning,
        "totalTokenCount": prompt + completion,
    }
    if reasoning:
        meta["thoughtsTokenCount"] = reasoning
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def chat_to_generate_response(chat: dict, *, model: str, include_thoughts: bool = True) -> dict:
    """A canonical chat.completion -> a GenerateContentResponse."""
    candidates = []
    for position, choice in enumerate(chat.get("choices") or []):
        message = choice.get("message") or {}
        parts: list[dict] = []
        reasoning = message.get("reasoning_content")
        if include_thoughts and isinstance(reasoning, str) and reasoning:
            parts.append({"text": reasoning, "thought": True})
        text = _text_of(message.get("content"))
        if text:
            parts.append({"text": text})
        parts.extend(_function_call_part(call) for call in message.get("tool_calls") or [])
        candidates.append(
            {
                "content": {"role": "model", "parts": parts or [{"text": ""}]},
                "finishReason": _FINISH_TO_GEMINI.get(choice.get("finish_reason"), "STOP"),
                "index": choice.get("index", position),
            }
        )
    return {
        "candidates": candidates,
        "usageMetadata": _usage_metadata(chat.get("usage")),
        "modelVersion": model,
        "responseId": str(chat.get("id") or uuid.uuid4().hex),
    }


class _PendingCall:
    __slots__ = ("arguments", "emitted", "extra", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name = ""
        self.arguments: list[str] = []
        self.extra: Any = None
        self.emitted = False

    def part(self) -> dict:
        self.emitted = True
        call: dict[str, Any] = {
            "id": self.id,
            "function": {"name": self.name, "arguments": "".join(self.arguments)},
        }
        if self.extra is not None:
            call["extra_content"] = self.extra
        return _function_call_part(call)


class GenerateStreamEncoder:
    """Canonical chat chunks -> Gemini SSE events (`data: {GenerateContentResponse}`).

    Text and reasoning go out as they come. Tool-call fragments are buffered per index and
    sent as one functionCall part once the arguments form a complete JSON object (or at the
    finish, whatever they hold). The last event carries finishReason and usageMetadata."""

    def __init__(self, *, model: str, include_thoughts: bool = True) -> None:
        self._model = model
        self._include_thoughts = include_thoughts
        self._response_id: str | None = None
        self._calls: dict[int, dict[int, _PendingCall]] = {}
        self._finish: dict[int, Any] = {}
        self._choices: list[int] = []
        self._usage: Any = None
        self._closed = False

    def start(self) -> bytes:
        return b""

    def _event(self, candidates: list[dict], usage: Any = None) -> bytes:
        body: dict[str, Any] = {"candidates": candidates}
        if usage is not None:
            body["usageMetadata"] = _usage_metadata(usage)
        body["modelVersion"] = self._model
        body["responseId"] = self._response_id or ""
        return encode_data(orjson.dumps(body))

    def _flush_calls(self, index: int) -> list[dict]:
        pending = self._calls.get(index) or {}
        return [pending[k].part() for k in sorted(pending) if not pending[k].emitted]

    def feed(self, chunk: dict) -> bytes:
        if self._closed or not isinstance(chunk, dict):
            return b""
        if self._response_id is None and chunk.get("id"):
            self._response_id = str(chunk["id"])
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        out = []
        for choice in chunk.get("choices") or []:
            index = choice.get("index", 0)
            if index not in self._choices:
                self._choices.append(index)
            delta = choice.get("delta") or {}
            parts: list[dict] = []
            reasoning = delta.get("reasoning_content")
            if self._include_thoughts and isinstance(reasoning, str) and reasoning:
                parts.append({"text": reasoning, "thought": True})
            content = delta.get("content")
            if isinstance(content, str) and content:
                parts.append({"text": content})
            for fragment in delta.get("tool_calls") or []:
                parts.extend(self._tool_fragment(index, fragment))
            if choice.get("finish_reason"):
                self._finish[index] = choice["finish_reason"]
                parts.extend(self._flush_calls(index))
            if parts:
                out.append(
                    self._event([{"content": {"role": "model", "parts": parts}, "index": index}])
                )
        return b"".join(out)

    def _tool_fragment(self, index: int, fragment: dict) -> list[dict]:
        calls = self._calls.setdefault(index, {})
        position = fragment.get("index", 0)
        call = calls.get(position)
        if call is None:
            call = calls[position] = _PendingCall()
        if call.emitted:
            return []
        if fragment.get("id") and call.id is None:
            call.id = fragment["id"]
        function = fragment.get("function") or {}
        if function.get("name") and not call.name:
            call.name = function["name"]
        if fragment.get("extra_content") is not None:
            call.extra = fragment["extra_content"]
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            call.arguments.append(piece)
            # A JSON object cannot be extended into another one: once it parses, it is whole.
            if (
                call.name
                and piece.rstrip().endswith("}")
                and parse_object("".join(call.arguments)) is not None
            ):
                return [call.part()]
        return []

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        candidates = []
        for index in self._choices or [0]:
            parts = self._flush_calls(index)
            reason = self._finish.get(index, "stop")
            candidates.append(
                {
                    "content": {"role": "model", "parts": parts or [{"text": ""}]},
                    "finishReason": _FINISH_TO_GEMINI.get(reason, "STOP"),
                    "index": index,
                }
            )
        return self._event(candidates, self._usage if self._usage is not None else {})

    def error(self, status: int, message: str) -> bytes:
        self._closed = True
        return encode_data(orjson.dumps(error_envelope(status, message)))


def error_envelope(status: int, message: str) -> dict:
    """The Gemini error body. The HTTP code is kept; the status string is the closest one."""
    name = _STATUS_BY_CODE.get(status)
    if name is None:
        if 400 <= status < 500:
            name = "FAILED_PRECONDITION"
        elif status >= 500:
            name = "INTERNAL"
        else:
            name = "UNKNOWN"
    return {"error": {"code": status, "message": message, "status": name}}


# --------------------------------------------------------------------------------------------
# upstream kind: canonical -> Gemini request


def _parse_data_url(url: str) -> tuple[str, str] | None:
    """(mime type, base64 data) of a data: URL."""
    if not url.startswith("data:") or "," not in url:
        return None
    header, payload = url[5:].split(",", 1)
    fields = header.split(";")
    mime = fields[0] or "text/plain"
    if "base64" in fields[1:]:
        return mime, payload
    return mime, base64.b64encode(unquote_to_bytes(payload)).decode()


def _guess_mime(url: str, default: str) -> str:
    path = urlsplit(url).path
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return _MIME_BY_EXTENSION.get(extension, default)


def _gemini_part(part: Any, where: str) -> dict | None:
    """A canonical content part -> a Gemini part (None: drop it)."""
    if isinstance(part, str):
        return {"text": part} if part else None
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("text", "input_text"):
        text = part.get("text")
        return {"text": text} if isinstance(text, str) and text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise InvalidRequest(f"`{where}.image_url.url` is required", param=where)
        parsed = _parse_data_url(url)
        if parsed is not None:
            return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
        return {"fileData": {"mimeType": _guess_mime(url, "image/jpeg"), "fileUri": url}}
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        audio_format = str(audio.get("format") or "wav").lower()
        return {
            "inlineData": {"mimeType": f"audio/{audio_format}", "data": audio.get("data") or ""}
        }
    if kind == "file":
        file = part.get("file") or {}
        parsed = _parse_data_url(file.get("file_data") or "")
        if parsed is None:
            raise InvalidRequest(
                "a Gemini model needs file content inline (`file.file_data` as a data: URL); "
                "provider file ids cannot be used",
                param=where,
                code="unsupported_parameter",
            )
        return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
    return None


def _gemini_parts(content: Any, where: str) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if isinstance(content, list):
        parts = (_gemini_part(part, f"{where}[{j}]") for j, part in enumerate(content))
        return [part for part in parts if part is not None]
    return []


def _tool_response_object(content: Any) -> dict:
    text = content if isinstance(content, str) else _text_of(content)
    parsed = parse_object(text)
    return parsed if parsed is not None else {"result": text}


def _assistant_parts(message: dict, names: dict[str, str], where: str) -> list[dict]:
    parts = _gemini_parts(message.get("content"), f"{where}.content")
    calls = []
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        name = function.get("name") or ""
        if call.get("id"):
            names[call["id"]] = name
        part: dict[str, Any] = {
            "functionCall": {"name": name, "args": _args_object(function.get("arguments"))}
        }
        signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if isinstance(signature, str) and signature:
            part["thoughtSignature"] = signature
        calls.append(part)
    if calls and not any("thoughtSignature" in part for part in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return parts + calls


def _gemini_tools(tools: Any) -> tuple[list[dict], set[str]]:
    declarations: list[dict] = []
    builtins: list[dict] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        function = tool.get("function") or {}
        name = function.get("name")
        if not isinstance(name, str):
            continue
        if name in BUILTIN_TOOLS:
            builtins.append({name: {}})
            continue
        declaration: dict[str, Any] = {"name": name}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters") is not None:
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    out = [{"functionDeclarations": declarations}] if declarations else []
    return out + builtins, {d["name"] for d in declarations}


def _function_calling_config(choice: Any, declared: set[str]) -> dict | None:
    if choice == "auto":
        return {"mode": "AUTO"}
    if choice == "none":
        return {"mode": "NONE"}
    if choice == "required":
        return {"mode": "ANY"}
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            name = (choice.get("function") or {}).get("name")
            if name in declared:
                return {"mode": "ANY", "allowedFunctionNames": [name]}
            return {"mode": "AUTO"} if name in BUILTIN_TOOLS else None
        if choice.get("type") == "allowed_tools":
            allowed = choice.get("allowed_tools") or {}
            names = [
                (tool.get("function") or {}).get("name")
                for tool in allowed.get("tools") or []
                if isinstance(tool, dict)
            ]
            names = [name for name in names if name in declared]
            if allowed.get("mode") == "required":
                return {"mode": "ANY", "allowedFunctionNames": names}
            return {"mode": "AUTO"}
    return None


def _generation_config(chat: dict) -> dict:
    config: dict[str, Any] = {}
    for source, target in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if chat.get(source) is not None:
            config[target] = chat[source]
    max_tokens = chat.get("max_tokens")
    if max_tokens is None:
        max_tokens = chat.get("max_completion_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = chat.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = list(stop)
    if isinstance(chat.get("n"), int) and chat["n"] > 1:
        config["candidateCount"] = chat["n"]
    if chat.get("logprobs") is True:
        config["responseLogprobs"] = True
        if chat.get("top_logprobs") is not None:
            config["logprobs"] = chat["top_logprobs"]

    response_format = chat.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            config["responseMimeType"] = "application/json"
            schema = (response_format.get("json_schema") or {}).get("schema")
            if schema is not None:
                config["responseJsonSchema"] = schema
        elif kind == "json_object":
            config["responseMimeType"] = "application/json"

    budget = chat.get("reasoning_budget_tokens")
    if not is_int(budget):
        effort = chat.get("reasoning_effort")
        budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is not None:
        thinking: dict[str, Any] = {"thinkingBudget": budget}
        if budget != 0:
            thinking["includeThoughts"] = True
        config["thinkingConfig"] = thinking
    return config


def chat_to_gemini_request(chat: dict) -> dict:
    """A canonical chat request -> a GenerateContentRequest body (the model goes in the URL)."""
    system: list[dict] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool_call id -> function name

    def append(role: str, parts: list[dict]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for i, message in enumerate(chat.get("messages") or []):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text_of(message.get("content"))
            if text:
                system.append({"text": text})
        elif role == "assistant":
            append("model", _assistant_parts(message, names, where))
        elif role in ("tool", "function"):
            if role == "tool":
                call_id = message.get("tool_call_id")
                name = names.get(call_id) if isinstance(call_id, str) else None
                if name is None:
                    raise InvalidRequest(
                        f"`{where}.tool_call_id` does not match any earlier tool call",
                        param=f"{where}.tool_call_id",
                    )
            else:
                name = str(message.get("name") or "")
            response = _tool_response_object(message.get("content"))
            append("user", [{"functionResponse": {"name": name, "response": response}}])
        else:
            append("user", _gemini_parts(message.get("content"), f"{where}.content"))

    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools, declared = _gemini_tools(chat.get("tools"))
    if tools:
        body["tools"] = tools
        calling = _function_calling_config(chat.get("tool_choice"), declared)
        if calling is not None and declared:
            body["toolConfig"] = {"functionCallingConfig": calling}
    config = _generation_config(chat)
    if config:
        body["generationConfig"] = config
    return body


# --------------------------------------------------------------------------------------------
# upstream kind: Gemini responses -> canonical


def _chat_usage(meta: Any) -> dict:
    if not isinstance(meta, dict):
        return empty_usage()
    prompt = int(_get(meta, "promptTokenCount") or 0) + int(
        _get(meta, "toolUsePromptTokenCount") or 0
    )
    candidates = int(_get(meta, "candidatesTokenCount") or 0)
    thoughts = int(_get(meta, "thoughtsTokenCount") or 0)
    total = _get(meta, "totalTokenCount")
    # Some Vertex responses already count thoughts inside candidates.
    if thoughts and isinstance(total, int) and prompt + candidates == total:
        completion = candidates
    else:
        completion = candidates + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(_get(meta, "cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _chat_id(response_id: Any) -> str:
    if isinstance(response_id, str) and response_id:
        return f"chatcmpl-{response_id}"
    return f"chatcmpl-{uuid.uuid4().hex}"


def gemini_to_chat_response(body: dict, *, model: str) -> dict:
    """A GenerateContentResponse -> a canonical chat.completion."""
    choices = []
    for position, candidate in enumerate(body.get("candidates") or []):
        parts = _get(candidate.get("content"), "parts") or []
        message = _model_message(parts, _chat_tool_call)
        finish = _chat_finish(_get(candidate, "finishReason"), "tool_calls" in message)
        choices.append(
            {"index": candidate.get("index", position), "message": message, "finish_reason": finish}
        )
    if not choices:
        blocked = _get(_get(body, "promptFeedback"), "blockReason")
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter" if blocked else "stop",
            }
        )
    return {
        "id": _chat_id(_get(body, "responseId")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": _chat_usage(_get(body, "usageMetadata")),
    }


def _event_payloads(event: bytes) -> list[Any]:
    lines = list(data_lines(event))
    raw = b"\n".join(lines).strip() if lines else event.strip()
    if not lines:
        # Without alt=sse the body is a JSON array streamed element by element.
        raw = raw.lstrip(b"[,").rstrip(b"],").strip()
    if not raw or raw.startswith(b":"):
        return []
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed_event() from exc
    return value if isinstance(value, list) else [value]


class GeminiStreamDecoder:
    """Gemini SSE events (alt=sse) -> canonical chat.completion.chunk dicts (state machine C)."""

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.done = False
        self._id: str | None = None
        self._created = int(time.time())
        self._started: list[int] = []
        self._tool_count: dict[int, int] = {}
        self._finished: set[int] = set()
        self._usage: Any = None
        self._closed = False

    def _chunk(self, choices: list[dict]) -> dict:
        return {
            "id": self._id or _chat_id(None),
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": choices,
        }

    def _delta(self, index: int, delta: dict, finish_reason: str | None = None) -> dict:
        if index not in self._started:
            self._started.append(index)
            delta = {"role": "assistant", **delta}
            if "content" not in delta and "reasoning_content" not in delta:
                delta["content"] = "" if "tool_calls" not in delta else None
        return self._chunk([{"index": index, "delta": delta, "finish_reason": finish_reason}])

    def feed(self, event: bytes) -> list[dict]:
        out: list[dict] = []
        for payload in _event_payloads(event):
            if not isinstance(payload, dict):
                raise malformed_event()
            error = payload.get("error")
            if error is not None:
                if isinstance(error, dict):
                    message = str(error.get("message") or "upstream error")
                    type_ = _ERROR_TYPES.get(str(error.get("status")), "api_error")
                else:
                    message, type_ = str(error), "api_error"
                raise StreamError(message, type_)
            if self._id is None:
                self._id = _chat_id(_get(payload, "responseId"))
            meta = _get(payload, "usageMetadata")
            if isinstance(meta, dict):
                self._usage = meta
            candidates = payload.get("candidates") or []
            for position, candidate in enumerate(candidates):
                out.extend(self._candidate(candidate, position))
            blocked = _get(_get(payload, "promptFeedback"), "blockReason")
            if not candidates and blocked and 0 not in self._finished:
                self._finished.add(0)
                self.done = True
                out.append(self._delta(0, {}, "content_filter"))
        return out

    def _candidate(self, candidate: dict, position: int) -> list[dict]:
        index = candidate.get("index", position)
        if index in self._finished:
            return []
        out = []
        for part in _get(candidate.get("content"), "parts") or []:
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str):
                if text:
                    key = "reasoning_content" if part.get("thought") is True else "content"
                    out.append(self._delta(index, {key: text}))
                continue
            call = _get(part, "functionCall")
            if isinstance(call, dict):
                number = self._tool_count.get(index, 0)
                self._tool_count[index] = number + 1
                out.append(
                    self._delta(index, {"tool_calls": [_chat_tool_call(call, part, number)]})
                )
                continue
            code = _code_text(part)
            if code is not None:
                out.append(self._delta(index, {"content": code}))
        reason = _get(candidate, "finishReason")
        if reason:
            self._finished.add(index)
            self.done = True
            out.append(self._delta(index, {}, _chat_finish(reason, index in self._tool_count)))
        return out

    def finish(self) -> list[dict]:
        if self._closed:
            return []
        self._closed = True
        out = [
            self._delta(index, {}, _chat_finish("STOP", index in self._tool_count))
            for index in self._started or [0]
            if index not in self._finished
        ]
        usage_chunk = self._chunk([])
        usage_chunk["usage"] = _chat_usage(self._usage)
        out.append(usage_chunk)
        return out
