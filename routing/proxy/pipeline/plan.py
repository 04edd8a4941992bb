"""Which models to try, in which order: the client's model, router or fallback chain, the
`provider` preferences, and each model's providers ordered by health, latency and price."""

import random
from dataclasses import dataclass, replace

from django.conf import settings

from workspaces.selectors import KeyContext

from ... import selection
from ...catalog.snapshot import ModelRoute
from ..errors import GatewayError
from ..operations import Operation
from .auth import catalog_of, configured, resolve_in, resolve_model, serving
from .state import state

ROUTER_PREFIX = "orcarouter/"
# Request fields that belong to Orca (routing), never forwarded upstream.
# Orca's own request fields: read, then taken out of what a pass-through call sends.
ORCA_FIELDS = ("models", "route", "provider", "prompt_ref", "prompt_variables")
MAX_CHAIN = 5


@dataclass(slots=True)
class Plan:
    """The models to try, best first, and how they were chosen."""

    targets: list[ModelRoute]
    levels: list[int]  # each target's index in the client's fallback chain
    router: str = ""
    chain: bool = False

    def headers(self, index: int) -> list[tuple[bytes, bytes]]:
        route = self.targets[index]
        headers = []
        if self.router:
            headers.append((b"x-orca-router", self.router.encode()))
            headers.append((b"x-orca-resolved-model", route.public_id.encode()))
        if self.chain:
            level = self.levels[index]
            headers.append((b"x-orca-fallback-level", str(level).encode()))
            if level > 0:
                headers.append((b"x-orca-fallback-model", route.public_id.encode()))
        return headers


def fallback_chain(payload: dict) -> list[str] | None:
    """The client's `models` list when `route` is "fallback" (as the OpenAI SDK sends
    `extra_body`); otherwise None and `models` is ignored."""
    route = payload.get("route")
    if route is None:
        return None
    if route != "fallback":
        raise GatewayError(400, '`route` must be "fallback"', code="invalid_value", param="route")
    models = payload.get("models")
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise GatewayError(
            400, "`models` must be an array of model ids", code="invalid_type", param="models"
        )
    if len(models) > MAX_CHAIN:
        raise GatewayError(
            400,
            f"`models` may list at most {MAX_CHAIN} models",
            code="invalid_value",
            param="models",
        )
    return models


def provider_preferences(payload: dict) -> selection.ProviderPreferences:
    raw = payload.get("provider")
    if raw is None:
        return selection.NO_PREFERENCES
    if not isinstance(raw, dict):
        raise GatewayError(
            400, "`provider` must be an object", code="invalid_type", param="provider"
        )

    def slugs(name: str) -> tuple[str, ...]:
        value = raw.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise GatewayError(
                400, f"`provider.{name}` must be an array of provider names",
                code="invalid_type", param=f"provider.{name}",
            )  # fmt: skip
        return tuple(value)

    allow = raw.get("allow_fallbacks", True)
    if not isinstance(allow, bool):
        raise GatewayError(
            400,
            "`provider.allow_fallbacks` must be a boolean",
            code="invalid_type",
            param="provider.allow_fallbacks",
        )
    sort = raw.get("sort")
    if sort is not None and sort not in selection.SORTS:
        raise GatewayError(
            400, f"`provider.sort` must be one of {list(selection.SORTS)}",
            code="invalid_value", param="provider.sort",
        )  # fmt: skip
    max_price = raw.get("max_price") or {}
    if not isinstance(max_price, dict):
        raise GatewayError(
            400,
            "`provider.max_price` must be an object",
            code="invalid_type",
            param="provider.max_price",
        )
    limits = {}
    for name in ("prompt", "completion"):
        value = max_price.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise GatewayError(
                400, f"`provider.max_price.{name}` must be a non-negative number (USD per 1M tokens)",  # noqa: E501
                code="invalid_value", param=f"provider.max_price.{name}",
            )  # fmt: skip
        limits[name] = None if value is None else float(value)
    return selection.ProviderPreferences(
        order=slugs("order"),
        only=slugs("only"),
        ignore=slugs("ignore"),
        allow_fallbacks=allow,
        sort=sort,
        max_prompt_price=limits["prompt"],
        max_completion_price=limits["completion"],
    )


ONLINE = "online"  # OpenRouter's web search variant: `model:online`


def _split_variant(name: str, request: dict | None = None) -> tuple[str, str | None]:
    """`openai/gpt-4.1:floor` -> (`openai/gpt-4.1`, "price").

    `:online` (alone or with one sort variant, in either order: `x:online:floor`) asks for
    a web search: it is stripped, and the canonical `request` gets `web_search_options: {}`
    unless it has some (the call then searches whichever model of a chain serves it). Every
    chat-family surface already asked for it in the client's body (what a pass-through
    call sends: surfaces/chat.py, responses.py, messages.py, generate.py); this covers the
    canonical form of any other."""
    if ":" not in name:
        return name, None  # most calls: no variant at all
    variant, online = None, False
    for _ in range(2):  # `:online` and one sort variant, in either order
        base, _, suffix = name.rpartition(":")
        if base and suffix in selection.VARIANTS and variant is None:
            name, variant = base, selection.VARIANTS[suffix]
        elif base and suffix == ONLINE and not online:
            name, online = base, True
    if online and request is not None and request.get("web_search_options") is None:
        request["web_search_options"] = {}
    return name, variant


