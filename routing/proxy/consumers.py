"""Relay endpoints (Channels consumers), routed in orca/asgi.py."""

import math
from typing import Any

import orjson

from .. import providers
from ..catalog.snapshot import ModelRoute
from ..wire import anthropic
from ..wire.canonical import InvalidRequest
from ..wire.openai_models import model_item, model_list
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


class CountTokensConsumer(SurfaceConsumer):
    """POST /v1/messages/count_tokens: Anthropic models ask upstream; others are estimated."""

    surface = MESSAGES

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        payload: Any = await read_json_body(body)  # JSON: validation checks its shape
        if isinstance(payload, dict):
            payload = {**payload, "max_tokens": payload.get("max_tokens") or 1}
        try:
            anthropic.validate_messages_request(payload)
            route = await resolve_model(payload["model"], key)
            if route.provider.kind == "anthropic":
                counted = await self._ask_upstream(route, payload)
            else:
                counted = _estimate_tokens(anthropic.messages_to_chat(payload))
        except InvalidRequest as exc:
            raise GatewayError(400, exc.message, code=exc.code, param=exc.param) from None
        await self.send_json(200, orjson.dumps({"input_tokens": counted}))

    async def _ask_upstream(self, route: ModelRoute, payload: dict) -> int:
        body = {k: v for k, v in payload.items() if k not in ("max_tokens", "stream")}
        body["model"] = route.upstream_name
        kind = providers.AnthropicChat()  # its send takes a `path`
        try:
            response = await kind.send(
                route, body, stream=False, timeouts=state.timeouts, path="/messages/count_tokens"
            )
            raw = await response.read()
        except providers.UpstreamFailure as exc:
            raise GatewayError(502, str(exc), code="upstream_error") from None
        if response.status >= 400:
            raise upstream_error(response, raw, route, self.surface.api_key(self.request) or "")
        try:
            return int(orjson.loads(raw)["input_tokens"])
        except (ValueError, KeyError, TypeError):
            raise GatewayError(
                502, "upstream count is not valid", code="upstream_invalid_response"
            ) from None


def _estimate_tokens(request: dict) -> int:
    """About four characters a token: the usual rule of thumb for English text and JSON."""
    characters = len(orjson.dumps(request["tools"])) if request.get("tools") else 0
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            characters += len(content)
        elif isinstance(content, list):
            characters += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
        if message.get("tool_calls"):
            characters += len(orjson.dumps(message["tool_calls"]))
    return max(1, math.ceil(characters / 4))


def _item(route: ModelRoute) -> dict:
    return model_item(
        public_id=route.public_id,
        created=route.created,
        owned_by=route.vendor,
        endpoint_types=route.endpoint_types,
        context_length=route.context_length,
        max_output_tokens=route.max_output_tokens,
        capabilities=route.capabilities,
        input_price=route.input_price,
        output_price=route.output_price,
        cached_input_price=route.cached_input_price,
    )


class ModelsConsumer(KeyedConsumer):
    """GET /v1/models and GET /v1/models/{id}; ids contain slashes."""

    allowed_methods = ("GET",)

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        model_id = self.scope["url_route"]["kwargs"].get("model_id")
        if model_id is None:
            catalog = await state.catalog()
            items = [_item(r) for r in catalog.models() if key.allows_model(r.public_id)]
            await self.send_json(200, orjson.dumps(model_list(items)))
            return
        try:
            route = await resolve_model(model_id, key)
        except GatewayError as exc:
            if exc.code == "model_not_allowed":  # a model the key cannot use is not listed
                raise GatewayError(
                    404, f"model {model_id!r} does not exist", code="model_not_found"
                ) from None
            raise
        await self.send_json(200, orjson.dumps(_item(route)))


class GeminiNotFoundConsumer(NotFoundConsumer):
    def render_error(self, error: GatewayError) -> bytes:
        return GENERATE.render_error(error)


class GenerationConsumer(KeyedConsumer):
    """GET /v1/generation?id=<request id>: tokens, cost, latency, router and fallbacks of one
    call of the key's workspace."""

    allowed_methods = ("GET",)

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        request_id = self.request.query("id") or ""
        if not request_id:
            raise GatewayError(
                400, "`id` is required", code="missing_required_parameter", param="id"
            )
        view = await find_generation(key, request_id)
        if view is None:
            raise GatewayError(
                404, f"generation {request_id!r} not found", code="not_found", param="id"
            )
        await self.send_json(200, orjson.dumps({"data": view}))
