"""A change counter every gateway process watches to drop its cached keys and catalog.

Writes to keys, workspaces and the catalog bump it (after commit). With Redis it is one
integer key, so every process on every machine sees a change within one poll interval;
embedded, it is a file in var/ shared by the processes of one machine.
"""

import time
from pathlib import Path

from django.conf import settings

REDIS_KEY = "orca:config-version"


def _version_file() -> Path:
    return Path(settings.VAR_DIR) / "config-version"


_sync_client = None


def _redis():
    global _sync_client
    if _sync_client is None:
        import redis

        _sync_client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
    return _sync_client


def bump() -> None:
    if settings.REDIS_URL:
        _redis().incr(REDIS_KEY)
    else:
        _version_file().write_text(str(time.time_ns()))


class VersionReader:
    """Reads the current version from an async context (the gateway's poller)."""

    def __init__(self) -> None:
        self._client = None
        if settings.REDIS_URL:
            import redis.asyncio

            self._client = redis.asyncio.Redis.from_url(
                settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
            )

    async def read(self) -> str:
        if self._client is not None:
            value = await self._client.get(REDIS_KEY)
            return value.decode() if value else "0"
        try:
            return _version_file().read_text()
        except FileNotFoundError:
            return "0"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
