"""Provider credentials at rest: Fernet-encrypted in the database, or named env variables."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    key = settings.ORCA_ENCRYPTION_KEY
    if not key:
        # Derived from SECRET_KEY so the embedded default works; production sets its own.
        digest = hashlib.sha256(b"orca-provider-credentials:" + settings.SECRET_KEY.encode())
        key = base64.urlsafe_b64encode(digest.digest()).decode()
    return Fernet(key)


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored provider credential cannot be decrypted with this key") from exc
