"""Reads across billing."""

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum

from .models import LedgerEntry

PICO_PER_USD = 10**12


def balance_pico(workspace_id: int) -> int:
    total = LedgerEntry.objects.filter(workspace_id=workspace_id).aggregate(s=Sum("amount_pico"))
    return int(total["s"] or 0)


def balance_usd(workspace_id: int) -> Decimal:
    return Decimal(balance_pico(workspace_id)) / PICO_PER_USD


@dataclass(frozen=True, slots=True)
class WindowSums:
    """One API key's usage records summed: lifetime and the current UTC day, Monday week and
    calendar month (billing.windows), in pico-dollars, and how many calls."""

    total: int
    day: int
    week: int
    month: int
    requests: int
    # The same four of the calls served with the workspace's own credential (BYOK).
    byok: tuple[int, int, int, int] = (0, 0, 0, 0)


def key_window_sums(
    workspace_id: int, key_ids: Iterable[int] | None = None, now: float | None = None
) -> dict[int, WindowSums]:
    """Each key of the workspace with usage records (or only `key_ids`): its sums, in one
    query. The spend caps (seed_state), the dashboard and /api/v1/key all count this way."""
    from .models import UsageRecord
    from .windows import window_starts

    day, week, month = window_starts(time.time() if now is None else now)
    records = UsageRecord.objects.filter(workspace_id=workspace_id, api_key_id__isnull=False)
    if key_ids is not None:
        records = records.filter(api_key_id__in=list(key_ids))
    cost = "cost_pico"
    rows = records.values("api_key_id").annotate(
        total=Sum(cost),
        day=Sum(cost, filter=Q(created_at__gte=day)),
        week=Sum(cost, filter=Q(created_at__gte=week)),
        month=Sum(cost, filter=Q(created_at__gte=month)),
        requests=Count("id"),
        byok_total=Sum(cost, filter=Q(byok=True)),
        byok_day=Sum(cost, filter=Q(byok=True, created_at__gte=day)),
        byok_week=Sum(cost, filter=Q(byok=True, created_at__gte=week)),
        byok_month=Sum(cost, filter=Q(byok=True, created_at__gte=month)),
    )
    return {
        row["api_key_id"]: WindowSums(
            total=int(row["total"] or 0),
            day=int(row["day"] or 0),
            week=int(row["week"] or 0),
            month=int(row["month"] or 0),
            requests=row["requests"],
            byok=(
                int(row["byok_total"] or 0),
                int(row["byok_day"] or 0),
                int(row["byok_week"] or 0),
                int(row["byok_month"] or 0),
            ),
        )
        for row in rows
    }


def generation(workspace_id: int, request_id: str) -> dict | None:
    """One call's record as /v1/generation shows it, if it belongs to this workspace."""
    from .models import UsageRecord

    record = (
        UsageRecord.objects.filter(workspace_id=workspace_id, request_id=request_id)
        .values()
        .first()
    )
    return None if record is None else generation_view(record)


def generation_view(record: dict) -> dict:
    from .pricing import format_usd

    created = record["created_at"]
    attempts = record["attempts"]
    if isinstance(attempts, str):  # still in a gateway's buffer: JSON text
        import json

        attempts = json.loads(attempts)
    return {
        "id": record["request_id"],
        "model": record["model"],
        "created_at": created.isoformat() if hasattr(created, "isoformat") else created,
        "endpoint": record["endpoint"],
        "streamed": record["streamed"],
        "status": record["status_code"],
        "error_code": record["error_code"] or None,
        "tokens_prompt": record["prompt_tokens"],
        "tokens_completion": record["completion_tokens"],
        "tokens_cached": record["cached_tokens"],
        "tokens_reasoning": record["reasoning_tokens"],
        "usage_reported": record["usage_reported"],
        "total_cost": format_usd(record["cost_pico"]),
        "byok": bool(record.get("byok")),  # served with the workspace's own credential
        "latency_ms": record["latency_ms"],
        "time_to_first_token_ms": record["ttft_ms"],
        "router": record["router"] or None,
        "fallback_level": record["fallback_level"],
        "attempts": attempts,
    }


@dataclass(frozen=True, slots=True)
class SeedState:
    """What Redis needs to take a workspace over again after losing its data."""

    balance_pico: int
    # Per API key with usage: spend (lifetime, this day, week, month), in pico.
    spends: dict[int, tuple[int, int, int, int]]
    windows: tuple[int, int, int]  # the day, week and month numbers the sums are for
    recorded: frozenset[str]  # of the request ids asked about, those the ledger shows


def seed_state(workspace_id: int, request_ids: Sequence[str] = ()) -> SeedState:
    """The ledger balance, every key's spend per window (UTC, by the calls' created_at, as
    billing.windows names them) and which of `request_ids` are recorded: one query each."""
    from .models import UsageRecord
    from .windows import window_numbers

    now = time.time()
    spends = {
        key_id: (sums.total, sums.day, sums.week, sums.month)
        for key_id, sums in key_window_sums(workspace_id, now=now).items()
    }
    recorded = frozenset(
        UsageRecord.objects.filter(workspace_id=workspace_id, request_id__in=request_ids)
        .values_list("request_id", flat=True)
    ) if request_ids else frozenset()  # fmt: skip
    return SeedState(balance_pico(workspace_id), spends, window_numbers(now), recorded)


@dataclass(frozen=True, slots=True)
class KeySpend:
    """One API key's spend, in pico-dollars, from its usage records (what the spend caps
    count: UTC day and calendar month by the calls' created_at, as billing.windows)."""

    total_pico: int = 0
    day_pico: int = 0
    month_pico: int = 0
    requests: int = 0

    @property
    def total_usd(self) -> str:
        return _cents(self.total_pico)

    @property
    def day_usd(self) -> str:
        return _cents(self.day_pico)

    @property
    def month_usd(self) -> str:
        return _cents(self.month_pico)


def _cents(pico: int) -> str:
    """Dollars to the cent, and to the micro-dollar below a cent (demo calls cost little)."""
    usd = Decimal(pico) / PICO_PER_USD
    if usd == 0 or usd >= Decimal("0.01"):
        return f"{usd:.2f}"
    return f"{usd:.6f}".rstrip("0")


def key_spends(workspace_id: int) -> dict[int, KeySpend]:
    """Every key of the workspace with usage: its spend, in one query."""
    return {
        key_id: KeySpend(sums.total, sums.day, sums.month, sums.requests)
        for key_id, sums in key_window_sums(workspace_id).items()
    }
