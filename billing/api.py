"""Usage and ledger API, scoped to the caller's workspace (DRF, session auth; members read).

/api/workspaces/{slug}/usage/             usage records, newest first, cursor-paginated
/api/workspaces/{slug}/usage/export.csv   the same records (same filters) as streamed CSV
/api/workspaces/{slug}/usage/series/      hourly or daily sums per model or key (rollups)
/api/workspaces/{slug}/ledger/            ledger entries and the balance (grants: admin only)

Filters of usage/ and export.csv: key (API key id), model, status (a code, or `error` for
>= 400), since (inclusive) and until (exclusive) as ISO 8601 datetimes (UTC if no offset).
A bad value answers 400 naming the parameter. Amounts are exact decimal strings in USD.
"""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.models import ApiKey
from workspaces.permissions import WorkspaceMember

from .models import LedgerEntry, UsageRecord
from .pricing import format_usd
from .rollups import METRICS, bucket_floor, usage_series
from .schema import (
    LEDGER_FILTERS,
    PAGING,
    SERIES_FILTERS,
    USAGE_FILTERS,
    LedgerPageSerializer,
    UsagePageSerializer,
    UsageSeriesSerializer,
)
from .selectors import balance_pico

# --- filters ------------------------------------------------------------------------------


def _bad(parameter: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({parameter: [message]})


def _param(params, name: str) -> str | None:
    value = params.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


MIN_YEAR, MAX_YEAR = 1900, 9998


def parse_moment(params, name: str) -> datetime | None:
    value = _param(params, name)
    if value is None:
        return None
    candidates = [value]
    if " " in value:  # an unescaped '+' of a UTC offset arrives as a space
        candidates.append(value.replace(" ", "+"))
    for candidate in candidates:
        try:
            moment = parse_datetime(candidate)
        except ValueError:
            moment = None
        if moment is not None:
            if not MIN_YEAR <= moment.year <= MAX_YEAR:  # spans around it must not overflow
                raise _bad(name, f"a datetime between the years {MIN_YEAR} and {MAX_YEAR}")
            if timezone.is_naive(moment):
                return moment.replace(tzinfo=UTC)
            # In UTC: PostgreSQL refuses offsets past 15:59, which Python accepts.
            return moment.astimezone(UTC)
    raise _bad(name, "an ISO 8601 datetime, e.g. 2025-01-31T12:00:00Z")


def _positive_int(params, name: str, maximum: int = 2**63 - 1) -> int | None:
    value = _param(params, name)
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) <= maximum:
        raise _bad(name, "a positive integer")
    return int(value)


def usage_queryset(workspace, params):
    """The workspace's usage records narrowed by the request's filters (400 on a bad one)."""
    records = UsageRecord.objects.filter(workspace=workspace)
    key = _positive_int(params, "key")
    if key is not None:
        records = records.filter(api_key_id=key)
    model = _param(params, "model")
    if model is not None:
        records = records.filter(model=model)
    status = _param(params, "status")
    if status is not None:
        if status.lower() == "error":
            records = records.filter(status_code__gte=400)
        elif status.isdigit() and 100 <= int(status) <= 599:
            records = records.filter(status_code=int(status))
        else:
            raise _bad("status", "an HTTP status code (100-599) or 'error'")
    since, until = parse_moment(params, "since"), parse_moment(params, "until")
    if since is not None and until is not None and until <= since:
        raise _bad("until", "must be after since")
    if since is not None:
        records = records.filter(created_at__gte=since)
    if until is not None:
        records = records.filter(created_at__lt=until)
    return records


# --- usage rows -----------------------------------------------------------------------------

_FIELDS = [
    "id",
    "request_id",
    "created_at",
    "api_key_id",
    "api_key__name",
    "api_key__prefix",
    "model",
    "upstream_model",
    "endpoint",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "usage_reported",
    "cost_pico",
    "status_code",
    "error_code",
    "streamed",
    "latency_ms",
    "ttft_ms",
    "router",
    "fallback_level",
    "attempts",
]


def _attempts(value) -> list:
    if isinstance(value, str):  # written as JSON text by the batch writer
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return value if isinstance(value, list) else []


