"""GET /v1/models, /v1/models/{id} and Gemini's /v1beta/models[/{id}]: the catalog models a
key may use, in the shape, key header and error envelope of the client that asks."""

import orjson

from ..catalog.snapshot import ModelRoute
from ..wire import anthropic, gemini
from ..wire.canonical import InvalidRequest
from ..wire.openai_models import model_item, model_list
from .consumers import KeyedConsumer, invalid_request
from .errors import GatewayError
from .pipeline import resolve_model, state
from .request import Request
from .surfaces import CHAT, GENERATE, MESSAGES


def models_dialect(scope: dict) -> str:
    """Which client asks, by how it authenticates: Gemini's paths (`/v1beta/`), key header or
    `?key=`; Anthropic's `x-api-key` or `anthropic-version` (the anthropic SDK sends its key
    as a bearer token, always with `anthropic-version`); else OpenAI."""
    if scope["path"].startswith("/v1beta/"):
        return "gemini"
    request = Request(scope)
    if request.header(b"x-goog-api-key") or request.query("key"):
        return "gemini"
    if request.header(b"x-api-key") or request.header(b"anthropic-version"):
        return "anthropic"
    return "openai"


_SURFACES = {"openai": CHAT, "anthropic": MESSAGES, "gemini": GENERATE}


def _openai_item(route: ModelRoute) -> dict:
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


def _anthropic_item(route: ModelRoute) -> dict:
    return anthropic.model_object(
        public_id=route.public_id,
        created=route.created,
        context_length=route.context_length,
        max_output_tokens=route.max_output_tokens,
    )


def _gemini_item(route: ModelRoute) -> dict:
    return gemini.model_object(
        public_id=route.public_id,
        endpoint_types=route.endpoint_types,
        capabilities=route.capabilities,
        context_length=route.context_length,
        max_output_tokens=route.max_output_tokens,
    )


_ITEMS = {"openai": _openai_item, "anthropic": _anthropic_item, "gemini": _gemini_item}


class ModelsConsumer(KeyedConsumer):
    """The model list and one model (ids contain slashes) in OpenAI's, Anthropic's or
    Gemini's shape (`models_dialect`); a model the key may not use is not found."""

    allowed_methods = ("GET",)
    metric_surface = "models"
    dialect = "openai"

    async def __call__(self, scope, receive, send) -> None:
        self.dialect = models_dialect(scope)
        self.surface = _SURFACES[self.dialect]  # reads the key, renders errors
        await super().__call__(scope, receive, send)

    def render_error(self, error: GatewayError) -> bytes:
        return self.surface.render_error(error)

    async def handle(self, body: bytes) -> None:
        key = await self.authenticated()
        model_id = self.scope["url_route"]["kwargs"].get("model_id")
        try:
            if model_id is None:
                catalog = await state.catalog()
                answer = self._page([r for r in catalog.models() if key.allows_model(r.public_id)])
            else:
                answer = _ITEMS[self.dialect](await self._resolve(model_id, key))
        except InvalidRequest as exc:
            raise invalid_request(exc) from None
        await self.send_json(200, orjson.dumps(answer))

    def _page(self, routes: list[ModelRoute]) -> dict:
        query = self.request.query
        items = [_ITEMS[self.dialect](route) for route in routes]
        if self.dialect == "anthropic":
            return anthropic.model_list(
                items,
                limit=query("limit"),
                after_id=query("after_id"),
                before_id=query("before_id"),
            )
        if self.dialect == "gemini":
            return gemini.model_list(
                items,
                page_size=query("pageSize") or query("page_size"),
                page_token=query("pageToken") or query("page_token"),
            )
        return model_list(items)

    async def _resolve(self, model_id: str, key) -> ModelRoute:
        if self.dialect == "gemini":
            model_id = model_id.removeprefix("models/")  # as google-genai names a model
        try:
            return await resolve_model(model_id, key)
        except GatewayError as exc:
            if exc.code == "model_not_allowed":  # a model the key cannot use is not listed
                raise GatewayError(
                    404, f"model {model_id!r} does not exist", code="model_not_found"
                ) from None
            raise
