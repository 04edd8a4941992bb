"""Writes for usage records."""

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.db import InterfaceError, OperationalError, connection, transaction

from workspaces.selectors import still_existing
from workspaces.services import mark_keys_used

from . import balances
from .models import LedgerEntry, StoredExchange, UsageRecord
from .pricing import usd_to_pico
from .text import storable, storable_json

log = logging.getLogger(__name__)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs twice as much, per call
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
    router: str = ""
    fallback_level: int | None = None
    attempts: str = "[]"  # JSON text, ready for the column
    cost_pico: int = 0
    byok: bool = False  # served with the workspace's own provider credential
    guardrail: str = ""  # <name>:v<N> of the policy that screened the call
    guardrail_action: str = ""  # the strongest thing it did: flag < mask < block
    prompt: str = ""  # the registry prompt injected, by name
    prompt_version: int | None = None
    # Prompt and output text, only for workspaces whose retention keeps them: (request body
    # JSON, response text, days to keep). Not a column of the usage table.
    exchange: tuple[str, str, int] | None = None


# UsageEvent's fields are named after the table's columns (workspace_id, api_key_id, ...).
_COLUMNS = [f.name for f in fields(UsageEvent) if f.name != "exchange"]


def _insert_sql() -> str:
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        "ON CONFLICT (request_id) DO NOTHING"
    )


_INT_MAX = 2**31 - 1
_SMALL_MAX = 2**15 - 1


def _count(value: int) -> int:
    return value if 0 <= value <= _INT_MAX else min(max(value, 0), _INT_MAX)


def _row_of(event: UsageEvent, adapt_datetime) -> tuple:
    """The event as a row the table will accept (in _COLUMNS order): counts clamped, texts
    made storable and cut to their columns."""
    e = event
    ttft = e.ttft_ms
    return (
        e.request_id,
        e.workspace_id,
        e.api_key_id,
        storable(e.endpoint)[:40],
        storable(e.model)[:200],
        storable(e.upstream_model)[:200],
        _count(e.prompt_tokens),
        _count(e.completion_tokens),
        _count(e.cached_tokens),
        _count(e.reasoning_tokens),
        e.usage_reported,
        _small(e.status_code),
        storable(e.error_code or "")[:60],
        e.streamed,
        _count(e.latency_ms),
        None if ttft is None else _count(ttft),
        adapt_datetime(e.created_at),
        storable(e.router or "")[:60],
        None if e.fallback_level is None else _small(e.fallback_level),
        storable_json(e.attempts),
        max(e.cost_pico, 0),
        e.byok,
        storable(e.guardrail)[:80],
        e.guardrail_action[:8],
        storable(e.prompt)[:128],
        e.prompt_version,
    )


def _small(value: int) -> int:
    return min(max(value, 0), _SMALL_MAX)


# Errors that say the database cannot be reached (or the connection broke): the batch is
# kept for the next try. Any other error is a row the database (or this code) refuses.
UNREACHABLE = (OperationalError, InterfaceError)
# Refused rows since the process started, by what was still written of them: "without
# exchange" (the usage row and spend, not the text), "scrubbed" (texts reduced to ASCII,
# key dropped), "dropped" (nothing). Logged with request ids, never with the text.
refused_rows: Counter[str] = Counter()


def write_usage_batch(events: Sequence[UsageEvent]) -> None:
    """Insert a batch; a request id already stored (a retried flush) is skipped, not doubled.

    Plain executemany of tuples rather than bulk_create: building a model instance per row
    held the GIL long enough to show up in the gateway's tail latency (docs/performance.md).
    A batch the database refuses for any reason but being unreachable is split in halves
    until the refused rows are alone; each of those is written in a reduced form that keeps
    its billing facts (see _write_refused), so one bad row never holds back the others and
    never makes the batch fail again on the next flush. Raises only UNREACHABLE errors.
    Every step is idempotent on request_id, so a batch retried after a connection broke
    half way adds nothing twice.
    """
    events = _without_deleted_owners(events)
    if events:
        _write_isolating(events)


