"""Anthropic Messages, the chat family's dialect of Claude clients (Claude Code, the SDK)."""

from typing import Any

import orjson

from ...wire import anthropic
from ..errors import GatewayError
from ..operations import CHAT as CHAT_OPERATION
from ..request import Request
from .base import ClientCall, Surface


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


MESSAGES = MessagesSurface()
