"""One call through the official SDK of each client surface, for the guardrail live tests:
what the client saw (text, headers) or the error it raised, in its own dialect."""

from dataclasses import dataclass, field

import anthropic
import openai
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

SURFACES = ["chat", "responses", "messages", "generate"]
# A model of each provider kind (the fake upstreams of tests/conftest.py); fake/responder
# speaks native Responses, so `responses` on it is a pass-through call.
KIND_MODELS = {
    "openai": "fake/chat",
    "anthropic": "anthropic-fake/claude",
    "gemini": "gemini-fake/flash",
    "responses": "fake/responder",
}


@dataclass
class Reply:
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error: dict | None = None  # {"status", "code", "message"} when the call was refused
    stream_error: str = ""  # the message of an in-stream error event


def _lower(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in dict(headers or {}).items()}


def _openai_error(exc: openai.APIStatusError) -> dict:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return {
        "status": exc.status_code,
        "code": error.get("code"),
        "type": error.get("type"),
        "message": error.get("message"),
    }


def ask(
    base_url: str,
    key: str,
    surface: str,
    model: str,
    text: str,
    stream: bool,
    headers: dict[str, str] | None = None,
) -> Reply:
    try:
        if surface in ("chat", "responses"):
            return _openai(base_url, key, surface, model, text, stream, headers)
        if surface == "messages":
            return _anthropic(base_url, key, model, text, stream, headers)
        return _gemini(base_url, key, model, text, stream, headers)
    except openai.APIStatusError as exc:
        return Reply(headers=_lower(exc.response.headers), error=_openai_error(exc))
    except anthropic.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") or {}
        return Reply(
            headers=_lower(exc.response.headers),
            error={
                "status": exc.status_code,
                "code": error.get("type"),
                "message": error.get("message"),
            },
        )
    except genai_errors.APIError as exc:
        return Reply(error={"status": exc.code, "code": exc.status, "message": exc.message})


def _openai(
    base_url: str, key: str, surface: str, model: str, text: str, stream: bool, headers=None
) -> Reply:
    client = openai.OpenAI(
        base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=20, default_headers=headers
    )
    if surface == "chat":
        messages = [{"role": "user", "content": text}]
        if not stream:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)
            answer = raw.parse()
            return Reply(answer.choices[0].message.content or "", _lower(raw.headers))
        with client.chat.completions.with_streaming_response.create(
            model=model, messages=messages, stream=True
        ) as raw:
            reply = Reply(headers=_lower(raw.headers))
            try:
                for chunk in raw.parse():
                    if chunk.choices:
                        reply.text += chunk.choices[0].delta.content or ""
            except openai.APIError as exc:
                reply.stream_error = exc.message
            return reply
    if not stream:
        raw = client.responses.with_raw_response.create(model=model, input=text)
        return Reply(raw.parse().output_text, _lower(raw.headers))
    with client.responses.with_streaming_response.create(
        model=model, input=text, stream=True
    ) as raw:
        reply = Reply(headers=_lower(raw.headers))
        for event in raw.parse():
            if event.type == "response.output_text.delta":
                reply.text += event.delta
            elif event.type in ("error", "response.failed"):
                error = getattr(event, "message", None) or event.response.error.message
                reply.stream_error = error
        return reply


def _anthropic(base_url: str, key: str, model: str, text: str, stream: bool, headers=None) -> Reply:
    client = anthropic.Anthropic(
        base_url=base_url, api_key=key, max_retries=0, timeout=20, default_headers=headers
    )
    messages = [{"role": "user", "content": text}]
    if not stream:
        raw = client.messages.with_raw_response.create(
            model=model, max_tokens=256, messages=messages
        )
        message = raw.parse()
        text = "".join(b.text for b in message.content if b.type == "text")
        return Reply(text, _lower(raw.headers))
    reply = Reply()
    try:
        with client.messages.stream(model=model, max_tokens=256, messages=messages) as events:
            reply.headers = _lower(events.response.headers)
            for piece in events.text_stream:
                reply.text += piece
    except anthropic.APIStatusError as exc:
        if reply.headers:  # the stream had begun: an in-stream error event
            reply.stream_error = str(exc.message)
        else:
            raise
    return reply


def _gemini(base_url: str, key: str, model: str, text: str, stream: bool, headers=None) -> Reply:
    options = types.HttpOptions(base_url=base_url, timeout=20_000, headers=headers)
    client = genai.Client(api_key=key, http_options=options)
    if not stream:
        response = client.models.generate_content(model=model, contents=text)
        http = response.sdk_http_response
        return Reply(response.text or "", _lower(http.headers) if http else {})
    reply = Reply()
    try:
        for chunk in client.models.generate_content_stream(model=model, contents=text):
            if not reply.headers and chunk.sdk_http_response:
                reply.headers = _lower(chunk.sdk_http_response.headers)
            reply.text += chunk.text or ""
    except genai_errors.APIError as exc:
        # An error event inside a stream that began (HTTP 200), or a refusal before it.
        if getattr(exc.response, "status_code", None) != 200:
            raise
        reply.stream_error = exc.message or ""
    return reply
