"""Relay endpoints (Channels consumers), routed in orca/asgi.py."""

from collections.abc import Awaitable
from typing import Any

import orjson

from .. import providers
from ..catalog.snapshot import ModelRoute
from ..providers import UpstreamResponse
from ..providers import http as upstream_http
from ..providers.gemini.chat import request_headers as gemini_headers
from ..wire import anthropic, gemini, tokens
from ..wire.canonical import InvalidRequest
from .bodies import read_json_body
from .consumer import NotFoundConsumer, RelayConsumer
from .errors import GatewayError
from .pipeline import authenticate, find_generation, relay, resolve_model, state, upstream_error
from .surfaces import (
    CHAT,
    EMBED_CONTENT,
    EMBEDDINGS_SURFACE,
    GENERATE,
    MESSAGES,
    RESPONSES,
    Surface,
)
from .surfaces.messages import beta_headers

__all__ = [
    "ChatCompletionsConsumer",
    "CountTokensConsumer",
    "EmbedContentConsumer",
    "EmbeddingsConsumer",
    "GeminiCountTokensConsumer",
    "GeminiNotFoundConsumer",
    "GenerateContentConsumer",
    "GenerationConsumer",
    "MessagesConsumer",
    "ResponsesConsumer",
]


class KeyedConsumer(RelayConsumer):
    """An endpoint that takes an API key, sent the way `surface` reads it."""

    surface: Surface = CHAT

    async def preauthenticate(self) -> None:
        self.key = await authenticate(self.request, self.surface.api_key(self.request) or "")

    async def authenticated(self):
        """The KeyContext: the one `preauthenticate` found, else checked now."""
        if self.key is None:
            await self.preauthenticate()
        return self.key


class SurfaceConsumer(KeyedConsumer):
    """A relay endpoint speaking one client dialect."""

    endpoint = ""
    counts_requests = True

    @property
    def metric_surface(self) -> str:  # type: ignore[override]
        return self.surface.name

    async def handle(self, body: bytes) -> None:
        await relay(self, body, self.surface, self.endpoint)

    def render_error(self, error: GatewayError) -> bytes:
        return self.surface.render_error(error)


class ChatCompletionsConsumer(SurfaceConsumer):
    surface, endpoint = CHAT, "chat.completions"


class MessagesConsumer(SurfaceConsumer):
    surface, endpoint = MESSAGES, "messages"


class GenerateContentConsumer(SurfaceConsumer):
    surface, endpoint = GENERATE, "generateContent"


class ResponsesConsumer(SurfaceConsumer):
    surface, endpoint = RESPONSES, "responses"


class EmbeddingsConsumer(SurfaceConsumer):
    surface, endpoint = EMBEDDINGS_SURFACE, "embeddings"


class EmbedContentConsumer(SurfaceConsumer):
    surface, endpoint = EMBED_CONTENT, "embedContent"


def invalid_request(exc: InvalidRequest) -> GatewayError:
    return GatewayError(400, exc.message, code=exc.code, param=exc.param)


class _CountingConsumer(KeyedConsumer):
    """What both token counters share: the upstream's own count, read from its answer."""

    metric_surface = "count_tokens"

    def render_error(self, error: GatewayError) -> bytes:
        return self.surface.render_error(error)

    async def _upstream_count(
        self, route: ModelRoute, sending: Awaitable[UpstreamResponse], field: str
    ) -> int:
        try:
            response = await sending
            try:
                raw = await response.read()
            finally:
                response.close()
        except providers.UpstreamFailure as exc:
            raise GatewayError(502, str(exc), code="upstream_error") from None
        if response.status >= 400:
            raise upstream_error(response, raw, route, self.surface.api_key(self.request) or "")
        try:
            count = orjson.loads(raw)[field]
        except (ValueError, KeyError, TypeError):
            count = None
        if not isinstance(count, int) or isinstance(count, bool):
            raise GatewayError(
                502, "upstream count is not valid", code="upstream_invalid_response"
            ) from None
        return count


