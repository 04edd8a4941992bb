"""OpenTelemetry traces of relayed calls, exported over OTLP/HTTP (protobuf).

Imported only when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set
(settings.ORCA_TRACING); otherwise no OpenTelemetry module is loaded and the relay pays one
`is None` test per call. The exporter reads the standard OTEL_* variables (endpoint, headers,
timeout, compression; OTEL_BSP_* for the batching); spans leave in batches from the SDK's
own thread, never from the request.

One SERVER span per relayed call (the pipeline's surfaces), child of the client's W3C
`traceparent` (and `tracestate`) when it sent one. The upstream request carries a
`traceparent` naming this span, so a traced upstream continues the trace. Attributes: the
request id, surface, endpoint, workspace and key ids, the model and provider that served,
tokens (gen_ai.usage.*), cost in USD, the HTTP status and error code; never a prompt, an
answer, a header or a key.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..proxy.errors import ClientGone, GatewayError

if TYPE_CHECKING:
    from ..proxy.consumer import RelayConsumer
    from ..proxy.pipeline.record import CallRecord
    from ..proxy.surfaces import Surface

_PICO = 10**12


class _ScopeHeaders(Getter):
    """Reads the ASGI scope's header list (lower-case byte names) for the propagator."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier if header == name]
        return values or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


_GETTER = _ScopeHeaders()
_PROPAGATOR = TraceContextTextMapPropagator()

# OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) wins; "orca" otherwise.
_named = "OTEL_SERVICE_NAME" in os.environ or "service.name=" in os.environ.get(
    "OTEL_RESOURCE_ATTRIBUTES", ""
)
provider = TracerProvider(resource=Resource.create({} if _named else {"service.name": "orca"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
_tracer = provider.get_tracer("orca.relay")


class CallSpan:
    """The call's span as the pipeline sees it (`consumer.span`)."""

    __slots__ = ("context", "finished", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.finished = False

    def upstream_headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        """The headers an upstream call adds: the client's forwarded ones, plus this span's
        `traceparent` (and `tracestate`, when the client's trace had one)."""
        headers = dict(extra) if extra else {}
        _PROPAGATOR.inject(headers, context=self.context)
        return headers

    def record(self, surface: str, record: "CallRecord", client_model: str) -> None:
        """What the call did, from its usage record (the pipeline's settle step)."""
        span, route, usage = self.span, record.route, record.usage
        span.update_name(f"{surface} {route.public_id}")
        attributes: dict[str, Any] = {
            "gen_ai.request.model": client_model,
            "gen_ai.response.model": route.public_id,
            "orca.model": route.public_id,
            "orca.provider": route.provider.slug,
            "orca.provider_kind": route.provider.kind,
            "orca.workspace_id": record.key.workspace_id,
            "orca.key_id": record.key.key_id,
            "orca.streamed": record.streamed,
            "orca.cost_usd": record.cost_pico / _PICO,
            "http.response.status_code": record.status,
        }
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if record.router:
            attributes["orca.router"] = record.router
        if record.fallback_level is not None:
            attributes["orca.fallback_level"] = record.fallback_level
        if record.error_code:
            attributes["orca.error_code"] = record.error_code
        span.set_attributes(attributes)
        _set_status(span, record.status, record.error_code)
        self.finished = True


def _set_status(span: trace.Span, status: int, code: str) -> None:
    # A server span is an error for a 5xx only: a 4xx is the client's (OTel's HTTP rules).
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, code or str(status)))


async def traced(
    relay: Callable[["RelayConsumer", bytes, "Surface", str], Awaitable[None]],
    consumer: "RelayConsumer",
    body: bytes,
    surface: "Surface",
    endpoint: str,
) -> None:
    """Run one relayed call inside its span."""
    parent = _PROPAGATOR.extract(consumer.scope["headers"], getter=_GETTER)
    span = _tracer.start_span(
        f"{surface.name}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={
            "orca.request_id": consumer.request_id,
            "orca.surface": surface.name,
            "gen_ai.operation.name": endpoint,
            "http.request.method": consumer.scope["method"],
            "url.path": consumer.scope["path"],
        },
    )
    call_span = consumer.span = CallSpan(span)
    try:
        await relay(consumer, body, surface, endpoint)
    except GatewayError as exc:
        if not call_span.finished:  # refused before admission: no usage record
            _unrecorded(span, consumer, exc.status, exc.code or "")
        raise
    except (asyncio.CancelledError, ClientGone):
        if not call_span.finished:
            _unrecorded(span, consumer, 499, "client_closed")
        raise
    except Exception as exc:
        if not call_span.finished:
            span.record_exception(exc)
            _unrecorded(span, consumer, 500, "internal_error")
        raise
    finally:
        span.end()


def _unrecorded(span: trace.Span, consumer: "RelayConsumer", status: int, code: str) -> None:
    attributes: dict[str, Any] = {"http.response.status_code": status, "orca.error_code": code}
    planned = consumer.planned
    if planned is not None:  # refused at admission: the model it would have gone to
        attributes["orca.model"] = planned.public_id
        attributes["orca.provider"] = planned.provider.slug
    span.set_attributes(attributes)
    _set_status(span, status, code)


def shutdown() -> None:
    """Export what is still batched (lifespan shutdown)."""
    provider.shutdown()
