"""The playground's key: an API key minted for one dashboard login session, never pasted.

Its secret is derived, not stored: HMAC(SECRET_KEY, "session key | salt"), so it exists
only while the server computes it for a call. The session holds the key's id and a random
salt (not a secret without SECRET_KEY and the session's own key); the database holds the
key's hash, like every API key's. The key is an ordinary `ApiKey` (purpose "playground"),
so a playground call is authenticated, limited, billed and logged like a client's, and
shows in the key list and the usage breakdown under its name.

It ends with the session: logging out revokes it (`user_logged_out`), it expires after
`PLAYGROUND_KEY_TTL` (a new one is minted on the next send), and a session whose key
changed (a new login) can no longer derive the old secret, so it mints another and revokes
the one it can no longer use."""

import base64
import secrets
from datetime import timedelta

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .keys import KEY_PREFIX, MANAGEMENT_KEY_PREFIX, display_prefix, hash_key
from .models import ApiKey, Workspace

SESSION_FIELD = "orca_playground_keys"
PLAYGROUND_KEY_TTL = timedelta(hours=8)
_HMAC_SALT = "orca.playground-session-key"


def _derive(session_key: str, salt: str) -> str:
    digest = salted_hmac(_HMAC_SALT, f"{session_key}|{salt}", algorithm="sha256").digest()
    return KEY_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")  # 43 characters


def _usable(key: ApiKey | None, raw: str) -> bool:
    return (
        key is not None
        and key.enabled
        and key.key_hash == hash_key(raw)
        and (key.expires_at is None or key.expires_at > timezone.now() + timedelta(minutes=1))
    )


def playground_key(request, workspace: Workspace) -> str:
    """The raw key this session's playground calls `workspace` with, minted on first use."""
    session = request.session
    if session.session_key is None:
        session.save()  # a session key to derive from
    entries = dict(session.get(SESSION_FIELD) or {})
    entry = entries.get(str(workspace.pk))
    if isinstance(entry, dict) and isinstance(entry.get("salt"), str):
        raw = _derive(session.session_key, entry["salt"])
        key = ApiKey.objects.filter(pk=entry.get("id"), workspace=workspace).first()
        if _usable(key, raw):
            return raw
        if key is not None and key.enabled:  # expired, or this session can no longer use it
            _revoke(key)
    while True:
        salt = secrets.token_urlsafe(16)
        raw = _derive(session.session_key, salt)
        if not raw.startswith(MANAGEMENT_KEY_PREFIX):
            break
    key = ApiKey.objects.create(
        workspace=workspace,
        name=f"playground · {request.user.get_username()}"[:100],
        key_hash=hash_key(raw),
        prefix=display_prefix(raw),
        expires_at=timezone.now() + PLAYGROUND_KEY_TTL,
        created_by=request.user,
        purpose=ApiKey.Purpose.PLAYGROUND,
    )
    entries[str(workspace.pk)] = {"id": key.pk, "salt": salt}
    session[SESSION_FIELD] = entries
    return raw


def _revoke(key: ApiKey) -> None:
    key.enabled = False
    key.revoked_at = timezone.now()
    key.save(update_fields=["enabled", "revoked_at"])  # post_save: gateways drop it


def revoke_session_keys(session) -> int:
    """Revoke every playground key this session minted; how many were still enabled."""
    entries = session.get(SESSION_FIELD) or {}
    ids = [entry.get("id") for entry in entries.values() if isinstance(entry, dict)]
    revoked = 0
    for key in ApiKey.objects.filter(
        pk__in=[i for i in ids if isinstance(i, int)],
        purpose=ApiKey.Purpose.PLAYGROUND,
        enabled=True,
    ):
        _revoke(key)
        revoked += 1
    session.pop(SESSION_FIELD, None)
    return revoked


@receiver(user_logged_out, dispatch_uid="orca-revoke-playground-keys")
def _on_logout(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        revoke_session_keys(request.session)
