"""Dashboard views for usage, the request log and the ledger (every member reads).

Charts are server-rendered SVG bars built from the rollups (`usage_series`), so the page
needs no JavaScript; the request log reads the latest usage records with the same filters
as the management API and its CSV export."""

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from rest_framework import exceptions

from workspaces.access import member_view
from workspaces.models import ApiKey, Role

from . import stripe_checkout
from .api import usage_queryset
from .models import CheckoutTopUp, LedgerEntry, UsageRecord
from .pricing import format_usd
from .rollups import PERIODS, bucket_floor, usage_series
from .selectors import balance_pico, generation_view

SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
LOG_SIZE = 100
CHART_WIDTH = 720
CHART_HEIGHT = 160
PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
METRIC_LABELS = [
    ("cost_pico", "Spend (USD)"),
    ("requests", "Requests"),
    ("tokens", "Tokens (prompt + completion)"),
]


def _value_text(metric: str, value: int) -> str:
    return format_usd(value) if metric == "cost_pico" else str(value)


def _chart(metric, label, buckets, groups, values, period) -> dict:
    """Stacked bars, one per bucket, one coloured segment per group (model or key)."""
    totals = [sum(values.get((start, group), 0) for group in groups) for start in buckets]
    peak = max(totals, default=0) or 1
    slot = CHART_WIDTH / max(len(buckets), 1)
    stamp = "%Y-%m-%d %H:00" if period == "hour" else "%Y-%m-%d"
    bars = []
    for index, start in enumerate(buckets):
        y = CHART_HEIGHT
        segments = []
        for group_index, group in enumerate(groups):
            value = values.get((start, group), 0)
            if not value:
                continue
            height = value / peak * CHART_HEIGHT
            y -= height
            segments.append(
                {
                    "y": round(y, 2),
                    "height": round(height, 2),
                    "color": PALETTE[group_index % len(PALETTE)],
                    "title": f"{start.strftime(stamp)} · {group}: {_value_text(metric, value)}",
                }
            )
        bars.append(
            {
                "x": round(index * slot + slot * 0.1, 2),
                "width": round(max(slot * 0.8, 1), 2),
                "segments": segments,
            }
        )
    return {
        "metric": metric,
        "label": label,
        "bars": bars,
        "peak": _value_text(metric, max(totals, default=0)),
        "total": _value_text(metric, sum(totals)),
        "first": buckets[0].strftime(stamp) if buckets else "",
        "last": buckets[-1].strftime(stamp) if buckets else "",
    }


def _charts(workspace, period: str, group_by: str) -> dict:
    until = timezone.now()
    since = bucket_floor(period, until - SPAN[period])
    rows = usage_series(workspace.id, period, since, until, group_by=group_by)
    if group_by == "key":
        ids = {row["api_key_id"] for row in rows} - {None}
        names = dict(
            ApiKey.objects.filter(workspace=workspace, id__in=ids).values_list("id", "name")
        )

        def label(row):
            key_id = row["api_key_id"]
            return names.get(key_id, "(no key / deleted)") if key_id else "(no key / deleted)"
    else:

        def label(row):
            return row["model"]

    step = PERIODS[period]
    buckets, moment = [], since
    while moment < until:
        buckets.append(moment)
        moment += step
    metrics: dict[str, dict[tuple[Any, Any], int]] = {"cost_pico": {}, "requests": {}, "tokens": {}}
    totals: dict[str, dict[str, int]] = {}
    for row in rows:
        group = label(row)
        tokens = row["prompt_tokens"] + row["completion_tokens"]
        for metric, value in (
            ("cost_pico", row["cost_pico"]),
            ("requests", row["requests"]),
            ("tokens", tokens),
        ):
            cell = (row["start"], group)
            metrics[metric][cell] = metrics[metric].get(cell, 0) + value
        sums = totals.setdefault(group, {"cost_pico": 0, "requests": 0, "errors": 0, "tokens": 0})
        sums["cost_pico"] += row["cost_pico"]
        sums["requests"] += row["requests"]
        sums["errors"] += row["errors"]
        sums["tokens"] += tokens
    groups = sorted(totals, key=lambda g: (-totals[g]["cost_pico"], -totals[g]["requests"], g))
    legend = [
        {
            "name": group,
            "color": PALETTE[index % len(PALETTE)],
            "cost_usd": format_usd(totals[group]["cost_pico"]),
            "requests": totals[group]["requests"],
            "errors": totals[group]["errors"],
            "tokens": totals[group]["tokens"],
        }
        for index, group in enumerate(groups)
    ]
    charts = [
        _chart(metric, text, buckets, groups, metrics[metric], period)
        for metric, text in METRIC_LABELS
    ]
    return {"charts": charts, "legend": legend, "since": since, "until": until}


