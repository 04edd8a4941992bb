"""The base of every relay endpoint: a Channels HTTP consumer with a lean dispatch.

AsyncHttpConsumer's stock dispatch joins a channel layer and hops to a thread to close old
database connections on every message; the relay needs neither (it never touches the ORM
on the hot path), so this class reads the body itself, watches for the client leaving
while the handler runs, and renders errors in the endpoint's dialect.

Before reading a body it refuses what it need not read: a path or query string no endpoint
can serve (NUL, control characters, bytes that are not UTF-8: 400), a declared size over
ORCA_MAX_BODY_BYTES (413), and, for a body over ORCA_PREAUTH_BODY_BYTES (declared, or once
that much has arrived), a bad API key (`preauthenticate`, from the headers alone: 401).
An answer that leaves part of a body unread closes the connection.
"""

import asyncio
import functools
import itertools
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any

from channels.generic.http import AsyncHttpConsumer
from django.conf import settings

from orca import logs
from orca.middleware import scope_problem

from ..telemetry import metrics
from .errors import DATABASE_DOWN, DATABASE_UNAVAILABLE, ClientGone, GatewayError
from .request import Request

if TYPE_CHECKING:
    from workspaces.selectors import KeyContext

    from ..catalog.snapshot import ModelRoute

log = logging.getLogger(__name__)

JSON = b"application/json"
WATCH_AFTER = 0.05  # seconds a call runs before a task starts watching for the client leaving


