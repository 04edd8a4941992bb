"""Reservation holds: what a call admitted in Redis holds until it settles, and how holds
whose settlement never came (a lost connection, a gateway that died mid-call) are settled
from what the database or the call's own progress reports say.

Every reservation is listed in its workspace's sorted set `orca:holds:{id}`, member
"<hold id>|<key id>|<admitted at>|<reserved pico>[|<endpoint>|<model>]", scored by when it
may be presumed lost. The hold id is the call's request id. A call that streams for longer
than a second also keeps `orca:hold:{hold id}`, a hash of what it has delivered so far
(cost, tokens), so that a gateway dying mid-stream leaves enough behind to bill it.

A settled call's usage record waits in its gateway's memory for up to one usage flush. So
that a gateway dying in that window cannot leave Redis charged and PostgreSQL unaware, the
settlement moves the hold into the hash `orca:settled:{id}`: field the hold id, value
"<settled at>|<cost>|<prompt tokens>|<completion tokens>|<status>|<flags>|<hold member>".
The gateway's limiter deletes the fields of each batch its usage writer committed
(limits.note_recorded); the beat task records what is left past the grace
(release_settled_calls)."""

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from .windows import HOLDS_KEY, call_keys

PROGRESS_KEY = "orca:hold:{}"
SETTLED_KEY = "orca:settled:{}"
USAGE_REPORTED = 1  # a settled call's flag: the upstream reported its usage
log = logging.getLogger(__name__)


def hold_member(hold_id: str, key_id: int, admitted_at: int, reserved: int, endpoint: str,
                model: str) -> str:  # fmt: skip
    member = f"{hold_id}|{key_id}|{admitted_at}|{reserved}"
    return f"{member}|{endpoint}|{model}" if endpoint or model else member


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: str
    key_id: int
    admitted_at: int
    reserved_pico: int
    endpoint: str = ""
    model: str = ""


def parse_hold(member: bytes) -> Hold:
    parts = member.decode().split("|", 5)  # the model id comes last and may hold anything
    if len(parts) not in (4, 6):
        raise ValueError(f"not a hold: {member!r}")
    hold_id, key_id, admitted_at, reserved = parts[:4]
    return Hold(hold_id, int(key_id), int(admitted_at), int(reserved), *parts[4:])


@dataclass(frozen=True, slots=True)
class LostCall:
    """A call whose gateway died after it delivered output: what its progress reported."""

    request_id: str
    workspace_id: int
    key_id: int
    endpoint: str
    model: str
    admitted_at: int
    cost_pico: int
    prompt_tokens: int
    completion_tokens: int
    last_progress_at: float


# KEYS as limits._window_names; ARGV: cost delta (actual - reserved), token delta, hold
# member, hold id whose progress hash to drop ("" if it kept none), and the call's whole
# cost when the caller knows the hold cannot have been settled or released yet ("" if not),
# and the call's facts up to the hold member in the settled hash's format ("" for a hold
# that no usage record will follow, e.g. an admission given back).
# A hold that is no longer listed was settled already or released as lost, so nothing is
# applied twice; unless ARGV[5] says neither can be, which leaves one explanation: Redis
# lost its data while the call ran, and the state rebuilt since holds nothing of the call,
# so its whole cost is charged (2). If the state is not rebuilt yet, the caller is told (-1)
# and includes the call when it rebuilds. Counters that have expired meanwhile are left
# alone rather than re-created without a TTL. The settled hash's name is the holds key's
# with "settled" for "holds" (KEYS stays as the admission's, so its encoding is shared).
SETTLE = """
if ARGV[4] ~= '' then redis.call('DEL', 'orca:hold:' .. ARGV[4]) end
local delta = tonumber(ARGV[1])
local outcome = 1
if redis.call('ZREM', KEYS[10], ARGV[3]) == 0 then
  if ARGV[5] == '' then return 0 end
  if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
  delta, outcome = tonumber(ARGV[5]), 2
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECRBY', KEYS[1], delta) end
if outcome == 1 and tonumber(ARGV[2]) ~= 0 then
  for _, i in ipairs({3, 5}) do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], ARGV[2]) end
  end
end
redis.call('INCRBY', KEYS[6], delta)
for i = 7, 9 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('INCRBY', KEYS[i], delta) end
end
local facts = ARGV[6] or ''
if facts ~= '' then
  redis.call('HSET', 'orca:settled:' .. string.sub(KEYS[10], 12),
    string.match(ARGV[3], '^[^|]*'), facts .. '|' .. ARGV[3])
end
return outcome
"""

