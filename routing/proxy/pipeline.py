"""The request pipeline: authenticate, validate, resolve, relay, meter, record.

This is the only module that orchestrates across apps (workspaces for keys, billing for
usage), and it does so through their services and selectors.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import orjson
from django.conf import settings

from billing.limits import Limits, Refused, Ticket
from billing.pricing import Metered, cost_pico, estimate_pico, format_usd
from billing.selectors import balance_pico, seed_state
from billing.services import UsageEvent
from workspaces.keys import hash_key, looks_like_key
from workspaces.selectors import KeyContext

from .. import providers, selection
from ..catalog.snapshot import AmbiguousModel, ModelRoute
from ..providers import UpstreamFailure, UpstreamResponse
from ..selectors import stored_conversation
from ..services import store_response
from ..wire import openai_chat, responses
from ..wire.canonical import InvalidRequest
from ..wire.openai_errors import parse_upstream_error
from ..wire.usage import Usage
from .bodies import read_json_body
from .consumer import RelayConsumer
from .errors import GatewayError, scrub, scrub_bytes
from .state import run_db, state
from .streams import (
    failure_error,
    kept_exchange,
    prepend,
    relay_native_stream,
    relay_translated_stream,
)
from .surfaces import Surface

log = logging.getLogger(__name__)
CLIENT_CLOSED = 499
ROUTER_PREFIX = "orcarouter/"  # nginx's convention for "the client went away"


# --- authentication and model resolution ---------------------------------------------------


async def authenticate(consumer: RelayConsumer, raw_key: str | None) -> KeyContext:
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
        raise GatewayError(401, "invalid API key", code="invalid_api_key")
    if not context.enabled:
        raise GatewayError(401, "this API key has been revoked", code="invalid_api_key")
    if context.is_expired(time.time()):
        raise GatewayError(401, "this API key has expired", code="invalid_api_key")
    if not context.allows_ip(consumer.client_ip()):
        raise GatewayError(
            403, "this API key may not be used from your IP address", code="ip_not_allowed"
        )
    return context


async def resolve_model(name: str, key: KeyContext) -> ModelRoute:
    return resolve_in(state.cached_catalog or await state.catalog(), name, key)


def resolve_in(catalog, name: str, key: KeyContext) -> ModelRoute:
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


# --- usage ---------------------------------------------------------------------------------


@dataclass(slots=True)
class CallRecord:
    """What one relayed call did, filled in as it goes and written once at the end."""

    key: KeyContext
    route: ModelRoute
    endpoint: str
    streamed: bool
    started: float = field(default_factory=time.perf_counter)
    status: int = 0
    error_code: str = ""
    usage: Usage | None = None
    first_byte_at: float | None = None
    router: str = ""
    fallback_level: int | None = None
    attempts: list[dict] = field(default_factory=list)
    prompt_estimate: int = 0
    cost_pico: int = 0
    charged: bool = False  # cost_pico is final (a non-stream answer was priced)
    exchange: tuple[str, str, int] | None = None
    ticket: Ticket | None = None  # the admission's reservation, for progress reports

    def _cost(self, usage: Usage) -> int:
        if not usage.reported and not usage.prompt_tokens:
            usage.prompt_tokens = self.prompt_estimate  # recorded as the estimate it is
        used = Metered(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
        )
        return cost_pico(self.route.prices, used, self.key.markup_percent)

    def charge(self) -> int:
        """What the call costs the workspace: nothing unless it was served, or is a stream
        whose output reached the client before it stopped (the client left, the upstream
        broke off); nothing for an empty completion. A stream cut short is charged for the
        output delivered, counted from its chunks when the upstream never sent usage, with
        the prompt estimated the same way."""
        usage = self.usage
        if usage is None or not usage.completion_tokens:
            return 0
        if self.status not in (200, CLIENT_CLOSED) and not (self.streamed and self.delivered):
            return 0
        return self._cost(usage)

    def progress(self, usage_so_far: Callable[[], Usage]) -> None:
        """Tell the reservation what a running stream has delivered, so that the call is
        billed even if this process dies before it settles. The limiter takes one report a
        second; in between this costs a clock reading."""
        ticket = self.ticket
        if ticket is None or time.monotonic() < ticket.next_progress:
            return
        usage = usage_so_far()
        if usage.completion_tokens:
            cost = self._cost(usage)
            state.limiter.progress(ticket, cost, usage.prompt_tokens, usage.completion_tokens)

    def mark_first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()

    @property
    def delivered(self) -> bool:
        """Upstream output reached the client (set when the first relayed bytes went out)."""
        return self.first_byte_at is not None

    def to_event(self, request_id: str) -> UsageEvent:
        usage = self.usage or Usage(reported=False)
        ttft = self.first_byte_at
        return UsageEvent(
            request_id=request_id,
            workspace_id=self.key.workspace_id,
            api_key_id=self.key.key_id,
            endpoint=self.endpoint,
            model=self.route.public_id,
            upstream_model=self.route.upstream_name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            usage_reported=usage.reported,
            status_code=self.status,
            error_code=self.error_code,
            streamed=self.streamed,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            ttft_ms=None if ttft is None else int((ttft - self.started) * 1000),
            created_at=datetime.now(UTC),
            router=f"{ROUTER_PREFIX}{self.router}" if self.router else "",
            fallback_level=self.fallback_level,
            attempts=orjson.dumps(self.attempts).decode() if self.attempts else "[]",
            cost_pico=self.cost_pico,
            exchange=self.exchange,
        )


# --- upstream errors -----------------------------------------------------------------------


def upstream_error(
    response: UpstreamResponse, raw: bytes, route: ModelRoute, client_key: str
) -> GatewayError:
    """Keep the upstream's status and message, minus any credential it echoed back."""
    status = response.status
    message, type_, param, code = parse_upstream_error(raw)
    message = scrub(message, route.provider.credential, client_key)
    if status == 401 or (status == 400 and "API key not valid" in message):
        # Our credential for the provider was refused (Gemini says so with a 400); the
        # client's key is fine.
        return GatewayError(
            502,
            f"upstream rejected the gateway's credentials: {message}",
            code="upstream_auth_failed",
        )
    if status == 529:  # Anthropic's "overloaded"; other dialects know it as 503
        status = 503
    retry_after = response.headers.get("retry-after") if status in (429, 503) else None
    return GatewayError(
        status,
        message,
        code=code,
        param=param,
        type_=type_ or "upstream_error",
        headers=[(b"retry-after", retry_after.encode())] if retry_after else None,
    )


