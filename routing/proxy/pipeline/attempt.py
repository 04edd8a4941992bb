"""One try at one model: build the upstream call for the provider's kind, send it, and
answer the client, or hand back the error when another model may be tried instead."""

import asyncio
import time

from billing.pricing import format_usd

from ...catalog.snapshot import ModelRoute
from ...providers import FamilyAdapter, UpstreamFailure, UpstreamResponse
from ...telemetry import metrics
from ...wire import tools
from ...wire.canonical import InvalidRequest
from ...wire.openai_errors import parse_upstream_error
from ..errors import GatewayError, scrub, scrub_bytes
from . import hooks
from .call import Call
from .history import remember
from .state import state
from .stream import failure_error, kept_exchange, prepend, relay_stream


def upstream_error(
    response: UpstreamResponse, raw: bytes, route: ModelRoute, client_key: str
) -> GatewayError:
    """Keep the upstream's status and message, minus any credential it echoed back."""
    status = response.status
    message, type_, param, code = parse_upstream_error(raw)
    message = scrub(message, route.provider.credential, client_key)
    if _credential_refused(status, message):
        # Our credential for the provider was refused (Gemini says so with a 400); the
        # client's key is fine.
        if route.provider.byok:
            return GatewayError(
                502,
                f"upstream rejected the workspace's own credential for provider "
                f"{route.provider.slug!r}: {message}",
                code="upstream_auth_failed",
            )
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


def _credential_refused(status: int, message: str) -> bool:
    return status == 401 or (status == 400 and "API key not valid" in message)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _json_error() -> GatewayError:
    return GatewayError(
        502, "upstream returned a response that is not valid JSON", code="upstream_invalid_response"
    )


def _failed(route: ModelRoute, error: GatewayError, retry_after: str | None = None) -> None:
    if _retryable(error.status) and error.code != "provider_busy":
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        state.health.record_failure(route.health_key, error.status, seconds)


def _left_out_tools(call: Call, route: ModelRoute) -> GatewayError | None:
    """On a translated call, tools with no equivalent there are left out and named in
    X-Orca-Dropped-Tools; a tool_choice that forces one is a 400 naming it instead."""
    canonical = call.canonical
    if not canonical.get("tools") and not canonical.get(tools.DROPPED):
        return None
    dropped, forced = tools.dropped_tools(canonical)
    if forced is not None:
        return GatewayError(
            400,
            f"tool_choice forces {forced!r}, which {route.public_id!r} cannot run through "
            f"this API; leave it out of tool_choice or use a model that serves it natively",
            code="unsupported_tool",
            param="tool_choice",
        )
    if dropped:
        header = (b"x-orca-dropped-tools", ", ".join(dropped).encode("ascii", "replace"))
        call.consumer.extra_headers = [*call.consumer.extra_headers, header]
    return None


def native_for(call: Call, route: ModelRoute) -> bool:
    """Whether the call would go to `route` pass-through (the client's own body)."""
    kind = call.operation.adapter_for(route, call.surface.name)
    return (
        kind is not None and kind.native_surface == call.surface.name and call.passthrough_allowed
    )


async def attempt(call: Call, route: ModelRoute, *, may_retry: bool) -> GatewayError | None:
    """Returns the error when the next model may be tried instead (a 5xx, 429, timeout or
    broken connection before anything reached the client); raises when the error is the
    client's answer; returns None once the call was served."""
    kind = call.operation.adapter_for(route, call.surface.name)
    if kind is None:
        error = GatewayError(
            400,
            f"provider kind {route.provider.kind!r} cannot serve {call.operation.name} requests",
            code="unsupported_endpoint",
            param="model",
        )
        if may_retry:
            return error
        raise error
    passthrough = kind.native_surface == call.surface.name and call.passthrough_allowed
    if not passthrough:
        refused = call.client.untranslatable or _left_out_tools(call, route)
        if refused is not None:
            if may_retry:
                return refused
            raise refused
    try:
        if passthrough:
            body = kind.native_body(call.body, route, stream=call.client.stream)
        else:
            body = kind.from_canonical(call.canonical, route)
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
        return await _send(call, route, kind, body, passthrough, may_retry)
    async with slot:
        return await _send(call, route, kind, body, passthrough, may_retry)


