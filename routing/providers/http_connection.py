"""One keep-alive HTTP/1.1 connection to an upstream, and the response it is reading.

The connection is an asyncio protocol; httptools (llhttp, the parser behind Node and
uvicorn) splits the bytes into status, headers and body. Body chunks are buffered on the
response until the caller takes them, so the connection goes back to its pool the moment
the last byte arrives, whether or not the caller has read it yet. Past HIGH_WATER
buffered bytes the socket stops reading until the caller catches up.

A stream waits for its next chunk thousands of times a second across a worker's streams,
so a wait arms no timer of its own: each response keeps one timer, moved only when a wait
needs it sooner and otherwise checked when it fires. And a stream's reader is woken for
new bytes through the loop's `_Waker`, a few per loop turn: a worker relaying a thousand
streams then answers a quick call between turns instead of behind every stream's chunk,
and a stream woken later finds more bytes to relay in one go (docs/performance.md).
"""

import asyncio
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable

import httptools

from .base import Deadline, Timeouts, UpstreamFailure, UpstreamTimeout

HIGH_WATER = 1 << 20
LOW_WATER = 1 << 18
MAX_HEADER_BYTES = 64 * 1024  # llhttp sets no limit; a runaway upstream would fill memory
DRAIN_SECONDS = 1.0  # how long a released response may take to finish arriving
DRAIN_BYTES = 64 * 1024  # and how much of it

# Header names we look at while parsing, compared by length first (one int compare per
# header, no lower-casing for the rest).
_FRAMING = {b"content-length", b"transfer-encoding"}
_ENCODING = b"content-encoding"
_DECODABLE = {b"gzip", b"x-gzip", b"deflate"}


EARLY = 0.001  # a timer that fires this close to its deadline counts it as passed
WAKE_BATCH = 8  # stream readers woken per loop turn


