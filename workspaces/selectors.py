"""Reads used by the gateway: an API key's hash to an immutable auth context."""

import fnmatch
import ipaddress
import re
from dataclasses import dataclass

from .models import ApiKey

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class KeyContext:
    """What the hot path needs to authorise a call, with no further database access."""

    key_id: int
    workspace_id: int
    enabled: bool
    expires_at: float | None  # epoch seconds
    model_patterns: re.Pattern[str] | None  # None allows every model
    networks: tuple[IPNetwork, ...]  # empty allows every address
    keep_response_history: bool = False

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def allows_model(self, public_id: str) -> bool:
        return self.model_patterns is None or bool(self.model_patterns.match(public_id.lower()))

    def allows_ip(self, ip: str | None) -> bool:
        if not self.networks:
            return True
        if ip is None:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _compile_patterns(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns))


def key_context(key_hash: str) -> KeyContext | None:
    row = (
        ApiKey.objects.filter(key_hash=key_hash)
        .values(
            "id",
            "workspace_id",
            "enabled",
            "expires_at",
            "allowed_models",
            "allowed_ips",
            "workspace__keep_response_history",
        )
        .first()
    )
    if row is None:
        return None
    return KeyContext(
        key_id=row["id"],
        workspace_id=row["workspace_id"],
        enabled=row["enabled"],
        expires_at=row["expires_at"].timestamp() if row["expires_at"] else None,
        model_patterns=_compile_patterns(row["allowed_models"] or []),
        networks=tuple(ipaddress.ip_network(n, strict=False) for n in row["allowed_ips"] or []),
        keep_response_history=row["workspace__keep_response_history"],
    )


def membership_in(user, workspace_slug: str):
    """The user's membership of a workspace, or None; another workspace's slug looks exactly
    like one that does not exist."""
    from .models import Membership

    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__slug=workspace_slug)
        .first()
    )
