"""The SSRF guard every outbound connection passes: which upstream addresses may be used.

It refuses addresses that are not public unicast: loopback, private (RFC 1918, IPv6 ULA
fc00::/7), link-local, shared (CGNAT 100.64.0.0/10), unspecified, multicast, reserved and
documentation ranges, the same inside IPv4-mapped, NAT64 and 6to4 IPv6 forms, and the cloud
metadata endpoints. ORCA_UPSTREAM_ALLOW_PRIVATE allows all of them but the metadata
endpoints; ORCA_UPSTREAM_ALLOWED_NETWORKS allows the networks it lists (metadata endpoints
too, if listed). Every address a name resolves to must pass: a name with one refused address
is refused, since which one is used is up to the resolver.

Where the check happens:
- pooled client (http.py): when a host is resolved for a new connection; the result is
  cached with the DNS entry, so a request on a pooled connection costs nothing more.
- httpx, direct (transport.py): the connection is pinned to the checked addresses. Orca's
  network backend resolves the host, checks every address and connects to those addresses
  itself (TLS still verifies and sends SNI for the host name), so a DNS answer that changes
  between the check and the connect (DNS rebinding) cannot slip a private address in.
- httpx, through a proxy (transport.py): the proxy resolves the target, so the gateway
  resolves the target name itself before the request and checks those addresses; the
  proxy's own address, which the operator chose, is not checked. The proxy could get a
  different DNS answer than the gateway did (rebinding is not closed on that path), and a
  target the gateway cannot resolve is refused rather than sent unchecked.
"""

import asyncio
import functools
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .base import UpstreamFailure

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[Any, ...]  # one entry of getaddrinfo(): family, type, proto, name, sockaddr

ALLOW_SETTING = "ORCA_UPSTREAM_ALLOW_PRIVATE"
NETWORKS_SETTING = "ORCA_UPSTREAM_ALLOWED_NETWORKS"
METADATA = "cloud metadata"

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
_METADATA_V6 = (
    _v6("fd00:ec2::254/128"),  # AWS's IPv6 instance metadata
    _v6("fd00:ec2::23/128"),  # AWS EKS Pod Identity (IPv6)
)
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
    if any(ip in network6 for network6 in _METADATA_V6):
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


_NEVER_BY_ALLOW_PRIVATE = (METADATA, "link-local")


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
        # Link-local holds more than the well-known metadata address (ECS task credentials
        # at 169.254.170.2, EKS Pod Identity at 169.254.170.23 and fd00:ec2::23, ...): it
        # stays refused under allow_private too, unless its network is listed.
        if self.allow_private and category not in _NEVER_BY_ALLOW_PRIVATE:
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
        if category in _NEVER_BY_ALLOW_PRIVATE:
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


def _checked(host: str, infos: list[AddrInfo], rules: Policy | None) -> list[AddrInfo]:
    if not infos:
        raise UpstreamFailure("upstream unreachable: no address")
    check_resolved(host, infos, rules)
    return infos


async def guard_host(host: str, port: int, *, rules: Policy | None = None) -> list[AddrInfo]:
    """Resolve `host` and check every address; the checked getaddrinfo() answer."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(exc) from None
    return _checked(host, infos, rules)


def guard_host_sync(host: str, port: int, *, rules: Policy | None = None) -> list[AddrInfo]:
    """`guard_host` for synchronous callers (Celery tasks)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(exc) from None
    return _checked(host, infos, rules)
