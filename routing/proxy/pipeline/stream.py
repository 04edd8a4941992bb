"""Relaying an upstream stream to the client, event by event, in one loop.

The loop is the same for every call; what it does to each event is the path's: the
pass-through path forwards the upstream's own events (a same-format call), the translated
path decodes them to canonical chunks, lets the call's watchers see them, and encodes them
in the client's dialect. Either way the loop holds the same promises: every byte that
reaches the client has had the provider's credential taken out; an event that cannot be
decoded is never forwarded and ends the call as an upstream failure (an in-stream error in
the client's dialect, recorded as failed); a stream that ends before its end marker is a
failure too, never a silently truncated success; and what was delivered is what gets
metered.
"""

import logging
from collections.abc import AsyncIterator
from typing import cast

import orjson

from billing.pricing import format_usd

from ...catalog.snapshot import ModelRoute
from ...providers import ChatAdapter, FamilyAdapter, UpstreamFailure, UpstreamTimeout
from ...telemetry import metrics
from ...wire import openai_chat, responses
from ...wire.canonical import ChunkAccumulator, StreamError
from ...wire.sse import EventSplitter, data_lines, encode_data
from ...wire.usage import Usage
from ..errors import GatewayError, scrub, scrub_bytes
from ..surfaces import Surface
from . import hooks
from .call import Call
from .history import remember

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # tell nginx-style proxies not to buffer the stream
]
log = logging.getLogger(__name__)

_RELAY_ERROR = GatewayError(
    502, "the gateway could not relay the upstream's stream", code="stream_relay_error"
)
STREAM_ERROR_CODE = "upstream_stream_error"
BODY = "http.response.body"


def failure_error(exc: UpstreamFailure) -> GatewayError:
    if isinstance(exc, UpstreamTimeout):
        return GatewayError(504, str(exc), code="upstream_timeout")
    return GatewayError(502, str(exc), code="upstream_error")


def stream_failure(exc: StreamError, route: ModelRoute) -> GatewayError:
    """An upstream's in-stream error (or undecodable event) as the client's error, with the
    credential the upstream may have echoed taken out of its message."""
    message = scrub(exc.message, route.provider.credential)
    return GatewayError(502, message, code=STREAM_ERROR_CODE, type_=exc.type)


async def prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


