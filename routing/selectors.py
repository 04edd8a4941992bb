"""Reads across the catalog."""

import logging

from .catalog.snapshot import Catalog, ModelRoute, ProviderRoute, RouterSpec
from .models import Model, Router, StoredResponse

log = logging.getLogger(__name__)


def load_catalog() -> Catalog:
    """Every enabled model of an enabled provider, with credentials resolved once."""
    routes: list[ModelRoute] = []
    providers: dict[int, ProviderRoute] = {}
    for model in Model.objects.select_related("provider").filter(
        enabled=True, provider__enabled=True
    ):
        provider = providers.get(model.provider_id)
        if provider is None:
            try:
                credential = model.provider.resolve_credential()
            except ValueError:
                log.error("provider %s: stored credential unreadable", model.provider.slug)
                credential = ""
            p = model.provider
            provider = ProviderRoute(
                slug=p.slug,
                kind=p.kind,
                base_url=p.base_url.rstrip("/"),
                credential=credential,
                max_concurrency=p.max_concurrency,
                connect_timeout=p.connect_timeout,
                first_byte_timeout=p.first_byte_timeout,
                idle_timeout=p.idle_timeout,
                total_timeout=p.total_timeout,
            )
            providers[model.provider_id] = provider
        routes.append(
            ModelRoute(
                public_id=model.public_id,
                upstream_name=model.upstream_name,
                provider=provider,
                input_price=model.input_price,
                output_price=model.output_price,
                cached_input_price=model.cached_input_price,
                context_length=model.context_length,
                max_output_tokens=model.max_output_tokens,
                capabilities=tuple(model.capabilities or ()),
                endpoint_types=tuple(model.endpoint_types or ()),
                created=int(model.created_at.timestamp()),
            )
        )
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
