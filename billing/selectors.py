"""Reads across billing."""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from django.db.models import Count, Q, Sum

from .models import LedgerEntry

PICO_PER_USD = 10**12


def balance_pico(workspace_id: int) -> int:
    total = LedgerEntry.objects.filter(workspace_id=workspace_id).aggregate(s=Sum("amount_pico"))
    return int(total["s"] or 0)


def balance_usd(workspace_id: int) -> Decimal:
    return Decimal(balance_pico(workspace_id)) / PICO_PER_USD


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
    from .windows import window_numbers, window_starts

    now = time.time()
    day, week, month = window_starts(now)
    cost = "cost_pico"
    rows = (
        UsageRecord.objects.filter(workspace_id=workspace_id, api_key_id__isnull=False)
        .values("api_key_id")
        .annotate(
            total=Sum(cost),
            day=Sum(cost, filter=Q(created_at__gte=day)),
            week=Sum(cost, filter=Q(created_at__gte=week)),
            month=Sum(cost, filter=Q(created_at__gte=month)),
        )
    )
    spends = {
        row["api_key_id"]: tuple(int(row[f] or 0) for f in ("total", "day", "week", "month"))
        for row in rows
    }
    recorded = frozenset(
        UsageRecord.objects.filter(workspace_id=workspace_id, request_id__in=request_ids)
        .values_list("request_id", flat=True)
    ) if request_ids else frozenset()  # fmt: skip
    # tuple() of the four sums: the 4-tuples SeedState.spends holds
    four_sums = cast(dict[int, tuple[int, int, int, int]], spends)
    return SeedState(balance_pico(workspace_id), four_sums, window_numbers(now), recorded)


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
    from .models import UsageRecord
    from .windows import window_starts

    day, _week, month = window_starts(time.time())
    cost = "cost_pico"
    rows = (
        UsageRecord.objects.filter(workspace_id=workspace_id, api_key_id__isnull=False)
        .values("api_key_id")
        .annotate(
            total=Sum(cost),
            day=Sum(cost, filter=Q(created_at__gte=day)),
            month=Sum(cost, filter=Q(created_at__gte=month)),
            requests=Count("id"),
        )
    )
    return {
        row["api_key_id"]: KeySpend(
            int(row["total"] or 0), int(row["day"] or 0), int(row["month"] or 0), row["requests"]
        )
        for row in rows
    }