class _Meter:
    """Watches a pass-through stream (events already in the client's dialect) for usage,
    completion and failure, by running it through the kind's decoder."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder
        self.usage: Usage | None = None
        self.failed: StreamError | None = None
        self.outputs = 0
        self._complete = False

    def observe(self, event: bytes) -> None:
        try:
            self._count(self.decoder.feed(event))
        except StreamError as exc:
            self.failed = exc

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
        if self.failed is None:
            self._count(self.decoder.finish())

    @property
    def done(self) -> bool:
        return self._complete or self.decoder.done

    def final_usage(self) -> Usage:
        return self.usage or Usage(completion_tokens=self.outputs, reported=False)


class _ResponsesMeter(responses.ResponsesStreamMeter):
    """The cheap meter for Responses pass-through: only the terminal event is read whole."""

    def close(self) -> None:
        pass

    def final_usage(self) -> Usage:
        if self.usage is not None:
            return openai_chat.usage_from_object(self.usage) or Usage(reported=False)
        return Usage(completion_tokens=self.outputs, reported=False)


class _OpenAIMeter(openai_chat.StreamMeter):
    """The cheap meter for OpenAI pass-through: the events are already canonical."""

    def close(self) -> None:
        pass


class _TextKeeper:
    """Rebuilds the output text of a pass-through stream, for workspaces that keep it."""

    def __init__(self, decoder) -> None:
        self._decoder = decoder
        self._text = ChunkAccumulator()

    def observe(self, event: bytes) -> None:
        try:
            for chunk in self._decoder.feed(event):
                self._text.feed(chunk)
        except Exception:  # the meter reports stream errors; this only keeps text
            pass

    def text(self) -> str:
        return "".join(self._text.content)


def _event_with_cost(event: bytes, surface: Surface, cost: bytes) -> bytes:
    for payload in data_lines(event):
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return event
        return encode_data(orjson.dumps(surface.chunk_with_cost(chunk, cost)))
    return event


def kept_exchange(record, body: dict, text: str) -> tuple[str, str, int]:
    """The prompt and output text a keeping workspace stores, minus the credential."""
    credential = record.route.provider.credential
    return (
        scrub(orjson.dumps(body).decode(), credential),
        scrub(text, credential),
        record.key.retention_days,
    )


class _PassThrough:
    """Same dialect both sides: each event goes out as it came (its cost added to OpenAI's
    usage chunk), watched by a meter and, for a keeping workspace, a text keeper."""

    encoder = None  # errors are rendered fresh in the dialect

    def __init__(self, call: Call, kind: ChatAdapter, route: ModelRoute) -> None:
        self.call = call
        surface = call.surface
        self.meter: _OpenAIMeter | _ResponsesMeter | _Meter
        # Chat is the canonical dialect: the call's watchers see (and may change) the
        # upstream's own chunks, and only a changed event is encoded again.
        self.watched = bool(call.watchers)
        self.pieces = 0  # content pieces the watchers let through (the count when unreported)
        if surface.name == "chat":
            self.meter = _OpenAIMeter()
            if self.watched:
                self.meter.seen = []
        elif surface.name == "responses":
            self.meter = _ResponsesMeter()
        else:
            self.meter = _Meter(kind.stream_decoder(route))
        retention = call.key.retention == "keep"
        self.keeper = _TextKeeper(kind.stream_decoder(route)) if retention else None

    def start(self) -> bytes:
        return b""

    def feed(self, event: bytes) -> bytes:
        meter = self.meter
        if not isinstance(meter, _OpenAIMeter):
            meter.observe(event)
        elif meter.observe(event):  # OpenAI's usage-only chunk: the cost goes into it
            if not self.call.client.include_usage:
                return b""
            record = self.call.record
            record.usage = meter.usage
            cost = format_usd(record.charge()).encode()
            event = _event_with_cost(event, self.call.surface, cost)
        if meter.failed is not None:
            raise meter.failed  # the failing event is never forwarded: ours replaces it
        if self.watched and isinstance(meter, _OpenAIMeter) and meter.seen:
            event = self._watched(event, meter.seen)
            meter.seen = []
        if self.keeper is not None:
            self.keeper.observe(event)
        return event

    def _watched(self, event: bytes, chunks: list[dict]) -> bytes:
        """The event's chunks as the watchers leave them (a dropped one is left out)."""
        call = self.call
        out = []
        for chunk in chunks:
            for watcher in call.watchers:
                changed = watcher.chunk(call, chunk)
                if changed is None:
                    break
                chunk = changed
            else:
                out.append(encode_data(orjson.dumps(chunk)))
                choices = chunk.get("choices") or ()
                if any((c.get("delta") or {}).get("content") for c in choices):
                    self.pieces += 1
        if self.meter.done:  # the end marker came in the same event
            out.append(b"data: [DONE]\n\n")
        return b"".join(out)

    @property
    def done(self) -> bool:
        return self.meter.done

    def finish(self) -> bytes:
        self.meter.close()
        if self.meter.failed is not None:
            raise self.meter.failed
        if not self.meter.done:
            raise UpstreamFailure("upstream stream ended before it was complete")
        return b""  # the upstream's own end marker has gone out already

    def delivered(self) -> Usage:
        usage = self.meter.final_usage()
        if self.watched and not usage.reported:  # what reached the client, as translated
            return Usage(completion_tokens=self.pieces, reported=False, units=usage.units)
        return usage

    def kept_text(self) -> str:
        return self.keeper.text() if self.keeper is not None else ""


