"""Anthropic Messages, the chat family's dialect of Claude clients (Claude Code, the SDK)."""

from typing import Any

import orjson

from ...wire import anthropic, untranslatable
from ..errors import GatewayError
from ..operations import CHAT as CHAT_OPERATION
from ..request import Request
from .base import ClientCall, Surface
from .chat import asks_online

BETA_HEADER = b"anthropic-beta"
ONLINE_TOOL = {"type": anthropic.SEARCH_TOOL_TYPE, "name": anthropic.SEARCH_TOOL_NAME}


def _with_online_search(body: dict) -> None:
    """`model:online` on a Messages call: Anthropic's web search server tool joins the
    client's body, in place, unless it has one. The body is what a pass-through call sends
    and what the canonical request is translated from, so the search is asked for either
    way (and metered from `usage.server_tool_use` like a search the client asked for)."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return  # invalid: validation already refused it
    if not any(anthropic.is_search_tool(tool) for tool in tools or ()):
        body["tools"] = [*(tools or ()), dict(ONLINE_TOOL)]


def beta_headers(request: Request) -> dict[str, str]:
    """The client's `anthropic-beta` values (every one, as one comma-separated header), which a
    same-format (Anthropic) upstream gets unchanged; a translated call has no use for them."""
    values = [
        value.decode("latin-1").strip()
        for name, value in request.scope["headers"]
        if name == BETA_HEADER and value.strip()
    ]
    return {"anthropic-beta": ",".join(values)} if values else {}


class MessagesSurface(Surface):
    name = "messages"
    operation = CHAT_OPERATION

    def api_key(self, request: Request) -> str | None:
        return request.header(b"x-api-key") or super().api_key(request)

    def validate(self, body: Any, request: Request) -> ClientCall:
        anthropic.validate_messages_request(body)
        return ClientCall(
            body["model"].strip(),
            body.get("stream") is True,
            forward_headers=beta_headers(request),
        )

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        if asks_online(call.model):
            _with_online_search(body)
        canonical = anthropic.messages_to_chat(body)
        # A part with no canonical form (a server tool, `mcp_servers`...) is refused here;
        # the pipeline then plans with `planning_form` and lets only an Anthropic upstream,
        # which takes the body as sent, serve the call.
        untranslatable.refuse(canonical)
        return canonical

    def planning_form(self, body: dict, call: ClientCall) -> dict | None:
        # The canonical form without the parts it cannot hold: close enough to plan, reserve
        # and estimate with, and it keeps the record of what it left out.
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
