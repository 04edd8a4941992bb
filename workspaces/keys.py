"""API key material: generation, keyed hashing and the display prefix.

Only the HMAC of a key is stored; the raw key exists once, in the response that created it.
"""

import functools
import hashlib
import hmac
import secrets

from django.conf import settings

KEY_PREFIX = "sk-orca-"
_RANDOM_BYTES = 32  # token_urlsafe(32) gives 43 URL-safe characters


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def hash_key(raw_key: str) -> str:
    # Runs on every call: start from an HMAC whose key is already set up (copying it costs
    # about two thirds of keying a new one).
    keyed = _keyed(settings.ORCA_KEY_HASH_SECRET).copy()
    keyed.update(raw_key.encode())
    return keyed.hexdigest()


@functools.lru_cache(maxsize=4)
def _keyed(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def display_prefix(raw_key: str) -> str:
    """Enough to recognise a key in a list, far too little to guess it."""
    return f"{raw_key[: len(KEY_PREFIX) + 4]}…{raw_key[-4:]}"


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and len(value) >= len(KEY_PREFIX) + 32