# ARGV: progress hash name, delivered cost, prompt tokens, completion tokens, when, TTL. The
# name is an argument, not a key, so the call's command head stays cached (one Redis only).
PROGRESS = """
redis.call('HSET', ARGV[1], 'c', ARGV[2], 'p', ARGV[3], 'o', ARGV[4], 't', ARGV[5])
redis.call('EXPIRE', ARGV[1], ARGV[6])
return 1
"""

# The rebuild of one workspace after Redis lost its data. KEYS: balance, holds. ARGV: the
# ledger balance, the number n of spend counters, n times (name, value, ttl), then this
# process's calls in the workspace, 8 values each: hold member, expiry, amount, "1" for a
# call still running (re-listed at its reservation) or "0" for one finished that the
# ledger does not show yet (charged its cost), and its four spend counters. The balance is
# set only if no other gateway set it first; the calls are added either way, a running one
# only if its hold is not listed, so a rebuild run twice changes nothing. Returns 1 if this
# call set the balance.
SEED = """
local won = redis.call('SET', KEYS[1], ARGV[1], 'NX')
local n = tonumber(ARGV[2])
local i = 3
if won then
  for _ = 1, n do
    local ttl = tonumber(ARGV[i + 2])
    if ttl > 0 then redis.call('SET', ARGV[i], ARGV[i + 1], 'EX', ttl)
    else redis.call('SET', ARGV[i], ARGV[i + 1]) end
    i = i + 3
  end
else
  i = i + 3 * n
end
while i <= #ARGV do
  local amount = tonumber(ARGV[i + 2])
  local apply = ARGV[i + 3] == '0'
  if not apply and not redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i])
    apply = true
  end
  if apply then
    redis.call('DECRBY', KEYS[1], amount)
    for j = 4, 7 do
      redis.call('INCRBY', ARGV[i + j], amount)
      if j > 4 and redis.call('TTL', ARGV[i + j]) < 0 then
        redis.call('EXPIRE', ARGV[i + j], 3000000)
      end
    end
  end
  i = i + 8
end
return won and 1 or 0
"""


def _progress_of(client, hold_id: str) -> dict[bytes, bytes]:
    return client.hgetall(PROGRESS_KEY.format(hold_id)) or {}


