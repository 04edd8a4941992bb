"""uvicorn's httptools protocol with bounds on what a client may send before the app runs.

`make serve` and the tests' live server start uvicorn with `--http orca.server:HttpProtocol`.
For every path (relay and Django alike), each answered with a JSON error and then closed:
- the request head (request line and headers): at most ORCA_MAX_HEADER_BYTES in all and
  ORCA_MAX_HEADER_COUNT headers, else 431. httptools buffers a header until it is whole, so
  the bytes are counted as they arrive, not in its callbacks;
- from the connection's start (or a kept-alive request's first byte) until the head is
  complete: ORCA_CLIENT_HEADER_TIMEOUT seconds, else 408;
- from the head's end until the body is complete: ORCA_CLIENT_BODY_TIMEOUT seconds in all
  (a total, not a silence: one byte every few seconds keeps a silence timer happy), else 408;
- the body: ORCA_MAX_BODY_BYTES, else 413. When a body goes over, reading pauses and the
  app has one turn first: the relay answers an oversize body itself, in the endpoint's
  dialect; an app that has not answered by then (Django, reading on) is refused.

One timer per connection, moved only when it fires or a phase's deadline comes sooner, so a
request costs a few comparisons (measured: 1-2 µs above uvicorn's own protocol).
"""

import functools
import os

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orca.settings")

HEAD, BODY, IDLE = "head", "body", "idle"


class _Refused(Exception):
    """Raised in a parser callback after the refusal went out: stops the parser."""


@functools.cache
def _limits() -> tuple[int, int, float, float, int]:
    from django.conf import settings

    return (
        settings.ORCA_MAX_HEADER_BYTES,
        settings.ORCA_MAX_HEADER_COUNT,
        settings.ORCA_CLIENT_HEADER_TIMEOUT,
        settings.ORCA_CLIENT_BODY_TIMEOUT,
        settings.ORCA_MAX_BODY_BYTES,
    )


def _error(code: str, message: str) -> bytes:
    error = {"message": message, "type": "orcarouter_api_error", "param": None, "code": code}
    return orjson.dumps({"error": error})


_Base = HttpToolsProtocol  # called directly in the per-request callbacks: super() costs more


class HttpProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        (self.max_head, self.max_headers, self.head_timeout, self.body_timeout, self.max_body) = (
            _limits()
        )
        self._phase = HEAD
        self._since = 0.0  # when the phase began
        self._received = 0  # head bytes so far (while not in a body), else body bytes
        self._over = False  # this request's body went over the limit
        self._timer = None
        self._due = 0.0

    # --- phases and the one timer -----------------------------------------------------------

    # Entering a phase (connection_made, on_message_begin, on_headers_complete) sets _phase
    # and _since; a timer due later than the new deadline is moved, an earlier one moves
    # itself on when it fires (_expire).

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._due = self.loop.call_at(due, self._expire), due

    def _expire(self) -> None:
        self._timer = None
        if self._phase is IDLE or self.transport.is_closing():
            return
        timeout = self.head_timeout if self._phase is HEAD else self.body_timeout
        due = self._since + timeout
        if due > self.loop.time():  # the phase began after this timer was set
            self._arm(due)
            return
        part = "headers" if self._phase is HEAD else "body"
        self._refuse(408, "request_timeout", f"the request {part} took longer than {timeout:g} s")

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer, unless a response is under way (then only close), and close."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        cycle = self.cycle  # in a head: the previous request's; else this request's own
        if self._phase is HEAD:
            answer = cycle is None or cycle.response_complete
        else:
            answer = cycle is None or not cycle.response_started
        self._phase = IDLE
        if answer:
            body = _error(code, message)
            head = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                head.extend([name, b": ", value, b"\r\n"])
            head.append(b"content-type: application/json\r\nconnection: close\r\n")
            head.append(b"content-length: %d\r\n\r\n" % len(body))
            self.transport.write(b"".join([*head, body]))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's sends are dropped, receive() says so
            cycle.message_event.set()
        self.transport.close()

    def _refuse_unanswered(self) -> None:
        """The app had its turn with an oversize body: refuse it, or if the app answered but
        left the connection open, close it (the rest of the body would only be dropped)."""
        if not self.transport.is_closing():
            limit = self.max_body
            self._refuse(413, "request_too_large", f"request body exceeds the {limit}-byte limit")

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # --- protocol and parser callbacks ------------------------------------------------------

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._phase, self._since = HEAD, self.loop.time()
        self._arm(self._since + self.head_timeout)

    def connection_lost(self, exc) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase is not BODY:  # head bytes (an idle connection's begin the next head)
            self._received += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self.transport.is_closing():  # else: refused in a callback, answered
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._phase is not BODY and self._received > self.max_head:
            self._refuse(431, "request_header_fields_too_large", self._head_too_large())

    def _head_too_large(self) -> str:
        return f"request line and headers exceed {self.max_head} bytes"

    def on_message_begin(self) -> None:
        _Base.on_message_begin(self)
        if self._phase is IDLE:  # a kept-alive connection's next request
            now = self.loop.time()
            self._phase, self._since = HEAD, now
            if self._timer is None or self._due > now + self.head_timeout:
                self._arm(now + self.head_timeout)

    def on_headers_complete(self) -> None:
        # Bytes counted so far may include the start of the body: measure the head exactly.
        if self._received > self.max_head and self._head_size() > self.max_head:
            self._refuse(431, "request_header_fields_too_large", self._head_too_large())
            raise _Refused
        if len(self.headers) > self.max_headers:
            message = f"more than {self.max_headers} header fields"
            self._refuse(431, "request_header_fields_too_large", message)
            raise _Refused
        now = self.loop.time()
        self._phase, self._since, self._received, self._over = BODY, now, 0, False
        if self._timer is None or self._due > now + self.body_timeout:
            self._arm(now + self.body_timeout)
        _Base.on_headers_complete(self)

    def on_body(self, body: bytes) -> None:
        self._received += len(body)
        _Base.on_body(self, body)
        if self._received > self.max_body and not self._over:
            self._over = True
            self.flow.pause_reading()
            self.loop.call_soon(self._refuse_unanswered)  # after the app's turn

    def on_message_complete(self) -> None:
        self._phase, self._received = IDLE, 0
        _Base.on_message_complete(self)

    def handle_websocket_upgrade(self) -> None:
        self._phase = IDLE  # the websocket protocol takes the connection over
        super().handle_websocket_upgrade()