def _expand(plan: "Plan", prefs: selection.ProviderPreferences, sort: list[str | None]) -> "Plan":
    """Each planned model becomes the list of its providers to try, in order."""
    targets: list[ModelRoute] = []
    levels: list[int] = []
    health = state.health
    for route, level, variant_sort in zip(plan.targets, plan.levels, sort, strict=True):
        if len(route.deployments) == 1 and prefs is selection.NO_PREFERENCES:
            targets.append(route)  # one provider and nothing to filter: nothing to order
            levels.append(level)
            continue
        model_prefs = prefs if variant_sort is None else replace(prefs, sort=variant_sort)
        deployments = selection.order_deployments(
            route,
            model_prefs,
            available=lambda d: health.available(d.health_key),
            latency=lambda d: health.latency(d.health_key),
            throughput=lambda d: health.throughput(d.health_key),
            pick=lambda items, weights: random.choices(items, weights)[0],
        )
        targets.extend(deployments)
        levels.extend([level] * len(deployments))
    if not targets:
        raise GatewayError(
            400,
            "no provider of the requested model matches the `provider` preferences",
            code="no_provider_matches",
            param="provider",
        )
    return Plan(targets, levels, router=plan.router, chain=plan.chain)


async def _router_plan(name: str, key: KeyContext, request: dict, operation: Operation) -> Plan:
    router_name = name.split("/", 1)[1]
    spec = (await state.routers(key.workspace_id)).get(router_name)
    if spec is None or not spec.enabled:
        raise GatewayError(
            404, f"router {name!r} does not exist", code="model_not_found", param="model"
        )
    catalog = await catalog_of(key)
    patterns = selection.compile_patterns(spec.candidates)
    pool = [
        r
        for r in catalog.models()
        if r.configured
        and operation.serves(r)
        and key.allows_model(r.public_id)
        and (patterns is None or patterns.match(r.public_id.lower()))
    ]
    needs = operation.needs(request, operation.estimate_prompt(request))
    fitting = [r for r in pool if selection.fits(r, needs)]
    live = [r for r in fitting if state.health.available(r.health_key)] or fitting
    ranked = selection.rank(live, spec.strategy, lambda r: state.health.latency(r.health_key))
    if not ranked and spec.default_model:
        ranked = [serving(configured(await resolve_model(spec.default_model, key)), operation)]
    if not ranked:
        raise GatewayError(
            400,
            f"no model of router {name!r} fits this request (it needs {needs.describe()})",
            code="no_model_fits",
            param="model",
        )
    ranked = ranked[: settings.ORCA_ROUTER_MAX_ATTEMPTS]
    return Plan(ranked, [0] * len(ranked), router=router_name)


async def plan(
    name: str,
    chain: list[str] | None,
    key: KeyContext,
    request: dict,
    prefs: selection.ProviderPreferences,
    operation: Operation,
) -> Plan:
    """The models to try for this call: the one asked for (a router's picks, or the
    client's fallback chain), each expanded into its providers in the order to try them."""
    if chain is None:
        if name.startswith(ROUTER_PREFIX):
            plan = await _router_plan(name, key, request, operation)
            return _expand(plan, prefs, [None] * len(plan.targets))
        base, variant = _split_variant(name, request)
        route = resolve_in(
            state.cached_view(key.workspace_id) or await state.view(key.workspace_id), base, key
        )
        return _expand(Plan([serving(configured(route), operation)], [0]), prefs, [variant])
    entries = list(dict.fromkeys([name, *chain]))[:MAX_CHAIN]
    targets: list[ModelRoute] = []
    levels: list[int] = []
    sorts: list[str | None] = []
    first_error: GatewayError | None = None
    for level, entry in enumerate(entries):
        variant = None
        try:
            if entry.startswith(ROUTER_PREFIX):
                route = (await _router_plan(entry, key, request, operation)).targets[0]
            else:
                base, variant = _split_variant(entry, request)
                route = serving(configured(await resolve_model(base, key)), operation)
        except GatewayError as exc:  # unresolvable, not allowed or not serving this: skipped
            first_error = first_error or exc
            continue
        targets.append(route)
        levels.append(level)
        sorts.append(variant)
    if not targets:
        assert first_error is not None
        raise first_error
    # Models cooling down are skipped, unless every one of them is.
    live = [
        i
        for i, r in enumerate(targets)
        if any(state.health.available(d.health_key) for d in r.deployments)
    ] or list(range(len(targets)))
    plan = Plan([targets[i] for i in live], [levels[i] for i in live], chain=True)
    return _expand(plan, prefs, [sorts[i] for i in live])
