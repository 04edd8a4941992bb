"""Reads across billing."""

from decimal import Decimal

from django.db.models import Sum

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
        "latency_ms": record["latency_ms"],
        "time_to_first_token_ms": record["ttft_ms"],
        "router": record["router"] or None,
        "fallback_level": record["fallback_level"],
        "attempts": attempts,
    }