def _write_isolating(events: Sequence[UsageEvent]) -> None:
    try:
        with transaction.atomic():  # records, spends and kept text become visible together
            _write_batch(events)
        return
    except UNREACHABLE:
        raise
    except Exception as exc:
        if len(events) == 1:
            _write_refused(events[0], exc)
            return
    half = len(events) // 2
    _write_isolating(events[:half])
    _write_isolating(events[half:])


def _write_refused(event: UsageEvent, error: Exception) -> None:
    """A row refused on its own: keep what bills it. First without its stored text (the
    likeliest culprit, and not a billing fact), then with every text reduced to ASCII and
    without the key; only if even that is refused is it dropped."""
    kind = type(error).__name__
    reduced = replace(event, exchange=None)
    scrubbed = replace(
        reduced,
        api_key_id=None,
        endpoint=_ascii(event.endpoint),
        model=_ascii(event.model),
        upstream_model=_ascii(event.upstream_model),
        error_code=_ascii(event.error_code),
        router=_ascii(event.router),
        attempts="[]",
    )
    for outcome, attempt in (("without exchange", reduced), ("scrubbed", scrubbed)):
        if outcome == "without exchange" and event.exchange is None:
            continue
        try:
            with transaction.atomic():
                _write_batch([attempt])
        except UNREACHABLE:
            raise
        except Exception as exc:
            kind = type(exc).__name__
            continue
        refused_rows[outcome] += 1
        log.error("usage record %s refused (%s); written %s", event.request_id, kind, outcome)
        return
    refused_rows["dropped"] += 1
    log.error("usage record %s refused by the database (%s); dropped", event.request_id, kind)


def _ascii(text: str | None) -> str:
    return (text or "").encode("ascii", "replace").decode().replace("\x00", "?")


def _without_deleted_owners(events: Sequence[UsageEvent]) -> list[UsageEvent]:
    """A call's key or workspace may have been deleted before its record is written. The
    foreign keys are only checked at commit (Django makes them deferrable), where one such
    row would fail the whole batch, so look first: a deleted key's calls are kept without
    the key (the spend still counts against the workspace); a deleted workspace's calls
    go with it."""
    workspaces, keys = still_existing(
        {e.workspace_id for e in events},
        {e.api_key_id for e in events if e.api_key_id is not None},
    )
    kept = []
    for e in events:
        if e.workspace_id not in workspaces:
            log.warning("usage record %s dropped: its workspace was deleted", e.request_id)
        elif e.api_key_id is not None and e.api_key_id not in keys:
            kept.append(replace(e, api_key_id=None))
        else:
            kept.append(e)
    return kept


