"""OpenAI Responses, translated to and from the chat family's canonical form."""

import secrets
import time
from typing import Any

import orjson

from ...wire import responses
from ..errors import GatewayError
from ..operations import CHAT as CHAT_OPERATION
from ..request import Request
from .base import ClientCall, Surface
from .chat import asks_online

ONLINE_TOOL = {"type": "web_search"}


def _with_online_search(body: dict) -> None:
    """`model:online` on a Responses call: the web_search tool joins the client's body, in
    place, unless it has one. The body is what a pass-through call sends, and the canonical
    request is translated from it, so the search is asked for either way (planning's own
    `web_search_options` then changes nothing)."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return  # invalid: validation already refused it
    if not any(responses.is_search_tool(tool) for tool in tools or ()):
        body["tools"] = [*(tools or ()), dict(ONLINE_TOOL)]


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
        if asks_online(call.model):
            _with_online_search(body)
        return responses.responses_to_chat(body, history=call.history)

    def planning_form(self, body: dict, call: ClientCall) -> dict | None:
        # The whole input as one text: what planning needs (a size, the tools' presence).
        text = orjson.dumps([body.get("instructions"), body.get("input")]).decode()
        form: dict = {"model": call.model, "messages": [{"role": "user", "content": text}]}
        if body.get("tools"):
            form["tools"] = [t for t in body["tools"] if isinstance(t, dict)]
        for name in ("max_output_tokens", "stream"):
            if name in body:
                form["max_tokens" if name == "max_output_tokens" else name] = body[name]
        return form

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
        if encoder is not None:
            return encoder.error(error.message, error.code)
        # A pass-through stream (native Responses upstream) has no encoder of ours: the
        # upstream's own events went out, so only the error event is added.
        payload = {"type": "error", "code": error.code, "message": error.message, "param": None}
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"


RESPONSES = ResponsesSurface()
