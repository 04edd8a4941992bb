"""Outbound HTTP off the hot path, and the SSRF guard every outbound connection passes.

The relay's chat POST goes through Orca's own pooled client (http.py), which applies the
guard below when it resolves a host. Everything else an upstream kind or a Celery task needs
(GET, DELETE, multipart uploads, calls through an HTTP proxy) goes through `request`,
`stream` or `request_sync` here: httpx, one shared client per CA bundle (per event loop for
the async one), `trust_env=True` so HTTP_PROXY / HTTPS_PROXY / NO_PROXY and SSL_CERT_FILE /
SSL_CERT_DIR apply, errors mapped to UpstreamFailure / UpstreamTimeout without secrets.

The guard refuses upstream addresses that are not public unicast: loopback, private
(RFC 1918, IPv6 ULA fc00::/7), link-local, shared (CGNAT 100.64.0.0/10), unspecified,
multicast, reserved and documentation ranges, the same inside IPv4-mapped, NAT64 and 6to4
IPv6 forms, and the cloud metadata endpoints. ORCA_UPSTREAM_ALLOW_PRIVATE allows all of
them but the metadata endpoints; ORCA_UPSTREAM_ALLOWED_NETWORKS allows the networks it
lists (metadata endpoints too, if listed). Every address a name resolves to must pass: a
name with one refused address is refused, since which one is used is up to the resolver.

Where the check happens:
- pooled client (http.py): when a host is resolved for a new connection; the result is
  cached with the DNS entry, so a request on a pooled connection costs nothing more.
- httpx, direct: the connection is pinned to the checked addresses. Orca's network backend
  resolves the host, checks every address and connects to those addresses itself (TLS
  still verifies and sends SNI for the host name), so a DNS answer that changes between
  the check and the connect (DNS rebinding) cannot slip a private address in.
- httpx, through a proxy: the proxy resolves the target, so the gateway resolves the target
  name itself before the request and checks those addresses; the proxy's own address, which
  the operator chose, is not checked. The proxy could get a different DNS answer than the
  gateway did (rebinding is not closed on that path), and a target the gateway cannot
  resolve is refused rather than sent unchecked.
"""

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
import orjson
from django.conf import settings

from .base import Deadline, Timeouts, UpstreamFailure, UpstreamTimeout

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[Any, ...]  # one entry of getaddrinfo(): family, type, proto, name, sockaddr

ALLOW_SETTING = "ORCA_UPSTREAM_ALLOW_PRIVATE"
NETWORKS_SETTING = "ORCA_UPSTREAM_ALLOWED_NETWORKS"
METADATA = "cloud metadata"
CHECK_SECONDS = 300.0  # how long a target's passed check is reused (httpx pre-check)

_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network