@member_view()
@require_safe
def usage(request, slug):
    workspace = request.workspace
    period = request.GET.get("period", "hour")
    if period not in SPAN:
        period = "hour"
    group_by = request.GET.get("group_by", "model")
    if group_by not in ("model", "key"):
        group_by = "model"

    filters = {name: request.GET.get(name, "").strip() for name in ("key", "model", "status")}
    active = {name: value for name, value in filters.items() if value}
    filter_error = None
    status = 200
    try:
        records = list(
            usage_queryset(workspace, active)
            .select_related("api_key")
            .order_by("-created_at", "-id")[:LOG_SIZE]
        )
    except exceptions.ValidationError as exc:
        filter_error = "; ".join(
            f"{field}: {' '.join(str(m) for m in messages)}"
            for field, messages in exc.detail.items()
        )
        records = []
        status = 400
    for record in records:
        record.cost_usd = format_usd(record.cost_pico)

    export = f"/api/workspaces/{workspace.slug}/usage/export.csv"
    if active and filter_error is None:
        export += "?" + urlencode(active)
    context = {
        "workspace": workspace,
        "period": period,
        "group_by": group_by,
        **_charts(workspace, period, group_by),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "records": records,
        "filters": filters,
        "filter_error": filter_error,
        "keys": ApiKey.objects.filter(workspace=workspace).order_by("name"),
        "export_url": export,
        "log_size": LOG_SIZE,
    }
    return render(request, "dashboard/usage.html", context, status=status)


@member_view()
@require_safe
def usage_detail(request, slug, request_id):
    workspace = request.workspace
    record = get_object_or_404(
        UsageRecord.objects.select_related("api_key"), workspace=workspace, request_id=request_id
    )
    values = UsageRecord.objects.filter(pk=record.pk).values().get()
    context = {
        "workspace": workspace,
        "record": record,
        "detail": generation_view(values),
    }
    return render(request, "dashboard/usage_detail.html", context)


@member_view()
@require_safe
def ledger(request, slug):
    workspace = request.workspace
    entries = LedgerEntry.objects.filter(workspace=workspace).order_by("-created_at", "-id")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    for entry in page:
        entry.amount_usd = format_usd(entry.amount_pico)
    context = {
        "workspace": workspace,
        "balance_usd": format_usd(balance_pico(workspace.id)),
        "page": page,
    }
    return render(request, "dashboard/ledger.html", context)


# --- credits: Stripe Checkout top-ups ---------------------------------------------------------


class TopUpForm(forms.Form):
    amount = forms.DecimalField(label="Amount (USD)", decimal_places=2, max_digits=9)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        low, high = settings.ORCA_TOPUP_MIN_USD, settings.ORCA_TOPUP_MAX_USD
        field = self.fields["amount"]
        field.validators += [MinValueValidator(low), MaxValueValidator(high)]
        field.widget.attrs.update({"min": low, "max": high, "step": "0.01"})
        field.help_text = f"From ${low} to ${high}."
        field.initial = max(low, min(20, high))


TOPUP_HISTORY = 20
SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,250}")
ADMIN = cast(str, Role.ADMIN)  # a TextChoices member (mypy takes it for its (value, label))


@member_view(write_minimum=ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def credits(request, slug):
    """The balance and how credit arrives; with Stripe, admins and owners get a top-up form
    that redirects to Stripe Checkout."""
    workspace = request.workspace
    enabled = stripe_checkout.enabled()
    form = TopUpForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if not enabled:
            messages.error(request, "Self-serve top-up is not configured on this Orca.")
            return redirect("dashboard:credits", slug)
        if form.is_valid():
            cents = int(form.cleaned_data["amount"] * 100)
            try:
                checkout = stripe_checkout.start_checkout(workspace, cents, request.user)
            except stripe_checkout.CheckoutFailed as exc:
                form.add_error(None, str(exc))
                status = 502
            else:
                return HttpResponseRedirect(checkout.url, status=303)
        else:
            status = 400
    returned = request.GET.get("checkout", "") if request.method != "POST" else ""
    returned_topup = None
    session_id = request.GET.get("session_id", "")
    if returned == "success" and SESSION_ID.fullmatch(session_id):
        # This workspace's own top-up only: another's session id reads like an unknown one.
        returned_topup = CheckoutTopUp.objects.filter(
            workspace=workspace, session_id=session_id
        ).first()
    topups = list(CheckoutTopUp.objects.filter(workspace=workspace)[:TOPUP_HISTORY])
    for topup in [*topups, *([returned_topup] if returned_topup else [])]:
        topup.amount_usd = f"{Decimal(topup.credited_cents or topup.amount_cents) / 100:.2f}"
    context = {
        "workspace": workspace,
        "balance_usd": format_usd(balance_pico(workspace.id)),
        "stripe_enabled": enabled,
        "can_top_up": request.membership.has_role(ADMIN),
        "form": form,
        "topups": topups,
        "returned": returned,
        "returned_topup": returned_topup,
        "threshold": workspace.low_balance_threshold_usd,
    }
    return render(request, "dashboard/credits.html", context, status=status)


@csrf_exempt  # Stripe signs its calls instead (Stripe-Signature)
@require_POST
def stripe_webhook(request):
    if not settings.STRIPE_WEBHOOK_SECRET:
        return JsonResponse({"error": "Stripe is not configured on this Orca"}, status=404)
    result = stripe_checkout.handle_webhook(request.body, request.headers.get("Stripe-Signature"))
    if result.status != 200:
        return JsonResponse({"error": result.outcome}, status=result.status)
    return JsonResponse({"received": True, "outcome": result.outcome})