class CountTokensConsumer(_CountingConsumer):
    """POST /v1/messages/count_tokens: Anthropic models ask upstream (the client's body and
    `anthropic-beta` as sent); others are estimated."""

    surface = MESSAGES

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        payload: Any = await read_json_body(body)  # JSON: validation checks its shape
        try:
            anthropic.validate_messages_request(payload, count_tokens=True)
            route = await resolve_model(payload["model"], key)
            if route.provider.kind == "anthropic" and route.configured:
                counted = await self._ask_upstream(route, payload)
            else:
                counted = _estimate_tokens(anthropic.messages_to_chat(payload), route)
        except InvalidRequest as exc:
            raise invalid_request(exc) from None
        await self.send_json(200, orjson.dumps({"input_tokens": counted}))

    async def _ask_upstream(self, route: ModelRoute, payload: dict) -> int:
        body = {k: v for k, v in payload.items() if k not in ("max_tokens", "stream")}
        body["model"] = route.upstream_name
        kind = providers.AnthropicChat()  # its send takes a `path`
        sending = kind.count_tokens(
            route, body, state.timeouts_for(route.provider), beta_headers(self.request)
        )
        return await self._upstream_count(route, sending, "input_tokens")


class GeminiCountTokensConsumer(_CountingConsumer):
    """POST /v1beta/models/{model}:countTokens (and /v1/): Gemini models ask upstream (the
    client's body, the model named in it swapped); others are estimated from the canonical
    form, as the Anthropic counter does. Answers `{"totalTokens": N}`."""

    surface = GENERATE

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        payload: Any = await read_json_body(body)
        model = self.request.path_param("model")
        try:
            request = gemini.validate_count_tokens_request(payload)
            route = await resolve_model(model, key)
            if route.provider.kind == "gemini" and route.configured:
                counted = await self._ask_upstream(route, payload)
            else:
                chat = gemini.generate_to_chat(request, model=model, stream=False)
                counted = _estimate_tokens(chat, route)
        except InvalidRequest as exc:
            raise invalid_request(exc) from None
        await self.send_json(200, orjson.dumps({"totalTokens": counted}))

    async def _ask_upstream(self, route: ModelRoute, payload: dict) -> int:
        body = dict(payload)
        for name in ("generateContentRequest", "generate_content_request"):
            if isinstance(body.get(name), dict):  # its `model` is required upstream
                body[name] = {**body[name], "model": f"models/{route.upstream_name}"}
        url = f"{route.provider.base_url}/models/{route.upstream_name}:countTokens"
        sending = upstream_http.post(
            url, orjson.dumps(body), gemini_headers(route), state.timeouts_for(route.provider)
        )
        return await self._upstream_count(route, sending, "totalTokens")


def _estimate_tokens(request: dict, route: ModelRoute) -> int:
    """The tokenizer's count of a canonical request for a kind that cannot count upstream."""
    return max(1, tokens.estimate_chat_prompt(request, route.upstream_name))


class GeminiNotFoundConsumer(NotFoundConsumer):
    def render_error(self, error: GatewayError) -> bytes:
        return GENERATE.render_error(error)


MAX_REQUEST_ID = 40  # the usage table's request_id column


class GenerationConsumer(KeyedConsumer):
    """GET /v1/generation?id=<request id>: tokens, cost, latency, router and fallbacks of one
    call of the key's workspace."""

    allowed_methods = ("GET",)
    metric_surface = "generation"

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        request_id = self.request.query("id") or ""
        if not request_id:
            raise GatewayError(
                400, "`id` is required", code="missing_required_parameter", param="id"
            )
        if len(request_id) > MAX_REQUEST_ID:
            raise GatewayError(
                400,
                f"`id` is longer than a request id ({MAX_REQUEST_ID} characters)",
                code="invalid_request",
                param="id",
            )
        view = await find_generation(key, request_id)
        if view is None:
            raise GatewayError(
                404, f"generation {request_id!r} not found", code="not_found", param="id"
            )
        await self.send_json(200, orjson.dumps({"data": self.present(view)}))

    def present(self, view: dict) -> dict:
        """The answer's `data` (Orca's own generation view here)."""
        return view
