"""The relay pipeline: one request's life, for every endpoint family and client dialect.

    authenticate -> validate -> request hooks -> plan -> admit -> input hooks
      -> attempts (answer watchers see the answer) -> settle and record

This package is the only code that orchestrates across apps (workspaces for keys, billing
for reservations and usage); it does so through their services and selectors. What differs
per endpoint family is the operation's (routing.proxy.operations), per client dialect the
surface's, per provider kind the adapter's (routing.providers).
"""

import asyncio
import logging
from dataclasses import asdict

from django.conf import settings

from billing.selectors import generation, generation_view
from workspaces.selectors import KeyContext

from ...telemetry import metrics
from ...wire.canonical import InvalidRequest
from ..bodies import read_json_body
from ..consumer import RelayConsumer
from ..errors import GatewayError
from ..surfaces import Surface
from . import hooks
from .admit import admit
from .attempt import attempt, native_for, upstream_error
from .auth import authenticate, resolve_model
from .call import Call
from .history import conversation_so_far
from .plan import ORCA_FIELDS, fallback_chain, plan, provider_preferences
from .record import CLIENT_CLOSED, CallRecord
from .refusals import KeyRefused, record_refusal
from .state import run_db, state

log = logging.getLogger(__name__)

# Traces only when an OTLP endpoint is configured; otherwise OpenTelemetry is not imported.
traced = None
if settings.ORCA_TRACING:
    from ...telemetry.tracing import traced  # type: ignore[assignment]


def _invalid(exc: InvalidRequest) -> GatewayError:
    return GatewayError(400, exc.message, code=exc.code, param=exc.param)


async def relay(consumer: RelayConsumer, body: bytes, surface: Surface, endpoint: str) -> None:
    """Serve one call on any client surface, against any provider kind, trying the planned
    models in order until one answers (never switching once bytes reached the client)."""
    if traced is not None:
        return await traced(_relay, consumer, body, surface, endpoint)
    return await _relay(consumer, body, surface, endpoint)


async def _relay(consumer: RelayConsumer, body: bytes, surface: Surface, endpoint: str) -> None:
    request = consumer.request
    raw_key = surface.api_key(request) or ""
    # A large body's key was checked before the body was read (consumer.preauthenticate).
    try:
        key = consumer.key or await authenticate(request, raw_key)
    except KeyRefused as refused:
        record_refusal(refused.key, consumer.request_id, endpoint, refused)
        raise

    # Parse and validate, in the client's dialect, before anything is spent.
    payload = await read_json_body(body)
    arrival = None
    if hooks.on_arrival:
        arrival = hooks.Arrival(consumer, surface, key, payload)
        for arrival_hook in hooks.on_arrival:
            await arrival_hook(arrival)
        payload = arrival.payload
    try:
        client = surface.validate(payload, request)
    except InvalidRequest as exc:
        raise _invalid(exc) from None
    assert isinstance(payload, dict)
    chain = fallback_chain(payload) if surface.routing_fields else None
    prefs = provider_preferences(payload)
    if any(field in payload for field in ORCA_FIELDS):
        payload = {k: v for k, v in payload.items() if k not in ORCA_FIELDS}
    client.body = payload
    if surface.name == "responses":
        client.history, client.untranslatable = await conversation_so_far(payload, key)
    try:
        canonical = surface.to_canonical(payload, client)
    except InvalidRequest as exc:
        planning = surface.planning_form(payload, client)
        if planning is None:
            raise _invalid(exc) from None
        # Only a native upstream can take this request as sent; a translated call says why.
        canonical, client.untranslatable = planning, client.untranslatable or _invalid(exc)
    operation = surface.operation
    call = Call(
        consumer, request, surface, operation, endpoint, key, raw_key, client, payload, canonical
    )
    if arrival is not None:
        call.headers = arrival.headers
        call.prompt, call.prompt_version = arrival.prompt, arrival.prompt_version
    if hooks.before_plan:
        await hooks.run(hooks.before_plan, call)

    # Plan the models to try and hold what the call may cost.
    try:
        chosen = await plan(client.model, chain, key, call.canonical, prefs, operation)
    except GatewayError as exc:  # a model the key may not use (403) or one no credential
        # serves (503) is logged, not the others (a typo is no call)
        if exc.code in ("model_not_allowed", "provider_not_configured"):
            record_refusal(key, consumer.request_id, endpoint, exc, model=client.model)
        raise
    consumer.planned = chosen.targets[0]  # the labels of its metrics, should it stop here
    if client.untranslatable is not None and not any(
        native_for(call, route) for route in chosen.targets
    ):
        raise client.untranslatable  # only a native upstream could have taken it as sent
    prompt_estimate = operation.estimate_prompt(call.canonical)
    try:
        ticket = await admit(
            key, chosen, operation, call.canonical, prompt_estimate, consumer.request_id, endpoint
        )
    except GatewayError as refused:  # balance, rate or spend limit: in the request log too
        router = f"orcarouter/{chosen.router}" if chosen.router else ""
        record_refusal(
            key, consumer.request_id, endpoint, refused,
            model=chosen.targets[0].public_id, streamed=client.stream, router=router,
        )  # fmt: skip
        raise
    metrics.live.in_flight += 1
    record = call.record = CallRecord(
        key=key,
        route=chosen.targets[0],
        endpoint=endpoint,
        streamed=client.stream,
        router=chosen.router,
        prompt_estimate=prompt_estimate,
        ticket=ticket,
        charges_without_output=operation.charges_without_output,
    )
    try:
        if hooks.before_upstream:
            await hooks.run(hooks.before_upstream, call)
        if hooks.answer_watchers:
            hooks.watch(call)
        if call.gate is None:
            await _attempts(call, chosen)
        else:
            await _gated(call, chosen)
    except GatewayError as exc:
        record.status, record.error_code = exc.status, exc.code or ""
        raise
    except asyncio.CancelledError:
        record.status, record.error_code = CLIENT_CLOSED, "client_closed"
        raise
    finally:
        if call.watchers and not call.finished:
            hooks.finish_quietly(call)  # once per call, however it ended
        _settle_and_record(call, ticket)


