"""Gemini generateContent / streamGenerateContent, the chat family's dialect of google-genai."""

from typing import Any

import orjson

from ...wire import gemini
from ..errors import GatewayError
from ..operations import CHAT as CHAT_OPERATION
from ..request import Request
from .base import ClientCall, GoogleSurface
from .chat import asks_online

ONLINE_TOOL: dict[str, dict] = {"googleSearch": {}}


def _with_online_search(body: dict) -> None:
    """`model:online` on a generateContent call: Google Search grounding joins the client's
    `tools`, in place, unless they ask for it already. The body is what a pass-through call
    sends and what the canonical request is translated from, so the search is asked for
    either way (and metered from the answer's groundingMetadata)."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return  # invalid: validation already refused it
    if not gemini.has_search_tool(tools):
        body["tools"] = [*(tools or ()), dict(ONLINE_TOOL)]


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
        if asks_online(call.model):
            _with_online_search(body)
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