# Most specific first: the first network that holds an address names its category.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_v4("169.254.169.254/32"), METADATA),  # AWS, GCP, Azure, OCI, DigitalOcean, ...
    (_v4("100.100.100.200/32"), METADATA),  # Alibaba Cloud
    (_v4("0.0.0.0/8"), "unspecified"),  # "this network"; 0.0.0.0 reaches the host itself
    (_v4("127.0.0.0/8"), "loopback"),
    (_v4("10.0.0.0/8"), "private"),
    (_v4("172.16.0.0/12"), "private"),
    (_v4("192.168.0.0/16"), "private"),
    (_v4("100.64.0.0/10"), "shared (CGNAT)"),
    (_v4("169.254.0.0/16"), "link-local"),
    (_v4("224.0.0.0/4"), "multicast"),
    (_v4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments
    (_v4("192.0.2.0/24"), "reserved"),  # documentation
    (_v4("192.88.99.0/24"), "reserved"),  # former 6to4 relays
    (_v4("198.18.0.0/15"), "reserved"),  # benchmarking
    (_v4("198.51.100.0/24"), "reserved"),  # documentation
    (_v4("203.0.113.0/24"), "reserved"),  # documentation
    (_v4("240.0.0.0/4"), "reserved"),  # future use, and the broadcast address
)
_METADATA_V6 = _v6("fd00:ec2::254/128")  # AWS's IPv6 instance metadata
_NAT64 = _v6("64:ff9b::/96")  # the last 32 bits are the IPv4 address it reaches
_SIXTOFOUR = _v6("2002::/16")  # bits 16-48 are an IPv4 address
_GLOBAL_UNICAST = _v6("2000::/3")  # everything outside it is special or unassigned
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_v6("fc00::/7"), "private"),  # unique local
    (_v6("fe80::/10"), "link-local"),
    (_v6("ff00::/8"), "multicast"),
)
_RESERVED_GLOBAL_V6 = (
    _v6("2001::/23"),  # IETF protocol assignments: Teredo, benchmarking, ORCHID
    _v6("2001:db8::/32"),  # documentation
    _v6("3fff::/20"),  # documentation (RFC 9637)
)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def classify(ip: IPAddress | str) -> str | None:
    """Why an address is not a public unicast one ("loopback", "private", "link-local",
    "cloud metadata", "shared (CGNAT)", "unspecified", "multicast", "reserved"), or None."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv4Address):
        for network, category in _REFUSED_V4:
            if ip in network:
                return category
        return None
    if ip in _METADATA_V6:
        return METADATA
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    embedded = _embedded_v4(ip)
    if embedded is not None:
        return classify(embedded)
    for network6, category in _REFUSED_V6:
        if ip in network6:
            return category
    if ip not in _GLOBAL_UNICAST or any(ip in network6 for network6 in _RESERVED_GLOBAL_V6):
        return "reserved"
    return None


@dataclass(frozen=True, slots=True)
class Policy:
    """The operator's exceptions to the guard (settings ORCA_UPSTREAM_ALLOW_PRIVATE and
    ORCA_UPSTREAM_ALLOWED_NETWORKS)."""

    allow_private: bool
    networks: tuple[IPNetwork, ...]

    def refusal(self, ip: IPAddress) -> str | None:
        """The category that refuses `ip` under this policy, or None if it may be used."""
        category = classify(ip)
        if category is None or self._listed(ip):
            return None
        if self.allow_private and category != METADATA:
            return None
        return category

    def _listed(self, ip: IPAddress) -> bool:
        if not self.networks:
            return False
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            embedded = _embedded_v4(ip)
            if embedded is not None:
                candidates.append(embedded)
        return any(candidate in network for candidate in candidates for network in self.networks)


def policy() -> Policy:
    """The current settings' policy; the same object while they do not change."""
    networks = settings.ORCA_UPSTREAM_ALLOWED_NETWORKS
    if isinstance(networks, str):
        networks = networks.split(",")
    return _policy(bool(settings.ORCA_UPSTREAM_ALLOW_PRIVATE), tuple(networks))


@functools.lru_cache(maxsize=16)
def _policy(allow_private: bool, networks: tuple[str, ...]) -> Policy:
    parsed = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip())
    return Policy(allow_private, parsed)


class UpstreamBlocked(UpstreamFailure):
    """The upstream's address is one the SSRF guard refuses. The message names the host,
    the kind of address and the setting that would allow it, not the address itself (it
    reaches API clients; the log has it)."""

    def __init__(self, host: str, category: str) -> None:
        if category == METADATA:
            allow = f"only listing its address in {NETWORKS_SETTING} allows it"
        else:
            allow = f"set {ALLOW_SETTING}=true or list its network in {NETWORKS_SETTING}"
        article = "an" if category[0] in "aeiou" else "a"
        super().__init__(
            f"upstream host {host} resolves to {article} {category} address, which is not allowed "
            f"for upstreams ({allow})"
        )
        self.host = host
        self.category = category


