"""Reads across billing."""

from decimal import Decimal

from django.db.models import Sum

from .models import LedgerEntry


def balance_usd(workspace_id: int) -> Decimal:
    total = LedgerEntry.objects.filter(workspace_id=workspace_id).aggregate(s=Sum("amount_usd"))
    return total["s"] or Decimal(0)
