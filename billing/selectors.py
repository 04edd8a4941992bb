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
