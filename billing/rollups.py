"""Hourly and daily usage aggregates per workspace, key and model.

`roll_up` recomputes whole buckets from the usage records and replaces what was stored for
them, inside one transaction that first takes a lock, so running it twice — or on two workers
at once — leaves exactly the same rows:

- PostgreSQL: a transaction-scoped advisory lock per period (`pg_advisory_xact_lock`); the
  records are read *after* it is granted, so the last writer always saw every committed row.
- SQLite: transactions begin IMMEDIATE (settings), which already serialises writers.
- any other backend: `select_for_update` on the workspaces involved.

Delete-and-insert rather than INSERT ... ON CONFLICT: it also clears buckets whose records
are gone, and it does not depend on NULLS NOT DISTINCT (PostgreSQL 15+) for the rows of
deleted keys (api_key NULL), which SQLite's unique index would treat as distinct.

Buckets are UTC hours and UTC days. Ranged usage queries (`usage_series`) read these rows.
"""

import zlib
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Trunc

from workspaces.models import Workspace

from .models import UsageRecord, UsageRollup

PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
_SUMMED = ["prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_pico"]
METRICS = ["requests", "errors", *_SUMMED]
_BATCH = 1000


def _check_period(period: str) -> timedelta:
    try:
        return PERIODS[period]
    except KeyError:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}") from None


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def bucket_floor(period: str, moment: datetime) -> datetime:
    """The start of the bucket `moment` falls in."""
    _check_period(period)
    moment = _aware(moment).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if period == "day" else moment


def bucket_ceil(period: str, moment: datetime) -> datetime:
    """The first bucket start at or after `moment`."""
    floor = bucket_floor(period, moment)
    return floor if floor == _aware(moment) else floor + PERIODS[period]


def bucket_range(period: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[first, last) bucket starts covering every bucket whose start lies in [start, end)."""
    first, last = bucket_ceil(period, start), bucket_ceil(period, end)
    return first, max(first, last)


def _lock_key(period: str) -> int:
    return zlib.crc32(f"orca.billing.rollup.{period}".encode())  # fits a signed bigint


def _lock(period: str, first: datetime, last: datetime) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(period)])
    elif connection.vendor != "sqlite":
        ids = (
            UsageRecord.objects.filter(created_at__gte=first, created_at__lt=last)
            .values_list("workspace_id", flat=True)
            .distinct()
        )
        list(Workspace.objects.select_for_update().filter(id__in=list(ids)).order_by("id"))


def _aggregates(period: str, first: datetime, last: datetime):
    return (
        UsageRecord.objects.filter(created_at__gte=first, created_at__lt=last)
        .annotate(bucket=Trunc("created_at", period, tzinfo=UTC))
        .values("bucket", "workspace_id", "api_key_id", "model")
        .annotate(
            n_requests=Count("id"),
            n_errors=Count("id", filter=Q(status_code__gte=400)),
            **{f"sum_{name}": Sum(name) for name in _SUMMED},
        )
        .order_by()
    )


def roll_up(period: str, start: datetime, end: datetime) -> int:
    """Recompute every `period` bucket whose start lies in [start, end); returns the number
    of rollup rows written."""
    _check_period(period)
    first, last = bucket_range(period, start, end)
    if first >= last:
        return 0
    written = 0
    with transaction.atomic():
        _lock(period, first, last)
        UsageRollup.objects.filter(period=period, start__gte=first, start__lt=last).delete()
        batch: list[UsageRollup] = []
        for row in _aggregates(period, first, last).iterator(chunk_size=_BATCH):
            batch.append(
                UsageRollup(
                    period=period,
                    start=_aware(row["bucket"]),
                    workspace_id=row["workspace_id"],
                    api_key_id=row["api_key_id"],
                    model=row["model"],
                    requests=row["n_requests"],
                    errors=row["n_errors"],
                    **{name: int(row[f"sum_{name}"] or 0) for name in _SUMMED},
                )
            )
            if len(batch) >= _BATCH:
                UsageRollup.objects.bulk_create(batch)
                written += len(batch)
                batch = []
        if batch:
            UsageRollup.objects.bulk_create(batch)
            written += len(batch)
    return written


def usage_series(
    workspace_id: int, period: str, start: datetime, end: datetime, group_by: str = "model"
) -> list[dict]:
    """One workspace's usage per bucket (start in [start, end)) and model or key, from the
    rollups, oldest bucket first. Each row: start, model or api_key_id, and METRICS."""
    _check_period(period)
    if group_by not in ("model", "key"):
        raise ValueError(f"group_by must be 'model' or 'key', not {group_by!r}")
    column = "model" if group_by == "model" else "api_key_id"
    rows = (
        UsageRollup.objects.filter(
            workspace_id=workspace_id, period=period, start__gte=start, start__lt=end
        )
        .values("start", column)
        .annotate(**{f"sum_{name}": Sum(name) for name in METRICS})
        .order_by("start", column)
    )
    return [
        {
            "start": _aware(row["start"]),
            column: row[column],
            **{name: int(row[f"sum_{name}"] or 0) for name in METRICS},
        }
        for row in rows
    ]
