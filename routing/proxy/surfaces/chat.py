"""OpenAI Chat Completions: the chat family's canonical dialect, so the surface translates
nothing; the other chat dialects are messages.py, generate.py and responses.py."""

from typing import Any

import orjson

from ...wire import openai_chat, tools
from ...wire.openai_chat import HOSTED_TOOL_CALLS
from ...wire.openai_errors import GATEWAY_ERROR_TYPE, error_body
from ...wire.sse import DONE, encode_data
from ..errors import GatewayError
from ..operations import CHAT as CHAT_OPERATION
from ..request import Request
from .base import ClientCall, Surface, cost_fragment

SEARCH_KEY = "x_orca_search"  # canonical.EXTENSION_FIELDS: knobs for the translators only


def asks_online(model: str) -> bool:
    """Whether a model id ends in `:online` (OpenRouter's web search variant), alone or
    beside one sort variant (`x:online:floor`); planning strips it (pipeline/plan.py)."""
    if ":" not in model:
        return False  # most calls: no variant at all
    suffixes = model.rsplit("/", 1)[-1].split(":")[1:]
    return "online" in suffixes[-2:]


def without_extensions(answer: dict) -> dict:
    """A canonical answer or chunk as a Chat client sees it: Orca's metering extension (the
    hosted tool calls a Responses upstream ran) left out of `usage`."""
    usage = answer.get("usage")
    if isinstance(usage, dict) and HOSTED_TOOL_CALLS in usage:
        usage = {k: v for k, v in usage.items() if k != HOSTED_TOOL_CALLS}
        return {**answer, "usage": usage}
    return answer


class ChatStreamEncoder:
    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def start(self) -> bytes:
        return b""

    def feed(self, chunk: dict) -> bytes:
        if not chunk.get("choices"):
            if not self.include_usage:
                return b""
            chunk = without_extensions(chunk)
        return encode_data(orjson.dumps(chunk))

    def finish(self) -> bytes:
        return DONE


class CustomToolStreamEncoder(ChatStreamEncoder):
    """A translated stream to a client that offered custom tools: their calls are streamed
    as custom tool call deltas, as render_completion answers them (tools.CustomCallChunks)."""

    def __init__(self, include_usage: bool, names: frozenset[str]) -> None:
        super().__init__(include_usage)
        self.custom = tools.CustomCallChunks(names)

    def feed(self, chunk: dict) -> bytes:
        return super().feed(self.custom.chunk(chunk))


def openai_stream_error(error: GatewayError) -> bytes:
    payload = error_body(error.message, code=error.code, type_=error.type or GATEWAY_ERROR_TYPE)
    return encode_data(orjson.dumps(payload)) + DONE


class ChatSurface(Surface):
    name = "chat"
    operation = CHAT_OPERATION

    def completion_with_cost(self, data: dict, cost: bytes) -> bytes:
        # A pass-through answer may carry the search count Orca added to meter it.
        return super().completion_with_cost(without_extensions(data), cost)

    def chunk_with_cost(self, chunk: dict, cost: bytes) -> dict:
        if isinstance(chunk.get("usage"), dict):
            chunk["usage"] = {**chunk["usage"], "cost": cost_fragment(cost)}
        return chunk

    def validate(self, body: Any, request: Request) -> ClientCall:
        checked = openai_chat.validate_chat_request(body)
        return ClientCall(checked.model, checked.stream, checked.include_usage)

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        """The body itself, but: `model:online` asks for a search in it (so a pass-through
        call sends it too), and Orca's `x_orca_search` leaves the body (what a pass-through
        call sends an OpenAI-compatible upstream, which would refuse it) for a canonical
        copy, where the translators read it."""
        if asks_online(call.model) and body.get("web_search_options") is None:
            body["web_search_options"] = {}
        if SEARCH_KEY in body:
            canonical = dict(body)
            del body[SEARCH_KEY]
            return canonical
        return body

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        # Translated answers only (a pass-through one is the upstream's own body). Custom
        # tools went upstream as functions: their calls come back as custom tool calls.
        if call.body.get("tools"):
            completion = tools.custom_calls_for_chat(completion, call.body["tools"])
        return orjson.dumps(without_extensions(completion))

    def stream_encoder(self, call: ClientCall) -> ChatStreamEncoder:
        # Translated streams only. A client's custom tools went upstream as functions.
        if call.body.get("tools"):
            names = tools.custom_tool_names(call.body["tools"])
            if names:
                return CustomToolStreamEncoder(call.include_usage, names)
        return ChatStreamEncoder(call.include_usage)

    def stream_error(self, error: GatewayError, encoder=None) -> bytes:
        return openai_stream_error(error)


CHAT = ChatSurface()
