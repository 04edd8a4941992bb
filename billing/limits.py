"""Admission control for the hot path: rate limits, per-key spend caps and the prepaid
balance, checked and reserved together in one step.

With Redis it is one Lua script per call to admit and one to settle, atomic across every
gateway process. Embedded (no Redis) the same rules run on in-process counters.
Amounts are pico-dollars (billing.pricing)."""

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from django.conf import settings

from orca.redis_pipe import encode_arguments

from .balances import BALANCE_KEY

# Outcome codes shared by both backends (and the Lua script).
OK, NEED_BALANCE = 0, -1
REFUSALS = {
    1: (429, "rate_limit_exceeded", "workspace request rate limit ({limit}/min) reached"),
    2: (429, "rate_limit_exceeded", "workspace token rate limit ({limit}/min) reached"),
    3: (429, "rate_limit_exceeded", "API key request rate limit ({limit}/min) reached"),
    4: (429, "rate_limit_exceeded", "API key token rate limit ({limit}/min) reached"),
    5: (402, "key_spend_limit_exceeded", "this API key reached its lifetime spend limit"),
    6: (402, "key_spend_limit_exceeded", "this API key reached its daily spend limit"),
    7: (402, "key_spend_limit_exceeded", "this API key reached its weekly spend limit"),
    8: (402, "key_spend_limit_exceeded", "this API key reached its monthly spend limit"),
    9: (402, "insufficient_quota", "the workspace balance does not cover this request"),
}
_DAY = 86_400
# Every reservation made in Redis is also listed here until it settles: member
# "<hold id>|<key id>|<admitted at>|<reserved pico>", score = when it may be presumed lost.
HOLDS_KEY = "orca:holds:{}"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one call: 0 rate limits and None spend caps mean "none"."""

    workspace_rpm: int = 0
    workspace_tpm: int = 0
    key_rpm: int = 0
    key_tpm: int = 0
    key_total_pico: int | None = None
    key_day_pico: int | None = None
    key_week_pico: int | None = None
    key_month_pico: int | None = None
    # The limits as the admission script's arguments 3-10, encoded once: a key's Limits are
    # built once per cached key and reused by every call.
    encoded: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = (self.workspace_rpm, self.workspace_tpm, self.key_rpm, self.key_tpm)
        object.__setattr__(self, "encoded", encode_arguments((*rates, *_caps(self))))


class Refused(Exception):
    def __init__(self, outcome: int, limits: Limits, retry_after: int | None) -> None:
        status, code, message = REFUSALS[outcome]
        limit = {
            1: limits.workspace_rpm,
            2: limits.workspace_tpm,
            3: limits.key_rpm,
            4: limits.key_tpm,
        }.get(outcome)
        super().__init__(message.format(limit=limit))
        self.status = status
        self.code = code
        self.message = message.format(limit=limit)
        self.retry_after = retry_after if status == 429 else None


@dataclass(slots=True)
class Ticket:
    """What one admitted call holds until it settles."""

    workspace_id: int
    key_id: int
    reserved_pico: int
    reserved_tokens: int
    keys: tuple[str, ...]  # the counters it touched (the same ones are adjusted at settlement)
    hold: str = ""  # its entry in the workspace's holds (Redis), removed when it settles
    settled: bool = False


_window_cache: dict[tuple[int, int], tuple[int, tuple[str, ...]]] = {}


def _windows(workspace_id: int, key_id: int, now: float) -> tuple[str, ...]:
    """The counters a call of this key touches now. Every window (minute, day, week, month)
    changes only on a minute boundary, so the names are built once a minute per key."""
    minute = int(now // 60)
    cached = _window_cache.get((workspace_id, key_id))
    if cached is not None and cached[0] == minute:
        return cached[1]
    if len(_window_cache) > 100_000:
        _window_cache.clear()
    keys = _window_names(workspace_id, key_id, now, minute)
    _window_cache[(workspace_id, key_id)] = (minute, keys)
    return keys


def _window_names(workspace_id: int, key_id: int, now: float, minute: int) -> tuple[str, ...]:
    day = int(now // _DAY)
    week = int((now // _DAY + 3) // 7)  # weeks start on Monday (1970-01-01 was a Thursday)
    gm = time.gmtime(now)
    month = gm.tm_year * 12 + gm.tm_mon
    return (
        BALANCE_KEY.format(workspace_id),
        f"orca:rl:w:{workspace_id}:req:{minute}",
        f"orca:rl:w:{workspace_id}:tok:{minute}",
        f"orca:rl:k:{key_id}:req:{minute}",
        f"orca:rl:k:{key_id}:tok:{minute}",
        f"orca:spend:k:{key_id}:total",
        f"orca:spend:k:{key_id}:d:{day}",
        f"orca:spend:k:{key_id}:w:{week}",
        f"orca:spend:k:{key_id}:m:{month}",
        HOLDS_KEY.format(workspace_id),
    )


def _retry_after(now: float) -> int:
    return max(1, 60 - int(now % 60))


# KEYS as in _windows(); ARGV: estimate, tokens, ws_rpm, ws_tpm, key_rpm, key_tpm,
# total, day, week, month caps (-1: none), hold expiry, hold member.
_ADMIT = """
local bal = redis.call('GET', KEYS[1])
if not bal then return -1 end
local est = tonumber(ARGV[1])
local tok = tonumber(ARGV[2])
local function over(key, limit, add)
  if limit <= 0 then return false end
  return tonumber(redis.call('GET', key) or '0') + add > limit