# --- the relay ------------------------------------------------------------------------------


def _json_error() -> GatewayError:
    return GatewayError(
        502, "upstream returned a response that is not valid JSON", code="upstream_invalid_response"
    )


# Request fields that belong to Orca (routing), never forwarded upstream.
ORCA_FIELDS = ("models", "route", "provider")
MAX_CHAIN = 5


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


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


def _fallback_chain(payload: dict) -> list[str] | None:
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


def _provider_preferences(payload: dict) -> selection.ProviderPreferences:
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


def _split_variant(name: str) -> tuple[str, str | None]:
    """`openai/gpt-4.1:floor` -> (`openai/gpt-4.1`, "price")."""
    base, _, suffix = name.rpartition(":")
    if base and suffix in selection.VARIANTS:
        return base, selection.VARIANTS[suffix]
    return name, None


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


async def _router_plan(name: str, key: KeyContext, request: dict) -> Plan:
    router_name = name.split("/", 1)[1]
    spec = (await state.routers(key.workspace_id)).get(router_name)
    if spec is None or not spec.enabled:
        raise GatewayError(
            404, f"router {name!r} does not exist", code="model_not_found", param="model"
        )
    catalog = await state.catalog()
    patterns = selection.compile_patterns(spec.candidates)
    pool = [
        r
        for r in catalog.models()
        if "chat" in r.endpoint_types
        and key.allows_model(r.public_id)
        and (patterns is None or patterns.match(r.public_id.lower()))
    ]
    needs = selection.needs_of(request)
    fitting = [r for r in pool if selection.fits(r, needs)]
    live = [r for r in fitting if state.health.available(r.health_key)] or fitting
    ranked = selection.rank(live, spec.strategy, lambda r: state.health.latency(r.health_key))
    if not ranked and spec.default_model:
        ranked = [await resolve_model(spec.default_model, key)]
    if not ranked:
        raise GatewayError(
            400,
            f"no model of router {name!r} fits this request (it needs {needs.describe()})",
            code="no_model_fits",
            param="model",
        )
    ranked = ranked[: settings.ORCA_ROUTER_MAX_ATTEMPTS]
    return Plan(ranked, [0] * len(ranked), router=router_name)


