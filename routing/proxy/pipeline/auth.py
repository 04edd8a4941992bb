"""Who is calling: the API key, checked from memory on the usual call, and the models it
may use."""

import time

from workspaces.keys import MANAGEMENT_KEY_PREFIX, hash_key, looks_like_key
from workspaces.selectors import KeyContext

from ...catalog.snapshot import AmbiguousModel, Catalog, ModelRoute
from ..errors import GatewayError
from ..operations import Operation
from ..request import Request
from .refusals import KeyRefused
from .state import state


async def authenticate(request: Request, raw_key: str | None) -> KeyContext:
    if not state.started:
        await state.ensure_started()
    if not raw_key:
        raise GatewayError(
            401,
            "missing API key: send 'Authorization: Bearer sk-orca-...'",
            code="missing_api_key",
        )
    context = None
    if looks_like_key(raw_key):
        key_hash = hash_key(raw_key)
        hit, context = state.cached_key(key_hash)  # the usual case: no await at all
        if not hit:
            context = await state.key(key_hash)
    if context is None:
        # A management key is looked up like any other (ApiKey has no such hash, and the miss
        # is cached); only the message, off the hot path, tells the caller what went wrong.
        if raw_key.startswith(MANAGEMENT_KEY_PREFIX):
            raise GatewayError(
                401,
                "management keys (sk-orca-mgmt-...) are not accepted here; "
                "send an API key: 'Authorization: Bearer sk-orca-...'",
                code="invalid_api_key",
            )
        raise GatewayError(401, "invalid API key", code="invalid_api_key")
    # A known key refused: KeyRefused carries it, so the relay can log the refusal.
    if not context.enabled:
        raise KeyRefused(context, 401, "this API key has been revoked", code="invalid_api_key")
    if context.is_expired(time.time()):
        raise KeyRefused(context, 401, "this API key has expired", code="invalid_api_key")
    if not context.allows_ip(request.client_ip()):
        raise KeyRefused(
            context, 403, "this API key may not be used from your IP address",
            code="ip_not_allowed",
        )  # fmt: skip
    return context


async def resolve_model(name: str, key: KeyContext) -> ModelRoute:
    view = state.cached_view(key.workspace_id) or await state.view(key.workspace_id)
    return resolve_in(view, name, key)


async def catalog_of(key: KeyContext) -> Catalog:
    """The catalog as the key's workspace sees it (its own provider credentials first)."""
    return state.cached_view(key.workspace_id) or await state.view(key.workspace_id)


def configured(route: ModelRoute) -> ModelRoute:
    """The route, if some provider of it has a credential (the platform's or the
    workspace's own): else a 503 naming what to set, before anything is sent or held."""
    if route.configured:
        return route
    provider = route.provider
    raise GatewayError(
        503,
        f"model {route.public_id!r} is not configured: its provider {provider.slug!r} has no "
        f"credential; set {provider.credential_env} in the gateway's environment, or add "
        f"the workspace's own key for {provider.slug!r} (BYOK)",
        code="provider_not_configured",
        param="model",
    )


def resolve_in(catalog: Catalog, name: str, key: KeyContext) -> ModelRoute:
    try:
        route = catalog.resolve(name)
    except AmbiguousModel as exc:
        raise GatewayError(
            400,
            f"model {name!r} is ambiguous; use one of {', '.join(exc.candidates)}",
            code="ambiguous_model",
            param="model",
        ) from None
    if route is None:
        raise GatewayError(
            404, f"model {name!r} does not exist", code="model_not_found", param="model"
        )
    if not key.allows_model(route.public_id):
        raise GatewayError(
            403,
            f"this API key may not use model {route.public_id!r}",
            code="model_not_allowed",
            param="model",
        )
    return route


def serving(route: ModelRoute, operation: Operation) -> ModelRoute:
    """The route, if its model serves this endpoint family (its catalog `endpoints`)."""
    if not operation.serves(route):
        raise GatewayError(
            400,
            f"model {route.public_id!r} does not serve {operation.endpoint_type} requests",
            code="unsupported_endpoint",
            param="model",
        )
    return route
