"""Provider health as seen from outside the hot path (admin, management API).

The gateway processes share cooldowns and latencies through Redis hashes (see
workspaces.config_version.VersionReader.share_health); without Redis the only board is the
one in this process, which `make run` also serves the relay from."""

import time

from django.conf import settings

from workspaces.config_version import HEALTH_COOLDOWNS, HEALTH_LATENCIES


def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def shared_snapshot() -> dict[str, dict]:
    from .proxy.pipeline.state import state

    snapshot = state.health.snapshot()
    if not settings.REDIS_URL:
        return snapshot
    client = _redis()
    cooldowns = client.hgetall(HEALTH_COOLDOWNS)
    latencies = client.hgetall(HEALTH_LATENCIES)
    now = time.time()
    for raw_key, value in cooldowns.items():
        until, _, reason = value.decode().partition("|")
        entry = snapshot.setdefault(raw_key.decode(), {})
        left = float(until) - now
        entry["available"] = left <= 0
        entry["cooldown_seconds_left"] = max(0, round(left, 1))
        entry["cooldown_reason"] = reason if left > 0 else ""
    for raw_key, value in latencies.items():
        entry = snapshot.setdefault(raw_key.decode(), {})
        entry.setdefault("latency_ms", round(float(value) * 1000, 1))
    return snapshot


def put_in_cooldown(keys: list[str], seconds: float, reason: str) -> None:
    """Staff action: keep routers and fallback chains off these models for a while."""
    from .proxy.pipeline.state import state

    for key in keys:
        state.health.put_in_cooldown(key, seconds, reason)
    if settings.REDIS_URL:
        until = time.time() + seconds
        _redis().hset(HEALTH_COOLDOWNS, mapping={k: f"{until}|{reason}" for k in keys})


def clear_cooldown(keys: list[str]) -> None:
    """Lift a cooldown here and in Redis. Other processes keep theirs until it runs out
    (cooldowns merge by their latest end), at most ORCA_HEALTH_MAX_COOLDOWN_SECONDS."""
    from .proxy.pipeline.state import state

    for key in keys:
        state.health.clear_cooldown(key)
    if settings.REDIS_URL:
        _redis().hdel(HEALTH_COOLDOWNS, *keys)