async def _plan(
    name: str,
    chain: list[str] | None,
    key: KeyContext,
    request: dict,
    prefs: selection.ProviderPreferences,
) -> Plan:
    if chain is None:
        if name.startswith(ROUTER_PREFIX):
            plan = await _router_plan(name, key, request)
            return _expand(plan, prefs, [None] * len(plan.targets))
        base, variant = _split_variant(name)
        route = resolve_in(state.cached_catalog or await state.catalog(), base, key)
        return _expand(Plan([route], [0]), prefs, [variant])
    entries = list(dict.fromkeys([name, *chain]))[:MAX_CHAIN]
    targets: list[ModelRoute] = []
    levels: list[int] = []
    sorts: list[str | None] = []
    first_error: GatewayError | None = None
    for level, entry in enumerate(entries):
        variant = None
        try:
            if entry.startswith(ROUTER_PREFIX):
                route = (await _router_plan(entry, key, request)).targets[0]
            else:
                base, variant = _split_variant(entry)
                route = await resolve_model(base, key)
        except GatewayError as exc:  # unresolvable or not allowed: skipped
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


async def relay(consumer: RelayConsumer, body: bytes, surface: Surface, endpoint: str) -> None:
    """Serve one relay call on any client surface, against any provider kind, trying the
    planned models in order until one answers (never switching once bytes reached the
    client)."""
    raw_key = surface.api_key(consumer) or ""
    # A large body's key was checked before the body was read (consumer.preauthenticate).
    key = consumer.key or await authenticate(consumer, raw_key)
    payload = await read_json_body(body)
    try:
        call = surface.validate(payload, consumer)
    except InvalidRequest as exc:
        raise GatewayError(400, exc.message, code=exc.code, param=exc.param) from None
    assert isinstance(payload, dict)
    chain = _fallback_chain(payload) if surface.name != "generate" else None
    prefs = _provider_preferences(payload)
    if any(field in payload for field in ORCA_FIELDS):
        payload = {k: v for k, v in payload.items() if k not in ORCA_FIELDS}
    call.extra["body"] = payload
    if surface.name == "responses":
        call.extra["history"] = await _conversation_so_far(payload, key)
    try:
        canonical_request = surface.to_canonical(payload, call)
    except InvalidRequest as exc:
        raise GatewayError(400, exc.message, code=exc.code, param=exc.param) from None
    plan = await _plan(call.model, chain, key, canonical_request, prefs)
    prompt_estimate = selection.estimate_tokens(canonical_request)
    ticket = await _admit(
        key, plan, canonical_request, prompt_estimate, consumer.request_id, endpoint
    )

    record = CallRecord(
        key=key,
        route=plan.targets[0],
        endpoint=endpoint,
        streamed=call.stream,
        router=plan.router,
        prompt_estimate=prompt_estimate,
        ticket=ticket,
    )
    attempt = _Attempt(consumer, surface, call, record, raw_key, canonical_request, payload, key)
    try:
        errors: list[GatewayError] = []
        several = len(plan.targets) > 1
        for index, route in enumerate(plan.targets):
            record.route = route
            if plan.chain:
                record.fallback_level = plan.levels[index]
            consumer.extra_headers = plan.headers(index)
            error = await attempt.run(route, may_retry=several)
            if error is None:
                return
            record.attempts.append({"model": route.public_id, "status": error.status})
            errors.append(error)
        if all(e.status == 400 for e in errors):
            raise errors[0]  # no model could take the request as it stands: say why
        tried = ", ".join(f"{a['model']} ({a['status']})" for a in record.attempts)
        raise GatewayError(502, f"every attempt failed: {tried}", code="fallback_exhausted")
    except GatewayError as exc:
        record.status, record.error_code = exc.status, exc.code or ""
        raise
    except asyncio.CancelledError:
        record.status, record.error_code = CLIENT_CLOSED, "client_closed"
        raise
    finally:
        if record.status == 0:
            record.status, record.error_code = 500, "internal_error"
        if not record.charged:
            record.cost_pico = record.charge()
        usage = record.usage
        used_tokens = (usage.prompt_tokens + usage.completion_tokens) if usage else 0
        try:
            # Queued, not awaited; the status and usage stay in Redis until the record is in.
            state.limiter.settle(ticket, record.cost_pico, used_tokens, record.status, usage)
        except Exception:  # the reservation stays held: the balance errs on the safe side
            log.exception("request %s: settling the reservation failed", consumer.request_id)
        event = record.to_event(consumer.request_id)
        if event.status_code == 200 and event.completion_tokens and event.latency_ms:
            state.health.record_throughput(
                record.route.health_key, event.completion_tokens * 1000 / event.latency_ms
            )
        state.usage.add(event)