class _RequestIds:
    """`req_` + 24 hex digits: a random per-process prefix and a counter. Unique without a
    system call for randomness on every request; ids are not secrets (every lookup by id is
    scoped to the caller's workspace)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # a forked worker needs its own

    def reset(self) -> None:
        self._prefix = "req_" + secrets.token_hex(7)
        self._counter = itertools.count(secrets.randbelow(1 << 32))

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFF:010x}"


new_request_id = _RequestIds()


@functools.cache
def _body_limits() -> tuple[int, int]:
    # read once: settings lookups showed in profiles
    return settings.ORCA_MAX_BODY_BYTES, settings.ORCA_PREAUTH_BODY_BYTES


class RelayConsumer(AsyncHttpConsumer):
    allowed_methods: tuple[str, ...] = ("POST",)
    key: "KeyContext | None" = None  # once `preauthenticate` checked the API key
    # Metrics: the `surface` label of this endpoint's errors; whether its calls count in
    # orca_requests (the pipeline's surfaces); the model planned, once known; and whether
    # the pipeline recorded the call itself (from admission on).
    metric_surface = "other"
    counts_requests = False
    planned: "ModelRoute | None" = None
    recorded = False
    span: Any = None  # the call's OpenTelemetry span, when tracing is on

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_id = new_request_id()
        self.response_started = False
        self.response_complete = False
        self.body_unread = True  # until the last body message arrived
        self._client_gone = False
        self._watcher: asyncio.Task | None = None
        self.extra_headers: list[tuple[bytes, bytes]] = []  # X-Orca-* routing headers

    async def preauthenticate(self) -> None:
        """Refuse, from the headers alone, a request whose large body is not worth reading.
        Endpoints that take an API key check it here and keep the KeyContext in `self.key`;
        this one checks nothing."""

    async def __call__(self, scope, receive, send) -> None:
        self.scope = scope
        self.request = Request(scope)
        self.base_send = send
        if logs.REQUEST_IDS:
            logs.tag_task(self.request_id)  # this task's log lines carry it
        try:
            problem = scope_problem(scope)
            if problem:
                raise GatewayError(400, problem, code="invalid_request")
            if scope["method"] not in self.allowed_methods:
                raise GatewayError(
                    405,
                    f"method {scope['method']} not allowed; use {', '.join(self.allowed_methods)}",
                    code="method_not_allowed",
                )
            body = await self._read_body(receive)
            await self._run_watching_disconnect(self.handle(body), receive)
        except GatewayError as exc:
            if not self.recorded:
                self._count_unrecorded(exc.status, exc.code or "")
            if not self.response_started:
                await self.send_error(exc)
        except ClientGone:
            pass
        except DATABASE_DOWN as exc:
            # A key or record the caches do not hold while PostgreSQL is unreachable: the
            # client may retry, so it gets a 503 rather than a bug's 500.
            log.warning("request %s: the database is unreachable: %s", self.request_id, exc)
            if not self.recorded:
                self._count_unrecorded(503, "database_unavailable")
            if not self.response_started:
                await self.send_error(DATABASE_UNAVAILABLE)
        except Exception:
            log.exception("request %s failed", self.request_id)
            if not self.recorded:
                self._count_unrecorded(500, "internal_error")
            if not self.response_started:
                await self.send_error(
                    GatewayError(500, "internal gateway error", code="internal_error")
                )

    def _count_unrecorded(self, status: int, code: str) -> None:
        """An error the pipeline did not record (it came before admission, or from an
        endpoint outside the pipeline)."""
        metrics.error(self.metric_surface, code)
        if self.counts_requests:
            metrics.unadmitted(self.metric_surface, self.planned, status)

    async def _read_body(self, receive) -> bytes:
        limit, unchecked = _body_limits()
        declared = self.header(b"content-length")
        if declared and declared.isdigit():
            if int(declared) > limit:
                raise GatewayError(
                    413, f"request body exceeds the {limit}-byte limit", code="request_too_large"
                )
            if int(declared) > unchecked:
                await self.preauthenticate()
                unchecked = limit
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > unchecked:  # a body without a declared size grew large
                if size > limit:
                    raise GatewayError(
                        413,
                        f"request body exceeds the {limit}-byte limit",
                        code="request_too_large",
                    )
                await self.preauthenticate()
                unchecked = limit
            parts.append(chunk)
            if not message.get("more_body"):
                self.body_unread = False
                return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _run_watching_disconnect(self, work, receive) -> None:
        """Run the handler in this task; if the client disconnects first, cancel it (which
        closes the upstream connection). The watcher that waits for the disconnect starts
        only once the call has run for WATCH_AFTER seconds: a call that ends sooner has no
        upstream time worth saving, and skips the cost of a task."""
        task = asyncio.current_task()
        assert task is not None  # this runs in the consumer's task
        loop = asyncio.get_running_loop()
        timer = loop.call_later(WATCH_AFTER, self._start_watching, loop, receive, task)
        try:
            await work
        except asyncio.CancelledError:
            if self._client_gone and task.uncancel() == 0:
                raise ClientGone from None  # stopped on the client's behalf, not from outside
            raise
        finally:
            timer.cancel()
            if self._watcher is not None:
                self._watcher.cancel()

    def _start_watching(self, loop, receive, task: asyncio.Task) -> None:
        self._watcher = loop.create_task(self._wait_for_disconnect(receive, task))

    async def _wait_for_disconnect(self, receive, task: asyncio.Task) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if self.response_complete:
                    return  # a finished response is not a disconnect
                self._client_gone = True
                task.cancel()
                return

    # --- request helpers -----------------------------------------------------------------

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    # --- responses ---------------------------------------------------------------------

    async def send_headers(self, *, status=200, headers=None) -> None:
        headers = list(headers or [])
        headers.append((b"x-orca-request-id", self.request_id.encode()))
        headers.extend(self.extra_headers)
        self.response_started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def send_body(self, body: bytes, *, more_body: bool = False) -> None:
        if not more_body:
            self.response_complete = True
        await self.send({"type": "http.response.body", "body": body, "more_body": more_body})

    async def send_json(self, status: int, body: bytes, headers=()) -> None:
        length = (b"content-length", b"%d" % len(body))
        await self.send_headers(status=status, headers=[(b"content-type", JSON), length, *headers])
        await self.send_body(body)

    def render_error(self, error: GatewayError) -> bytes:
        """OpenAI envelope; endpoints of other dialects override this."""
        from .surfaces import CHAT  # surfaces import the wire modules; keep this one light

        return CHAT.render_error(error)

    async def send_error(self, error: GatewayError) -> None:
        headers = error.headers
        if self.body_unread and self._has_body():  # what is left of it is not read
            headers = [*headers, (b"connection", b"close")]
        await self.send_json(error.status, self.render_error(error), headers)

    def _has_body(self) -> bool:
        declared = self.header(b"content-length")
        return declared not in (None, "0") or self.header(b"transfer-encoding") is not None


class NotFoundConsumer(RelayConsumer):
    allowed_methods = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    metric_surface = "not_found"

    async def preauthenticate(self) -> None:
        await self.handle(b"")  # nothing here reads a body

    async def handle(self, body: bytes) -> None:
        raise GatewayError(
            404,
            f"Invalid URL ({self.scope['method']} {self.scope['path']})",
            code="not_found",
        )
