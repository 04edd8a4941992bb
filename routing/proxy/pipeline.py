"""The request pipeline: authenticate, validate, resolve, relay, meter, record.

This is the only module that orchestrates across apps (workspaces for keys, billing for
usage), and it does so through their services and selectors.
"""

import asyncio
import logging
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
from ..selectors import stored_conversation
from ..services import store_response
from ..wire import openai_chat, responses
from ..wire.canonical import ChunkAccumulator, InvalidRequest, StreamError
from ..wire.openai_errors import parse_upstream_error
from ..wire.sse import EventSplitter
from ..wire.usage import Usage
from .consumer import RelayConsumer
from .errors import GatewayError, scrub
from .state import run_db, state
from .surfaces import Surface

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tell nginx-style proxies not to buffer the stream
]
log = logging.getLogger(__name__)
CLIENT_CLOSED = 499  # nginx's convention for "the client went away"


# --- authentication and model resolution ---------------------------------------------------


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


def failure_error(exc: UpstreamFailure) -> GatewayError:
    if isinstance(exc, UpstreamTimeout):
        return GatewayError(504, str(exc), code="upstream_timeout")
    return GatewayError(502, str(exc), code="upstream_error")


# --- the relay ------------------------------------------------------------------------------


class _Meter:
    """Watches a pass-through stream (events already in the client's dialect) for usage and
    completion, by running it through the kind's decoder; the bytes go out unchanged."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder
        self.usage: Usage | None = None
        self.failed: StreamError | None = None
        self.outputs = 0
        self._complete = False

    def observe(self, event: bytes) -> bool:
        try:
            chunks = self.decoder.feed(event)
        except StreamError as exc:
            self.failed = exc
            return False
        self._count(chunks)
        return False

    def _count(self, chunks: list[dict]) -> None:
        for chunk in chunks:
            if chunk.get("choices"):
                self.outputs += 1
            elif chunk.get("usage"):
                self.usage = openai_chat.usage_from_object(chunk["usage"])

    def close(self) -> None:
        # Whether the stream was complete is decided before finish(), which may synthesise
        # the closing chunks of a cut-off stream.
        self._complete = self.decoder.done
        self._count(self.decoder.finish())

    @property
    def done(self) -> bool:
        return self._complete or self.decoder.done or self.failed is not None

    def final_usage(self) -> Usage:
        return self.usage or Usage(completion_tokens=self.outputs, reported=False)


class _OpenAIMeter(openai_chat.StreamMeter):
    """The cheap meter for OpenAI pass-through: decodes only events that can carry usage."""

    failed = None

    def close(self) -> None:
        pass


_RELAY_ERROR = GatewayError(
    502, "the gateway could not relay the upstream's stream", code="stream_relay_error"
)


def _json_error() -> GatewayError:
    return GatewayError(
        502, "upstream returned a response that is not valid JSON", code="upstream_invalid_response"
    )


async def relay(consumer: RelayConsumer, body: bytes, surface: Surface, endpoint: str) -> None:
    """Serve one relay call on any client surface, against any provider kind."""
    raw_key = surface.api_key(consumer) or ""
    key = await authenticate(consumer, raw_key)
    payload = parse_json_body(body)
    try:
        call = surface.validate(payload, consumer)
    except InvalidRequest as exc:
        raise GatewayError(400, exc.message, code=exc.code, param=exc.param) from None
    assert isinstance(payload, dict)
    route = await resolve_model(call.model, key)
    kind = providers.kind_of(route.provider.kind)
    passthrough = kind.native_surface == surface.name
    if not passthrough and surface.name == "responses":
        call.extra["history"] = await _conversation_so_far(payload, key)

    canonical_request: dict | None = None
    try:
        if passthrough:
            upstream_body = kind.native_body(payload, route, stream=call.stream)
        else:
            canonical_request = surface.to_canonical(payload, call)
            upstream_body = kind.from_canonical(canonical_request, route)
    except InvalidRequest as exc:
        raise GatewayError(400, exc.message, code=exc.code, param=exc.param) from None

    record = CallRecord(key=key, route=route, endpoint=endpoint, streamed=call.stream)
    response: UpstreamResponse | None = None
    try:
        try:
            response = await kind.send(
                route, upstream_body, stream=call.stream, timeouts=state.timeouts
            )
            record.mark_first_byte()
            if response.status >= 400:
                raise upstream_error(response, await response.read(), route, raw_key)
            if call.stream and passthrough:
                await _relay_native_stream(consumer, response, surface, kind, call, record, route)
            elif call.stream:
                completion = await _relay_translated_stream(
                    consumer, response, surface, kind, call, record, route
                )
                await _remember(surface, call, key, canonical_request, completion)
            else:
                raw = await response.read()
                try:
                    completion = kind.canonical_response(raw, route)
                except (ValueError, TypeError, KeyError, AttributeError):
                    raise _json_error() from None
                record.usage = openai_chat.usage_from_object(completion.get("usage"))
                out = raw if passthrough else surface.render_completion(completion, call)
                record.status = 200
                await consumer.send_json(200, out)
                await _remember(surface, call, key, canonical_request, completion)
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


async def _relay_native_stream(consumer, response, surface, kind, call, record, route) -> None:
    """Same dialect both sides: forward each complete SSE event as soon as it arrives."""
    await consumer.send_headers(status=200, headers=SSE_HEADERS)
    record.status = 200
    splitter = EventSplitter()
    openai_native = surface.name == "chat"
    meter = _OpenAIMeter() if openai_native else _Meter(kind.stream_decoder(route))
    try:
        async for chunk in response.chunks():
            out = []
            for event in splitter.feed(chunk):
                # observe() says True only for OpenAI's usage-only chunk
                if meter.observe(event) and not call.include_usage:
                    continue
                out.append(event)
            if out:
                record.mark_first_byte()
                await consumer.send_body(out[0] if len(out) == 1 else b"".join(out), more_body=True)
            if meter.done:
                break  # nothing may follow the end marker; don't wait on a lingering body
        meter.close()
        if meter.failed is not None:
            record.status, record.error_code = 502, "upstream_stream_error"
        elif not meter.done:
            raise UpstreamFailure("upstream stream ended before it was complete")
    except UpstreamFailure as exc:
        error = failure_error(exc)
        record.status, record.error_code = error.status, error.code or ""
        await consumer.send_body(surface.stream_error(error), more_body=True)
    except Exception:
        log.exception("request %s: relaying the stream failed", consumer.request_id)
        record.status, record.error_code = 502, "stream_relay_error"
        await consumer.send_body(surface.stream_error(_RELAY_ERROR), more_body=True)
    finally:
        record.usage = meter.final_usage()
    await consumer.send_body(b"")


async def _relay_translated_stream(consumer, response, surface, kind, call, record, route) -> dict:
    """Upstream events -> canonical chunks -> the client's dialect, chunk by chunk."""
    await consumer.send_headers(status=200, headers=SSE_HEADERS)
    record.status = 200
    splitter = EventSplitter()
    decoder = kind.stream_decoder(route)
    encoder = surface.stream_encoder(call)
    collected = ChunkAccumulator()
    first = encoder.start()
    if first:
        await consumer.send_body(first, more_body=True)

    def translate(chunks: list[dict]) -> bytes:
        out = []
        for chunk in chunks:
            collected.feed(chunk)
            piece = encoder.feed(chunk)
            if piece:
                out.append(piece)
        return b"".join(out)

    try:
        async for data in response.chunks():
            out = b"".join(translate(decoder.feed(event)) for event in splitter.feed(data))
            if out:
                record.mark_first_byte()
                await consumer.send_body(out, more_body=True)
            if decoder.done:
                break
        complete = decoder.done  # before finish(), which may close a cut-off stream itself
        tail = translate(decoder.finish())
        if not complete:
            raise UpstreamFailure("upstream stream ended before it was complete")
        await consumer.send_body(tail + encoder.finish(), more_body=True)
    except StreamError as exc:
        error = GatewayError(502, exc.message, code="upstream_stream_error", type_=exc.type)
        record.status, record.error_code = 502, "upstream_stream_error"
        await consumer.send_body(surface.stream_error(error, encoder), more_body=True)
    except UpstreamFailure as exc:
        error = failure_error(exc)
        record.status, record.error_code = error.status, error.code or ""
        await consumer.send_body(surface.stream_error(error, encoder), more_body=True)
    except Exception:
        log.exception("request %s: translating the stream failed", consumer.request_id)
        record.status, record.error_code = 502, "stream_relay_error"
        await consumer.send_body(surface.stream_error(_RELAY_ERROR, encoder), more_body=True)
    finally:
        usage = collected.usage
        record.usage = (
            openai_chat.usage_from_object(usage)
            if usage
            else Usage(completion_tokens=len(collected.content), reported=False)
        )
    await consumer.send_body(b"")
    return collected.completion()


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


async def _remember(surface, call, key: KeyContext, canonical_request, completion) -> None:
    if surface.name != "responses" or not key.keep_response_history:
        return
    if call.extra["body"].get("store") is False or canonical_request is None:
        return
    messages = responses.history_after(canonical_request, completion)
    await run_db(store_response, key.workspace_id, call.extra["response_id"], call.model, messages)


__all__ = ["authenticate", "relay", "resolve_model"]
