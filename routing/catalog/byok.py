"""Which providers serve each model: configured ones only, and a workspace's own
credentials (BYOK) first. Pure functions over catalog snapshots, run when a catalog or a
workspace's view of it is built, never per request.

A provider with no credential (and not the demo kind) serves nothing; a model none of whose
providers is configured stays in the catalog, unconfigured, so that a call to it can say
which variable to set. A workspace with its own credential for a provider gets, for every
route through that provider, a copy carrying its credential (and base URL), priced at the
platform's BYOK fee (`Prices.percent`), tried before the platform's routes; those follow
only if the credential allows fallback.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from .snapshot import Catalog, ModelRoute, ProviderRoute


@dataclass(frozen=True, slots=True)
class OwnCredential:
    """A workspace's own credential for one catalog provider, decrypted."""

    provider: str  # the provider's slug
    credential: str = field(repr=False)  # never printed, logged or returned
    base_url: str = ""  # "" keeps the provider's base URL
    allow_fallback: bool = True  # the platform's credential may serve when this one fails


def arrange(
    route: ModelRoute,
    own: Mapping[str, ProviderRoute] | None = None,
    fallback: Mapping[str, bool] | None = None,
    percent: Decimal | None = None,
) -> ModelRoute:
    """`route` (with every provider) as it is served: the workspace's own providers
    (`own`, by slug) first, then the configured platform ones, leaving out a platform
    provider whose own replacement does not allow fallback. Unchanged routes are shared."""
    deployments = route.deployments
    mine: list[ModelRoute] = []
    platform: list[ModelRoute] = []
    for deployment in deployments:
        slug = deployment.provider.slug
        provider = own.get(slug) if own else None
        if provider is not None:
            prices = replace(deployment.prices, percent=percent)
            mine.append(replace(deployment, provider=provider, prices=prices, alternates=()))
            if fallback is not None and not fallback.get(slug, True):
                continue
        if deployment.provider.configured:
            platform.append(deployment)
    usable = mine + platform
    if not usable:  # nothing can serve it: kept as it is, to be refused by name
        return route if not route.alternates else replace(route, alternates=())
    if not mine and len(platform) == len(deployments):
        return route  # every provider configured, none replaced: the usual case
    first, *rest = usable
    return replace(first, alternates=tuple(rest))


def own_provider(platform: ProviderRoute, own: OwnCredential, workspace_id: int) -> ProviderRoute:
    """The platform's provider with the workspace's credential and base URL in its place.
    No per-process concurrency cap: that protects the platform's account, not this one."""
    return replace(
        platform,
        credential=own.credential,
        base_url=own.base_url.rstrip("/") or platform.base_url,
        owner=workspace_id,
        max_concurrency=0,
    )


def workspace_catalog(
    catalog: Catalog, credentials: tuple[OwnCredential, ...], workspace_id: int, fee: Decimal
) -> Catalog:
    """The catalog as one workspace sees it; the platform's own when it has no credentials."""
    if not credentials:
        return catalog
    by_slug = {c.provider: c for c in credentials}
    own: dict[str, ProviderRoute] = {}
    for route in catalog.raw:
        for deployment in route.deployments:
            slug = deployment.provider.slug
            if slug in by_slug and slug not in own:
                own[slug] = own_provider(deployment.provider, by_slug[slug], workspace_id)
    if not own:
        return catalog  # its credentials are for providers no enabled model uses
    fallback = {slug: c.allow_fallback for slug, c in by_slug.items()}
    percent = Decimal(fee)
    routes = [arrange(route, own, fallback, percent) for route in catalog.raw]
    return Catalog.build(list(catalog.raw), routes)