async def _send(
    call: Call,
    route: ModelRoute,
    kind: FamilyAdapter,
    body: dict,
    passthrough: bool,
    may_retry: bool,
) -> GatewayError | None:
    record, client = call.record, call.client
    started = time.perf_counter()
    response: UpstreamResponse | None = None
    extra_headers = client.forward_headers if passthrough else None
    span = call.consumer.span
    if span is not None:  # tracing: the upstream continues this call's trace
        extra_headers = span.upstream_headers(extra_headers)
    try:
        try:
            response = await kind.send(
                route,
                body,
                stream=client.stream,
                timeouts=state.timeouts_for(route.provider),
                extra_headers=extra_headers,
            )
            if response.status >= 400:
                metrics.upstream_error(route, response.status)
                error = upstream_error(response, await response.read(), route, call.raw_key)
                _failed(route, error, response.headers.get("retry-after"))
                if may_retry and (
                    _retryable(response.status)
                    # a workspace's own key refused: the platform's may follow (fallback)
                    or (route.provider.byok and error.code == "upstream_auth_failed")
                ):
                    return error
                raise error
            if client.stream:
                chunks = response.chunks().__aiter__()
                try:  # the first bytes decide: until they arrive, another model may serve
                    first = await anext(chunks)
                except StopAsyncIteration:
                    first = b""
                state.health.record_success(route.health_key, time.perf_counter() - started)
                if call.gate is not None:
                    await call.gate  # a hook's check must pass before anything goes out
                await relay_stream(call, prepend(first, chunks), kind, route, passthrough)
                # The end marker was relayed; the transfer's own end may still be on its
                # way, and the connection is worth keeping for the next call.
                response.release()
                return None
            raw = await response.read()
        except UpstreamFailure as exc:
            error = failure_error(exc)
            metrics.upstream_error(route, error.status)
            _failed(route, error)
            if may_retry:
                return error
            raise error from None
        record.mark_first_byte()
        state.health.record_success(route.health_key, time.perf_counter() - started)
        if call.gate is not None:
            await call.gate
        await _answer(call, route, kind, raw, passthrough)
        return None
    finally:
        if response is not None:
            response.close()


# An answer above this is made canonical in a worker thread, where the loop keeps serving
# while Python code walks it (a module constant: a Django setting costs a lookup per call).
LARGE_ANSWER = 1024 * 1024


def _canonical(call: Call, route: ModelRoute, kind: FamilyAdapter, raw: bytes) -> dict:
    completion = kind.canonical_response(raw, route)
    call.operation.verify(completion, call.canonical)
    return completion


async def _answer(
    call: Call, route: ModelRoute, kind: FamilyAdapter, raw: bytes, passthrough: bool
) -> None:
    """A non-stream answer: metered, priced, watched, rendered in the client's dialect."""
    record, surface = call.record, call.surface
    try:
        if len(raw) <= LARGE_ANSWER:
            completion = _canonical(call, route, kind, raw)
        else:  # e.g. 2,048 vectors of 3,072 floats: checked where the loop keeps serving
            completion = await asyncio.to_thread(_canonical, call, route, kind, raw)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise _json_error() from None
    usage = call.operation.usage(completion)
    if not usage.reported and not usage.prompt_tokens:
        usage.prompt_tokens = record.prompt_estimate  # recorded as the estimate it is
        if call.operation.charges_without_output:  # the input is what the client sees billed
            completion["usage"] = {"prompt_tokens": usage.prompt_tokens}
            completion["usage"]["total_tokens"] = usage.prompt_tokens
    record.usage = usage
    # Before the answer counts as served: one a watcher blocks is not charged.
    for watcher in call.watchers:
        watcher.completion(call, completion)
    record.status = 200
    if call.watchers:
        call.finished = True
        hooks.finish_all(call)  # a GatewayError here still stops (and un-serves) the answer
    cost = record.cost_pico = record.charge()
    record.charged = True
    cost_text = format_usd(cost).encode()
    if passthrough and kind.native_surface == "chat":
        # The canonical form is OpenAI chat, so this is the upstream's own body, already
        # parsed: no second parse to add the cost.
        out = surface.completion_with_cost(completion, cost_text)
    elif passthrough:
        out = surface.with_cost(surface.native_answer(raw, call.client), cost_text)
    else:
        out = surface.with_cost(surface.render_completion(completion, call.client), cost_text)
    out = scrub_bytes(out, route.provider.secrets)
    if call.key.retention == "keep":
        record.exchange = kept_exchange(
            record, call.body, call.operation.kept_output(out, completion)
        )
    # Stored before the answer goes out, so a follow-up can reference it at once.
    if not passthrough:
        await remember(call, completion, route)
    await call.consumer.send_json(200, out, [(b"x-orca-cost", cost_text)])
