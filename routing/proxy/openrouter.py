"""OpenRouter's account endpoints under /api/v1/, authenticated by a relay key (`sk-orca-…`)
like the rest of the relay and served beside it (orca/asgi.py), so a call to them never
passes through Django:

    GET /api/v1/key          the calling key: label, spend, caps, rate limits
    GET /api/v1/auth/key     the same (OpenRouter's older path)
    GET /api/v1/credits      the key's workspace: credited and spent
    GET /api/v1/models       the catalog in OpenRouter's model shape
    GET /api/v1/generation   one call of the workspace (the handler of /v1/generation)
    POST /api/v1/chat/completions   the relay's chat completions (OpenRouter's base URL)

Provisioning (/api/v1/keys, management keys) is Django's (workspaces/openrouter_api.py).
Errors use OpenRouter's envelope, `{"error": {"code": <status>, "message", "metadata"}}`.
"""

from decimal import Decimal

import orjson

from billing.spend import workspace_credits
from workspaces.keys import MANAGEMENT_KEY_PREFIX
from workspaces.openrouter import calling_key
from workspaces.selectors import management_key_workspace

from ..catalog.snapshot import ModelRoute
from ..wire import openrouter as wire
from .consumer import NotFoundConsumer
from .consumers import ChatCompletionsConsumer, GenerationConsumer, KeyedConsumer
from .errors import GatewayError
from .pipeline import run_db, state
from .pipeline.auth import catalog_of

_PICO_PER_MILLION_TOKENS = Decimal(10**6)  # pico-dollars per token -> USD per 1M tokens
_PICO_PER_USD = Decimal(10**12)


def _render(error: GatewayError) -> bytes:
    return orjson.dumps(wire.error(error.status, error.message, error.code, error.param))


class OpenRouterConsumer(KeyedConsumer):
    allowed_methods = ("GET",)

    def render_error(self, error: GatewayError) -> bytes:
        return _render(error)


class KeyInfoConsumer(OpenRouterConsumer):
    """GET /api/v1/key: what the calling key has spent (the usage records, plus the calls
    of the last moment not written yet), its caps and its rate limits."""

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        found = await run_db(calling_key, key.key_id, state.usage.unwritten())
        if found is None:  # deleted since it was cached
            raise GatewayError(401, "invalid API key", code="invalid_api_key")
        figures, free = found
        data = wire.current_key(figures, is_free_tier=free)
        await self.send_json(200, orjson.dumps({"data": data}))


class CreditsConsumer(OpenRouterConsumer):
    """GET /api/v1/credits: the key's workspace's ledger, credited and spent (USD). Besides
    an API key it takes a management key, with which OpenRouter's scripts read it: a read
    of the balance, never a call to a model (looked up in the database: this endpoint is
    not on any call's path)."""

    workspace_id: int | None = None

    async def preauthenticate(self) -> None:
        raw = self.surface.api_key(self.request) or ""
        if not raw.startswith(MANAGEMENT_KEY_PREFIX):
            await super().preauthenticate()
            assert self.key is not None
            self.workspace_id = self.key.workspace_id
            return
        workspace_id = await run_db(management_key_workspace, raw)
        if workspace_id is None:
            raise GatewayError(401, "invalid management key", code="invalid_api_key")
        self.workspace_id = workspace_id

    async def handle(self, body: bytes) -> None:
        if self.workspace_id is None:
            await self.preauthenticate()
        assert self.workspace_id is not None
        found = await run_db(workspace_credits, self.workspace_id, state.usage.unwritten())
        data = wire.credits(found.total_credits, found.total_usage)
        await self.send_json(200, orjson.dumps({"data": data}))


