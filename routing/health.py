"""Provider health per (provider, model): rolling error rate, latency, cooldowns.

Kept in each gateway process so the hot path reads memory only; with Redis the gateway's
poller shares cooldowns and latencies between processes every tick (routing.proxy.state).
Pure bookkeeping: no I/O here.
"""

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

_WINDOW = 20  # calls in the rolling error rate
_EWMA_WEIGHT = 0.2  # weight of the newest latency sample


def health_key(provider_slug: str, public_id: str) -> str:
    return f"{provider_slug}|{public_id}"


@dataclass(slots=True)
class Health:
    latency: float | None = None  # seconds to first byte, exponentially weighted
    consecutive_failures: int = 0
    cooldown_until: float = 0.0  # epoch seconds, comparable across processes
    cooldown_reason: str = ""
    throughput: float | None = None  # output tokens per second over whole calls
    outcomes: deque = field(default_factory=lambda: deque(maxlen=_WINDOW))

    @property
    def error_rate(self) -> float:
        return (self.outcomes.count(False) / len(self.outcomes)) if self.outcomes else 0.0


class HealthBoard:
    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        cooldown: float = 30.0,
        max_cooldown: float = 300.0,
        on_cooldown: Callable[[str], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.on_cooldown = on_cooldown  # told each key put in cooldown (the metrics)
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._entries: dict[str, Health] = {}
        self._dirty_cooldowns: dict[str, tuple[float, str]] = {}
        self._dirty_latencies: dict[str, float] = {}

    def _entry(self, key: str) -> Health:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = Health()
        return entry

    def available(self, key: str, now: float | None = None) -> bool:
        entry = self._entries.get(key)
        return entry is None or entry.cooldown_until <= (now or time.time())

    def latency(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return entry.latency if entry else None

    def throughput(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return entry.throughput if entry else None

    def record_throughput(self, key: str, tokens_per_second: float) -> None:
        entry = self._entry(key)
        entry.throughput = tokens_per_second if entry.throughput is None else (
            (1 - _EWMA_WEIGHT) * entry.throughput + _EWMA_WEIGHT * tokens_per_second
        )  # fmt: skip

    def record_success(self, key: str, latency: float) -> None:
        entry = self._entry(key)
        entry.outcomes.append(True)
        entry.consecutive_failures = 0
        entry.latency = latency if entry.latency is None else (
            (1 - _EWMA_WEIGHT) * entry.latency + _EWMA_WEIGHT * latency
        )  # fmt: skip
        self._dirty_latencies[key] = entry.latency

    def record_failure(self, key: str, status: int, retry_after: float | None = None) -> None:
        """A 5xx, 429 or timeout (status 504/502 for ours). A 429 that says how long to wait
        cools the model down for that long at once; otherwise repeated failures do, for
        longer each time the model fails again straight after a cooldown."""
        entry = self._entry(key)
        entry.outcomes.append(False)
        entry.consecutive_failures += 1
        if status == 429 and retry_after:
            self.put_in_cooldown(key, min(retry_after, self.max_cooldown), "rate limited")
        elif entry.consecutive_failures >= self.failure_threshold:
            extra = entry.consecutive_failures - self.failure_threshold
            seconds = min(self.cooldown * math.pow(2, extra), self.max_cooldown)
            self.put_in_cooldown(key, seconds, f"{entry.consecutive_failures} failures in a row")

    def put_in_cooldown(self, key: str, seconds: float, reason: str) -> None:
        entry = self._entry(key)
        entry.cooldown_until = max(entry.cooldown_until, time.time() + seconds)
        entry.cooldown_reason = reason
        self._dirty_cooldowns[key] = (entry.cooldown_until, reason)
        if self.on_cooldown is not None:
            self.on_cooldown(key)

    def cooling_count(self, now: float | None = None) -> int:
        """How many keys are in cooldown now (this process's view, shared ones merged)."""
        now = now or time.time()
        return sum(1 for entry in self._entries.values() if entry.cooldown_until > now)

    def clear_cooldown(self, key: str) -> None:
        entry = self._entry(key)
        entry.cooldown_until = 0.0
        entry.consecutive_failures = 0
        self._dirty_cooldowns[key] = (0.0, "")

    # --- sharing between processes (the poller moves these to and from Redis) -------------

    def take_changes(self) -> tuple[dict[str, tuple[float, str]], dict[str, float]]:
        cooldowns, latencies = self._dirty_cooldowns, self._dirty_latencies
        self._dirty_cooldowns, self._dirty_latencies = {}, {}
        return cooldowns, latencies

    def merge(self, cooldowns: dict[str, tuple[float, str]], latencies: dict[str, float]) -> None:
        for key, (until, reason) in cooldowns.items():
            entry = self._entry(key)
            if until > entry.cooldown_until:
                entry.cooldown_until, entry.cooldown_reason = until, reason
        for key, value in latencies.items():
            entry = self._entry(key)
            entry.latency = value if entry.latency is None else (entry.latency + value) / 2

    def snapshot(self) -> dict[str, dict]:
        now = time.time()
        return {
            key: {
                "available": entry.cooldown_until <= now,
                "cooldown_seconds_left": max(0, round(entry.cooldown_until - now, 1)),
                "cooldown_reason": entry.cooldown_reason if entry.cooldown_until > now else "",
                "error_rate": round(entry.error_rate, 3),
                "latency_ms": None if entry.latency is None else round(entry.latency * 1000, 1),
            }
            for key, entry in self._entries.items()
        }
