"""Outbound HTTP off the hot path: httpx with connections pinned to the addresses the SSRF
guard (ssrf.py) passed, and the TLS context every outbound connection verifies with.

The relay's chat POST goes through Orca's own pooled client (http.py). Everything else an
upstream kind or a Celery task needs (GET, DELETE, multipart uploads, calls through an HTTP
proxy) goes through `request`, `stream` or `request_sync` here: httpx, one shared client per
CA bundle (per event loop for the async one), `trust_env=True` so HTTP_PROXY / HTTPS_PROXY /
NO_PROXY and SSL_CERT_FILE / SSL_CERT_DIR apply, errors mapped to UpstreamFailure /
UpstreamTimeout without secrets. A direct connection is checked as it opens and connects
only to the checked addresses; a proxied one is checked before the request (ssrf.py says
what each path closes and what it leaves open).
"""

import asyncio
import contextlib
import functools
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar, Unpack

import httpcore
import httpx
import orjson
from django.conf import settings

from .base import Deadline, Timeouts, UpstreamFailure, UpstreamTimeout
from .ssrf import AddrInfo, Policy, guard_host, guard_host_sync, policy

CHECK_SECONDS = 300.0  # how long a target's passed check is reused (httpx pre-check)

# --- TLS ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def tls_context(ca_bundle: str = "") -> ssl.SSLContext:
    """Certificate verification with the system's CA store (certifi's when the system has
    none; SSL_CERT_FILE / SSL_CERT_DIR point it elsewhere), plus `ca_bundle` if given."""
    context = ssl.create_default_context()
    if not context.cert_store_stats()["x509_ca"]:
        import certifi  # slim images without a CA store

        context.load_verify_locations(certifi.where())
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


# --- httpx with connections pinned to checked addresses ------------------------------------


def _attempts(
    infos: Iterable[AddrInfo], give_up: float | None, clock: Callable[[], float]
) -> Iterator[tuple[str, float | None]]:
    """Each distinct checked address in the resolver's order, with the seconds left to
    connect to it (None: no bound); ConnectTimeout once none are left."""
    for address in dict.fromkeys(str(info[4][0]) for info in infos):
        left = None if give_up is None else give_up - clock()
        if left is not None and left <= 0:
            raise httpcore.ConnectTimeout("connecting to the upstream timed out")
        yield address, left


