"""Admission control for the hot path: rate limits, per-key spend caps and the prepaid
balance, checked and reserved together in one step.

With Redis it is one Lua script per call to admit and one to settle, atomic across every
gateway process. Embedded (no Redis) the same rules run on in-process counters.
Amounts are pico-dollars (billing.pricing)."""

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

from .holds import (  # noqa: F401 (release_lost_holds, parse_hold: used from here by tests)
    PROGRESS,
    PROGRESS_KEY,
    SEED,
    SETTLE,
    SETTLED_KEY,
    Usage,
    hold_member,
    parse_hold,
    release_lost_holds,
    settled_facts,
)
from .redis_pipe import encode_arguments
from .windows import HOLDS_KEY, SPEND_TTL, call_keys  # noqa: F401 (HOLDS_KEY: re-exported)

if TYPE_CHECKING:
    from .selectors import SeedState

# Loads what Redis lost about a workspace, given the request ids of this process's
# finished calls there (to learn which of them the ledger shows already).
StateLoader = Callable[[list[str]], Awaitable["SeedState"]]

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
# A finished call stays known until its usage record is written (note_recorded), at most
# this long: if Redis loses its data meanwhile, its cost is put back into the rebuilt state
# unless the ledger shows it already.
RECENT_SECONDS = 15.0
# (workspace id, request id) of the calls whose usage records the writer thread committed,
# batch by batch, for the event loop's limiter (deque appends and pops are thread-safe).
_recorded: deque[list[tuple[int, str]]] = deque(maxlen=10_000)  # past that: RECENT_SECONDS
_drainer: list = []  # (loop, callback) of the running RedisLimiter, woken after each batch
PROGRESS_SECONDS = 1.0  # a call's progress reaches Redis at most this often
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
    hold_id: str = ""
    expires_at: int = 0  # when its hold may be presumed lost
    final_pico: int | None = None  # its real cost, once settled
    next_progress: float = 0.0  # monotonic time before which progress() does nothing
    progressed: bool = False  # it keeps a progress hash in Redis


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


_window_names = call_keys


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


def _retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # a lost connection: the beat task strikes what this did not


def note_recorded(calls: list[tuple[int, str]]) -> None:
    """The usage records of these calls (workspace id, request id) are committed; called
    from the writer thread. A rebuild finds them in the ledger now, so the limiter forgets
    them and strikes them from the settled hashes (holds.release_settled_calls finds any
    it misses recorded)."""
    if not _drainer:  # no Redis limiter in this process: nothing remembers them
        return
    _recorded.append(calls)
    loop, drain = _drainer[0]
    with contextlib.suppress(RuntimeError):  # a closed loop: the process is stopping
        loop.call_soon_threadsafe(drain)