class _Translated:
    """Upstream events -> canonical chunks -> (the call's watchers) -> the client's dialect."""

    def __init__(self, call: Call, kind: ChatAdapter, route: ModelRoute) -> None:
        self.call = call
        self.decoder = kind.stream_decoder(route)
        self.encoder = call.surface.stream_encoder(call.client)
        self.collected = ChunkAccumulator()

    def start(self) -> bytes:
        return self.encoder.start()

    def _translate(self, chunks: list[dict]) -> bytes:
        call = self.call
        out = []
        for chunk in chunks:
            if not chunk.get("choices") and chunk.get("usage"):
                record = call.record
                record.usage = openai_chat.usage_from_object(chunk["usage"])
                chunk = call.surface.chunk_with_cost(chunk, format_usd(record.charge()).encode())
            for watcher in call.watchers:
                changed = watcher.chunk(call, chunk)
                if changed is None:
                    break
                chunk = changed
            else:
                self.collected.feed(chunk)
                piece = self.encoder.feed(chunk)
                if piece:
                    out.append(piece)
        return b"".join(out)

    def feed(self, event: bytes) -> bytes:
        return self._translate(self.decoder.feed(event))

    @property
    def done(self) -> bool:
        return self.decoder.done

    def finish(self) -> bytes:
        complete = self.decoder.done  # before finish(), which may close a cut-off stream
        tail = self._translate(self.decoder.finish())
        if not complete:
            raise UpstreamFailure("upstream stream ended before it was complete")
        return tail

    def end_marker(self) -> bytes:
        return self.encoder.finish()

    def delivered(self) -> Usage:
        usage = self.collected.usage
        if usage:
            return openai_chat.usage_from_object(usage) or Usage(reported=False)
        return Usage(completion_tokens=len(self.collected.content), reported=False)

    def kept_text(self) -> str:
        return "".join(self.collected.content)


async def relay_stream(
    call: Call,
    chunks: AsyncIterator[bytes],
    kind: FamilyAdapter,
    route: ModelRoute,
    passthrough: bool,
) -> None:
    """Relay an upstream stream that has begun (its first bytes are in `chunks`)."""
    streaming = cast(ChatAdapter, kind)  # only streaming families get here: they decode
    consumer, record, surface = call.consumer, call.record, call.surface
    path: _PassThrough | _Translated = (
        _PassThrough(call, streaming, route) if passthrough else _Translated(call, streaming, route)
    )
    await consumer.send_headers(status=200, headers=SSE_HEADERS)
    record.status = 200
    splitter = EventSplitter()
    secrets = route.provider.secrets
    send = consumer.base_send
    first = path.start()
    if first:
        await consumer.send_body(first, more_body=True)
    try:
        async for data in chunks:
            pieces = []
            failed = None
            for event in splitter.feed(data):
                try:
                    piece = path.feed(event)
                except (StreamError, GatewayError) as exc:  # a watcher may stop the stream
                    failed = exc  # what came before it in this read still goes out
                    break
                if piece:
                    pieces.append(piece)
            if pieces:
                record.mark_first_byte()
                out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                # Straight to the server (a body part with more to come is all send_body
                # would make of it): two awaits fewer per chunk.
                await send({"type": BODY, "body": scrub_bytes(out, secrets), "more_body": True})
                record.progress(path.delivered)
            if failed is not None:
                raise failed
            if path.done:
                break  # nothing may follow the end marker; don't wait on a lingering body
        tail = path.finish()
        if isinstance(path, _Translated):
            await remember(call, path.collected.completion(), route)
            tail += path.end_marker()
        if call.watchers:
            call.finished = True
            hooks.finish_all(call)
        if tail:
            await consumer.send_body(scrub_bytes(tail, secrets), more_body=True)
    except StreamError as exc:
        error = stream_failure(exc, route)
        record.status, record.error_code = 502, STREAM_ERROR_CODE
        metrics.upstream_error(route, 502)
        await consumer.send_body(surface.stream_error(error, path.encoder), more_body=True)
    except UpstreamFailure as exc:
        error = failure_error(exc)
        record.status, record.error_code = error.status, error.code or ""
        metrics.upstream_error(route, error.status)
        await consumer.send_body(surface.stream_error(error, path.encoder), more_body=True)
    except GatewayError as exc:  # a watcher stopped the stream
        record.status, record.error_code = exc.status, exc.code or ""
        await consumer.send_body(surface.stream_error(exc, path.encoder), more_body=True)
    except Exception:
        log.exception("request %s: relaying the stream failed", consumer.request_id)
        record.status, record.error_code = 502, "stream_relay_error"
        await consumer.send_body(surface.stream_error(_RELAY_ERROR, path.encoder), more_body=True)
    finally:
        record.usage = path.delivered()
        if call.key.retention == "keep":
            record.exchange = kept_exchange(record, call.body, path.kept_text())
    await consumer.send_body(b"")
