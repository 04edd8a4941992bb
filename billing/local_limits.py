"""The embedded default's limiter: the rules of billing.limits on in-process counters, for
one process without Redis (`make run`). Its balances are seeded from the ledger like Redis's;
nothing survives the process, and nothing needs to (its usage buffer dies with it)."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from .holds import Usage
from .limits import Limits, Refused, StateLoader, Ticket, _caps, _retry_after, _windows


class LocalLimiter:
    """The same rules on in-process counters, for the embedded default (one process)."""

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}
        self._expiry: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._outstanding: dict[int, int] = {}  # reserved and not yet settled, per workspace

    def _get(self, key: str, now: float) -> int:
        if self._expiry.get(key, now + 1) <= now:
            self._counters.pop(key, None)
            self._expiry.pop(key, None)
        return self._counters.get(key, 0)

    def _add(self, key: str, amount: int, now: float, ttl: float | None = None) -> None:
        self._counters[key] = self._get(key, now) + amount
        if ttl and key not in self._expiry:
            self._expiry[key] = now + ttl

    async def admit(
        self,
        workspace_id: int,
        key_id: int,
        estimate: int,
        tokens: int,
        limits: Limits,
        load_balance: Callable[[], Awaitable[int]],
        hold_id: str = "",
        *,
        load_state: StateLoader | None = None,
        model: str = "",
        endpoint: str = "",
    ) -> Ticket:
        """As RedisLimiter.admit; the state lives in this process, so there is nothing to
        rebuild (`load_state`) and no hold to describe (`model`, `endpoint`)."""
        now = time.time()
        keys = _windows(workspace_id, key_id, now)
        async with self._lock:
            if keys[0] not in self._counters:
                loaded = await load_balance()
                # Reservations still open when balances were last reloaded stay held.
                self._counters[keys[0]] = loaded - self._outstanding.get(workspace_id, 0)
            checks = [
                (keys[1], limits.workspace_rpm, 1, 1),
                (keys[2], limits.workspace_tpm, tokens, 2),
                (keys[3], limits.key_rpm, 1, 3),
                (keys[4], limits.key_tpm, tokens, 4),
            ]
            for key, limit, add, outcome in checks:
                if limit > 0 and self._get(key, now) + add > limit:
                    raise Refused(outcome, limits, _retry_after(now))
            for i, cap in enumerate(_caps(limits)):
                if cap >= 0 and self._get(keys[5 + i], now) + estimate > cap:
                    raise Refused(5 + i, limits, None)
            if self._counters[keys[0]] < estimate:
                raise Refused(9, limits, None)
            self._counters[keys[0]] -= estimate
            for key, _, add, _ in checks:
                self._add(key, add, now, ttl=120)
            for key in keys[5:9]:
                self._add(key, estimate, now, ttl=None if key.endswith(":total") else 3_000_000)
            self._outstanding[workspace_id] = self._outstanding.get(workspace_id, 0) + estimate
        return Ticket(workspace_id, key_id, estimate, tokens, keys)

    def settle(
        self,
        ticket: Ticket,
        actual_pico: int,
        actual_tokens: int,
        status: int = 200,
        usage: Usage | None = None,
    ) -> None:
        """As RedisLimiter.settle, minus the settled call's facts (`status`, `usage`): the
        counters and the usage buffer live in this one process, so a crash that loses the
        call's record loses its charge with it, and the ledger-seeded balance of the next
        start agrees with the records it has."""
        if ticket.settled:
            return
        ticket.settled = True
        if self._lock.locked():  # a balance is being loaded: apply once it is in place
            asyncio.get_running_loop().create_task(
                self._settle_locked(ticket, actual_pico, actual_tokens)
            )
        else:
            self._apply(ticket, actual_pico, actual_tokens)

    async def _settle_locked(self, ticket: Ticket, actual_pico: int, actual_tokens: int) -> None:
        async with self._lock:
            self._apply(ticket, actual_pico, actual_tokens)

    def _apply(self, ticket: Ticket, actual_pico: int, actual_tokens: int) -> None:
        now = time.time()
        delta = actual_pico - ticket.reserved_pico
        if ticket.keys[0] in self._counters:
            self._counters[ticket.keys[0]] -= delta
        self._outstanding[ticket.workspace_id] -= ticket.reserved_pico
        self._add(ticket.keys[2], actual_tokens - ticket.reserved_tokens, now)
        self._add(ticket.keys[4], actual_tokens - ticket.reserved_tokens, now)
        for key in ticket.keys[5:9]:
            self._add(key, delta, now)

    def progress(
        self, ticket: Ticket, delivered_pico: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Nothing to do: the counters and the usage buffer live in this one process, so a
        crash that would lose the call's record loses the reservation with it."""

    def forget_balances(self) -> None:
        """A grant happened (config version bumped): reload balances from the ledger."""
        for key in [k for k in self._counters if k.startswith("orca:bal:")]:
            del self._counters[key]

    async def close(self) -> None:
        pass
