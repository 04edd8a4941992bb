"""What API keys and workspaces have really spent, for the OpenRouter-style /api/v1/key,
/api/v1/keys and /api/v1/credits.

The truth is the usage records and the ledger in PostgreSQL. They trail the calls by up to
one usage flush (each gateway writes its records in batches), so a call answered a moment
ago is added from where it already is: the settled hash in Redis (billing.holds: every
gateway's settled calls until their records commit) and, for the asking process, the
records still in its own usage buffer. Each call counts once, by request id.

Redis' spend counters (`orca:spend:k:…`) are not used: they include what running calls
hold in reservation (the most a call can cost), which is what the limiter must count, not
what the key has spent. (billing.selectors.key_spends, the dashboard's, reads the usage
records alone: a page shown to a person may trail by a flush.)"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q, Sum

from .holds import SETTLED_KEY, parse_settled
from .models import LedgerEntry, UsageRecord
from .selectors import key_window_sums
from .services import UsageEvent
from .windows import window_starts

log = logging.getLogger(__name__)
_PAGE = 1000  # request ids per lookup of which calls are written


@dataclass(frozen=True, slots=True)
class KeySpend:
    """A key's spend in pico-dollars: lifetime, and the current UTC day, Monday week and
    calendar month (the windows of its spend caps, billing.windows)."""

    total: int = 0
    day: int = 0
    week: int = 0
    month: int = 0
    # The same four of the calls served with the workspace's own credential (BYOK; they are
    # in the four above too, as every spend counts toward the caps).
    byok: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Credits:
    """A workspace's ledger: what was credited (grants, refunds, adjustments) and what its
    calls spent, in pico-dollars. The balance is their difference."""

    total_credits: int
    total_usage: int

    @property
    def balance(self) -> int:
        return self.total_credits - self.total_usage


@dataclass(frozen=True, slots=True)
class _Unwritten:
    key_id: int | None
    cost: int
    at: float  # epoch seconds
    byok: bool = False  # known for buffered records; a call settled in Redis counts as not


_client = None


def _redis():
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
    return _client


def _settled_in_redis(workspace_id: int) -> dict[str, _Unwritten]:
    """The workspace's calls settled in Redis whose records may not be written yet."""
    if not settings.REDIS_URL:
        return {}
    import redis

    found: dict[str, _Unwritten] = {}
    try:
        for field, value in _redis().hscan_iter(SETTLED_KEY.format(workspace_id), count=500):
            try:
                call = parse_settled(workspace_id, value)
            except ValueError:
                continue  # malformed: the beat task drops it
            found[field.decode()] = _Unwritten(call.hold.key_id, call.cost_pico, call.settled_at)
    except redis.RedisError as exc:
        # The figures are then the database's alone: behind by at most one usage flush.
        log.warning("reading settled calls of workspace %d failed (%s)", workspace_id, exc)
        return {}
    return found


def _unwritten(workspace_id: int, buffered: Iterable[UsageEvent]) -> list[_Unwritten]:
    """Calls of the workspace charged but not (yet) in the database, each once."""
    calls = _settled_in_redis(workspace_id)
    for event in buffered:
        if event.workspace_id == workspace_id:
            calls[event.request_id] = _Unwritten(
                event.api_key_id, event.cost_pico, _epoch(event.created_at), event.byok
            )
    ids = list(calls)
    written: set[str] = set()
    for start in range(0, len(ids), _PAGE):  # a busy workspace settles thousands a flush
        page = ids[start : start + _PAGE]
        written.update(
            UsageRecord.objects.filter(request_id__in=page).values_list("request_id", flat=True)
        )
    return [call for request_id, call in calls.items() if request_id not in written]


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def key_spends(
    workspace_id: int, key_ids: Iterable[int], buffered: Iterable[UsageEvent] = ()
) -> dict[int, KeySpend]:
    """The spend of each of these keys of the workspace (one query for all of them);
    `buffered`: the asking process's usage records not written yet."""
    wanted = set(key_ids)
    if not wanted:
        return {}
    now = time.time()
    # Per key: lifetime, day, week, month, then the same four of the BYOK calls.
    sums = {
        key_id: [found.total, found.day, found.week, found.month, *found.byok]
        for key_id, found in key_window_sums(workspace_id, wanted, now).items()
    }
    starts = [0.0, *(moment.timestamp() for moment in window_starts(now))]
    for call in _unwritten(workspace_id, buffered):
        if call.key_id not in wanted:
            continue
        figures = sums.setdefault(call.key_id, [0] * 8)
        for index, start in enumerate(starts):
            if call.at >= start:
                figures[index] += call.cost
                if call.byok:
                    figures[index + 4] += call.cost
    return {key_id: _spend(sums.get(key_id, [0] * 8)) for key_id in wanted}


def _spend(figures: list[int]) -> KeySpend:
    total, day, week, month, *byok = figures
    return KeySpend(total, day, week, month, (byok[0], byok[1], byok[2], byok[3]))


def workspace_credits(workspace_id: int, buffered: Iterable[UsageEvent] = ()) -> Credits:
    """The workspace's credits and usage from its ledger, plus calls not in it yet."""
    spend = LedgerEntry.Kind.SPEND
    sums = LedgerEntry.objects.filter(workspace_id=workspace_id).aggregate(
        credited=Sum("amount_pico", filter=~Q(kind=spend)),
        spent=Sum("amount_pico", filter=Q(kind=spend)),
    )
    unwritten = sum(call.cost for call in _unwritten(workspace_id, buffered))
    return Credits(int(sums["credited"] or 0), -int(sums["spent"] or 0) + unwritten)


def has_been_credited(workspace_id: int) -> bool:
    """Whether the workspace ever received credit (OpenRouter's free tier: never bought)."""
    return LedgerEntry.objects.filter(workspace_id=workspace_id, amount_pico__gt=0).exists()
