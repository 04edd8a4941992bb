"""The request pipeline: authenticate, validate, resolve, relay, meter, record.

This is the only module that orchestrates across apps (workspaces for keys, billing for
usage), and it does so through their services and selectors.
"""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from billing.services import UsageEvent
from workspaces.keys import hash_key, looks_like_key
from workspaces.selectors import KeyContext

from .. import providers
from ..catalog.snapshot import AmbiguousModel, ModelRoute
from ..providers import UpstreamFailure, UpstreamResponse, UpstreamTimeout
from ..wire import openai_chat
from ..wire.openai_errors import error_body, parse_upstream_error
from ..wire.sse import DONE, EventSplitter, encode_data
from ..wire.usage import Usage
from .consumer import JSON, RelayConsumer
from .errors import GatewayError, scrub
from .state import state

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tell nginx-style proxies not to buffer the stream
]
CLIENT_CLOSED = 499  # nginx's convention for "the client went away"


# --- authentication and model resolution ---------------------------------------------------


def bearer_token(consumer: RelayConsumer) -> str | None:
    value = consumer.header(b"authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


async def authenticate(consumer: RelayConsumer, raw_key: str | None) -> KeyContext:
    await state.ensure_started()
    if not raw_key:
        raise GatewayError(
            401,
            "missing API key: send 'Authorization: Bearer sk-orca-...'",
            code="missing_api_key",
        )
    context = await state.key(hash_key(raw_key)) if looks_like_key(raw_key) else None
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
    catalog = await state.catalog()
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


def parse_json_body(body: bytes) -> object:
    if not body:
        raise GatewayError(400, "request body is empty; send a JSON object", code="invalid_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None


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

    def mark_first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()

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
        )


# --- upstream errors -----------------------------------------------------------------------


def upstream_error(
    response: UpstreamResponse, raw: bytes, route: ModelRoute, client_key: str
) -> GatewayError:
    """Keep the upstream's status and message, minus any credential it echoed back."""
    status = response.status
    message, type_, param, code = parse_upstream_error(raw)
    message = scrub(message, route.provider.credential, client_key)
    if status == 401:
        # Our credential for the provider was refused; the client's key is fine.
        return GatewayError(
            502,
            f"upstream rejected the gateway's credentials: {message}",
            code="upstream_auth_failed",
        )
    retry_after = response.headers.get("retry-after") if status in (429, 503) else None
    return GatewayError(
        status,
        message,
        code=code,
        param=param,
        type_=type_ or "upstream_error",
        headers=[(b"retry-after", retry_after.encode())] if retry_after else None,
    )


def failure_error(exc: UpstreamFailure) -> GatewayError:
    if isinstance(exc, UpstreamTimeout):
        return GatewayError(504, str(exc), code="upstream_timeout")
    return GatewayError(502, str(exc), code="upstream_error")


# --- chat completions ----------------------------------------------------------------------


def _usage_of_completion(raw: bytes) -> Usage | None:
    """The body is relayed byte for byte; it is decoded only to meter it (and to make sure
    the client gets JSON rather than an upstream's broken page)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GatewayError(
            502, "upstream returned a response that is not JSON", code="upstream_invalid_response"
        ) from None
    return openai_chat.usage_from_object(data.get("usage")) if isinstance(data, dict) else None


async def relay_chat(consumer: RelayConsumer, body: bytes) -> None:
    raw_key = bearer_token(consumer)
    key = await authenticate(consumer, raw_key)
    payload = parse_json_body(body)
    try:
        request = openai_chat.validate_chat_request(payload)
    except openai_chat.InvalidRequest as exc:
        raise GatewayError(400, exc.message, code=exc.code, param=exc.param) from None
    assert isinstance(payload, dict)
    route = await resolve_model(request.model, key)

    upstream_body = dict(payload)
    upstream_body["model"] = route.upstream_name
    if request.stream:
        # Always ask for usage so the call can be metered; the chunk is dropped again
        # below when the client did not ask for it.
        upstream_body["stream_options"] = {
            **(payload.get("stream_options") or {}),
            "include_usage": True,
        }

    record = CallRecord(key=key, route=route, endpoint="chat.completions", streamed=request.stream)
    response: UpstreamResponse | None = None
    try:
        try:
            response = await providers.send_chat(route, upstream_body, state.timeouts)
            record.mark_first_byte()
            if response.status >= 400:
                raise upstream_error(response, await response.read(), route, raw_key or "")
            if request.stream:
                await _relay_stream(consumer, response, request, record, raw_key or "")
            else:
                raw = await response.read()
                record.usage = _usage_of_completion(raw)
                record.status = 200
                await consumer.send_json(200, raw)
        except UpstreamFailure as exc:
            raise failure_error(exc) from None
    except GatewayError as exc:
        record.status, record.error_code = exc.status, exc.code or ""
        raise
    except asyncio.CancelledError:
        record.status, record.error_code = CLIENT_CLOSED, "client_closed"
        raise
    finally:
        if response is not None:
            response.close()
        if record.status == 0:
            record.status, record.error_code = 500, "internal_error"
        state.usage.add(record.to_event(consumer.request_id))


async def _relay_stream(
    consumer: RelayConsumer,
    response: UpstreamResponse,
    request: openai_chat.ChatRequest,
    record: CallRecord,
    client_key: str,
) -> None:
    """Forward each complete SSE event as soon as it arrives; meter on the way through."""
    await consumer.send_headers(status=200, headers=SSE_HEADERS)
    record.status = 200
    splitter = EventSplitter()
    meter = openai_chat.StreamMeter()
    try:
        async for chunk in response.chunks():
            out = []
            for event in splitter.feed(chunk):
                if meter.observe(event) and not request.include_usage:
                    continue
                out.append(event)
            if out:
                await consumer.send_body(out[0] if len(out) == 1 else b"".join(out), more_body=True)
        if not meter.done:
            raise UpstreamFailure("upstream stream ended before it was complete")
    except UpstreamFailure as exc:
        error = failure_error(exc)
        record.status, record.error_code = error.status, error.code or ""
        payload = error_body(
            scrub(error.message, client_key), code=error.code, type_="orcarouter_api_error"
        )
        await consumer.send_body(encode_data(orjson.dumps(payload)) + DONE, more_body=True)
    finally:
        record.usage = meter.final_usage()
    await consumer.send_body(b"")


__all__ = ["JSON", "authenticate", "bearer_token", "relay_chat", "resolve_model"]
