"""Gateway errors, raised anywhere in the pipeline and rendered in the client's dialect."""

import re

from django.db import InterfaceError, OperationalError


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None,
        param: str | None = None,
        type_: str | None = None,  # None: the gateway's own error type
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_
        self.headers = headers or []


class ClientGone(Exception):
    """The client disconnected; nothing more can be sent."""


# Anything shaped like a bearer secret: OpenAI-style keys, our own keys, Bearer values.
_SECRET_SHAPES = re.compile(
    r"(?:sk-[A-Za-z0-9_\-*]{6,}|xai-[A-Za-z0-9_\-*]{6,}|Bearer\s+\S+|AIza[0-9A-Za-z_\-]{10,})"
)


def scrub(text: str, *secrets: str) -> str:
    """Remove credentials an upstream may echo back (e.g. 'Incorrect API key: ...')."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _SECRET_SHAPES.sub("[redacted]", text)


REDACTED = b"[redacted]"


def scrub_bytes(data: bytes, secrets: tuple[bytes, ...]) -> bytes:
    """The exact credentials, out of relayed bytes. Streams are scrubbed event by event (an
    event is whole before it is forwarded), so a secret cannot straddle two pieces."""
    for secret in secrets:
        if data.find(secret) >= 0:  # not `in`: see wire/sse.py, it runs per relayed piece
            data = data.replace(secret, REDACTED)
    return data


def scrub_event(event: bytes, secrets: tuple[bytes, ...]) -> bytes:
    """An upstream's own error event, forwarded on a pass-through: the credentials and
    anything shaped like a bearer secret are taken out."""
    return scrub(event.decode("utf-8", "replace"), *(s.decode() for s in secrets)).encode()


# PostgreSQL out of reach (refused, reset, timed out): what the relay answers a call that
# needs a row no cache holds, in the caller's dialect, instead of a 500.
DATABASE_DOWN = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE = GatewayError(
    503,
    "the gateway's database is unavailable; try again shortly",
    code="database_unavailable",
    headers=[(b"retry-after", b"2")],
)