def usage_row(row: dict) -> dict:
    key = None
    if row["api_key_id"] is not None:
        key = {
            "id": row["api_key_id"],
            "name": row["api_key__name"],
            "prefix": row["api_key__prefix"],
        }
    return {
        "request_id": row["request_id"],
        "created_at": row["created_at"].isoformat(),
        "key": key,
        "model": row["model"],
        "upstream_model": row["upstream_model"],
        "endpoint": row["endpoint"],
        "tokens": {
            "prompt": row["prompt_tokens"],
            "completion": row["completion_tokens"],
            "cached": row["cached_tokens"],
            "reasoning": row["reasoning_tokens"],
            "reported": row["usage_reported"],
        },
        "cost_usd": format_usd(row["cost_pico"]),
        "status_code": row["status_code"],
        "error_code": row["error_code"],
        "streamed": row["streamed"],
        "latency_ms": row["latency_ms"],
        "ttft_ms": row["ttft_ms"],
        "router": row["router"],
        "fallback_level": row["fallback_level"],
        "attempts": _attempts(row["attempts"]),
    }


class NewestFirstCursor(CursorPagination):
    """Cursor pagination on created_at (id breaks ties, so no row repeats or goes missing)."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request) -> int:
        if _param(request.query_params, self.page_size_query_param) is not None:
            size = _positive_int(request.query_params, self.page_size_query_param)
            assert size is not None  # the parameter is there: an int, or a 400 was raised
            return min(size, self.max_page_size)
        return self.page_size

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise _bad(self.cursor_query_param, "not a cursor this API handed out") from None


class UsageListView(APIView):
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]

    @extend_schema(
        summary="Usage records, newest first",
        parameters=[*USAGE_FILTERS, *PAGING],
        responses=UsagePageSerializer,
    )
    def get(self, request, workspace: str) -> Response:
        records = usage_queryset(self.workspace, request.query_params).values(*_FIELDS)
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(records, request, view=self)
        return paginator.get_paginated_response([usage_row(row) for row in page])


# --- CSV export -----------------------------------------------------------------------------

CSV_HEADER = [
    "request_id",
    "created_at",
    "key_id",
    "key_name",
    "key_prefix",
    "model",
    "upstream_model",
    "endpoint",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "status_code",
    "error_code",
    "streamed",
    "latency_ms",
    "ttft_ms",
    "router",
    "fallback_level",
    "attempts",
]
_CSV_CHUNK = 2000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value) -> str:
    """A user-chosen text cell, defused so spreadsheets do not run it as a formula."""
    value = value or ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_line(row: dict) -> list:
    return [
        row["request_id"],
        row["created_at"].isoformat(),
        row["api_key_id"] if row["api_key_id"] is not None else "",
        _text(row["api_key__name"]),
        row["api_key__prefix"] or "",
        _text(row["model"]),
        _text(row["upstream_model"]),
        _text(row["endpoint"]),
        row["prompt_tokens"],
        row["completion_tokens"],
        row["cached_tokens"],
        row["reasoning_tokens"],
        format_usd(row["cost_pico"]),
        row["status_code"],
        _text(row["error_code"]),
        "true" if row["streamed"] else "false",
        row["latency_ms"],
        "" if row["ttft_ms"] is None else row["ttft_ms"],
        _text(row["router"]),
        "" if row["fallback_level"] is None else row["fallback_level"],
        _text(json.dumps(_attempts(row["attempts"]), separators=(",", ":"))),
    ]


def _csv_text(lines: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines)
    return buffer.getvalue()


def _csv_chunk(records, after: tuple | None) -> tuple[str, tuple | None]:
    """The next rows after `after` (keyset on created_at, id; no long-lived cursor) as CSV."""
    if after is not None:
        created_at, pk = after
        records = records.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
    rows = list(records.order_by("-created_at", "-id").values(*_FIELDS)[:_CSV_CHUNK])
    if not rows:
        return "", None
    return _csv_text([_csv_line(row) for row in rows]), (rows[-1]["created_at"], rows[-1]["id"])


def _csv_lines(records):
    yield _csv_text([CSV_HEADER])
    after = None
    while True:
        text, after = _csv_chunk(records, after)
        if after is None:
            return
        yield text


async def _csv_lines_async(records):
    """Under ASGI: Django would read a synchronous iterator whole before sending it."""
    chunk = sync_to_async(_csv_chunk)
    yield _csv_text([CSV_HEADER])
    after = None
    while True:
        text, after = await chunk(records, after)
        if after is None:
            return
        yield text


class UsageExportView(APIView):
    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]

    def perform_content_negotiation(self, request, force=False):
        # `Accept: text/csv` is what this view answers; errors still render as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Usage records as CSV",
        parameters=USAGE_FILTERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="A header line, then one line per record."
            )
        },
    )
    def get(self, request, workspace: str) -> StreamingHttpResponse:
        records = usage_queryset(self.workspace, request.query_params)
        lines = (
            _csv_lines_async(records)
            if isinstance(request._request, ASGIRequest)
            else _csv_lines(records)
        )
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = (
            f'attachment; filename="orca-usage-{self.workspace.slug}-{stamp}.csv"'
        )
        response["Cache-Control"] = "no-store"
        return response


# --- series from the rollups ----------------------------------------------------------------

_DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_BUCKETS = 1000


def _metrics(row: dict) -> dict:
    values = {name: row[name] for name in METRICS if name != "cost_pico"}
    values["cost_usd"] = format_usd(row["cost_pico"])
    return values


class UsageSeriesView(APIView):
    """Sums per bucket and model (or key) from the rollups, which Celery beat refreshes every
    few minutes: the current bucket may lag the records by that much."""

    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]

    @extend_schema(
        summary="Usage sums per hour or day",
        parameters=SERIES_FILTERS,
        responses=UsageSeriesSerializer,
    )
    def get(self, request, workspace: str) -> Response:
        params = request.query_params
        period = _param(params, "period") or "hour"
        if period not in _STEP:
            raise _bad("period", "'hour' or 'day'")
        group_by = _param(params, "group_by") or "model"
        if group_by not in ("model", "key"):
            raise _bad("group_by", "'model' or 'key'")
        until = parse_moment(params, "until") or timezone.now()
        since = parse_moment(params, "since") or until - _DEFAULT_SPAN[period]
        if until <= since:
            raise _bad("until", "must be after since")
        since = bucket_floor(period, since)  # the bucket `since` falls in is included
        if (until - since) / _STEP[period] > MAX_BUCKETS:
            raise _bad("since", f"at most {MAX_BUCKETS} {period}s between since and until")

        rows = usage_series(self.workspace.id, period, since, until, group_by=group_by)
        keys = {}
        if group_by == "key":
            ids = {row["api_key_id"] for row in rows} - {None}
            keys = {
                key["id"]: key
                for key in ApiKey.objects.filter(workspace=self.workspace, id__in=ids).values(
                    "id", "name", "prefix"
                )
            }
        data = []
        totals = dict.fromkeys(METRICS, 0)
        for row in rows:
            item = {"start": row["start"].isoformat()}
            if group_by == "model":
                item["model"] = row["model"]
            else:
                item["key"] = keys.get(row["api_key_id"])  # None: a deleted key
            item.update(_metrics(row))
            data.append(item)
            for name in METRICS:
                totals[name] += row[name]
        return Response(
            {
                "period": period,
                "group_by": group_by,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "data": data,
                "totals": _metrics(totals),
            }
        )


# --- ledger ---------------------------------------------------------------------------------


class LedgerView(APIView):
    """Read-only: credits are granted by staff in the admin, never through this API."""

    permission_classes = [permissions.IsAuthenticated, WorkspaceMember]

    @extend_schema(
        summary="Ledger entries and the balance",
        parameters=LEDGER_FILTERS,
        responses=LedgerPageSerializer,
    )
    def get(self, request, workspace: str) -> Response:
        entries = LedgerEntry.objects.filter(workspace=self.workspace)
        kind = _param(request.query_params, "kind")
        if kind is not None:
            if kind not in LedgerEntry.Kind.values:
                raise _bad("kind", f"one of {', '.join(LedgerEntry.Kind.values)}")
            entries = entries.filter(kind=kind)
        paginator = NewestFirstCursor()
        page = paginator.paginate_queryset(
            entries.values("id", "kind", "amount_pico", "request_id", "note", "created_at"),
            request,
            view=self,
        )
        response = paginator.get_paginated_response(
            [
                {
                    "id": entry["id"],
                    "kind": entry["kind"],
                    "amount_usd": format_usd(entry["amount_pico"]),
                    "request_id": entry["request_id"],
                    "note": entry["note"],
                    "created_at": entry["created_at"].isoformat(),
                }
                for entry in page
            ]
        )
        response.data["balance_usd"] = format_usd(balance_pico(self.workspace.id))
        return response
