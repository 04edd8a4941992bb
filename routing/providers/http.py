"""Upstream calls: a POST over pooled keep-alive connections, under the call's deadlines.

Orca's own small HTTP/1.1 client (connection and parsing in http_connection.py). The
relay only ever POSTs a JSON body and reads JSON or SSE back; doing just that costs about
a fifth of the CPU of aiohttp's general client per call, which was the biggest single
item in a worker's profile (docs/performance.md). TLS is the standard library's, with
the system's CA store (certifi's when the system has none) plus ORCA_UPSTREAM_CA_BUNDLE.

Every address a host resolves to passes the SSRF guard (ssrf.py) before a connection
is opened; the verdict is cached with the DNS entry, so pooled requests pay nothing for it.
Calls other than this POST (GET, multipart, proxies, Celery) use transport.py's httpx.
"""

import asyncio
import functools
import socket
import ssl
from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohappyeyeballs
import orjson
from django.conf import settings

from . import ssrf, transport
from .base import Deadline, Timeouts, UpstreamFailure, UpstreamTimeout
from .http_connection import UpstreamConnection, UpstreamHttpResponse

KEEPALIVE_SECONDS = 30.0  # an idle connection older than this is closed, not reused
HAPPY_EYEBALLS_DELAY = 0.25
DNS_SECONDS = 300.0  # how long resolved addresses are reused for new connections

Origin = tuple[str, str, int]  # scheme, host, port


@dataclass(frozen=True, slots=True)
class Target:
    origin: Origin
    head: bytes  # the request line and Host header


@functools.lru_cache(maxsize=256)
def target(url: str) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
        if host and not host.isascii():
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise UpstreamFailure("upstream URL is not valid (host or port)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise UpstreamFailure("upstream URL must be http:// or https:// with a host")
    default_port = 443 if scheme == "https" else 80
    port = port or default_port
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


def _tls() -> ssl.SSLContext:
    """The TLS context for a new connection (one per CA bundle, cached in transport.py)."""
    return transport.tls_context(settings.ORCA_UPSTREAM_CA_BUNDLE)


class Pool:
    """Idle connections per origin (most recently used first), a limit on how many are
    open at once across origins (callers over it queue in order), and resolved addresses."""

    def __init__(self, limit: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.limit = limit  # 0: no limit
        self.open = 0
        self.idle: dict[Origin, list[UpstreamConnection]] = {}
        self.closed = False
        self.waiters: deque[asyncio.Future] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        # (host, port) -> (expiry, addresses, the guard policy they were checked under)
        self._addresses: dict[tuple[str, int], tuple[float, list, ssrf.Policy]] = {}

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
        """A connection to the target's origin once there is room: an idle one freed
        meanwhile, or a new one. Callers that find others queued wait behind them."""
        woken = False
        while True:
            if woken or not self.waiters:
                conn = self.take_idle(target.origin)
                if conn is not None:
                    return conn
                if not self.limit or self.open < self.limit:
                    return await self._open(target, timeout)
                if self._shut_an_idle_connection():
                    continue
            await self._wait_turn()
            woken = True

    async def _wait_turn(self) -> None:
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken, then cancelled before using it: pass the turn on
            raise

    async def _open(self, target: Target, timeout: float) -> UpstreamConnection:
        scheme, host, port = target.origin
        tls = scheme == "https"
        made: list[UpstreamConnection] = []

        def protocol() -> UpstreamConnection:
            made.append(UpstreamConnection(target.origin, self._release, self._forget))
            return made[0]

        self.open += 1
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
                # Races IPv6 and IPv4 addresses (RFC 8305) on any loop; uvloop has no
                # happy_eyeballs_delay of its own.
                sock = await aiohappyeyeballs.start_connection(
                    addresses, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY
                )
                try:
                    await self.loop.create_connection(
                        protocol,
                        sock=sock,
                        ssl=_tls() if tls else None,
                        server_hostname=host if tls else None,
                    )
                except BaseException:
                    if not made or made[0].transport is None:
                        sock.close()  # no transport took it over
                    raise
        except BaseException as exc:
            self._addresses.pop((host, port), None)  # resolve afresh next time
            if made:  # counted once: by whichever of this and connection_lost comes first
                self._shut(made[0], abort=True)
            else:
                self.open -= 1
                self._wake_one()
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("connect") from None
            if isinstance(exc, OSError):  # refused, no route, DNS, TLS verification
                raise UpstreamFailure(f"upstream unreachable: {type(exc).__name__}") from None
            if isinstance(exc, UnicodeError):
                raise UpstreamFailure("upstream host name cannot be encoded") from None
            raise
        return made[0]

    async def _resolve(self, host: str, port: int) -> list:
        """The host's addresses, every one passed by the SSRF guard (raises UpstreamBlocked),
        reused for DNS_SECONDS while the guard's settings stay the same."""
        key = (host, port)
        now = self.loop.time()
        rules = ssrf.policy()
        cached = self._addresses.get(key)
        if cached is not None and cached[0] > now and cached[2] is rules:
            return cached[1]
        addresses = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not addresses:
            raise OSError(f"no address for {host}")
        ssrf.check_resolved(host, addresses, rules)
        self._addresses[key] = (now + DNS_SECONDS, addresses, rules)
        return addresses

    def close(self) -> None:
        self.closed = True
        for idle in self.idle.values():
            for conn in idle:
                self._shut(conn, wake=False)
        self.idle.clear()
        if self._sweep is not None:
            self._sweep.cancel()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamFailure("the gateway is shutting down"))

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

    def _shut(self, conn: UpstreamConnection, *, wake: bool = True, abort: bool = False) -> None:
        if conn.counted:
            conn.counted = False
            self.open -= 1
            if wake:
                self._wake_one()
        if not conn.closed and conn.transport is not None:
            conn.closed = True
            if abort:
                conn.transport.abort()
            else:
                conn.transport.close()

    def _shut_an_idle_connection(self) -> bool:
        """At the limit, an idle connection to another origin makes room for a new one
        (for the caller that asks, so no one else is woken for it)."""
        oldest: UpstreamConnection | None = None
        for idle in self.idle.values():
            if idle and (oldest is None or idle[0].idle_since < oldest.idle_since):
                oldest = idle[0]
        if oldest is None:
            return False
        self.idle[oldest.origin].remove(oldest)
        self._shut(oldest, wake=False)
        return True

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
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
    """At shutdown: the pool's connections, and transport.py's shared httpx clients."""
    global _pool
    if _pool is not None:
        _pool.close()
    _pool = None
    await transport.close()


def _header_lines(headers: dict[str, str], size: int) -> bytes:
    lines = []
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            # a credential or setting with a line break would smuggle in headers
            raise UpstreamFailure(f"header {name.strip()!r} has a line break; not sent")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {size}\r\n\r\n")
    return "".join(lines).encode()


def bearer_headers(credential: str, stream: bool) -> dict[str, str]:
    """An OpenAI-style JSON call's headers: the answer's type, and the key as a bearer."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    return headers


def post_json(
    url: str,
    body: dict,
    headers: dict[str, str],
    timeouts: Timeouts,
    extra_headers: Mapping[str, str] | None = None,
) -> Coroutine[Any, Any, UpstreamHttpResponse]:
    """`post` of a JSON body; the client's `extra_headers` (pass-through calls) go under the
    kind's own, never replacing them."""
    if extra_headers:
        headers = {**extra_headers, **headers}
    return post(url, orjson.dumps(body), headers, timeouts)


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
    # Behind queued callers, a newcomer waits its turn even if a connection just came free.
    conn = None if connections.waiters else connections.take_idle(where.origin)
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