async def _admit(
    key: KeyContext, plan: Plan, request: dict, prompt_estimate: int, request_id: str, endpoint: str
) -> Ticket:
    """Reserve the most the call can cost (at the dearest planned model) and count it against
    the rate limits, or refuse it before any upstream is called."""
    asked = request.get("max_completion_tokens") or request.get("max_tokens")

    def max_output(route: ModelRoute) -> int:
        if isinstance(asked, int) and asked > 0:
            return asked
        return route.max_output_tokens or DEFAULT_MAX_OUTPUT

    estimate = max(
        estimate_pico(r.prices, prompt_estimate, max_output(r), key.markup_percent)
        for r in plan.targets
    )
    tokens = prompt_estimate + max(max_output(r) for r in plan.targets)
    cached = _limits_cache.get(key.key_id)
    if cached is not None and cached[0] is key:
        limits = cached[1]
    else:
        limits = _limits_of(key)
        if len(_limits_cache) > 100_000:
            _limits_cache.clear()
        _limits_cache[key.key_id] = (key, limits)
    try:
        return await state.limiter.admit(
            key.workspace_id,
            key.key_id,
            estimate,
            tokens,
            limits,
            lambda: run_db(balance_pico, key.workspace_id),
            hold_id=request_id,
            load_state=lambda finished: run_db(seed_state, key.workspace_id, finished),
            model=plan.targets[0].public_id,
            endpoint=endpoint,
        )
    except Refused as refused:
        headers = (
            [(b"retry-after", str(refused.retry_after).encode())] if refused.retry_after else None
        )
        raise GatewayError(
            refused.status, refused.message, code=refused.code, headers=headers
        ) from None
    except Exception:
        # Without the shared counters no balance or limit can be honoured: refuse, safely.
        log.exception("usage limits unavailable")
        raise GatewayError(
            503, "usage limits cannot be checked right now; try again shortly",
            code="limits_unavailable", headers=[(b"retry-after", b"5")],
        ) from None  # fmt: skip


DEFAULT_MAX_OUTPUT = 4096  # for the reservation when neither request nor model sets one

# Per key id: the cached KeyContext the limits were read from, and the limits. A reloaded
# context (another object) is read again.
_limits_cache: dict[int, tuple[KeyContext, Limits]] = {}


def _limits_of(key: KeyContext) -> Limits:
    return Limits(
        workspace_rpm=key.workspace_rpm,
        workspace_tpm=key.workspace_tpm,
        key_rpm=key.key_rpm,
        key_tpm=key.key_tpm,
        key_total_pico=key.key_total_pico,
        key_day_pico=key.key_day_pico,
        key_week_pico=key.key_week_pico,
        key_month_pico=key.key_month_pico,
    )


