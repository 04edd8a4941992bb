"""Reads across the catalog."""

import logging
from dataclasses import replace

from django.db.models import Prefetch

from billing.pricing import Prices

from .catalog.byok import OwnCredential
from .catalog.snapshot import Catalog, ModelRoute, ProviderRoute, RouterSpec
from .models import Model, ModelAlternate, ProviderCredential, Router, StoredResponse

log = logging.getLogger(__name__)


def _provider_route(provider, cache: dict[int, ProviderRoute]) -> ProviderRoute:
    route = cache.get(provider.pk)
    if route is None:
        try:
            credential = provider.resolve_credential()
        except ValueError:
            log.error("provider %s: stored credential unreadable", provider.slug)
            credential = ""
        route = cache[provider.pk] = ProviderRoute(
            slug=provider.slug,
            kind=provider.kind,
            base_url=provider.base_url.rstrip("/"),
            credential=credential,
            max_concurrency=provider.max_concurrency,
            connect_timeout=provider.connect_timeout,
            first_byte_timeout=provider.first_byte_timeout,
            idle_timeout=provider.idle_timeout,
            total_timeout=provider.total_timeout,
            credential_env=provider.credential_env,
        )
    return route


def _prices(model: Model, input_price, output_price, cached_input_price) -> Prices:
    return Prices.from_catalog(
        input_price=input_price,
        output_price=output_price,
        cached_input_price=cached_input_price,
        cache_write_price=model.cache_write_price,
        reasoning_price=model.reasoning_price,
        extra_prices=model.extra_prices,
    )


def load_catalog() -> Catalog:
    """Every enabled model of an enabled provider, with credentials resolved once (a
    provider without one serves nothing until a workspace brings its own: catalog/byok.py)."""
    routes: list[ModelRoute] = []
    providers: dict[int, ProviderRoute] = {}
    alternates = Prefetch(
        "alternates",
        queryset=ModelAlternate.objects.filter(enabled=True, provider__enabled=True).select_related(
            "provider"
        ),
    )
    for model in (
        Model.objects.select_related("provider")
        .prefetch_related(alternates)
        .filter(enabled=True, provider__enabled=True)
    ):
        primary = ModelRoute(
            public_id=model.public_id,
            upstream_name=model.upstream_name,
            provider=_provider_route(model.provider, providers),
            input_price=model.input_price,
            output_price=model.output_price,
            cached_input_price=model.cached_input_price,
            context_length=model.context_length,
            max_output_tokens=model.max_output_tokens,
            capabilities=tuple(model.capabilities or ()),
            endpoint_types=tuple(model.endpoint_types or ()),
            created=int(model.created_at.timestamp()),
            weight=model.weight,
            prices=_prices(model, model.input_price, model.output_price, model.cached_input_price),
        )
        others = tuple(
            replace(
                primary,
                provider=_provider_route(alt.provider, providers),
                upstream_name=alt.upstream_name,
                weight=alt.weight,
                input_price=primary.input_price if alt.input_price is None else alt.input_price,
                output_price=primary.output_price if alt.output_price is None else alt.output_price,
                cached_input_price=(
                    primary.cached_input_price
                    if alt.cached_input_price is None
                    else alt.cached_input_price
                ),
                prices=_prices(
                    model,
                    primary.input_price if alt.input_price is None else alt.input_price,
                    primary.output_price if alt.output_price is None else alt.output_price,
                    primary.cached_input_price
                    if alt.cached_input_price is None
                    else alt.cached_input_price,
                ),
            )
            for alt in model.alternates.all()
        )
        routes.append(replace(primary, alternates=others) if others else primary)
    return Catalog.build(routes)


def stored_conversation(workspace_id: int, response_id: str) -> list[dict] | None:
    """The conversation behind a response id, if it belongs to this workspace."""

    row = (
        StoredResponse.objects.filter(workspace_id=workspace_id, response_id=response_id)
        .values("messages")
        .first()
    )
    return None if row is None else row["messages"]


def workspace_routers(workspace_id: int) -> dict[str, RouterSpec]:
    return {
        row.name: RouterSpec(
            name=row.name,
            candidates=tuple(row.candidates or ()),
            strategy=row.strategy,
            default_model=row.default_model,
            enabled=row.enabled,
        )
        for row in Router.objects.filter(workspace_id=workspace_id)
    }


def workspace_credentials(workspace_id: int) -> tuple[OwnCredential, ...]:
    """The workspace's own provider credentials (BYOK), decrypted, for its catalog view."""
    found = []
    for row in ProviderCredential.objects.filter(workspace_id=workspace_id).select_related(
        "provider"
    ):
        try:
            secret = row.credential()
        except ValueError:
            log.error("workspace %s: own credential for %s unreadable", workspace_id, row.provider)
            continue
        found.append(
            OwnCredential(
                provider=row.provider.slug,
                credential=secret,
                base_url=row.base_url,
                allow_fallback=row.allow_fallback,
            )
        )
    return tuple(found)


def configured_providers(workspace_id: int | None = None) -> set[int]:
    """Ids of the providers that can be called (for the models page), by the rule of
    ProviderRoute.configured, plus those the workspace has its own credential for."""
    from .models import Provider

    ids = set()
    for provider in Provider.objects.filter(enabled=True):
        try:
            credential = provider.resolve_credential()
        except ValueError:
            credential = ""
        if credential or not provider.credential_env or provider.kind == "demo":
            ids.add(provider.pk)
    if workspace_id is not None:
        ids.update(
            ProviderCredential.objects.filter(workspace_id=workspace_id).values_list(
                "provider_id", flat=True
            )
        )
    return ids