end
if over(KEYS[2], tonumber(ARGV[3]), 1) then return 1 end
if over(KEYS[3], tonumber(ARGV[4]), tok) then return 2 end
if over(KEYS[4], tonumber(ARGV[5]), 1) then return 3 end
if over(KEYS[5], tonumber(ARGV[6]), tok) then return 4 end
for i = 6, 9 do
  local cap = tonumber(ARGV[i + 1])
  if cap >= 0 and tonumber(redis.call('GET', KEYS[i]) or '0') + est > cap then return i - 1 end
end
if tonumber(bal) < est then return 9 end
redis.call('DECRBY', KEYS[1], est)
redis.call('ZADD', KEYS[10], ARGV[11], ARGV[12])
for i = 2, 5 do
  local add = (i % 2 == 0) and 1 or tok
  redis.call('INCRBY', KEYS[i], add)
  redis.call('EXPIRE', KEYS[i], 120)
end
for i = 6, 9 do
  redis.call('INCRBY', KEYS[i], est)
  if i > 6 then redis.call('EXPIRE', KEYS[i], 3000000) end
end
return 0
"""

# Same KEYS; ARGV: cost delta (actual - reserved), token delta, hold member. A hold that is
# no longer listed was settled already (or released as lost): nothing is applied twice.
# Counters that have expired meanwhile are left alone rather than re-created without a TTL.
_SETTLE = """
if redis.call('ZREM', KEYS[10], ARGV[3]) == 0 then return 0 end
local delta = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECRBY', KEYS[1], delta) end
if tonumber(ARGV[2]) ~= 0 then
  for _, i in ipairs({3, 5}) do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[2]) end
  end
