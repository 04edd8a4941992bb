"""Reads used by the gateway: an API key's hash to an immutable auth context."""

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .models import ApiKey, Workspace

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
    retention: str = "metadata"  # metadata | keep | zero
    retention_days: int = 30
    markup_percent: Decimal = Decimal(0)
    workspace_rpm: int = 0
    workspace_tpm: int = 0
    key_rpm: int = 0
    key_tpm: int = 0
    # spend caps in pico-dollars; None: no cap
    key_total_pico: int | None = None
    key_day_pico: int | None = None
    key_week_pico: int | None = None
    key_month_pico: int | None = None
    guardrail_id: int | None = None  # an explicit binding; None: the workspace default
    prompt_id: int | None = None  # a bound registry prompt, at prompt_label ("": default)
    prompt_label: str = ""

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
            "workspace__data_retention",
            "workspace__retention_days",
            "workspace__markup_percent",
            "workspace__rpm_limit",
            "workspace__tpm_limit",
            "rpm_limit",
            "tpm_limit",
            "spend_limit_usd",
            "daily_limit_usd",
            "weekly_limit_usd",
            "monthly_limit_usd",
            "guardrail_id",
            "prompt_id",
            "prompt_label",
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
        keep_response_history=row["workspace__keep_response_history"]
        and row["workspace__data_retention"] != "zero",
        retention=row["workspace__data_retention"],
        retention_days=row["workspace__retention_days"],
        markup_percent=row["workspace__markup_percent"],
        workspace_rpm=row["workspace__rpm_limit"],
        workspace_tpm=row["workspace__tpm_limit"],
        key_rpm=row["rpm_limit"],
        key_tpm=row["tpm_limit"],
        key_total_pico=_pico(row["spend_limit_usd"]),
        key_day_pico=_pico(row["daily_limit_usd"]),
        key_week_pico=_pico(row["weekly_limit_usd"]),
        key_month_pico=_pico(row["monthly_limit_usd"]),
        guardrail_id=row["guardrail_id"],
        prompt_id=row["prompt_id"],
        prompt_label=row["prompt_label"],
    )


def _pico(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * 10**12)


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


def still_existing(workspace_ids: set[int], key_ids: set[int]) -> tuple[set[int], set[int]]:
    """Which of these workspaces and keys have not been deleted."""
    workspaces = set(Workspace.objects.filter(id__in=workspace_ids).values_list("id", flat=True))
    keys = set(ApiKey.untracked.filter(id__in=key_ids).values_list("id", flat=True))
    return workspaces, keys


@dataclass(frozen=True, slots=True)
class KeyDetails:
    """An API key's settings as its owner sees them (never its secret or its hash's
    secret): for the OpenRouter-style /api/v1/key and /api/v1/keys."""

    key_id: int
    workspace_id: int
    workspace_slug: str
    key_hash: str
    name: str
    prefix: str
    enabled: bool
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    creator_id: int | None
    rpm_limit: int
    tpm_limit: int
    workspace_rpm: int
    workspace_tpm: int
    # spend caps in USD: lifetime, day, week, month; None: no cap
    caps: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]


_DETAIL_FIELDS = (
    "id", "workspace_id", "workspace__slug", "key_hash", "name", "prefix", "enabled",
    "created_at", "last_used_at", "expires_at", "created_by_id", "rpm_limit", "tpm_limit",
    "workspace__rpm_limit", "workspace__tpm_limit", "spend_limit_usd", "daily_limit_usd",
    "weekly_limit_usd", "monthly_limit_usd",
)  # fmt: skip


def _details(row: dict) -> KeyDetails:
    return KeyDetails(
        key_id=row["id"],
        workspace_id=row["workspace_id"],
        workspace_slug=row["workspace__slug"],
        key_hash=row["key_hash"],
        name=row["name"],
        prefix=row["prefix"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        creator_id=row["created_by_id"],
        rpm_limit=row["rpm_limit"],
        tpm_limit=row["tpm_limit"],
        workspace_rpm=row["workspace__rpm_limit"],
        workspace_tpm=row["workspace__tpm_limit"],
        caps=(
            row["spend_limit_usd"],
            row["daily_limit_usd"],
            row["weekly_limit_usd"],
            row["monthly_limit_usd"],
        ),
    )


def key_details(key_id: int) -> KeyDetails | None:
    row = ApiKey.objects.filter(pk=key_id).values(*_DETAIL_FIELDS).first()
    return None if row is None else _details(row)


def workspace_key_details(
    workspace_id: int, *, key_hash: str | None = None, include_disabled: bool = True
) -> list[KeyDetails]:
    """The workspace's keys (newest first), or the one with `key_hash` if it is theirs."""
    keys = ApiKey.objects.filter(workspace_id=workspace_id)
    if key_hash is not None:
        keys = keys.filter(key_hash=key_hash)
    if not include_disabled:
        keys = keys.filter(enabled=True)
    return [_details(row) for row in keys.order_by("-created_at", "-id").values(*_DETAIL_FIELDS)]


def active_user(identifier: str):
    """An active account by username, or by email when exactly one account has it (as the
    dashboard's invite form finds one); None otherwise."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True)
    user = users.filter(username=identifier).first()
    if user is None and "@" in identifier:
        matches = list(users.filter(email__iexact=identifier)[:2])
        if len(matches) == 1:
            user = matches[0]
    return user


def management_key_workspace(raw_key: str) -> int | None:
    """The workspace of a management key that is neither revoked nor expired, for the one
    relay-side endpoint OpenRouter reads with such a key (/api/v1/credits)."""
    from django.db.models import Q
    from django.utils import timezone

    from .keys import hash_key, looks_like_management_key
    from .models import ManagementKey

    if not looks_like_management_key(raw_key):
        return None
    return (
        ManagementKey.objects.filter(key_hash=hash_key(raw_key), revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .values_list("workspace_id", flat=True)
        .first()
    )