class _GuardedAsyncBackend(httpcore.AnyIOBackend):
    """httpcore's backend, but it resolves, checks every address, then connects to the
    checked addresses in order; and no unix sockets."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        give_up = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(give_up):
                infos = await guard_host(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout("resolving the upstream host timed out") from None
        failure: Exception = httpcore.ConnectError("no address")
        for address, left in _attempts(infos, give_up, loop.time):
            try:
                async with asyncio.timeout(left):  # the inner backend's own bound, enforced
                    return await super().connect_tcp(
                        address, port, left, local_address, socket_options
                    )
            except TimeoutError:
                raise httpcore.ConnectTimeout("connecting to the upstream timed out") from None
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not upstreams")


class _GuardedSyncBackend(httpcore.SyncBackend):
    """`_GuardedAsyncBackend` for the synchronous client."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        give_up = None if timeout is None else time.monotonic() + timeout
        failure: Exception = httpcore.ConnectError("no address")
        for address, left in _attempts(guard_host_sync(host, port), give_up, time.monotonic):
            try:
                return super().connect_tcp(address, port, left, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not upstreams")


# httpx 0.28 takes no network backend, so `_pinned_transport` reaches into it in two places
# (pinned in requirements.lock; tests/routing/providers/test_transport.py fails if either moves):
# the client's `_init_transport` hook builds the transport for direct connections (the
# proxy transports it builds from the environment stay httpx's own), and that transport's
# `_pool` is replaced by a connection pool on the guarded backend.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)
_CLIENT_HEADERS = {"User-Agent": "orca-gateway"}

_Transport = TypeVar("_Transport", httpx.AsyncHTTPTransport, httpx.HTTPTransport)
_Client = TypeVar("_Client", httpx.AsyncClient, httpx.Client)


def _pinned_transport(kind: type[_Transport], verify: Any) -> _Transport:
    """An httpx transport of `kind` for direct connections, its pool on the guarded backend."""
    assert isinstance(verify, ssl.SSLContext)  # what `_shared` gave the client
    transport = kind(verify=verify, limits=_LIMITS)
    pool: Callable[..., Any]
    backend: httpcore.AsyncNetworkBackend | httpcore.NetworkBackend
    if isinstance(transport, httpx.AsyncHTTPTransport):
        pool, backend = httpcore.AsyncConnectionPool, _GuardedAsyncBackend()
    else:
        pool, backend = httpcore.ConnectionPool, _GuardedSyncBackend()
    transport._pool = pool(
        ssl_context=verify,
        max_connections=_LIMITS.max_connections,
        max_keepalive_connections=_LIMITS.max_keepalive_connections,
        keepalive_expiry=_LIMITS.keepalive_expiry,
        network_backend=backend,
    )
    return transport


class _AsyncClient(httpx.AsyncClient):
    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.AsyncBaseTransport:
        return _pinned_transport(httpx.AsyncHTTPTransport, kwargs.get("verify"))


class _SyncClient(httpx.Client):
    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.BaseTransport:
        return _pinned_transport(httpx.HTTPTransport, kwargs.get("verify"))


_async_clients: dict[str, httpx.AsyncClient] = {}
_async_loop: asyncio.AbstractEventLoop | None = None
_sync_clients: dict[str, httpx.Client] = {}


def _shared(clients: dict[str, _Client], kind: type[_Client], ca_bundle: str | None) -> _Client:
    """The shared client in `clients` for `ca_bundle` (None: ORCA_UPSTREAM_CA_BUNDLE), made
    anew when there is none or it was closed."""
    bundle = settings.ORCA_UPSTREAM_CA_BUNDLE if ca_bundle is None else ca_bundle
    client = clients.get(bundle)
    if client is None or client.is_closed:
        client = clients[bundle] = kind(
            verify=tls_context(bundle), trust_env=True, timeout=None, headers=_CLIENT_HEADERS
        )
    return client


def async_client(ca_bundle: str | None = None) -> httpx.AsyncClient:
    """The running loop's shared client for `ca_bundle` (None: ORCA_UPSTREAM_CA_BUNDLE)."""
    global _async_loop
    loop = asyncio.get_running_loop()
    if _async_loop is not loop:
        _async_clients.clear()  # another loop's connections cannot be used (or closed) here
        _async_loop = loop
    return _shared(_async_clients, _AsyncClient, ca_bundle)


def sync_client(ca_bundle: str | None = None) -> httpx.Client:
    """The process's shared synchronous client for `ca_bundle` (as `async_client`)."""
    return _shared(_sync_clients, _SyncClient, ca_bundle)


async def close() -> None:
    """Close the shared async clients (at shutdown; http.close() calls this)."""
    global _async_loop
    clients = list(_async_clients.values())
    _async_clients.clear()
    same_loop = _async_loop is asyncio.get_running_loop()
    _async_loop = None
    if same_loop:
        for client in clients:
            await client.aclose()


def close_sync() -> None:
    clients = list(_sync_clients.values())
    _sync_clients.clear()
    for client in clients:
        client.close()


# --- requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransportResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers)
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class TransportStream:
    """A response whose body is read as it arrives, each wait within the idle timeout and
    all of it within the total (`stream()` yields one)."""

    def __init__(self, response: httpx.Response, deadline: Deadline, idle: float) -> None:
        self._response = response
        self._deadline = deadline
        self._idle = idle

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks (content-encoding decoded); raises UpstreamTimeout / UpstreamFailure."""
        body = self._response.aiter_bytes()
        while True:
            wait, blame = self._deadline.budget(self._idle)
            try:
                async with asyncio.timeout(wait):
                    chunk = await anext(body)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UpstreamTimeout(blame or "idle") from None
            except Exception as exc:
                raise _failure(exc, "idle") from None
            yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


Headers = Mapping[str, str]


def _check_headers(headers: Headers | None) -> None:
    for name, value in (headers or {}).items():
        if any(char in name or char in value for char in "\r\n\0"):
            # a credential or setting with a line break would smuggle in headers
            raise UpstreamFailure(f"header {name.strip()!r} has a line break; not sent")


def _origin(url: str) -> tuple[httpx.URL, str, int]:
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port
    except (httpx.InvalidURL, UnicodeError, ValueError):
        raise UpstreamFailure("upstream URL is not valid (host or port)") from None
    if port is not None and not 0 < port < 65536:
        raise UpstreamFailure("upstream URL is not valid (host or port)")
    if parsed.scheme not in ("http", "https") or not host:
        raise UpstreamFailure("upstream URL must be http:// or https:// with a host")
    return parsed, host, port or (443 if parsed.scheme == "https" else 80)


def _root_cause(exc: BaseException) -> str:
    """The OSError (refused, DNS, TLS verification) under an httpx error, by name."""
    seen = exc
    for _ in range(6):
        nested = seen.__cause__ or seen.__context__
        if nested is None:
            break
        seen = nested
        if isinstance(seen, OSError):
            return type(seen).__name__
    return type(exc).__name__


def _failure(exc: Exception, waiting_for: str) -> UpstreamFailure:
    """An httpx (or resolver) error as the gateway's, with no URL, header or body in it."""
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return UpstreamTimeout("connect")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(waiting_for)
    if isinstance(exc, httpx.ConnectError):
        return UpstreamFailure(f"upstream unreachable: {_root_cause(exc)}")
    if isinstance(exc, httpx.DecodingError):
        return UpstreamFailure("upstream body could not be decoded")
    if isinstance(exc, httpx.ProxyError):
        return UpstreamFailure("the HTTP proxy refused or failed the request")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return UpstreamFailure("upstream URL is not valid")
    if isinstance(exc, httpx.HTTPError):
        return UpstreamFailure(f"upstream connection failed: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return UpstreamFailure(f"upstream unreachable: {type(exc).__name__}")
    raise exc


_precheck_until: dict[tuple[str, int], tuple[float, Policy]] = {}


def _prechecked(host: str, port: int, rules: Policy) -> bool:
    passed = _precheck_until.get((host, port))
    return passed is not None and passed[1] is rules and passed[0] > time.monotonic()


def _remember_check(host: str, port: int, rules: Policy) -> None:
    if len(_precheck_until) > 1024:
        _precheck_until.clear()
    _precheck_until[(host, port)] = (time.monotonic() + CHECK_SECONDS, rules)


async def _precheck(host: str, port: int, timeout: float) -> None:
    """The target's addresses, checked before a request (what guards the proxy path; a
    direct connection is checked again, pinned, as it opens)."""
    rules = policy()
    if _prechecked(host, port, rules):
        return
    try:
        async with asyncio.timeout(timeout):
            await guard_host(host, port, rules=rules)
    except TimeoutError:
        raise UpstreamTimeout("connect") from None
    _remember_check(host, port, rules)


def _precheck_sync(host: str, port: int) -> None:
    rules = policy()
    if not _prechecked(host, port, rules):
        guard_host_sync(host, port, rules=rules)
        _remember_check(host, port, rules)


class Message(TypedDict, total=False):
    """What `stream`, `request` and `request_sync` send besides the method and URL, as
    httpx takes it: `files` and `data` make a multipart (or form) body."""

    headers: Headers | None
    content: bytes | None
    json: Any
    data: Mapping[str, Any] | None
    files: Any


def _target(url: str, message: Message) -> tuple[httpx.URL, str, int]:
    """The URL, host and port to send `message` to, once both are fit to send."""
    _check_headers(message.get("headers"))
    return _origin(url)


@contextlib.asynccontextmanager
async def stream(
    method: str,
    url: str,
    *,
    timeouts: Timeouts,
    ca_bundle: str | None = None,
    **message: Unpack[Message],
) -> AsyncIterator[TransportStream]:
    """`async with stream(...) as response:` the response once its headers are in (within
    the first-byte timeout, bounded by the total), its body read as it arrives. `ca_bundle`
    is a PEM file trusted besides the system's store (None: ORCA_UPSTREAM_CA_BUNDLE)."""
    deadline = Deadline(timeouts.total)
    wait, blame = deadline.budget(timeouts.first_byte)
    parsed, host, port = _target(url, message)
    client = async_client(ca_bundle)
    timeout = httpx.Timeout(None, connect=timeouts.connect, pool=timeouts.connect)
    outgoing = client.build_request(method, parsed, timeout=timeout, **message)
    try:
        async with asyncio.timeout(wait):
            await _precheck(host, port, min(timeouts.connect, wait))
            response = await client.send(outgoing, stream=True)
    except TimeoutError:
        raise UpstreamTimeout(blame or "first byte") from None
    except Exception as exc:
        raise _failure(exc, "first byte") from None
    try:
        yield TransportStream(response, deadline, timeouts.idle)
    finally:
        await response.aclose()


async def request(
    method: str,
    url: str,
    *,
    timeouts: Timeouts,
    ca_bundle: str | None = None,
    **message: Unpack[Message],
) -> TransportResponse:
    """One exchange, its whole body read (see `stream` for the arguments). Any status is
    returned; only a failure to get an answer raises UpstreamFailure / UpstreamTimeout."""
    async with stream(method, url, timeouts=timeouts, ca_bundle=ca_bundle, **message) as response:
        body = await response.read()
    return TransportResponse(response.status, response.headers, body)


def request_sync(
    method: str,
    url: str,
    *,
    timeouts: Timeouts,
    ca_bundle: str | None = None,
    **message: Unpack[Message],
) -> TransportResponse:
    """`request` for synchronous code (Celery tasks), on a shared httpx.Client. Reads wait
    at most the first-byte timeout for the headers and the idle timeout in the body; the
    total is checked between reads, so the last read may overrun it by up to those."""
    end = time.monotonic() + timeouts.total
    parsed, host, port = _target(url, message)
    client = sync_client(ca_bundle)
    timeout = httpx.Timeout(
        connect=min(timeouts.connect, timeouts.total),
        read=min(timeouts.first_byte, timeouts.total),
        write=min(timeouts.first_byte, timeouts.total),
        pool=timeouts.connect,
    )
    outgoing = client.build_request(method, parsed, timeout=timeout, **message)
    try:
        _precheck_sync(host, port)
        response = client.send(outgoing, stream=True)
    except Exception as exc:
        raise _failure(exc, "first byte") from None
    # The body's reads get the idle timeout: httpcore reads the request's timeout extension
    # (a documented httpx extension) when the body starts to be read.
    outgoing.extensions["timeout"]["read"] = min(timeouts.idle, timeouts.total)
    try:
        parts = []
        for chunk in response.iter_bytes():
            parts.append(chunk)
            if time.monotonic() > end:
                raise UpstreamTimeout("total")
        if time.monotonic() > end:
            raise UpstreamTimeout("total")
    except Exception as exc:
        raise _failure(exc, "idle") from None
    finally:
        response.close()
    return TransportResponse(response.status_code, response.headers, b"".join(parts))