end
redis.call('INCRBY', KEYS[6], delta)
for i = 7, 9 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], delta) end
end
return 1
"""


def _caps(limits: Limits) -> list[int]:
    return [
        -1 if cap is None else cap
        for cap in (
            limits.key_total_pico,
            limits.key_day_pico,
            limits.key_week_pico,
            limits.key_month_pico,
        )
    ]


class RedisLimiter:
    def __init__(self, url: str) -> None:
        from orca.redis_pipe import PipelinedRedis, Script

        self._client = PipelinedRedis(url, timeout=2)
        self._admit = Script(self._client, _ADMIT)
        self._settle = Script(self._client, _SETTLE)
        self._unsettled: set[asyncio.Future] = set()  # sent, reply not yet in
        self._hold_seconds = settings.ORCA_RESERVATION_HOLD_SECONDS
        self._hold_ids = itertools.count()
        self._hold_prefix = secrets.token_hex(6)

    async def admit(
        self,
        workspace_id: int,
        key_id: int,
        estimate: int,
        tokens: int,
        limits: Limits,
        load_balance: Callable[[], Awaitable[int]],
        hold_id: str = "",
    ) -> Ticket:
        now = time.time()
        keys = _windows(workspace_id, key_id, now)
        hold_id = hold_id or f"{self._hold_prefix}{next(self._hold_ids)}"
        hold = f"{hold_id}|{key_id}|{int(now)}|{estimate}"
        # ARGV: estimate, tokens, the limits (8, pre-encoded), hold expiry, hold member.
        args = (
            encode_arguments((estimate, tokens))
            + limits.encoded
            + encode_arguments((int(now) + self._hold_seconds, hold))
        )

        def give_back(outcome) -> None:
            # The caller went away while the script ran: return what it reserved.
            if outcome == OK:
                self._queue(keys, [-estimate, -tokens, hold])

        outcome = await self._admit.call_encoded(keys, 12, args, orphan=give_back)
        if outcome == NEED_BALANCE:
            # First call since Redis last knew this workspace: start from the ledger.
            await self._client.call("SET", keys[0], await load_balance(), "NX")
            outcome = await self._admit.call_encoded(keys, 12, args, orphan=give_back)
        if outcome != OK:
            raise Refused(int(outcome), limits, _retry_after(now))
        return Ticket(workspace_id, key_id, estimate, tokens, keys, hold)

    def settle(self, ticket: Ticket, actual_pico: int, actual_tokens: int) -> None:
        """Queue the settlement: it rides along with the next admission written to Redis
        (or goes out on its own shortly), so the request path pays no round trip for it.
        Until it lands, the reservation (never less than the real cost) stays held, which
        only ever errs on the safe side."""
        if ticket.settled:
            return
        ticket.settled = True
        self._queue(
            ticket.keys,
            [
                actual_pico - ticket.reserved_pico,
                actual_tokens - ticket.reserved_tokens,
                ticket.hold,
            ],
        )

    def _queue(self, keys: tuple[str, ...], deltas: list) -> None:
        from orca.redis_pipe import RedisUnavailable

        try:
            future = self._settle.call_lazily(keys, deltas)
        except RedisUnavailable:  # not connected right now: a task connects and sends it
            self._track(asyncio.get_running_loop().create_task(self._send(keys, deltas)))
            return
        future.add_done_callback(lambda f: self._settled(f, keys, deltas))
        self._track(future)

    def _track(self, pending: asyncio.Future) -> None:
        self._unsettled.add(pending)
        pending.add_done_callback(self._unsettled.discard)

    def _settled(self, future: asyncio.Future, keys: tuple[str, ...], deltas: list) -> None:
        error = None if future.cancelled() else future.exception()
        if error is None or future.cancelled():
            return
        if str(error).startswith("NOSCRIPT"):  # Redis restarted: send the script in full
            self._track(asyncio.get_running_loop().create_task(self._send(keys, deltas)))
        else:
            log.error("settling a reservation failed (%s); it stays held", error)

    async def _send(self, keys: tuple[str, ...], deltas: list) -> None:
        try:
            await self._settle(keys, deltas)
        except Exception as exc:
            log.error("settling a reservation failed (%s); it stays held", exc)

    def forget_balances(self) -> None:
        """Balances live in Redis; grants reach them directly (billing.balances)."""

    async def close(self) -> None:
        self._client.flush()
        if self._unsettled:
            await asyncio.wait(list(self._unsettled), timeout=5)
        await self._client.close()


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
        self, workspace_id, key_id, estimate, tokens, limits, load_balance, hold_id=""
    ) -> Ticket:
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

    def settle(self, ticket: Ticket, actual_pico: int, actual_tokens: int) -> None:
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

    def forget_balances(self) -> None:
        """A grant happened (config version bumped): reload balances from the ledger."""
        for key in [k for k in self._counters if k.startswith("orca:bal:")]:
            del self._counters[key]

    async def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class _Hold:
    hold_id: str
    key_id: int
    admitted_at: int
    reserved_pico: int


def _parse_hold(member: bytes) -> _Hold:
    hold_id, key_id, admitted_at, reserved = member.decode().split("|")
    return _Hold(hold_id, int(key_id), int(admitted_at), int(reserved))


def release_lost_holds(
    client,
    costs_of: Callable[[list[str]], dict[str, int]],
    now: float | None = None,
    unrecorded_grace: float = 0.0,
) -> int:
    """Settle reservations whose settlement never reached Redis (a lost connection, a
    gateway that died mid-call) once they are past any call's lifetime: each is settled at
    the cost its usage record shows (`costs_of`: hold ids -> cost in pico). One without a
    record waits `unrecorded_grace` seconds longer (its record may still be on its way, say
    while the database was down) and is then settled at nothing. The same script as a
    normal settlement, so a late one is never applied twice. Runs off the request path with
    a redis-py client; returns how many were released."""
    now = time.time() if now is None else now
    settle = client.register_script(_SETTLE)
    released = 0
    for name in client.scan_iter(match=HOLDS_KEY.format("*"), count=500):
        workspace_id = int(name.rsplit(b":", 1)[1])
        offset = 0  # holds left in place (no record yet) are stepped over
        while page := client.zrangebyscore(
            name, "-inf", now, start=offset, num=500, withscores=True
        ):
            holds = {}
            for member, expiry in page:
                try:
                    holds[member] = (_parse_hold(member), expiry)
                except ValueError:
                    log.error("dropping malformed reservation hold %r", member)
                    client.zrem(name, member)
            costs = costs_of([hold.hold_id for hold, _ in holds.values()])
            for member, (hold, expiry) in holds.items():
                cost = costs.get(hold.hold_id)
                if cost is None and now < expiry + unrecorded_grace:
                    offset += 1
                    continue
                at = hold.admitted_at
                keys = _window_names(workspace_id, hold.key_id, at, at // 60)
                released += int(
                    settle(keys=keys, args=[(cost or 0) - hold.reserved_pico, 0, member])
                )
    return released


def make_limiter():
    return RedisLimiter(settings.REDIS_URL) if settings.REDIS_URL else LocalLimiter()
