"""Celery tasks of billing; each is idempotent and safe to run twice or on two workers at once
(acks_late: a task lost with its worker runs again)."""

from datetime import UTC, datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import rollups
from .limits import release_lost_holds as _release_lost_holds
from .models import StoredExchange, UsageRecord

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


@shared_task(acks_late=True)
def release_lost_holds() -> int:
    """Settle Redis balance reservations that outlived any call (their settlement was lost)
    at the cost their usage record shows; returns how many. Nothing to do without Redis."""
    if not settings.REDIS_URL:
        return 0
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    try:
        grace = settings.ORCA_RESERVATION_HOLD_SECONDS
        return _release_lost_holds(client, _costs_of, unrecorded_grace=grace)
    finally:
        client.close()
