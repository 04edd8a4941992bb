"""A created key's secret between the POST that made it and the GET that shows it once.

The session is a database row (or a cache entry) that outlives the redirect if the GET never
comes, so the secret rides in it encrypted (Fernet, with a key derived from SECRET_KEY) and
leaves it the first time it is read: a reload neither creates another key nor shows the
secret again."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"orca-key-reveal:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def stash(session, field: str, key_id: int, raw: str) -> None:
    session[field] = {"id": key_id, "secret": _fernet().encrypt(raw.encode()).decode()}


def take(session, field: str) -> tuple[int, str] | None:
    """The key id and secret stashed under `field`, once: they leave the session as read."""
    stashed = session.pop(field, None)
    if not isinstance(stashed, dict):
        return None
    try:
        return stashed["id"], _fernet().decrypt(stashed["secret"].encode()).decode()
    except (InvalidToken, KeyError, TypeError, ValueError, AttributeError):
        return None
