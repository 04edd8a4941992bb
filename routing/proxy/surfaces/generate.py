"""Gemini generateContent / streamGenerateContent, the chat family's dialect of google-genai."""

from typing import Any

import orjson

from ...wire import gemini
from ..errors import GatewayError
from ..operations import CHAT as CHAT_OPERATION
from ..request import Request
from .base import ClientCall, GoogleSurface


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


GENERATE = GenerateSurface()
