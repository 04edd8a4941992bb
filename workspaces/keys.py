"""API key material: generation, keyed hashing and the display prefix.

Only the HMAC of a key is stored; the raw key exists once, in the response that created it.
"""

import functools
import hashlib
import hmac
import secrets

from django.conf import settings

KEY_PREFIX = "sk-orca-"
# Management API keys. They share the relay keys' prefix, so a relay key must never start
# with this one (generate_key makes sure), and each side refuses the other's keys.
MANAGEMENT_KEY_PREFIX = "sk-orca-mgmt-"
_RANDOM_BYTES = 32  # token_urlsafe(32) gives 43 URL-safe characters


def generate_key() -> str:
    while True:  # one in 2**30 random keys would look like a management key
        raw = KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
        if not raw.startswith(MANAGEMENT_KEY_PREFIX):
            return raw


def generate_management_key() -> str:
    return MANAGEMENT_KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


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
    start = MANAGEMENT_KEY_PREFIX if raw_key.startswith(MANAGEMENT_KEY_PREFIX) else KEY_PREFIX
    return f"{raw_key[: len(start) + 4]}…{raw_key[-4:]}"


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and len(value) >= len(KEY_PREFIX) + 32


def looks_like_management_key(value: str) -> bool:
    return value.startswith(MANAGEMENT_KEY_PREFIX) and len(value) >= len(MANAGEMENT_KEY_PREFIX) + 32
