"""Faults on demand, shared by the three fake upstreams.

A request asks for a fault by carrying ``orca-fault:<name>`` anywhere in its body, usually in
the user's message. Text survives every translation Orca makes, so one marker reaches the fake
whatever the client surface and whatever the upstream kind. Each fake describes its dialect
with a ``Dialect`` (an error envelope, a success body, the events of a stream, an in-stream
error) and hands the request to ``serve``, which plays the fault in that dialect:

* ``500`` / ``429``: that status with the dialect's error envelope (429 with ``Retry-After: 7``).
* ``first_byte``: no headers for ``FIRST_BYTE_WAIT`` seconds (or until the client leaves).
* ``idle``: headers and the first event (non-stream: half the body), then silence.
* ``total``: a stream that keeps dripping text every ``DRIP_DELAY`` seconds (under any idle
  timeout) for ``TOTAL_DRIP`` seconds; non-stream, JSON whitespace dripped the same way.
* ``reset``: headers and the first event (non-stream: half the body), then a TCP abort.
* ``malformed_json``: 200 with a body that is not JSON; streams open with an undecodable event.
* ``malformed_event``: a valid first event, one whose data is truncated JSON, then the rest of
  a valid stream and its end marker.
* ``slow_drip``: a valid answer whose events (non-stream: body pieces) come ``SLOW_DELAY`` apart.
* ``huge``: a valid answer whose text is about ``HUGE_BYTES`` long.
* ``echo_key``: the credential the fake received (and any ``sk-orca-`` key found in the body)
  echoed in a 500 error envelope (retryable, so fallback chains try the next model) or, for
  streams, in an in-stream error after the first event, and in the ``X-Upstream-Echo``
  response header.
* ``echo_header``: a valid answer whose only echo is the ``X-Upstream-Echo`` header.

The timed faults stop as soon as the client goes away and record ``("request_aborted", model)``
or ``("stream_aborted", model)``; a reset records ``("stream_dropped", model)``; every fault
served records ``("fault:<name>", model)``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .base import FakeUpstream

MARKER = "orca-fault:"
FAULTS = (
    "500",
    "429",
    "first_byte",
    "idle",
    "total",
    "reset",
    "malformed_json",
    "malformed_event",
    "slow_drip",
    "huge",
    "echo_key",
    "echo_header",
)
_MARKER_RE = re.compile(rb"orca-fault:([a-z0-9_]+)")
_CLIENT_KEY_RE = re.compile(rb"sk-orca-[A-Za-z0-9_\-]+")

FAULT_TEXT = "Fault test reply in eight short pieces."  # eight pieces, one per stream event
FIRST_BYTE_WAIT = 6.0  # past any first-byte timeout the tests set
SILENCE = 10.0  # how long an idle fault stays silent, at most
DRIP_DELAY = 0.4  # under a 1 s idle timeout
TOTAL_DRIP = 10.0  # past a 3 s total timeout
SLOW_DELAY = 0.2
HUGE_BYTES = 2 * 1024 * 1024
HUGE_PIECE_BYTES = 32 * 1024
ECHO_HEADER = "X-Upstream-Echo"


def requested(body: bytes) -> str | None:
    """The fault a raw request body asks for, if any."""
    match = _MARKER_RE.search(body)
    return match.group(1).decode() if match else None


def words_of(text: str) -> list[str]:
    first, *rest = text.split(" ")
    return [first, *(" " + word for word in rest)]


@functools.cache  # built once: 24 concurrent huge answers must not stall the fake's loop
def huge_text() -> str:
    """About HUGE_BYTES of words: "w0 w1 w2 ..." (ASCII, so bytes == characters)."""
    pieces: list[str] = []
    size = 0
    k = 0
    while size < HUGE_BYTES:
        word = f"w{k} "
        pieces.append(word)
        size += len(word)
        k += 1
    return "".join(pieces).rstrip()


def huge_pieces(text: str) -> list[str]:
    return [text[i : i + HUGE_PIECE_BYTES] for i in range(0, len(text), HUGE_PIECE_BYTES)]


def received_credential(request: web.Request) -> str:
    """The provider credential as the fake received it, in whichever header the API uses."""
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        return authorization[7:]
    return (
        request.headers.get("x-api-key")
        or request.headers.get("x-goog-api-key")
        or request.query.get("key")
        or ""
    )


def truncated(event: bytes) -> bytes:
    """The same SSE event with its JSON data cut in half (the ``event:`` line kept)."""
    head, sep, data = event.rstrip(b"\n").partition(b"data: ")
    assert sep, "not an SSE data event"
    return head + sep + data[: max(1, len(data) // 2)] + b"\n\n"


@dataclass
class StreamParts:
    head: list[bytes]  # before any text (may be empty)
    content: list[bytes]  # one event per text piece
    tail: list[bytes]  # finish reason, usage and the end marker

    def all(self) -> list[bytes]:
        return [*self.head, *self.content, *self.tail]


class Dialect(ABC):
    """What a fake supplies so the shared faults speak its wire format."""

    stream_headers: dict[str, str] = {"Content-Type": "text/event-stream"}

    def __init__(self, model: str, stream: bool) -> None:
        self.model = model
        self.stream = stream

    @abstractmethod
    def error(self, status: int, message: str, headers: dict[str, str]) -> web.Response: ...

    @abstractmethod
    def body(self, text: str) -> bytes:
        """A whole successful non-stream answer carrying ``text``."""

    @abstractmethod
    def stream_parts(self, pieces: list[str]) -> StreamParts: ...

    @abstractmethod
    def stream_error(self, message: str) -> bytes:
        """The dialect's in-stream error event."""


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _wait_unless_gone(request: web.Request, seconds: float) -> bool:
    """Sleep up to ``seconds``; True as soon as the client has gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if client_gone(request):
            return True
        await asyncio.sleep(0.05)
    return client_gone(request)


async def serve(
    fake: FakeUpstream, request: web.Request, name: str, dialect: Dialect
) -> web.StreamResponse:
    """Answer ``request`` with fault ``name`` in ``dialect``."""
    model = dialect.model
    fake._event(f"fault:{name}", model)
    if name == "500":
        return dialect.error(500, "Fault injected: the upstream failed internally.", {})
    if name == "429":
        return dialect.error(
            429, "Fault injected: rate limited, retry after 7 seconds.", {"Retry-After": "7"}
        )
    if name in ("echo_key", "echo_header"):
        return await _echo_key(fake, request, dialect, error=name == "echo_key")
    if name == "first_byte":
        if await _wait_unless_gone(request, FIRST_BYTE_WAIT):
            fake._event("request_aborted", model)
            return web.Response(status=499)  # nobody is listening any more
        if dialect.stream:
            parts = dialect.stream_parts(words_of(FAULT_TEXT))
            return await _stream(fake, request, dialect, parts.all())
        return web.Response(body=dialect.body(FAULT_TEXT), content_type="application/json")
    if name == "huge":
        text = huge_text()
        if not dialect.stream:
            return web.Response(body=dialect.body(text), content_type="application/json")
        return await _stream(fake, request, dialect, dialect.stream_parts(huge_pieces(text)).all())
    if name in ("malformed_json", "malformed_event") and not dialect.stream:
        return web.Response(
            body=b'{"id": "fault", "choices": [{"mess', content_type="application/json"
        )
    if dialect.stream:
        return await _stream_fault(fake, request, name, dialect)
    return await _body_fault(fake, request, name, dialect)


async def _stream_fault(
    fake: FakeUpstream, request: web.Request, name: str, dialect: Dialect
) -> web.StreamResponse:
    model = dialect.model
    parts = dialect.stream_parts(words_of(FAULT_TEXT))
    opening = [*parts.head, parts.content[0]]
    if name == "slow_drip":
        return await _stream(fake, request, dialect, parts.all(), delay=SLOW_DELAY)
    if name == "malformed_json":
        return await _stream(fake, request, dialect, [truncated(opening[0])])
    if name == "malformed_event":
        broken = truncated(parts.content[1])
        events = [*opening, broken, *parts.content[2:], *parts.tail]
        return await _stream(fake, request, dialect, events)
    resp = await _open(request, dialect)
    if not await fake._write_events(request, resp, model, opening, delay=0):
        return resp
    if name == "idle":
        if await _wait_unless_gone(request, SILENCE):
            fake._event("stream_aborted", model)
        return resp
    if name == "reset":
        _abort(fake, request, model)
        return resp
    if name == "total":
        drip = dialect.stream_parts(["."]).content[0]
        deadline = time.monotonic() + TOTAL_DRIP
        while time.monotonic() < deadline:
            await asyncio.sleep(DRIP_DELAY)
            if not await fake._write_events(request, resp, model, [drip], delay=0):
                return resp
        events = parts.content[1:] + parts.tail
        if await fake._write_events(request, resp, model, events, delay=0):
            await fake._complete_stream(resp, model)
        return resp
    raise ValueError(f"unknown fault {name!r}")


async def _body_fault(
    fake: FakeUpstream, request: web.Request, name: str, dialect: Dialect
) -> web.StreamResponse:
    """The non-stream forms: the JSON body cut short, stalled, dripped or dropped."""
    model = dialect.model
    body = dialect.body(FAULT_TEXT)
    half = len(body) // 2
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    if name == "slow_drip":
        step = -(-len(body) // 4)
        pieces = [body[i : i + step] for i in range(0, len(body), step)]
        if await fake._write_events(request, resp, model, pieces, delay=SLOW_DELAY):
            await fake._complete_stream(resp, model)
        return resp
    if name == "total":
        deadline = time.monotonic() + TOTAL_DRIP
        while time.monotonic() < deadline:  # leading whitespace keeps the JSON valid
            await asyncio.sleep(DRIP_DELAY)
            if not await fake._write_events(request, resp, model, [b" "], delay=0):
                return resp
        if await fake._write_events(request, resp, model, [body], delay=0):
            await fake._complete_stream(resp, model)
        return resp
    if not await fake._write_events(request, resp, model, [body[:half]], delay=0):
        return resp
    if name == "idle":
        if await _wait_unless_gone(request, SILENCE):
            fake._event("stream_aborted", model)
        return resp
    if name == "reset":
        _abort(fake, request, model)
        return resp
    raise ValueError(f"unknown fault {name!r}")


async def _echo_key(
    fake: FakeUpstream, request: web.Request, dialect: Dialect, *, error: bool
) -> web.StreamResponse:
    echoed = [received_credential(request)]
    echoed += [m.decode() for m in _CLIENT_KEY_RE.findall(await request.read())]
    message = "Fault injected: this key is not valid here: " + " ".join(echoed)
    header = {ECHO_HEADER: " ".join(echoed)}
    parts = dialect.stream_parts(words_of(FAULT_TEXT))
    if not dialect.stream:
        if error:
            return dialect.error(500, message, header)
        body = dialect.body(FAULT_TEXT)
        return web.Response(body=body, content_type="application/json", headers=header)
    if error:
        events = [*parts.head, parts.content[0], dialect.stream_error(message)]
    else:
        events = parts.all()
    return await _stream(fake, request, dialect, events, extra_headers=header)


async def _open(
    request: web.Request, dialect: Dialect, extra_headers: dict[str, str] | None = None
) -> web.StreamResponse:
    headers = {**dialect.stream_headers, "Cache-Control": "no-cache", **(extra_headers or {})}
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)
    return resp


async def _stream(
    fake: FakeUpstream,
    request: web.Request,
    dialect: Dialect,
    events: list[bytes],
    *,
    delay: float = 0.0,
    extra_headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    resp = await _open(request, dialect, extra_headers)
    if await fake._write_events(request, resp, dialect.model, events, delay=delay):
        await fake._complete_stream(resp, dialect.model)
    return resp


def _abort(fake: FakeUpstream, request: web.Request, model: str) -> None:
    if request.transport is not None:
        request.transport.abort()  # RST: no terminating chunk, no end marker
    fake._event("stream_dropped", model)
