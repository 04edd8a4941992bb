"""Relaying an upstream stream to the client, pass-through or translated, event by event.

Both loops hold the same promises: every byte that reaches the client has had the
provider's credential taken out; an event that cannot be decoded is never forwarded and
ends the call as an upstream failure (an in-stream error in the client's dialect, recorded
as failed); a stream that ends before its end marker is a failure too, never a silently
truncated success; and what was delivered is what gets metered.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from ..catalog.snapshot import ModelRoute
from ..providers import UpstreamFailure, UpstreamTimeout
from ..wire import openai_chat
from ..wire.canonical import ChunkAccumulator, StreamError
from ..wire.sse import EventSplitter, data_lines, encode_data
from ..wire.usage import Usage
from .consumer import RelayConsumer
from .errors import GatewayError, scrub, scrub_bytes
from .surfaces import ClientCall, Surface

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

    def observe(self, event: bytes) -> bool:
        try:
            chunks = self.decoder.feed(event)
        except StreamError as exc:
            self.failed = exc
            return False
        self._count(chunks)
        return False  # only OpenAI's usage-only chunk is special, and _OpenAIMeter sees it

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


def _event_with_cost(event: bytes, surface: Surface, cost: int) -> bytes:
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


async def relay_native_stream(
    consumer: RelayConsumer, chunks, surface: Surface, kind, call: ClientCall, record, route
) -> None:
    """Same dialect both sides: forward each complete SSE event as soon as it arrives."""
    await consumer.send_headers(status=200, headers=SSE_HEADERS)
    record.status = 200
    splitter = EventSplitter()
    secrets = route.provider.secrets
    meter = _OpenAIMeter() if surface.name == "chat" else _Meter(kind.stream_decoder(route))
    keeper = _TextKeeper(kind.stream_decoder(route)) if record.key.retention == "keep" else None
    send = consumer.base_send
    try:
        async for chunk in chunks:
            out = []
            for event in splitter.feed(chunk):
                # observe() says True only for OpenAI's usage-only chunk
                if meter.observe(event):
                    if not call.include_usage:
                        continue
                    record.usage = meter.usage
                    event = _event_with_cost(event, surface, record.charge())
                if meter.failed is not None:
                    break  # the failing event is never forwarded: ours replaces it below
                if keeper is not None:
                    keeper.observe(event)
                out.append(event)
            if out:
                record.mark_first_byte()
                body = out[0] if len(out) == 1 else b"".join(out)
                # Straight to the server (a body part with more to come is all send_body
                # would make of it): two awaits fewer per chunk.
                await send({"type": BODY, "body": scrub_bytes(body, secrets), "more_body": True})
                record.progress(meter.final_usage)
            if meter.done or meter.failed is not None:
                break  # nothing may follow the end marker; don't wait on a lingering body
        meter.close()
        if meter.failed is not None:
            raise meter.failed
        if not meter.done:
            raise UpstreamFailure("upstream stream ended before it was complete")
    except StreamError as exc:
        error = stream_failure(exc, route)
        record.status, record.error_code = 502, STREAM_ERROR_CODE
        await consumer.send_body(surface.stream_error(error), more_body=True)
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
        if keeper is not None:
            record.exchange = kept_exchange(record, call.extra.get("body") or {}, keeper.text())
    await consumer.send_body(b"")


async def relay_translated_stream(
    consumer: RelayConsumer,
    chunks,
    surface: Surface,
    kind,
    call: ClientCall,
    record,
    route,
    before_finish: Callable[[dict], Awaitable[None]] | None = None,
) -> dict:
    """Upstream events -> canonical chunks -> the client's dialect, chunk by chunk."""
    await consumer.send_headers(status=200, headers=SSE_HEADERS)
    record.status = 200
    splitter = EventSplitter()
    secrets = route.provider.secrets
    decoder = kind.stream_decoder(route)
    encoder = surface.stream_encoder(call)
    collected = ChunkAccumulator()
    send = consumer.base_send
    first = encoder.start()
    if first:
        await consumer.send_body(first, more_body=True)

    def translate(chunks: list[dict]) -> bytes:
        out = []
        for chunk in chunks:
            if not chunk.get("choices") and chunk.get("usage"):
                record.usage = openai_chat.usage_from_object(chunk["usage"])
                chunk = surface.chunk_with_cost(chunk, record.charge())
            collected.feed(chunk)
            piece = encoder.feed(chunk)
            if piece:
                out.append(piece)
        return b"".join(out)

    def delivered() -> Usage:
        usage = collected.usage
        if usage:
            return openai_chat.usage_from_object(usage) or Usage(reported=False)
        return Usage(completion_tokens=len(collected.content), reported=False)

    try:
        async for data in chunks:
            pieces = []
            failed = None
            for event in splitter.feed(data):
                try:
                    pieces.append(translate(decoder.feed(event)))
                except StreamError as exc:
                    failed = exc  # what came before it in this read still goes out
                    break
            out = b"".join(pieces)
            if out:
                record.mark_first_byte()
                await send({"type": BODY, "body": scrub_bytes(out, secrets), "more_body": True})
                record.progress(delivered)
            if failed is not None:
                raise failed
            if decoder.done:
                break
        complete = decoder.done  # before finish(), which may close a cut-off stream itself
        tail = translate(decoder.finish())
        if not complete:
            raise UpstreamFailure("upstream stream ended before it was complete")
        if before_finish is not None:
            await before_finish(collected.completion())
        await consumer.send_body(scrub_bytes(tail + encoder.finish(), secrets), more_body=True)
    except StreamError as exc:
        error = stream_failure(exc, route)
        record.status, record.error_code = 502, STREAM_ERROR_CODE
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
        record.usage = delivered()
        if record.key.retention == "keep":
            text = "".join(collected.content)
            record.exchange = kept_exchange(record, call.extra.get("body") or {}, text)
    await consumer.send_body(b"")
    return collected.completion()
