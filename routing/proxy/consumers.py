"""Relay endpoints (Channels consumers), routed in orca/asgi.py."""

import orjson

from ..catalog.snapshot import ModelRoute
from ..wire.openai_models import model_item, model_list
from .consumer import RelayConsumer
from .errors import GatewayError
from .pipeline import authenticate, bearer_token, relay_chat, resolve_model
from .state import state


class ChatCompletionsConsumer(RelayConsumer):
    async def handle(self, body: bytes) -> None:
        await relay_chat(self, body)


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


class ModelsConsumer(RelayConsumer):
    """GET /v1/models and GET /v1/models/{id}; ids contain slashes."""

    allowed_methods = ("GET",)

    async def handle(self, body: bytes) -> None:
        key = await authenticate(self, bearer_token(self))
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