def _write_batch(events: Sequence[UsageEvent]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    rows = [_row_of(event, adapt) for event in events]
    if connection.vendor == "postgresql":
        _copy_batch(rows)
    else:
        with connection.cursor() as cursor:
            cursor.executemany(_insert_sql(), rows)
        _write_spends(rows)
    _write_exchanges(events)
    last_used: dict[int, datetime] = {}
    for event in events:
        if event.api_key_id is not None:
            previous = last_used.get(event.api_key_id)
            if previous is None or event.created_at > previous:
                last_used[event.api_key_id] = event.created_at
    mark_keys_used(last_used)


_STAGE = "orca_usage_stage"


def _copy_batch(rows: list[tuple]) -> None:
    """PostgreSQL: COPY the batch into a session-local staging table (emptied at commit),
    then move it into the usage table and derive the ledger spends from it, server-side.
    Per row this costs a fraction of one INSERT each, both in Python (this thread holds the
    GIL the gateway's event loop needs) and in PostgreSQL."""
    ops = connection.ops
    usage = ops.quote_name(UsageRecord._meta.db_table)
    ledger = ops.quote_name(LedgerEntry._meta.db_table)
    columns = ", ".join(ops.quote_name(c) for c in _COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {usage} WITH NO DATA"
        )
        # Django wraps execute() errors, not COPY's: wrap them so a lost connection is
        # told apart from a refused row.
        with (
            connection.wrap_database_errors,
            cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {usage} ({columns}) SELECT {columns} FROM {_STAGE} "
            "ON CONFLICT (request_id) DO NOTHING"
        )
        cursor.execute(
            f"INSERT INTO {ledger} (workspace_id, kind, amount_pico, request_id, note, "
            f"created_at) SELECT workspace_id, %s, -cost_pico, request_id, "
            f"left(CASE WHEN byok THEN %s || model ELSE model END, 200), "
            f"created_at FROM {_STAGE} WHERE cost_pico > 0 ON CONFLICT (request_id) DO NOTHING",
            # a TextChoices member (without Django's types mypy takes it for a plain str)
            [cast(Any, LedgerEntry.Kind.SPEND).value, BYOK_NOTE],
        )


_WORKSPACE, _MODEL, _CREATED, _COST, _BYOK = (
    _COLUMNS.index(c) for c in ("workspace_id", "model", "created_at", "cost_pico", "byok")
)
# A BYOK call's spend is the platform's fee: its ledger note says so before the model.
BYOK_NOTE = "BYOK fee: "


def _write_spends(rows: list[tuple]) -> None:
    """One ledger spend per charged call, keyed by request id so a retried flush adds none.
    From the rows, so the note is the model already made storable."""
    charged = [r for r in rows if r[_COST] > 0]
    if not charged:
        return
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    sql = (
        f"INSERT INTO {table} (workspace_id, kind, amount_pico, request_id, note, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (request_id) DO NOTHING"
    )
    spend = cast(Any, LedgerEntry.Kind.SPEND).value  # a TextChoices member, as above
    values = [(r[_WORKSPACE], spend, -r[_COST], r[0], _note(r), r[_CREATED]) for r in charged]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)


def _note(row: tuple) -> str:
    return (BYOK_NOTE + row[_MODEL])[:200] if row[_BYOK] else row[_MODEL]


def _write_exchanges(events: Sequence[UsageEvent]) -> None:
    kept = {e.request_id: e for e in events if e.exchange is not None}
    if not kept:
        return
    ids = dict(UsageRecord.objects.filter(request_id__in=kept).values_list("request_id", "id"))
    StoredExchange.objects.bulk_create(
        [
            StoredExchange(
                usage_id=ids[request_id],
                workspace_id=event.workspace_id,
                request_body=storable(exchange[0]),
                response_text=storable(exchange[1]),
                delete_after=event.created_at + timedelta(days=exchange[2]),
            )
            for request_id, event in kept.items()
            # every kept event has an exchange: the check only tells the type checker so
            if request_id in ids and (exchange := event.exchange) is not None
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def grant_credits(
    workspace_id: int, amount_usd: Decimal, note: str = "", created_by=None
) -> LedgerEntry:
    """Add prepaid credit (an audited ledger entry), and tell the live balances after commit."""
    if not amount_usd.is_finite() or amount_usd <= 0:
        raise ValueError("a grant must be a positive amount of USD")
    return credit_ledger(workspace_id, usd_to_pico(amount_usd), note, created_by)


def credit_ledger(workspace_id: int, amount_pico: int, note: str, created_by=None) -> LedgerEntry:
    """The grant entry, in the caller's transaction: the live balance hears of it after
    commit, and a low-balance alert already sent is re-armed if this lifts the balance back
    above the workspace's threshold."""
    from .alerts import rearm_if_recovered

    if amount_pico <= 0:
        raise ValueError("a credit must be positive")
    entry = LedgerEntry.objects.create(
        workspace_id=workspace_id,
        kind=LedgerEntry.Kind.GRANT,
        amount_pico=amount_pico,
        note=storable(note)[:200],
        created_by=created_by,
    )
    rearm_if_recovered(workspace_id)
    transaction.on_commit(lambda: balances.credit_sync(workspace_id, amount_pico))
    return entry
