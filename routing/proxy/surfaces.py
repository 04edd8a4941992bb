"""Client surfaces: how each dialect authenticates, validates, reaches canonical chat, and
renders answers, streams and errors. The translation itself lives in routing.wire."""

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from billing.pricing import format_usd

from ..wire import anthropic, gemini, openai_chat, responses
from ..wire.openai_errors import GATEWAY_ERROR_TYPE, error_body, error_bytes
from ..wire.sse import DONE, encode_data
from .errors import GatewayError


def usd_fragment(cost_pico: int) -> orjson.Fragment:
    """The cost as an exact JSON number (no float rounding on the way)."""
    return orjson.Fragment(format_usd(cost_pico).encode())


@dataclass(slots=True)
class ClientCall:
    """What a validated client request asks for, in dialect-neutral terms."""

    model: str
    stream: bool
    include_usage: bool = True  # whether the client sees a usage-only chunk (chat only)
    extra: dict[str, Any] = field(default_factory=dict)


class Surface:
    name: str

    def api_key(self, consumer) -> str | None:
        value = consumer.header(b"authorization")
        if value and value[:7].lower() == "bearer ":
            return value[7:].strip() or None
        return None

    def validate(self, body: Any, consumer) -> ClientCall:
        raise NotImplementedError

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        raise NotImplementedError

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        raise NotImplementedError

    def stream_encoder(self, call: ClientCall):
        raise NotImplementedError

    def render_error(self, error: GatewayError) -> bytes:
        return error_bytes(
            error.message,
            code=error.code,
            param=error.param,
            type_=error.type or GATEWAY_ERROR_TYPE,
        )

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        """The in-stream error for this dialect, after the 200 has gone out."""
        raise NotImplementedError

    # Where the dialect has a usage object, the call's cost (USD, exact) goes in it.
    carries_cost = True

    def native_answer(self, raw: bytes, call: ClientCall) -> bytes:
        """A pass-through upstream's non-stream body as this surface answers it."""
        return raw

    def with_cost(self, body: bytes, cost_pico: int) -> bytes:
        if not self.carries_cost:
            return body
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if isinstance(data, dict) and isinstance(data.get("usage"), dict):
            return self.completion_with_cost(data, cost_pico)
        return body

    def completion_with_cost(self, data: dict, cost_pico: int) -> bytes:
        """A parsed answer, serialised with its cost in `usage` (when it has one)."""
        if self.carries_cost and isinstance(data.get("usage"), dict):
            data["usage"]["cost"] = usd_fragment(cost_pico)
        return orjson.dumps(data)

    def chunk_with_cost(self, chunk: dict, cost_pico: int) -> dict:
        return chunk


# --- OpenAI Chat Completions -------------------------------------------------------------


class ChatStreamEncoder:
    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def start(self) -> bytes:
        return b""

    def feed(self, chunk: dict) -> bytes:
        if not chunk.get("choices") and not self.include_usage:
            return b""
        return encode_data(orjson.dumps(chunk))

    def finish(self) -> bytes:
        return DONE


def openai_stream_error(error: GatewayError) -> bytes:
    payload = error_body(error.message, code=error.code, type_=error.type or GATEWAY_ERROR_TYPE)
    return encode_data(orjson.dumps(payload)) + DONE


class ChatSurface(Surface):
    name = "chat"

    def chunk_with_cost(self, chunk: dict, cost_pico: int) -> dict:
        if isinstance(chunk.get("usage"), dict):
            chunk["usage"] = {**chunk["usage"], "cost": usd_fragment(cost_pico)}
        return chunk

    def validate(self, body: Any, consumer) -> ClientCall:
        request = openai_chat.validate_chat_request(body)
        return ClientCall(request.model, request.stream, request.include_usage)

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return body

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        return orjson.dumps(completion)

    def stream_encoder(self, call: ClientCall) -> ChatStreamEncoder:
        return ChatStreamEncoder(call.include_usage)

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        return openai_stream_error(error)


# --- Anthropic Messages ----------------------------------------------------------------------