async def _attempts(call: Call, chosen) -> None:
    """Try the planned models in order until one serves the call."""
    record, consumer = call.record, call.consumer
    errors: list[GatewayError] = []
    several = len(chosen.targets) > 1
    for index, route in enumerate(chosen.targets):
        record.route = route
        if chosen.chain:
            record.fallback_level = chosen.levels[index]
        consumer.extra_headers = chosen.headers(index)
        if call.headers:
            consumer.extra_headers.extend(call.headers)
        error = await attempt(call, route, may_retry=several)
        if error is None:
            return
        record.attempts.append({"model": route.public_id, "status": error.status})
        errors.append(error)
    if all(e.status == 400 for e in errors):
        raise errors[0]  # no model could take the request as it stands: say why
    tried = ", ".join(f"{a['model']} ({a['status']})" for a in record.attempts)
    raise GatewayError(502, f"every attempt failed: {tried}", code="fallback_exhausted")


async def _gated(call: Call, chosen) -> None:
    """The attempts, while a hook's check (a moderation judge) runs beside them: a check
    that fails cancels the upstream call; nothing reaches the client before it passed
    (attempt awaits the gate before its first byte goes out)."""
    gate = call.gate
    assert gate is not None
    work = asyncio.ensure_future(_attempts(call, chosen))
    try:
        await asyncio.wait((work, gate), return_when=asyncio.FIRST_COMPLETED)
        if gate.done() and not gate.cancelled() and gate.exception() is not None:
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise gate.exception()  # type: ignore[misc]
        await work
    finally:
        if not work.done():
            work.cancel()
        if not gate.done():
            gate.cancel()


def _settle_and_record(call: Call, ticket) -> None:
    """Release the reservation for what the call cost, and queue its usage row."""
    record = call.record
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
        log.exception("request %s: settling the reservation failed", call.request_id)
    event = record.to_event(call.request_id, call)
    metrics.live.in_flight -= 1
    metrics.record_call(call.surface.name, record)
    if record.status != 200:
        metrics.error(call.surface.name, record.error_code)
    consumer = call.consumer
    consumer.recorded = True
    if consumer.span is not None:
        consumer.span.record(call.surface.name, record, call.client.model)
    if event.status_code == 200 and event.completion_tokens and event.latency_ms:
        state.health.record_throughput(
            record.route.health_key, event.completion_tokens * 1000 / event.latency_ms
        )
    state.usage.add(event)


async def find_generation(key: KeyContext, request_id: str) -> dict | None:
    """GET /v1/generation's view of one call of the key's workspace: from the usage buffer
    while its row is not yet written, else from the database."""
    found = state.usage.find(key.workspace_id, request_id)
    view = generation_view(asdict(found)) if found else None
    if view is None:
        view = await run_db(generation, key.workspace_id, request_id)
    return view


__all__ = [
    "authenticate",
    "find_generation",
    "hooks",
    "relay",
    "resolve_model",
    "run_db",
    "state",
    "upstream_error",
]
