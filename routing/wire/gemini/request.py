"""Request translation both ways: a client's Gemini generateContent body -> a canonical chat
request (generate_to_chat, with Gemini's OpenAPI-subset schemas normalised to JSON Schema),
and a canonical chat request -> the body sent to a Gemini upstream (chat_to_gemini_request).

Both directions live together because they share the tables here (thinking budgets, built-in
tool names, media types). Validation of the client body is in validation.py.
"""

import base64
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from ..canonical import InvalidRequest
from ..common import data_url, dumps, effort_for_budget, is_int, parse_object
from .shared import (
    _args_object,
    _as_int,
    _chat_tool_call,
    _code_text,
    _get,
    _model_message,
    _text_of,
)

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


@lru_cache(maxsize=256)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


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
            chat["reasoning_effort"] = effort_for_budget(budget)
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
