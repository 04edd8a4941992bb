"""A change counter every gateway process watches to drop its cached keys and catalog.

Writes to keys, workspaces and the catalog bump it (after commit). With Redis it is one
integer key, so every process on every machine sees a change within one poll interval;
embedded, it is a file in var/ shared by the processes of one machine.
"""

import time
from pathlib import Path

from django.conf import settings

REDIS_KEY = "orca:config-version"
HEALTH_COOLDOWNS = "orca:health:cooldowns"
HEALTH_LATENCIES = "orca:health:latencies"


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

    async def share_health(self, board) -> None:
        """Publish this process's health changes and take in everyone else's (Redis only)."""
        if self._client is None:
            return
        cooldowns, latencies = board.take_changes()
        async with self._client.pipeline(transaction=False) as pipe:
            if cooldowns:
                pipe.hset(
                    HEALTH_COOLDOWNS,
                    mapping={k: f"{until}|{reason}" for k, (until, reason) in cooldowns.items()},
                )
            if latencies:
                pipe.hset(HEALTH_LATENCIES, mapping={k: str(v) for k, v in latencies.items()})
            pipe.hgetall(HEALTH_COOLDOWNS)
            pipe.hgetall(HEALTH_LATENCIES)
            results = await pipe.execute()
        remote_cooldowns, remote_latencies = results[-2], results[-1]
        board.merge(
            {
                k.decode(): (float(v.split(b"|", 1)[0]), v.split(b"|", 1)[1].decode())
                for k, v in remote_cooldowns.items()
            },
            {
                k.decode(): float(v)
                for k, v in remote_latencies.items()
                if k.decode() not in latencies
            },
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