def check_address(
    ip: IPAddress | str, *, host: str | None = None, rules: Policy | None = None
) -> None:
    """Raise UpstreamBlocked unless `ip` may be connected to (under `rules`, else the
    settings' policy)."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    category = (rules or policy()).refusal(address)
    if category is not None:
        log.warning("upstream %s refused: %s is a %s address", host or address, address, category)
        raise UpstreamBlocked(host or str(address), category)


def check_resolved(host: str, addresses: Iterable[AddrInfo], rules: Policy | None = None) -> None:
    """Check every address a getaddrinfo() answer holds (raises UpstreamBlocked)."""
    rules = rules or policy()
    for info in addresses:
        check_address(info[4][0], host=host, rules=rules)


def _unresolvable(exc: Exception) -> UpstreamFailure:
    if isinstance(exc, UnicodeError):
        return UpstreamFailure("upstream host name cannot be encoded")
    return UpstreamFailure(f"upstream unreachable: {type(exc).__name__}")  # gaierror


async def guard_host(host: str, port: int, *, rules: Policy | None = None) -> list[AddrInfo]:
    """Resolve `host` and check every address; the checked getaddrinfo() answer."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(exc) from None
    if not infos:
        raise UpstreamFailure("upstream unreachable: no address")
    check_resolved(host, infos, rules)
    return infos


def guard_host_sync(host: str, port: int, *, rules: Policy | None = None) -> list[AddrInfo]:
    """`guard_host` for synchronous callers (Celery tasks)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(exc) from None
    if not infos:
        raise UpstreamFailure("upstream unreachable: no address")
    check_resolved(host, infos, rules)
    return infos


def _distinct_hosts(infos: Iterable[AddrInfo]) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


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


def _bundle(ca_bundle: str | None) -> str:
    return settings.ORCA_UPSTREAM_CA_BUNDLE if ca_bundle is None else ca_bundle


# --- httpx with connections pinned to checked addresses ------------------------------------


class _GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to the checked addresses in order."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

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
        for address in _distinct_hosts(infos):
            left = None if give_up is None else give_up - loop.time()
            if left is not None and left <= 0:
                raise httpcore.ConnectTimeout("connecting to the upstream timed out")
            try:
                async with asyncio.timeout(left):  # the inner backend's own bound, enforced
                    return await self._inner.connect_tcp(
                        address, port, left, local_address, socket_options
                    )
            except TimeoutError:
                raise httpcore.ConnectTimeout("connecting to the upstream timed out") from None
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not upstreams")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedSyncBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

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
        for address in _distinct_hosts(guard_host_sync(host, port)):
            left = None if give_up is None else give_up - time.monotonic()
            if left is not None and left <= 0:
                raise httpcore.ConnectTimeout("connecting to the upstream timed out")
            try:
                return self._inner.connect_tcp(address, port, left, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not upstreams")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpx 0.28 takes no network backend, so the two classes below reach into it in two places
# (pinned in requirements.lock; tests/routing/test_transport.py fails if either moves):
# the client's `_init_transport` hook builds the transport for direct connections (the
# proxy transports it builds from the environment stay httpx's own), and that transport's
# `_pool` is replaced by a connection pool on the guarded backend.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)


class _GuardedAsyncTransport(httpx.AsyncHTTPTransport):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(verify=context, limits=_LIMITS)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=_GuardedAsyncBackend(),
        )


class _GuardedSyncTransport(httpx.HTTPTransport):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(verify=context, limits=_LIMITS)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=_GuardedSyncBackend(),
        )


class _AsyncClient(httpx.AsyncClient):
    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.AsyncBaseTransport:
        verify = kwargs.get("verify")
        assert isinstance(verify, ssl.SSLContext)
        return _GuardedAsyncTransport(verify)


class _SyncClient(httpx.Client):
    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx.BaseTransport:
        verify = kwargs.get("verify")
        assert isinstance(verify, ssl.SSLContext)
        return _GuardedSyncTransport(verify)


_CLIENT_HEADERS = {"User-Agent": "orca-gateway"}
_async_clients: dict[str, httpx.AsyncClient] = {}
_async_loop: asyncio.AbstractEventLoop | None = None
_sync_clients: dict[str, httpx.Client] = {}


def async_client(ca_bundle: str | None = None) -> httpx.AsyncClient:
    """The running loop's shared client for `ca_bundle` (None: ORCA_UPSTREAM_CA_BUNDLE)."""
    global _async_loop
    bundle = _bundle(ca_bundle)
    loop = asyncio.get_running_loop()
    if _async_loop is not loop:
        _async_clients.clear()  # another loop's connections cannot be used (or closed) here
        _async_loop = loop
    client = _async_clients.get(bundle)
    if client is None or client.is_closed:
        context = tls_context(bundle)
        client = _async_clients[bundle] = _AsyncClient(
            verify=context, trust_env=True, timeout=None, headers=_CLIENT_HEADERS
        )
    return client


