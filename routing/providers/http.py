"""Upstream calls: a POST over pooled keep-alive connections, under the call's deadlines.

Orca's own small HTTP/1.1 client (connection and parsing in http_connection.py). The
relay only ever POSTs a JSON body and reads JSON or SSE back; doing just that costs about
a fifth of the CPU of aiohttp's general client per call, which was the biggest single
item in a worker's profile (docs/performance.md). TLS is the standard library's, with
the system's CA store (certifi's when the system has none).
"""

import asyncio
import functools
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from .base import Deadline, Timeouts, UpstreamFailure, UpstreamTimeout
from .http_connection import UpstreamConnection, UpstreamHttpResponse

KEEPALIVE_SECONDS = 30.0  # an idle connection older than this is closed, not reused
HAPPY_EYEBALLS_DELAY = 0.25

Origin = tuple[str, str, int]  # scheme, host, port


@dataclass(frozen=True, slots=True)
class Target:
    origin: Origin
    head: bytes  # the request line and Host header


@functools.lru_cache(maxsize=256)
def target(url: str) -> Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamFailure("upstream URL must be http:// or https:// with a host")
    default_port = 443 if scheme == "https" else 80
    port = parts.port or default_port
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == default_port else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not path.isascii() or any(char <= " " for char in path):
        raise UpstreamFailure("upstream URL path must be ASCII without spaces")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {authority}\r\n"
        "User-Agent: orca-gateway\r\nAccept-Encoding: identity\r\n"
    ).encode("ascii")
    return Target((scheme, host, port), head)


@functools.cache
def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not context.cert_store_stats()["x509_ca"]:
        import certifi  # slim images without a CA store

        context.load_verify_locations(certifi.where())
    return context


class Pool:
    """Idle connections per origin (most recently used first) and a limit on how many are
    open at once, across origins; callers over the limit queue in order."""

    def __init__(self, limit: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.limit = limit  # 0: no limit
        self.open = 0
        self.idle: dict[Origin, list[UpstreamConnection]] = {}
        self.closed = False
        self._waiters: deque[asyncio.Future] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        # asyncio's own loop races IPv6 and IPv4 addresses; uvloop has no such option and
        # tries them in turn.
        standard = isinstance(self.loop, asyncio.BaseEventLoop)
        self._connect_options = {"happy_eyeballs_delay": HAPPY_EYEBALLS_DELAY} if standard else {}

    def take_idle(self, origin: Origin) -> UpstreamConnection | None:
        idle = self.idle.get(origin)
        if idle:
            oldest_usable = self.loop.time() - KEEPALIVE_SECONDS
            while idle:
                conn = idle.pop()
                if not conn.closed and conn.idle_since > oldest_usable:
                    return conn
                self._shut(conn)
        return None

    async def connect(self, target: Target, timeout: float) -> UpstreamConnection:
        while self.limit and self.open >= self.limit:
            if not self._shut_an_idle_connection():
                waiter = self.loop.create_future()
                self._waiters.append(waiter)
                await waiter
            conn = self.take_idle(target.origin)
            if conn is not None:
                return conn
        self.open += 1
        scheme, host, port = target.origin
        tls = scheme == "https"
        try:
            async with asyncio.timeout(timeout):
                _, conn = await self.loop.create_connection(
                    lambda: UpstreamConnection(target.origin, self._release, self._forget),
                    host,
                    port,
                    ssl=_tls() if tls else None,
                    server_hostname=host if tls else None,
                    **self._connect_options,
                )
        except BaseException as exc:
            self.open -= 1
            self._wake_one()
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("connect") from None
            if isinstance(exc, OSError):  # refused, no route, DNS, TLS verification
                raise UpstreamFailure(f"upstream unreachable: {type(exc).__name__}") from None
            raise
        return conn

    def close(self) -> None:
        self.closed = True
        for idle in self.idle.values():
            for conn in idle:
                self._shut(conn)
        self.idle.clear()
        if self._sweep is not None:
            self._sweep.cancel()

    # --- called by connections ----------------------------------------------------------

    def _release(self, conn: UpstreamConnection) -> None:
        if self.closed:
            self._shut(conn)
            return
        conn.idle_since = self.loop.time()
        self.idle.setdefault(conn.origin, []).append(conn)
        if self._sweep is None:
            self._sweep = self.loop.call_later(KEEPALIVE_SECONDS, self._close_stale)
        self._wake_one()

    def _forget(self, conn: UpstreamConnection) -> None:
        idle = self.idle.get(conn.origin)
        if idle and conn in idle:
            idle.remove(conn)
        if conn.counted:
            conn.counted = False
            self.open -= 1
            self._wake_one()

    # --- internals ----------------------------------------------------------------------

    def _shut(self, conn: UpstreamConnection) -> None:
        if conn.counted:
            conn.counted = False
            self.open -= 1
        if not conn.closed:
            conn.closed = True
            conn.transport.close()

    def _shut_an_idle_connection(self) -> bool:
        """At the limit, an idle connection to another origin makes room for a new one."""
        oldest: UpstreamConnection | None = None
        for idle in self.idle.values():
            if idle and (oldest is None or idle[0].idle_since < oldest.idle_since):
                oldest = idle[0]
        if oldest is None:
            return False
        self.idle[oldest.origin].remove(oldest)
        self._shut(oldest)
        return True

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_stale(self) -> None:
        self._sweep = None
        oldest_usable = self.loop.time() - KEEPALIVE_SECONDS
        for idle in self.idle.values():
            stale = [conn for conn in idle if conn.idle_since <= oldest_usable]
            for conn in stale:
                idle.remove(conn)
                self._shut(conn)
        if any(self.idle.values()):
            self._sweep = self.loop.call_later(KEEPALIVE_SECONDS, self._close_stale)


_pool: Pool | None = None


def pool() -> Pool:
    """The running loop's pool (tests run servers on several loops in one process)."""
    global _pool
    if _pool is None or _pool.closed or _pool.loop is not asyncio.get_running_loop():
        _pool = Pool(settings.ORCA_UPSTREAM_MAX_CONNECTIONS)
    return _pool


async def close() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
    _pool = None


def _header_lines(headers: dict[str, str], size: int) -> bytes:
    lines = []
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            # a credential or setting with a line break would smuggle in headers
            raise UpstreamFailure(f"header {name.strip()!r} has a line break; not sent")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {size}\r\n\r\n")
    return "".join(lines).encode()


async def post(
    url: str, body: bytes, headers: dict[str, str], timeouts: Timeouts
) -> UpstreamHttpResponse:
    """Send the request and wait for the response headers (connect and first-byte deadlines)."""
    deadline = Deadline(timeouts.total)
    wait, blame = deadline.budget(timeouts.first_byte)
    blame = blame or "first byte"
    where = target(url)
    request = b"".join((where.head, _header_lines(headers, len(body)), body))
    connections = pool()
    conn = connections.take_idle(where.origin)
    if conn is None:
        loop = connections.loop
        give_up = loop.time() + wait
        try:
            async with asyncio.timeout_at(give_up):
                conn = await connections.connect(where, timeouts.connect)
        except TimeoutError:
            raise UpstreamTimeout(blame) from None
        wait = give_up - loop.time()
    response = UpstreamHttpResponse(conn, timeouts, deadline)
    conn.send(response, request)
    try:
        await response.wait(wait, blame)
    except BaseException:
        response.close()
        raise
    return response
