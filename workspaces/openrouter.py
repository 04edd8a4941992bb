"""API keys as OpenRouter's /api/v1/key and /api/v1/keys describe them: a key's settings
(workspaces) with what it has spent (billing.spend), in OpenRouter's terms."""

from collections.abc import Iterable
from datetime import datetime

from billing.pricing import usd_to_pico
from billing.services import UsageEvent
from billing.spend import KeySpend, has_been_credited, key_spends
from routing.wire.openrouter import Cap, KeyFigures

from .selectors import KeyDetails, key_details, workspace_key_details

# KeyDetails.caps and KeySpend's fields are in this order: lifetime, day, week, month.
CAP_RESETS = (None, "daily", "weekly", "monthly")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def figures_of(details: KeyDetails, spend: KeySpend) -> KeyFigures:
    spent = (spend.total, spend.day, spend.week, spend.month)
    caps = tuple(
        Cap(reset, usd_to_pico(limit), used)
        for reset, limit, used in zip(CAP_RESETS, details.caps, spent, strict=True)
        if limit is not None
    )
    return KeyFigures(
        hash=details.key_hash,
        name=details.name,
        label=details.prefix,
        disabled=not details.enabled,
        created_at=details.created_at.isoformat(),
        updated_at=None,
        last_used_at=_iso(details.last_used_at),
        expires_at=_iso(details.expires_at),
        workspace=details.workspace_slug,
        creator_user_id=None if details.creator_id is None else str(details.creator_id),
        caps=caps,
        usage=spent,
        byok_usage=spend.byok,
        key_rpm=details.rpm_limit,
        key_tpm=details.tpm_limit,
        workspace_rpm=details.workspace_rpm,
        workspace_tpm=details.workspace_tpm,
    )


def calling_key(key_id: int, buffered: Iterable[UsageEvent] = ()) -> tuple[KeyFigures, bool] | None:
    """The key's figures and whether its workspace is on the "free tier" (never credited);
    `buffered`: the asking gateway's usage records not written yet."""
    details = key_details(key_id)
    if details is None:
        return None
    spend = key_spends(details.workspace_id, [key_id], buffered)[key_id]
    return figures_of(details, spend), not has_been_credited(details.workspace_id)


def workspace_keys(
    workspace_id: int, *, key_hash: str | None = None, include_disabled: bool = True
) -> list[KeyFigures]:
    """The workspace's keys with their spend (or only the one with `key_hash`)."""
    keys = workspace_key_details(workspace_id, key_hash=key_hash, include_disabled=include_disabled)
    spends = key_spends(workspace_id, [k.key_id for k in keys])
    return [figures_of(k, spends[k.key_id]) for k in keys]