class RedisLimiter:
    def __init__(self, url: str) -> None:
        from .redis_pipe import PipelinedRedis, Script

        self._client = PipelinedRedis(url, timeout=2)
        self._admit = Script(self._client, _ADMIT)
        self._settle = Script(self._client, SETTLE)
        self._seed = Script(self._client, SEED)
        self._progress = Script(self._client, PROGRESS)
        self._unsettled: set[asyncio.Future] = set()  # sent, reply not yet in
        self._hold_seconds = settings.ORCA_RESERVATION_HOLD_SECONDS
        self._hold_ids = itertools.count()
        self._hold_prefix = secrets.token_hex(6)
        # This process's calls by hold id: running ones, and finished ones until their
        # usage record is written (RECENT_SECONDS at most, `_finished` holds them oldest
        # first), for rebuilding after a loss. Short-lived on purpose: tens of thousands of
        # kept tickets cost every request several per cent in garbage collection.
        self._tickets: dict[str, Ticket] = {}
        self._finished: deque[tuple[float, str]] = deque()
        self._rebuilding: dict[int, asyncio.Future] = {}
        self._drain_loop: asyncio.AbstractEventLoop | None = None

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
        """Check the limits and reserve `estimate`, or raise Refused. When Redis has lost
        the workspace's state, it is rebuilt first from the ledger and usage records
        (`load_state`, see selectors.seed_state; without it, the balance comes from
        `load_balance` and the key spends from a default loader). `model` and `endpoint`
        are kept with the hold, so a call whose gateway dies can still be recorded."""
        now = time.time()
        keys = _windows(workspace_id, key_id, now)
        hold_id = hold_id or f"{self._hold_prefix}{next(self._hold_ids)}"
        expires_at = int(now) + self._hold_seconds
        hold = hold_member(hold_id, key_id, int(now), estimate, endpoint, model)
        # ARGV: estimate, tokens, the limits (8, pre-encoded), hold expiry, hold member.
        args = (
            encode_arguments((estimate, tokens))
            + limits.encoded
            + encode_arguments((expires_at, hold))
        )

        def give_back(outcome) -> None:
            # The caller went away while the script ran: return what it reserved.
            if outcome == OK:
                self._queue(keys, [-estimate, -tokens, hold, "", "", ""])

        outcome = await self._admit.call_encoded(keys, 12, args, orphan=give_back)
        if outcome == NEED_BALANCE:
            # Redis does not know this workspace (first call, or it lost its data).
            await self._rebuild(workspace_id, keys, load_balance, load_state)
            outcome = await self._admit.call_encoded(keys, 12, args, orphan=give_back)
        if outcome != OK:
            if outcome not in REFUSALS:
                raise RuntimeError(f"unexpected admission outcome {outcome!r}")
            raise Refused(int(outcome), limits, _retry_after(now))
        ticket = Ticket(workspace_id, key_id, estimate, tokens, keys, hold, hold_id=hold_id)
        ticket.expires_at = expires_at
        ticket.next_progress = time.monotonic() + PROGRESS_SECONDS  # short calls report none
        self._tickets[hold_id] = ticket
        if self._drain_loop is None:  # the usage writer tells this loop what it wrote
            self._drain_loop = asyncio.get_running_loop()
            _drainer[:] = [(self._drain_loop, self._drain_recorded)]
        return ticket

    async def _rebuild(
        self,
        workspace_id: int,
        keys: tuple[str, ...],
        load_balance: Callable[[], Awaitable[int]],
        load_state: StateLoader | None,
    ) -> None:
        """Seed the workspace's balance and key spends from PostgreSQL, and put back what
        this process's own calls there hold (running) or cost (finished, not in the ledger
        yet). Concurrent admissions wait for the one rebuild."""
        running = self._rebuilding.get(workspace_id)
        if running is not None:
            await asyncio.shield(running)
            return
        done = asyncio.get_running_loop().create_future()
        self._rebuilding[workspace_id] = done
        try:
            await self._seed_workspace(workspace_id, keys, load_balance, load_state)
            done.set_result(None)
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # retrieved: the waiters re-raise it, or nobody waits
            raise
        finally:
            del self._rebuilding[workspace_id]

    async def _seed_workspace(self, workspace_id, keys, load_balance, load_state) -> None:
        mine = [t for t in self._tickets.values() if t.workspace_id == workspace_id]
        finished = [t.hold_id for t in mine if t.final_pico is not None]
        if load_state is None:
            state = await _default_state(workspace_id, finished, load_balance)
        else:
            state = await load_state(finished)
        args: list = [state.balance_pico, len(state.spends) * 4]
        for key_id, sums in state.spends.items():
            for name, value, ttl in zip(
                _spend_names(key_id, state.windows), sums, (0, SPEND_TTL, SPEND_TTL, SPEND_TTL),
                strict=True,
            ):  # fmt: skip
                args += [name, value, ttl]
        for ticket in mine:
            if ticket.final_pico is None:
                args += [ticket.hold, ticket.expires_at, ticket.reserved_pico, 1]
            elif ticket.hold_id in state.recorded:
                continue
            else:
                args += [ticket.hold, 0, ticket.final_pico, 0]
            args += ticket.keys[5:9]
        await self._seed(keys[:1] + keys[-1:], args)
        for ticket in mine:  # finished ones are accounted for now
            if ticket.final_pico is not None:
                self._tickets.pop(ticket.hold_id, None)
        log.warning("workspace %d: Redis state rebuilt from the ledger", workspace_id)

    def settle(
        self,
        ticket: Ticket,
        actual_pico: int,
        actual_tokens: int,
        status: int = 200,
        usage: Usage | None = None,
    ) -> None:
        """Queue the settlement: it rides along with the next admission written to Redis
        (or goes out on its own shortly), so the request path pays no round trip for it.
        Until it lands, the reservation (never less than the real cost) stays held, which
        only ever errs on the safe side. The settlement leaves the call's facts (`status`,
        `usage`'s tokens) in the workspace's settled hash until its usage record is
        written, so that a process dying before its usage flush still gets it recorded
        (holds.release_settled_calls)."""
        if ticket.settled:
            return
        ticket.settled = True
        ticket.final_pico = actual_pico
        now = time.monotonic()
        tickets = self._tickets
        self._finished.append((now, ticket.hold_id))
        while self._finished and self._finished[0][0] < now - RECENT_SECONDS:
            tickets.pop(self._finished.popleft()[1], None)
        # Within its hold's lifetime nothing else can have settled or released it: if Redis
        # no longer lists it, Redis lost it, and the call's whole cost is charged.
        wall = int(time.time())
        whole = actual_pico if wall < ticket.expires_at else ""
        deltas = [
            actual_pico - ticket.reserved_pico,
            actual_tokens - ticket.reserved_tokens,
            ticket.hold,
            ticket.hold_id if ticket.progressed else "",
            whole,
            settled_facts(wall, actual_pico, status, usage),
        ]
        self._queue(ticket.keys, deltas, ticket)

    def progress(
        self, ticket: Ticket, delivered_pico: int, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Note what a running call has delivered so far (cost, tokens), so that if this
        gateway dies the call is billed for it (holds.release_lost_holds). Fire and
        forget, and at most once per PROGRESS_SECONDS per call: a call in between costs one
        clock reading."""
        now = time.monotonic()
        if now < ticket.next_progress or ticket.settled:
            return
        ticket.next_progress = now + PROGRESS_SECONDS
        ticket.progressed = True
        args = [
            PROGRESS_KEY.format(ticket.hold_id),
            delivered_pico,
            prompt_tokens,
            completion_tokens,
            int(time.time()),
            2 * self._hold_seconds + 3600,  # outlives the hold and its unrecorded grace
        ]
        from .redis_pipe import RedisUnavailable

        try:
            future = self._progress.call_lazily((), args)
        except RedisUnavailable:  # best effort: the next report a second later may land
            return
        future.add_done_callback(lambda f: self._progressed(f, args))

    def _progressed(self, future: asyncio.Future, args: list) -> None:
        error = None if future.cancelled() else future.exception()
        if error is not None and str(error).startswith("NOSCRIPT"):
            self._track(asyncio.get_running_loop().create_task(self._progress_in_full(args)))

    async def _progress_in_full(self, args: list) -> None:
        try:
            await self._progress((), args)
        except Exception as exc:
            log.warning("reporting a call's progress failed (%s)", exc)

    def _queue(self, keys: tuple[str, ...], deltas: list, ticket: Ticket | None = None) -> None:
        from .redis_pipe import RedisUnavailable

        try:
            future = self._settle.call_lazily(keys, deltas)
        except RedisUnavailable:  # not connected right now: a task connects and sends it
            task = asyncio.get_running_loop().create_task(self._send(keys, deltas, ticket))
            self._track(task)
            return
        future.add_done_callback(lambda f: self._settled(f, keys, deltas, ticket))
        self._track(future)

    def _track(self, pending: asyncio.Future) -> None:
        self._unsettled.add(pending)
        pending.add_done_callback(self._unsettled.discard)

    def _settled(self, future, keys: tuple[str, ...], deltas: list, ticket) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            self._landed(ticket, future.result())
        elif str(error).startswith("NOSCRIPT"):  # Redis restarted: send the script in full
            task = asyncio.get_running_loop().create_task(self._send(keys, deltas, ticket))
            self._track(task)
        else:
            log.error("settling a reservation failed (%s); it stays held", error)

    async def _send(self, keys: tuple[str, ...], deltas: list, ticket) -> None:
        try:
            self._landed(ticket, await self._settle(keys, deltas))
        except Exception as exc:
            log.error("settling a reservation failed (%s); it stays held", exc)

    def _landed(self, ticket: Ticket | None, outcome) -> None:
        """A settlement's reply. Unless Redis lost the state and has not rebuilt it yet (-1,
        when the next rebuild of the workspace here charges the call), it is accounted
        for; after a late charge (2) it must not be charged again by a rebuild."""
        if ticket is not None and outcome == 2:
            self._tickets.pop(ticket.hold_id, None)

    def _drain_recorded(self) -> None:
        """Calls whose usage records are written: forget them, and strike them from their
        workspaces' settled hashes in one lazy command per workspace."""
        by_workspace: dict[int, list[str]] = {}
        while _recorded:
            for workspace_id, request_id in _recorded.popleft():
                self._tickets.pop(request_id, None)
                by_workspace.setdefault(workspace_id, []).append(request_id)
        from .redis_pipe import RedisUnavailable

        for workspace_id, request_ids in by_workspace.items():
            try:
                future = self._client.call_lazily(
                    "HDEL", SETTLED_KEY.format(workspace_id), *request_ids
                )
            except RedisUnavailable:  # the beat task finds them recorded
                return
            future.add_done_callback(_retrieved)

    def forget_balances(self) -> None:
        """Balances live in Redis; grants reach them directly (billing.balances)."""

    async def close(self) -> None:
        # Again while some remain: a settlement refused NOSCRIPT is resent by a new task.
        deadline = time.monotonic() + 5
        while self._unsettled and (left := deadline - time.monotonic()) > 0:
            self._client.flush()
            await asyncio.wait(list(self._unsettled), timeout=left)
        if _drainer and _drainer[0][1] == self._drain_recorded:
            _drainer.clear()
        self._drain_recorded()  # what the writer committed last, struck before closing
        self._client.flush()
        await self._client.close()


def _spend_names(key_id: int, windows: tuple[int, int, int]) -> tuple[str, ...]:
    day, week, month = windows
    prefix = f"orca:spend:k:{key_id}"
    return (f"{prefix}:total", f"{prefix}:d:{day}", f"{prefix}:w:{week}", f"{prefix}:m:{month}")


async def _default_state(
    workspace_id: int, finished: list[str], load_balance: Callable[[], Awaitable[int]]
) -> "SeedState":
    """The rebuild's state when the caller gave no loader: key spends and recorded calls
    read in a worker thread, the balance from the caller's `load_balance`."""
    from dataclasses import replace

    from django.db import connection

    from .selectors import seed_state

    def read() -> "SeedState":
        try:
            return seed_state(workspace_id, finished)
        finally:
            connection.close()  # a rare call: no connection left idle in a pool thread

    state = await asyncio.to_thread(read)
    return replace(state, balance_pico=await load_balance())


_parse_hold = parse_hold  # the name older callers use


def make_limiter():
    if settings.REDIS_URL:
        return RedisLimiter(settings.REDIS_URL)
    from .local_limits import LocalLimiter

    return LocalLimiter()
