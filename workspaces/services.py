"""Writes for workspaces, memberships and API keys."""

import ipaddress
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from .keys import display_prefix, generate_key, generate_management_key, hash_key
from .models import ApiKey, ManagementKey, Membership, Role, Workspace


class InvalidKeySettings(ValueError):
    """A key setting (IP range, model pattern) that cannot be stored as given."""


def get_or_create_workspace(slug: str, name: str | None = None) -> tuple[Workspace, bool]:
    slug = slugify(slug)
    if not slug:
        raise ValueError("workspace slug must contain letters or digits")
    return Workspace.objects.get_or_create(slug=slug, defaults={"name": name or slug})


def add_member(workspace: Workspace, user, role: str = Role.DEVELOPER) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        workspace=workspace, user=user, defaults={"role": role}
    )
    return membership


def normalise_ip_allowlist(entries: Iterable[str]) -> list[str]:
    networks = []
    for entry in entries:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError as exc:
            raise InvalidKeySettings(f"not an IP address or CIDR range: {entry!r}") from exc
    return networks


def create_api_key(
    workspace: Workspace,
    *,
    name: str = "default",
    expires_at: datetime | None = None,
    allowed_models: Iterable[str] = (),
    allowed_ips: Iterable[str] = (),
    created_by=None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw secret, which is never stored."""
    raw = generate_key()
    key = ApiKey.objects.create(
        workspace=workspace,
        name=name,
        key_hash=hash_key(raw),
        prefix=display_prefix(raw),
        expires_at=expires_at,
        allowed_models=[m.strip() for m in allowed_models if m.strip()],
        allowed_ips=normalise_ip_allowlist(allowed_ips),
        created_by=created_by,
    )
    return key, raw


@transaction.atomic
def revoke_api_key(key: ApiKey) -> ApiKey:
    key.enabled = False
    key.revoked_at = timezone.now()
    key.save(update_fields=["enabled", "revoked_at"])  # post_save bumps the config version
    return key


def create_management_key(
    workspace: Workspace,
    *,
    role: str,
    name: str = "default",
    expires_at: datetime | None = None,
    created_by=None,
) -> tuple[ManagementKey, str]:
    """Create a management key and return it with the raw secret, which is never stored."""
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    raw = generate_management_key()
    key = ManagementKey.objects.create(
        workspace=workspace,
        name=name,
        role=role,
        key_hash=hash_key(raw),
        prefix=display_prefix(raw),
        expires_at=expires_at,
        created_by=created_by,
    )
    return key, raw


def revoke_management_key(key: ManagementKey) -> ManagementKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def mark_keys_used(last_used: dict[int, datetime]) -> None:
    """Record last use off the request path. Plain updates: no cache invalidation needed."""
    for key_id, when in last_used.items():
        ApiKey.untracked.filter(pk=key_id).update(last_used_at=when)


__all__ = [
    "InvalidKeySettings",
    "add_member",
    "create_api_key",
    "create_management_key",
    "get_or_create_workspace",
    "mark_keys_used",
    "revoke_api_key",
    "revoke_management_key",
]