def model_facts(route: ModelRoute) -> wire.ModelFacts:
    """A catalog route's facts; its dearer-to-read prices (cache writes, reasoning, per-unit
    extras) come from the exact per-token prices the relay bills with."""
    prices = route.prices
    return wire.ModelFacts(
        public_id=route.public_id,
        kind=route.provider.kind,
        created=route.created,
        context_length=route.context_length,
        max_output_tokens=route.max_output_tokens,
        capabilities=route.capabilities,
        endpoint_types=route.endpoint_types,
        input_price=route.input_price,
        output_price=route.output_price,
        cached_input_price=route.cached_input_price,
        cache_write_price=_per_million(prices.cache_write),
        reasoning_price=_per_million(prices.reasoning),
        extra_prices=tuple(
            (unit, Decimal(pico) / _PICO_PER_USD) for unit, pico in sorted(prices.extra.items())
        ),
        share=prices.percent,
    )


def _per_million(pico_per_token: int | None) -> Decimal | None:
    return None if pico_per_token is None else Decimal(pico_per_token) / _PICO_PER_MILLION_TOKENS


def _list_query(value: str | None, name: str) -> list[str]:
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if value is not None and not items:
        raise GatewayError(400, f"`{name}` is empty", code="invalid_request", param=name)
    return items


class OpenRouterModelsConsumer(OpenRouterConsumer):
    """GET /api/v1/models: the models the key may use and can call (a provider has a
    credential), from the workspace's view of the catalog the relay plans with (its own
    credentials first), priced as the workspace pays (BYOK fee share, markup).
    `output_modalities` (text by default, embeddings, or all) and `supported_parameters`
    (every one listed) filter, as at OpenRouter."""

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        query = self.request.query
        modalities = _list_query(query("output_modalities"), "output_modalities") or ["text"]
        unknown = [m for m in modalities if m not in wire.OUTPUT_MODALITIES]
        if unknown:
            raise GatewayError(
                400,
                f"`output_modalities` may hold {', '.join(wire.OUTPUT_MODALITIES)}; "
                f"got {unknown[0]!r}",
                code="invalid_request",
                param="output_modalities",
            )
        wanted = set(_list_query(query("supported_parameters"), "supported_parameters"))
        items = []
        for route in (await catalog_of(key)).models():
            if not route.configured or not key.allows_model(route.public_id):
                continue  # only what the key can call
            facts = model_facts(route)
            kind = "text" if wire.is_text_model(facts) else "embeddings"
            if "all" not in modalities and kind not in modalities:
                continue
            if wanted and not wanted <= set(wire.supported_parameters(facts)):
                continue
            items.append(wire.model_object(facts, key.markup_percent))
        await self.send_json(200, orjson.dumps(wire.model_list(items)))


class OpenRouterGenerationConsumer(GenerationConsumer):
    """GET /api/v1/generation?id=: /v1/generation's handler, its answer with OpenRouter's
    generation fields (total_cost a number) and errors in its envelope."""

    def present(self, view: dict) -> dict:
        return wire.generation(view)

    def render_error(self, error: GatewayError) -> bytes:
        return _render(error)


class OpenRouterChatConsumer(ChatCompletionsConsumer):
    """POST /api/v1/chat/completions: the relay's chat completions (OpenRouter's SDKs send
    their calls under the same base URL as the account endpoints); errors before the answer
    begins in OpenRouter's envelope."""

    def render_error(self, error: GatewayError) -> bytes:
        return _render(error)


class OpenRouterNotFoundConsumer(NotFoundConsumer):
    def render_error(self, error: GatewayError) -> bytes:
        return _render(error)


OPENROUTER_ROUTES = {
    "api/v1/key": KeyInfoConsumer.as_asgi(),
    "api/v1/auth/key": KeyInfoConsumer.as_asgi(),
    "api/v1/credits": CreditsConsumer.as_asgi(),
    "api/v1/models": OpenRouterModelsConsumer.as_asgi(),
    "api/v1/generation": OpenRouterGenerationConsumer.as_asgi(),
    "api/v1/chat/completions": OpenRouterChatConsumer.as_asgi(),
}
