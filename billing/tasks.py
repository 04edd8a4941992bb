"""Celery tasks of billing; each is idempotent and safe to run twice or on two workers at once
(acks_late: a task lost with its worker runs again)."""

from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from workspaces.models import Workspace

from . import rollups
from .holds import LostCall, SettledCall, release_settled_calls
from .holds import release_lost_holds as _release_lost_holds
from .models import StoredExchange, UsageRecord
from .services import UsageEvent, write_usage_batch

RECENT_HOURS = 3  # hourly buckets recomputed besides the current one
RECENT_DAYS = 2  # daily buckets recomputed: yesterday and today
_PURGE_BATCH = 5000


@shared_task(acks_late=True)
def roll_up_recent_usage() -> dict:
    """Recompute the current hour and the last three, and today and yesterday (late-written
    usage records — the gateways write them in batches — land in their buckets next run)."""
    now = timezone.now()
    hour = rollups.bucket_floor("hour", now)
    day = rollups.bucket_floor("day", now)
    end = hour + timedelta(hours=1)
    return {
        "hour": rollups.roll_up("hour", hour - timedelta(hours=RECENT_HOURS), end),
        "day": rollups.roll_up("day", day - timedelta(days=RECENT_DAYS - 1), end),
    }


def _parse(name: str, value: str) -> datetime:
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        raise ValueError(f"{name} must be an ISO 8601 datetime, not {value!r}")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


@shared_task(acks_late=True)
def roll_up_window(period: str, start_iso: str, end_iso: str) -> int:
    """Recompute the `period` buckets starting in [start, end) — any window, e.g. a backfill."""
    start, end = _parse("start_iso", start_iso), _parse("end_iso", end_iso)
    if end <= start:
        raise ValueError("end_iso must be after start_iso")
    return rollups.roll_up(period, start, end)


@shared_task(acks_late=True)
def purge_expired_exchanges() -> int:
    """Delete stored prompt/output text whose retention is over; returns how many rows."""
    now = timezone.now()
    deleted = 0
    while True:
        ids = list(
            StoredExchange.objects.filter(delete_after__lte=now).values_list("id", flat=True)[
                :_PURGE_BATCH
            ]
        )
        if not ids:
            return deleted
        count, _ = StoredExchange.objects.filter(id__in=ids, delete_after__lte=now).delete()
        deleted += count


def _costs_of(request_ids: list[str]) -> dict[str, int]:
    rows = UsageRecord.objects.filter(request_id__in=request_ids)
    return dict(rows.values_list("request_id", "cost_pico"))


WORKER_LOST = "worker_lost"


def record_lost_call(call: LostCall) -> None:
    """The usage record and ledger spend of a call whose gateway died mid-stream, at what
    its last progress report said it had delivered. Idempotent: the request id is the
    hold id, and a record already there (the real one, say) is left as it is."""
    admitted = datetime.fromtimestamp(call.admitted_at, UTC)
    event = UsageEvent(
        request_id=call.request_id,
        workspace_id=call.workspace_id,
        api_key_id=call.key_id or None,
        endpoint=call.endpoint or "unknown",
        model=call.model or "unknown",
        upstream_model="",
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        cached_tokens=0,
        reasoning_tokens=0,
        usage_reported=False,
        status_code=200,
        error_code=WORKER_LOST,
        streamed=True,
        latency_ms=max(0, int((call.last_progress_at - call.admitted_at) * 1000)),
        ttft_ms=None,
        created_at=admitted,
        cost_pico=call.cost_pico,
    )
    write_usage_batch([event])
    if not UsageRecord.objects.filter(request_id=call.request_id).exists():
        raise RuntimeError(f"the record of lost call {call.request_id} was not written")


# A call settled in Redis whose record was lost before its gateway's usage flush: recorded
# from what the settlement kept, at the cost Redis charged (the status is the real one).
WORKER_LOST_AFTER_SETTLE = "worker_lost_after_settle"


def record_settled_call(call: SettledCall) -> None:
    """The usage record and ledger spend of a call settled in Redis whose own record never
    reached the database (its gateway died before flushing it, or dropped it). Idempotent
    on the request id like record_lost_call; a workspace deleted since has nothing to
    record. Latency is known only to the second (admission and settlement times)."""
    hold = call.hold
    event = UsageEvent(
        request_id=hold.hold_id,
        workspace_id=call.workspace_id,
        api_key_id=hold.key_id or None,
        endpoint=hold.endpoint or "unknown",
        model=hold.model or "unknown",
        upstream_model="",
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        cached_tokens=0,
        reasoning_tokens=0,
        usage_reported=call.usage_reported,
        status_code=call.status,
        error_code=WORKER_LOST_AFTER_SETTLE,
        streamed=False,  # not kept: the hold does not say
        latency_ms=max(0, (call.settled_at - hold.admitted_at) * 1000),
        ttft_ms=None,
        created_at=datetime.fromtimestamp(call.settled_at, UTC),
        cost_pico=call.cost_pico,
    )
    write_usage_batch([event])
    if UsageRecord.objects.filter(request_id=hold.hold_id).exists():
        return
    if Workspace.objects.filter(id=call.workspace_id).exists():
        raise RuntimeError(f"the record of settled call {hold.hold_id} was not written")


def _recorded(request_ids: list[str]) -> set[str]:
    rows = UsageRecord.objects.filter(request_id__in=request_ids)
    return set(rows.values_list("request_id", flat=True))


@shared_task(acks_late=True)
def release_lost_holds(now: float | None = None) -> int:
    """Settle Redis balance reservations that outlived any call (their settlement was lost)
    at the cost their usage record shows, or, for a call that reported progress and has no
    record after the grace, at its delivered cost, recording it; and record the calls
    settled in Redis whose record still is not in the database after the grace, at their
    settled cost. Returns how many holds and calls. Nothing to do without Redis."""
    if not settings.REDIS_URL:
        return 0
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    try:
        # The grace covers a database outage: gateways keep unwritten records meanwhile.
        grace = settings.ORCA_RESERVATION_HOLD_SECONDS
        released = _release_lost_holds(
            client, _costs_of, now=now, unrecorded_grace=grace, record_lost=record_lost_call
        )
        return released + release_settled_calls(
            client, _recorded, record_settled_call, now=now, grace=grace
        )
    finally:
        client.close()


@shared_task(acks_late=True)
def send_low_balance_alerts() -> dict:
    """E-mail workspaces whose balance fell below their threshold (once per fall), and re-arm
    those back above it. Safe to run twice at once: the alert row is claimed uniquely."""
    from .alerts import send_low_balance_alerts as run

    result = run()
    return {"sent": result.sent, "rearmed": result.rearmed}