def sync_client(ca_bundle: str | None = None) -> httpx.Client:
    bundle = _bundle(ca_bundle)
    client = _sync_clients.get(bundle)
    if client is None or client.is_closed:
        context = tls_context(bundle)
        client = _sync_clients[bundle] = _SyncClient(
            verify=context, trust_env=True, timeout=None, headers=_CLIENT_HEADERS
        )
    return client


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


@contextlib.asynccontextmanager
async def stream(
    method: str,
    url: str,
    *,
    headers: Headers | None = None,
    content: bytes | None = None,
    json: Any = None,
    data: Mapping[str, Any] | None = None,
    files: Any = None,
    timeouts: Timeouts,
    ca_bundle: str | None = None,
) -> AsyncIterator[TransportStream]:
    """`async with stream(...) as response:` the response once its headers are in (within
    the first-byte timeout, bounded by the total), its body read as it arrives. `files` and
    `data` make a multipart (or form) body as httpx does; `ca_bundle` is a PEM file trusted
    besides the system's store (None: ORCA_UPSTREAM_CA_BUNDLE)."""
    deadline = Deadline(timeouts.total)
    wait, blame = deadline.budget(timeouts.first_byte)
    _check_headers(headers)
    parsed, host, port = _origin(url)
    client = async_client(ca_bundle)
    outgoing = client.build_request(
        method,
        parsed,
        headers=headers,
        content=content,
        json=json,
        data=data,
        files=files,
        timeout=httpx.Timeout(None, connect=timeouts.connect, pool=timeouts.connect),
    )
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
    headers: Headers | None = None,
    content: bytes | None = None,
    json: Any = None,
    data: Mapping[str, Any] | None = None,
    files: Any = None,
    timeouts: Timeouts,
    ca_bundle: str | None = None,
) -> TransportResponse:
    """One exchange, its whole body read (see `stream` for the arguments). Any status is
    returned; only a failure to get an answer raises UpstreamFailure / UpstreamTimeout."""
    async with stream(
        method,
        url,
        headers=headers,
        content=content,
        json=json,
        data=data,
        files=files,
        timeouts=timeouts,
        ca_bundle=ca_bundle,
    ) as response:
        body = await response.read()
    return TransportResponse(response.status, response.headers, body)


def request_sync(
    method: str,
    url: str,
    *,
    headers: Headers | None = None,
    content: bytes | None = None,
    json: Any = None,
    data: Mapping[str, Any] | None = None,
    files: Any = None,
    timeouts: Timeouts,
    ca_bundle: str | None = None,
) -> TransportResponse:
    """`request` for synchronous code (Celery tasks), on a shared httpx.Client. Reads wait
    at most the first-byte timeout for the headers and the idle timeout in the body; the
    total is checked between reads, so the last read may overrun it by up to those."""
    end = time.monotonic() + timeouts.total
    _check_headers(headers)
    parsed, host, port = _origin(url)
    client = sync_client(ca_bundle)
    outgoing = client.build_request(
        method,
        parsed,
        headers=headers,
        content=content,
        json=json,
        data=data,
        files=files,
        timeout=httpx.Timeout(
            connect=min(timeouts.connect, timeouts.total),
            read=min(timeouts.first_byte, timeouts.total),
            write=min(timeouts.first_byte, timeouts.total),
            pool=timeouts.connect,
        ),
    )
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