class _Attempt:
    """One try at one model. Returns the error when the next model may be tried instead
    (a 5xx, 429, timeout or broken connection before anything reached the client); raises
    when the error is the client's answer; returns None once the call was served."""

    def __init__(self, consumer, surface, call, record, raw_key, canonical_request, payload, key):
        self.consumer = consumer
        self.surface = surface
        self.call = call
        self.record = record
        self.raw_key = raw_key
        self.canonical_request = canonical_request
        self.payload = payload
        self.key = key

    async def run(self, route: ModelRoute, *, may_retry: bool) -> GatewayError | None:
        kind = providers.kind_of(route.provider.kind)
        passthrough = kind.native_surface == self.surface.name
        try:
            if passthrough:
                body = kind.native_body(self.payload, route, stream=self.call.stream)
            else:
                body = kind.from_canonical(self.canonical_request, route)
        except InvalidRequest as exc:
            error = GatewayError(400, exc.message, code=exc.code, param=exc.param)
            if may_retry:
                return error  # this model cannot take the request faithfully; another may
            raise error from None
        slot = state.slot(route.provider)
        if slot is not None and slot.locked():
            error = GatewayError(
                429, "this model's provider is at its concurrency limit", code="provider_busy"
            )
            if may_retry:
                return error
            raise error
        if slot is None:
            return await self._send(route, kind, body, passthrough, may_retry)
        async with slot:
            return await self._send(route, kind, body, passthrough, may_retry)

    def _failed(self, route: ModelRoute, error: GatewayError, retry_after: str | None = None):
        if _retryable(error.status) and error.code != "provider_busy":
            seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
            state.health.record_failure(route.health_key, error.status, seconds)

    async def _send(self, route, kind, body, passthrough, may_retry) -> GatewayError | None:
        call, record = self.call, self.record
        started = time.perf_counter()
        response: UpstreamResponse | None = None
        try:
            try:
                response = await kind.send(
                    route, body, stream=call.stream, timeouts=state.timeouts_for(route.provider)
                )
                if response.status >= 400:
                    error = upstream_error(response, await response.read(), route, self.raw_key)
                    self._failed(route, error, response.headers.get("retry-after"))
                    if may_retry and _retryable(response.status):
                        return error
                    raise error
                if call.stream:
                    chunks = response.chunks().__aiter__()
                    try:  # the first bytes decide: until they arrive, another model may serve
                        first = await anext(chunks)
                    except StopAsyncIteration:
                        first = b""
                    state.health.record_success(route.health_key, time.perf_counter() - started)
                    stream = prepend(first, chunks)
                    if passthrough:
                        await relay_native_stream(
                            self.consumer, stream, self.surface, kind, call, record, route
                        )
                    else:

                        async def remember(completion: dict) -> None:
                            await _remember(
                                self.surface,
                                call,
                                self.key,
                                self.canonical_request,
                                completion,
                                route,
                            )

                        await relay_translated_stream(
                            self.consumer, stream, self.surface, kind, call, record, route,
                            before_finish=remember,
                        )  # fmt: skip
                    # The end marker was relayed; the transfer's own end may still be on
                    # its way, and the connection is worth keeping for the next call.
                    response.release()
                    return None
                raw = await response.read()
            except UpstreamFailure as exc:
                error = failure_error(exc)
                self._failed(route, error)
                if may_retry:
                    return error
                raise error from None
            record.mark_first_byte()
            state.health.record_success(route.health_key, time.perf_counter() - started)
            try:
                completion = kind.canonical_response(raw, route)
            except (ValueError, TypeError, KeyError, AttributeError):
                raise _json_error() from None
            record.usage = openai_chat.usage_from_object(completion.get("usage"))
            record.status = 200
            cost = record.cost_pico = record.charge()
            record.charged = True
            if passthrough and kind.native_surface == "chat":
                # The canonical form is OpenAI chat, so this is the upstream's own body,
                # already parsed: no second parse to add the cost.
                out = self.surface.completion_with_cost(completion, cost)
            elif passthrough:
                out = self.surface.with_cost(self.surface.native_answer(raw, call), cost)
            else:
                out = self.surface.with_cost(self.surface.render_completion(completion, call), cost)
            out = scrub_bytes(out, route.provider.secrets)
            if self.key.retention == "keep":
                record.exchange = kept_exchange(
                    record, self.payload, out.decode("utf-8", "replace")
                )
            # Stored before the answer goes out, so a follow-up can reference it at once.
            await _remember(self.surface, call, self.key, self.canonical_request, completion, route)
            await self.consumer.send_json(200, out, [(b"x-orca-cost", format_usd(cost).encode())])
            return None
        finally:
            if response is not None:
                response.close()


# --- stored conversations (Responses API) --------------------------------------------------


async def _conversation_so_far(payload: dict, key: KeyContext) -> list[dict] | None:
    previous = payload.get("previous_response_id")
    if not previous:
        return None
    if not key.keep_response_history:
        raise GatewayError(
            400,
            "previous_response_id needs response history, which this workspace does not keep; "
            "send the whole conversation in `input`, or ask an admin to enable response history",
            code="response_history_disabled",
            param="previous_response_id",
        )
    history = await run_db(stored_conversation, key.workspace_id, previous)
    if history is None:
        raise GatewayError(
            400,
            f"previous response {previous!r} not found",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    return history


async def _remember(
    surface, call, key: KeyContext, canonical_request, completion, route: ModelRoute
) -> None:
    if surface.name != "responses" or not key.keep_response_history:
        return
    if call.extra["body"].get("store") is False or canonical_request is None:
        return
    messages = responses.history_after(canonical_request, completion)
    if route.provider.secrets:  # an upstream that echoed its credential: not stored either
        raw = orjson.dumps(messages)
        clean = scrub_bytes(raw, route.provider.secrets)
        if clean is not raw:
            messages = orjson.loads(clean)
    await run_db(store_response, key.workspace_id, call.extra["response_id"], call.model, messages)


__all__ = ["authenticate", "relay", "resolve_model"]
