"""Writes for usage records."""

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from operator import attrgetter

from django.db import connection, transaction

from workspaces.services import mark_keys_used

from .models import LedgerEntry, UsageRecord


@dataclass(frozen=True, slots=True)
class UsageEvent:
    request_id: str
    workspace_id: int
    api_key_id: int | None
    endpoint: str
    model: str
    upstream_model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    usage_reported: bool
    status_code: int
    error_code: str
    streamed: bool
    latency_ms: int
    ttft_ms: int | None
    created_at: datetime


# UsageEvent's fields are named after the table's columns (workspace_id, api_key_id, ...).
_COLUMNS = [f.name for f in fields(UsageEvent)]
_row = attrgetter(*_COLUMNS)


def _insert_sql() -> str:
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        "ON CONFLICT (request_id) DO NOTHING"
    )


def write_usage_batch(events: Sequence[UsageEvent]) -> None:
    """Insert a batch; a request id already stored (a retried flush) is skipped, not doubled.

    Plain executemany of tuples rather than bulk_create: building a model instance per row
    held the GIL long enough to show up in the gateway's tail latency (docs/performance.md).
    """
    adapt = connection.ops.adapt_datetimefield_value
    created = _COLUMNS.index("created_at")
    rows = []
    for event in events:
        row = list(_row(event))
        row[created] = adapt(row[created])
        rows.append(row)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(_insert_sql(), rows)
    last_used: dict[int, datetime] = {}
    for event in events:
        if event.api_key_id is not None:
            previous = last_used.get(event.api_key_id)
            if previous is None or event.created_at > previous:
                last_used[event.api_key_id] = event.created_at
    mark_keys_used(last_used)


def grant_credits(workspace_id: int, amount_usd: Decimal, note: str = "") -> LedgerEntry:
    if amount_usd <= 0:
        raise ValueError("a grant must be a positive amount of USD")
    return LedgerEntry.objects.create(
        workspace_id=workspace_id, kind=LedgerEntry.Kind.GRANT, amount_usd=amount_usd, note=note
    )
