"""What every client surface (one dialect of one endpoint family) does: read the API key
and validate from the request value, reach the family's canonical form, and render answers,
streams and errors. The translation itself lives in routing.wire."""

from dataclasses import dataclass, field
from typing import Any

import orjson

from ...wire import gemini
from ...wire.openai_errors import GATEWAY_ERROR_TYPE, error_bytes
from ..errors import GatewayError
from ..operations import Operation
from ..request import Request


def cost_fragment(cost: bytes) -> orjson.Fragment:
    """The cost (USD, already formatted exactly) as a JSON number: no float rounding."""
    return orjson.Fragment(cost)


@dataclass(slots=True)
class ClientCall:
    """What a validated client request asks for, in dialect-neutral terms, and the few
    dialect options its answer needs."""

    model: str
    stream: bool
    include_usage: bool = True  # whether the client sees a usage-only chunk (chat only)
    # The client's body as validated, Orca's routing fields taken out by the pipeline (what
    # a pass-through call sends, what Responses echoes, what a keeping workspace stores).
    body: dict = field(default_factory=dict)
    as_array: bool = False  # Gemini streamGenerateContent without alt=sse: one JSON array
    include_thoughts: bool = False  # Gemini: thought parts in the answer
    action: str = ""  # Gemini embeddings: "embedContent" or "batchEmbedContents"
    encoding_format: str = "float"  # OpenAI embeddings: "float" or "base64"
    # Responses API: the new response's id and time, and the conversation it continues.
    response_id: str = ""
    created_at: int = 0
    history: list[dict] | None = None
    # Why a translated call cannot serve the request (Responses: a previous_response_id Orca
    # does not hold); a native upstream may still take it as sent.
    untranslatable: GatewayError | None = None
    # Client headers a same-format upstream gets as sent (Anthropic's anthropic-beta).
    forward_headers: dict[str, str] = field(default_factory=dict)


class Surface:
    name: str
    operation: Operation
    # Whether the body may carry Orca's `route`/`models` fallback chain (Gemini's own
    # bodies have no place for it).
    routing_fields = True

    def api_key(self, request: Request) -> str | None:
        value = request.header(b"authorization")
        if value and value[:7].lower() == "bearer ":
            return value[7:].strip() or None
        return None

    def validate(self, body: Any, request: Request) -> ClientCall:
        raise NotImplementedError

    def to_canonical(self, body: dict, call: ClientCall) -> dict:
        raise NotImplementedError

    def render_completion(self, completion: dict, call: ClientCall) -> bytes:
        raise NotImplementedError

    def planning_form(self, body: dict, call: ClientCall) -> dict | None:
        """For a request that cannot be translated but that a native upstream may take as
        sent: a stand-in canonical form to plan and reserve with. None: refuse it."""
        return None

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

    def with_cost(self, body: bytes, cost: bytes) -> bytes:
        if not self.carries_cost:
            return body
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        if isinstance(data, dict) and isinstance(data.get("usage"), dict):
            return self.completion_with_cost(data, cost)
        return body

    def completion_with_cost(self, data: dict, cost: bytes) -> bytes:
        """A parsed answer, serialised with its cost in `usage` (when it has one)."""
        if self.carries_cost and isinstance(data.get("usage"), dict):
            data["usage"]["cost"] = cost_fragment(cost)
        return orjson.dumps(data)

    def chunk_with_cost(self, chunk: dict, cost: bytes) -> dict:
        return chunk


class GoogleSurface(Surface):
    """What every Gemini-dialect surface shares: Google's ways of sending the key, Google's
    error envelope, no Orca routing fields in the body, and the cost in X-Orca-Cost only
    (google-genai's response types are strict)."""

    routing_fields = False
    carries_cost = False

    def api_key(self, request: Request) -> str | None:
        # The x-goog-api-key header, or `?key=` in the query; else a bearer token.
        key = request.header(b"x-goog-api-key") or request.query("key")
        return key or super().api_key(request)

    def render_error(self, error: GatewayError) -> bytes:
        return orjson.dumps(gemini.error_envelope(error.status, error.message))