def release_lost_holds(
    client,
    costs_of: Callable[[list[str]], dict[str, int]],
    now: float | None = None,
    unrecorded_grace: float = 0.0,
    record_lost: Callable[[LostCall], None] | None = None,
) -> int:
    """Settle reservations whose settlement never reached Redis, once they are past any
    call's lifetime: each at the cost its usage record shows (`costs_of`: hold ids -> cost
    in pico). One without a record waits `unrecorded_grace` seconds longer (its record may
    still be on its way, say while the database was down). Then, if the call reported
    progress before its gateway died, `record_lost` writes its usage record and ledger
    spend at the delivered cost and the hold is settled at that cost; otherwise it is
    settled at nothing. The same script as a normal settlement, so a late one is never
    applied twice; `record_lost` must be idempotent on the request id (a run that dies
    between the two steps finds the record next time). Runs off the request path with a
    redis-py client; returns how many holds were released."""
    now = time.time() if now is None else now
    settle = client.register_script(SETTLE)
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
                    holds[member] = (parse_hold(member), expiry)
                except ValueError:
                    log.error("dropping malformed reservation hold %r", member)
                    client.zrem(name, member)
            costs = costs_of([hold.hold_id for hold, _ in holds.values()])
            for member, (hold, expiry) in holds.items():
                cost = costs.get(hold.hold_id)
                if cost is None and now < expiry + unrecorded_grace:
                    offset += 1
                    continue
                if cost is None:
                    cost = _bill_progress(client, workspace_id, hold, record_lost)
                    if cost is None:  # could not be recorded: try again next run
                        offset += 1
                        continue
                at = hold.admitted_at
                keys = call_keys(workspace_id, hold.key_id, at, at // 60)
                args = [cost - hold.reserved_pico, 0, member, hold.hold_id, "", ""]
                released += int(settle(keys=keys, args=args) == 1)
    return released


def _bill_progress(client, workspace_id: int, hold: Hold, record_lost) -> int | None:
    """The cost a lost call is settled at when it has no usage record: what it delivered
    (recorded first), or nothing if it reported no progress. None: recording failed."""
    progress = _progress_of(client, hold.hold_id)
    if not progress or record_lost is None:
        return 0
    call = LostCall(
        request_id=hold.hold_id,
        workspace_id=workspace_id,
        key_id=hold.key_id,
        endpoint=hold.endpoint,
        model=hold.model,
        admitted_at=hold.admitted_at,
        cost_pico=min(int(progress.get(b"c", 0)), hold.reserved_pico),
        prompt_tokens=int(progress.get(b"p", 0)),
        completion_tokens=int(progress.get(b"o", 0)),
        last_progress_at=float(progress.get(b"t", hold.admitted_at)),
    )
    try:
        record_lost(call)
    except Exception:
        log.exception("recording the lost call %s failed; its hold stays", hold.hold_id)
        return None
    log.warning("call %s lost with its gateway; billed at its progress", hold.hold_id)
    return call.cost_pico


class Usage(Protocol):
    """What a settlement keeps of a call's usage (routing's Usage has it)."""

    prompt_tokens: int
    completion_tokens: int
    reported: bool


def settled_facts(settled_at: int, cost: int, status: int, usage: Usage | None) -> str:
    """A settled call's value in the settled hash, up to its hold member (the script
    appends that). Per call: one string built, a few hundred ns."""
    if usage is None:
        return f"{settled_at}|{cost}|0|0|{status}|0"
    flags = USAGE_REPORTED if usage.reported else 0
    return f"{settled_at}|{cost}|{usage.prompt_tokens}|{usage.completion_tokens}|{status}|{flags}"


@dataclass(frozen=True, slots=True)
class SettledCall:
    """A call settled in Redis (its cost charged there) whose usage record may not have
    reached PostgreSQL: what the settlement left in the workspace's settled hash."""

    workspace_id: int
    hold: Hold
    settled_at: int
    cost_pico: int
    prompt_tokens: int
    completion_tokens: int
    status: int
    usage_reported: bool


def parse_settled(workspace_id: int, value: bytes) -> SettledCall:
    parts = value.split(b"|", 6)  # the hold member comes last (its model may hold anything)
    if len(parts) != 7:
        raise ValueError(f"not a settled call: {value!r}")
    at, cost, prompt, completion, status, flags = (int(p) for p in parts[:6])
    return SettledCall(
        workspace_id, parse_hold(parts[6]), at, cost, prompt, completion, status,
        usage_reported=bool(flags & USAGE_REPORTED),
    )  # fmt: skip


def release_settled_calls(
    client,
    recorded_of: Callable[[list[str]], Collection[str]],
    record_settled: Callable[[SettledCall], None],
    now: float | None = None,
    grace: float = 0.0,
) -> int:
    """Record the settled calls whose usage record never came (their gateway died before
    its usage flush, or dropped the record): each one settled more than `grace` seconds ago
    without a record (`recorded_of`: request ids -> those with one) is written by
    `record_settled` at its settled cost (idempotent on the request id), then forgotten;
    ones with a record are only forgotten. Redis is not charged again: the settlement did
    that. Returns how many calls were recorded; a call that concurrent runs handle at once
    counts in at most one of them (the one whose removal of it took effect)."""
    now = time.time() if now is None else now
    recorded = 0
    for name in client.scan_iter(match=SETTLED_KEY.format("*"), count=500):
        workspace_id = int(name.rsplit(b":", 1)[1])
        due: dict[bytes, SettledCall] = {}
        done: list[bytes] = []
        written = client.pipeline(transaction=False)
        for field, value in client.hscan_iter(name, count=500):
            try:
                call = parse_settled(workspace_id, value)
            except ValueError:
                log.error("dropping malformed settled call %r", value)
                done.append(field)
                continue
            if call.settled_at <= now - grace:  # younger ones: the writer may be on it
                due[field] = call
        items = list(due.items())
        for start in range(0, len(items), 500):
            page = items[start : start + 500]
            known = recorded_of([call.hold.hold_id for _, call in page])
            for field, call in page:
                if call.hold.hold_id not in known:
                    try:
                        record_settled(call)
                    except Exception:
                        log.exception("recording settled call %s failed", call.hold.hold_id)
                        continue  # kept: the next run tries again
                    log.warning("call %s settled, its record lost: recorded", call.hold.hold_id)
                    written.hdel(name, field)
                else:
                    done.append(field)
        recorded += sum(written.execute())
        if done:
            client.hdel(name, *done)
    return recorded


__all__ = [
    "HOLDS_KEY",
    "Hold",
    "LostCall",
    "SettledCall",
    "parse_hold",
    "parse_settled",
    "release_lost_holds",
    "release_settled_calls",
]
