"""The small request value a surface parses from: headers, query, path parameters and the
client's address, read from the ASGI scope only when asked for."""

from functools import cache
from urllib.parse import parse_qs

from django.conf import settings


@cache
def _trust_forwarded() -> bool:
    return settings.ORCA_TRUST_X_FORWARDED_FOR  # read once: settings lookups show in profiles


class Request:
    __slots__ = ("_query", "scope")

    def __init__(self, scope: dict) -> None:
        self.scope = scope
        self._query: dict[str, list[str]] | None = None

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    def query(self, name: str) -> str | None:
        """The first value of query parameter `name`."""
        query = self._query
        if query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            query = self._query = parse_qs(raw) if raw else {}
        values = query.get(name)
        return values[0] if values else None

    def path_param(self, name: str) -> str:
        return self.scope["url_route"]["kwargs"][name]

    def client_ip(self) -> str | None:
        if _trust_forwarded():
            forwarded = self.header(b"x-forwarded-for")
            if forwarded:
                # The right-most entry is the one our proxy appended; entries to its left
                # come from the client and can be forged.
                return forwarded.split(",")[-1].strip()
        client = self.scope.get("client")
        return client[0] if client else None