class MessagesSurface(Surface):
    name = "messages"

    def api_key(self, consumer) -> str | None:
        return consumer.header(b"x-api-key") or super().api_key(consumer)

    def validate(self, body: Any, consumer) -> ClientCall:
        anthropic.validate_messages_request(body)
        return ClientCall(body["model"].strip(), body.get("stream") is True)

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return anthropic.messages_to_chat(body)

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        return orjson.dumps(anthropic.chat_to_messages_response(completion, model=call.model))

    def stream_encoder(self, call: ClientCall):
        return anthropic.MessagesStreamEncoder(model=call.model)

    def render_error(self, error: GatewayError) -> bytes:
        envelope = anthropic.error_envelope(error.status, error.message)
        return orjson.dumps(envelope)

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        type_ = anthropic.error_envelope(error.status, error.message)["error"]["type"]
        if encoder is not None:
            return encoder.error(error.message, type_)
        return anthropic.MessagesStreamEncoder(model="").error(error.message, type_)


# --- Gemini generateContent ------------------------------------------------------------------


class GenerateSurface(Surface):
    name = "generate"
    carries_cost = False  # google-genai's types are strict; the cost is in X-Orca-Cost

    def api_key(self, consumer) -> str | None:
        header = consumer.header(b"x-goog-api-key")
        if header:
            return header
        query = parse_qs(consumer.scope.get("query_string", b"").decode("latin-1"))
        if query.get("key"):
            return query["key"][0]
        return super().api_key(consumer)

    def validate(self, body: Any, consumer) -> ClientCall:
        gemini.validate_generate_request(body)
        route = consumer.scope["url_route"]["kwargs"]
        query = parse_qs(consumer.scope.get("query_string", b"").decode("latin-1"))
        streaming_action = route["action"] == "streamGenerateContent"
        # Without alt=sse the API streams one JSON array; Orca answers that form in one piece.
        as_array = streaming_action and query.get("alt", [""])[0] != "sse"
        return ClientCall(
            route["model"],
            streaming_action and not as_array,
            extra={"array": as_array, "include_thoughts": gemini.wants_thoughts(body)},
        )

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return gemini.generate_to_chat(body, model=call.model, stream=call.stream)

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        response = gemini.chat_to_generate_response(
            completion, model=call.model, include_thoughts=call.extra["include_thoughts"]
        )
        return orjson.dumps([response] if call.extra["array"] else response)

    def native_answer(self, raw: bytes, call: ClientCall) -> bytes:
        # streamGenerateContent without alt=sse is answered as a JSON array, as Google does.
        return b"[" + raw + b"]" if call.extra["array"] else raw

    def stream_encoder(self, call: ClientCall):
        return gemini.GenerateStreamEncoder(
            model=call.model, include_thoughts=call.extra["include_thoughts"]
        )

    def render_error(self, error: GatewayError) -> bytes:
        return orjson.dumps(gemini.error_envelope(error.status, error.message))

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        encoder = encoder or gemini.GenerateStreamEncoder(model="")
        return encoder.error(error.status, error.message)


# --- OpenAI Responses ------------------------------------------------------------------------


class ResponsesSurface(Surface):
    name = "responses"

    def validate(self, body: Any, consumer) -> ClientCall:
        responses.validate_responses_request(body)
        return ClientCall(
            body["model"].strip(),
            body.get("stream") is True,
            extra={
                "body": body,
                "response_id": "resp_" + secrets.token_hex(24),
                "created_at": int(time.time()),
                "history": None,  # filled by the pipeline for previous_response_id
            },
        )

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return responses.responses_to_chat(body, history=call.extra["history"])

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        return orjson.dumps(
            responses.chat_to_responses_response(
                completion,
                response_id=call.extra["response_id"],
                model=call.model,
                request=call.extra["body"],
                created_at=call.extra["created_at"],
            )
        )

    def stream_encoder(self, call: ClientCall):
        return responses.ResponsesStreamEncoder(
            response_id=call.extra["response_id"],
            model=call.model,
            request=call.extra["body"],
            created_at=call.extra["created_at"],
        )

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        assert encoder is not None  # responses are always translated, so an encoder exists
        return encoder.error(error.message, error.code)


CHAT = ChatSurface()
MESSAGES = MessagesSurface()
GENERATE = GenerateSurface()
RESPONSES = ResponsesSurface()
