"""The chat family's dialects: OpenAI Chat Completions and Responses, Anthropic Messages,
Gemini generateContent. Their canonical form is OpenAI chat."""

import secrets
import time
from typing import Any

import orjson

from ...wire import anthropic, gemini, openai_chat, responses
from ...wire.openai_errors import GATEWAY_ERROR_TYPE, error_body
from ...wire.sse import DONE, encode_data
from ..errors import GatewayError
from ..operations import CHAT as CHAT_OPERATION
from ..request import Request
from .base import ClientCall, GoogleSurface, Surface, cost_fragment

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
    operation = CHAT_OPERATION

    def chunk_with_cost(self, chunk: dict, cost: bytes) -> dict:
        if isinstance(chunk.get("usage"), dict):
            chunk["usage"] = {**chunk["usage"], "cost": cost_fragment(cost)}
        return chunk

    def validate(self, body: Any, request: Request) -> ClientCall:
        checked = openai_chat.validate_chat_request(body)
        return ClientCall(checked.model, checked.stream, checked.include_usage)

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
    operation = CHAT_OPERATION

    def api_key(self, request: Request) -> str | None:
        return request.header(b"x-api-key") or super().api_key(request)

    def validate(self, body: Any, request: Request) -> ClientCall:
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


class GenerateSurface(GoogleSurface):
    name = "generate"
    operation = CHAT_OPERATION

    def validate(self, body: Any, request: Request) -> ClientCall:
        gemini.validate_generate_request(body)
        streaming_action = request.path_param("action") == "streamGenerateContent"
        # Without alt=sse the API streams one JSON array; Orca answers that form in one piece.
        as_array = streaming_action and request.query("alt") != "sse"
        return ClientCall(
            request.path_param("model"),
            streaming_action and not as_array,
            as_array=as_array,
            include_thoughts=gemini.wants_thoughts(body),
        )

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return gemini.generate_to_chat(body, model=call.model, stream=call.stream)

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        response = gemini.chat_to_generate_response(
            completion, model=call.model, include_thoughts=call.include_thoughts
        )
        return orjson.dumps([response] if call.as_array else response)

    def native_answer(self, raw: bytes, call: ClientCall) -> bytes:
        # streamGenerateContent without alt=sse is answered as a JSON array, as Google does.
        return b"[" + raw + b"]" if call.as_array else raw

    def stream_encoder(self, call: ClientCall):
        return gemini.GenerateStreamEncoder(
            model=call.model, include_thoughts=call.include_thoughts
        )

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        encoder = encoder or gemini.GenerateStreamEncoder(model="")
        return encoder.error(error.status, error.message)


# --- OpenAI Responses ------------------------------------------------------------------------


class ResponsesSurface(Surface):
    name = "responses"
    operation = CHAT_OPERATION

    def validate(self, body: Any, request: Request) -> ClientCall:
        responses.validate_responses_request(body)
        return ClientCall(
            body["model"].strip(),
            body.get("stream") is True,
            body=body,
            response_id="resp_" + secrets.token_hex(24),
            created_at=int(time.time()),
            # history: filled by the pipeline for previous_response_id
        )

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        return responses.responses_to_chat(body, history=call.history)

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        return orjson.dumps(
            responses.chat_to_responses_response(
                completion,
                response_id=call.response_id,
                model=call.model,
                request=call.body,
                created_at=call.created_at,
            )
        )

    def stream_encoder(self, call: ClientCall):
        return responses.ResponsesStreamEncoder(
            response_id=call.response_id,
            model=call.model,
            request=call.body,
            created_at=call.created_at,
        )

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        assert encoder is not None  # responses are always translated, so an encoder exists
        return encoder.error(error.message, error.code)


CHAT = ChatSurface()
MESSAGES = MessagesSurface()
GENERATE = GenerateSurface()
RESPONSES = ResponsesSurface()