class _Waker:
    """Wakes waiting stream readers in arrival order, WAKE_BATCH per loop turn. Between
    two turns the loop polls its sockets and runs what they made ready, so other calls'
    steps wait behind at most a batch of stream relays, not behind all of them."""

    __slots__ = ("loop", "pending", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: deque[UpstreamHttpResponse] = deque()
        self.scheduled = False

    def add(self, response: "UpstreamHttpResponse") -> None:
        self.pending.append(response)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def run(self) -> None:
        pending = self.pending
        for _ in range(min(WAKE_BATCH, len(pending))):
            response = pending.popleft()
            response._queued = False
            response._wake()
        if pending:
            self.loop.call_soon(self.run)
        else:
            self.scheduled = False


_waker: _Waker | None = None


def _waker_for(loop: asyncio.AbstractEventLoop) -> _Waker:
    global _waker
    if _waker is None or _waker.loop is not loop:
        _waker = _Waker(loop)
    return _waker


class UpstreamHttpResponse:
    """Status and headers, then the body as it arrives (`chunks`) or whole (`read`)."""

    __slots__ = (
        "_blame",
        "_buffered",
        "_chunks",
        "_complete",
        "_compressed",
        "_conn",
        "_deadline",
        "_decoder",
        "_drain_timer",
        "_draining",
        "_error",
        "_framed",
        "_header_bytes",
        "_headers",
        "_interim",
        "_paused",
        "_queued",
        "_streaming",
        "_timeouts",
        "_timer",
        "_timer_at",
        "_until",
        "_waiter",
        "raw_headers",
        "status",
    )

    def __init__(self, conn: "UpstreamConnection", timeouts: Timeouts, deadline: Deadline):
        self._conn = conn
        self._timeouts = timeouts
        self._deadline = deadline
        self.status = 0  # set when the headers are complete
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self._headers: dict[str, str] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._streaming = False  # the caller relays chunks as they come (chunks())
        self._queued = False  # in the waker's queue
        self._complete = False
        self._error: UpstreamFailure | None = None
        self._waiter: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None  # fires at _timer_at <= _until
        self._timer_at = 0.0
        self._until = 0.0  # when the current wait runs out
        self._blame = ""
        self._compressed = False  # gzip or deflate: decoded as it arrives
        # made on the first body byte (an empty body has no stream)
        self._decoder: zlib._Decompress | None = None
        self._header_bytes = 0
        self._draining = False
        self._drain_timer: asyncio.TimerHandle | None = None
        self._framed = False  # Content-Length or chunked: EOF before the end is a break
        self._interim = False  # reading a 1xx response, which is skipped

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; repeated headers joined with ", ". Built on first use: most
        successful calls never look."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for raw_name, raw_value in self.raw_headers:
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            self._headers = headers
        return self._headers

    # --- the caller's side -------------------------------------------------------------

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: whatever is buffered comes out as one piece, so a relay
        that fell behind catches up in one send instead of one per network read."""
        self._streaming = True
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        queue = self._chunks
        while True:
            if queue:
                if len(queue) == 1:
                    chunk = queue.popleft()
                else:
                    chunk = b"".join(queue)
                    queue.clear()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < LOW_WATER:
                    self._paused = False
                    self._conn.resume_reading()
                yield chunk
            elif self._complete:
                return
            elif self._error is not None:
                raise self._error
            else:
                wait, blame = self._deadline.budget(self._timeouts.idle)
                await self.wait(wait, blame or "idle")

    async def read(self) -> bytes:
        if not self._complete:
            return b"".join([chunk async for chunk in self._pieces()])
        queue = self._chunks
        body = queue.popleft() if len(queue) == 1 else b"".join(queue)
        queue.clear()
        self._buffered = 0
        return body

    def close(self) -> None:
        """Drop the connection if it is still busy with this response; once the response
        has arrived whole, the connection is back in its pool serving someone else."""
        self._stop_timer()
        if self._conn.response is self and not self._draining:
            self._conn.abort()

    def release(self) -> None:
        """The caller has all it needs (a stream's end marker) though the body may not have
        ended yet: the transfer's own end often comes a packet later. Let the rest arrive
        unread and the connection return to its pool; cut it if the rest lingers past
        DRAIN_SECONDS or DRAIN_BYTES."""
        conn = self._conn
        if conn.response is not self or self._error is not None or conn.closed:
            return
        self._draining = True
        self._stop_timer()
        self._chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            conn.resume_reading()
        self._drain_timer = conn.loop.call_later(DRAIN_SECONDS, conn.abort_if_serving, self)

    async def wait(self, seconds: float, blame: str) -> None:
        """Until the connection has news for us: headers, a chunk, the end or a failure,
        at most `seconds`. The response's one timer is re-armed only if it would fire
        after this wait's deadline; a timer that fires early finds the wait still in
        time and moves itself on (_check_deadline)."""
        if self._error is not None:
            raise self._error
        loop = self._conn.loop
        until = self._until = loop.time() + seconds
        self._blame = blame
        timer = self._timer
        if timer is None or self._timer_at > until:
            if timer is not None:
                timer.cancel()
            self._timer_at = until
            self._timer = loop.call_at(until, self._check_deadline)
        waiter = self._waiter = loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _check_deadline(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # nobody waits now; the next wait arms the timer again
        loop = self._conn.loop
        if loop.time() + EARLY >= self._until:
            waiter.set_exception(UpstreamTimeout(self._blame))
        else:
            self._timer_at = self._until
            self._timer = loop.call_at(self._until, self._check_deadline)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- the connection's side ----------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamFailure) -> None:
        if self._complete or self._error is not None:
            return
        self._error = error
        self._stop_timer()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _feed(self, data: bytes) -> None:
        if self._draining:
            self._buffered += len(data)
            if self._buffered > DRAIN_BYTES:
                self._conn.abort()
            return
        if self._compressed:
            if self._decoder is None:
                self._decoder = zlib.decompressobj(wbits=47)  # zlib or gzip framing
            try:
                data = self._decoder.decompress(data)
            except zlib.error:
                self._fail(UpstreamFailure("upstream sent a corrupt compressed body"))
                self._conn.abort()
                return
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused:
            self._paused = True
            self._conn.pause_reading()
        if not self._streaming:
            self._wake()
        elif not self._queued and self._waiter is not None:
            self._queued = True
            self._conn.waker.add(self)

    def _finish(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self._paused:  # the last bytes came with the ones that crossed HIGH_WATER
            self._paused = False
            self._conn.resume_reading()
        decoder = self._decoder
        if decoder is not None:
            rest = decoder.flush()
            if rest:
                self._chunks.append(rest)
            if not decoder.eof:
                self._fail(UpstreamFailure("upstream sent a truncated or corrupt compressed body"))
                return
        self._complete = True
        self._stop_timer()
        self._wake()


class UpstreamConnection(asyncio.Protocol):
    """A socket to one origin. `release` is called when a response has been read to its end
    and the connection may serve another request; `forget` when the socket is gone."""

    def __init__(
        self,
        origin: tuple[str, str, int],
        release: Callable[["UpstreamConnection"], None],
        forget: Callable[["UpstreamConnection"], None],
    ) -> None:
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.response: UpstreamHttpResponse | None = None
        self.closed = False
        self.counted = True  # still counts toward the pool's connection limit
        self.idle_since = 0.0
        self.waker = _waker_for(self.loop)
        self._release = release
        self._forget = forget
        self._keep_alive = False
        self._parser = httptools.HttpResponseParser(self)

    # The transport is set by connection_made before the pool hands the connection out
    # (http.py returns it only once create_connection has succeeded), so every method
    # below that uses it runs with it set.

    def send(self, response: UpstreamHttpResponse, request: bytes) -> None:
        self.response = response
        assert self.transport is not None
        self.transport.write(request)

    def abort_if_serving(self, response: UpstreamHttpResponse) -> None:
        if self.response is response:
            self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            assert self.transport is not None
            self.transport.abort()
            self._forget(self)  # free its slot now, not when the loop reports the loss

    def pause_reading(self) -> None:
        if not self.closed:
            assert self.transport is not None
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.closed:
            assert self.transport is not None
            self.transport.resume_reading()

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            response = self.response
            if response is not None:
                response._fail(UpstreamFailure("upstream broke the HTTP protocol"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._forget(self)
        response, self.response = self.response, None
        if response is None:
            return
        if response.status and not response._framed and exc is None:
            response._finish()  # a body delimited by the server closing the connection
        elif response.status:
            response._fail(UpstreamFailure("upstream connection broke mid-body"))
        else:
            response._fail(UpstreamFailure("upstream closed the connection before answering"))

    # --- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.response is None:  # bytes nobody asked for: the connection can't be trusted
            raise UpstreamFailure("unsolicited response")

    # From on_message_begin (which raises without one) to on_message_complete, a message
    # being parsed has its response set.

    def on_header(self, name: bytes, value: bytes) -> None:
        response = self.response
        assert response is not None
        if response.status:
            return  # a chunked body's trailer fields: not headers, and nothing we use
        size = len(name)
        response._header_bytes += size + len(value)
        if response._header_bytes > MAX_HEADER_BYTES:
            response._fail(UpstreamFailure("upstream sent more than 64 KiB of headers"))
            raise UpstreamFailure("headers too large")
        response.raw_headers.append((name, value))
        if size == 16 and name.lower() == _ENCODING:
            encoding = value.strip().lower()
            if encoding in _DECODABLE:
                response._compressed = True
            elif encoding != b"identity":
                shown = encoding.decode("latin-1")[:40]
                response._fail(UpstreamFailure(f"upstream sent a body in {shown!r} encoding"))
                raise UpstreamFailure("unsupported content-encoding")
        elif (size == 14 or size == 17) and name.lower() in _FRAMING:
            response._framed = True

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue and friends: the real response follows
            response._interim = True
            response.raw_headers.clear()
            response._framed = response._compressed = False
            return
        self._keep_alive = self._parser.should_keep_alive()
        response.status = status
        response._wake()

    def on_body(self, body: bytes) -> None:
        response = self.response
        assert response is not None
        response._feed(body)

    def on_message_complete(self) -> None:
        response = self.response
        assert response is not None
        if response._interim:
            response._interim = False
            return
        self.response = None
        response._finish()
        # An answer that came before the whole request went out (an early 401 or 413)
        # leaves unsent bytes that the server would read as the next request.
        transport = self.transport
        assert transport is not None  # it delivered the bytes being parsed
        if self._keep_alive and not self.closed and not transport.get_write_buffer_size():
            self._release(self)
        else:
            self.closed = True
            transport.close()
            self._forget(self)
