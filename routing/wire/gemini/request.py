"""Request contents both ways: a client's Gemini generateContent body -> a canonical chat
request (generate_to_chat), and a canonical chat request -> the body sent to a Gemini
upstream (chat_to_gemini_request).

This module translates the conversation: the system instruction, the turns and their parts
(text, media, function calls and their responses, paired by id or by name and order). The
request's options (tools, toolConfig, generationConfig) are translated in options.py;
validation of the client body is in validation.py.
"""

import base64
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from .. import untranslatable
from ..canonical import InvalidRequest
from ..common import data_url, dumps, parse_object
from ..tools import function_tools
from .options import options_to_chat, options_to_gemini
from .shared import (
    _args_object,
    _chat_tool_call,
    _code_text,
    _get,
    _model_message,
    _text_of,
)
from .signed_ids import id_signature

# Google's documented value for a functionCall whose real signature is unknown.
SKIP_SIGNATURE = "skip_thought_signature_validator"

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
    options_to_chat(body, chat)
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
        if not (isinstance(signature, str) and signature):
            signature = id_signature(call.get("id"))  # a client that kept only the id
        if signature:
            part["thoughtSignature"] = signature
        calls.append(part)
    if calls and not any("thoughtSignature" in part for part in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return parts + calls


def chat_to_gemini_request(chat: dict) -> dict:
    """A canonical chat request -> a GenerateContentRequest body (the model goes in the URL).
    Gemini has no system role in `contents`: every system or developer message, at the start
    or in the middle of the conversation, becomes a `systemInstruction` part, in order."""
    untranslatable.refuse(chat)
    chat = function_tools(chat)  # custom tools as functions, other types left out
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
    body.update(options_to_gemini(chat))
    return body
