"""Low-balance e-mail alerts: one message to a workspace's owners and admins when its balance
falls below the threshold it set, and none again until the balance has been above it.

Checked by a Celery beat task (billing.tasks.send_low_balance_alerts), never on the relay's
path: a call's settlement touches only Redis. The balance read is the live one in Redis
(net of calls in flight) where Redis holds it, else the ledger sum. The LowBalanceAlert row
says the alert went out; its unique workspace makes two concurrent runs send one message."""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Sum

from workspaces.models import Membership, Role, Workspace

from . import balances
from .models import LedgerEntry, LowBalanceAlert
from .pricing import format_usd, usd_to_pico

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertRun:
    sent: list[int]  # workspace ids e-mailed
    rearmed: list[int]  # workspace ids whose balance is back above the threshold


def _ledger_balances(workspace_ids: list[int]) -> dict[int, int]:
    rows = (
        LedgerEntry.objects.filter(workspace_id__in=workspace_ids)
        .values("workspace_id")
        .annotate(total=Sum("amount_pico"))
    )
    found = {row["workspace_id"]: int(row["total"] or 0) for row in rows}
    return {i: found.get(i, 0) for i in workspace_ids}


def current_balances(workspace_ids: list[int]) -> dict[int, int]:
    live = balances.live_balances(workspace_ids)
    missing = [i for i in workspace_ids if i not in live]
    return {**(_ledger_balances(missing) if missing else {}), **live}


def recipients(workspace_id: int) -> list[str]:
    emails = (
        Membership.objects.filter(
            workspace_id=workspace_id, role__in=[Role.OWNER, Role.ADMIN], user__is_active=True
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    return sorted(set(emails))


def _send(workspace: Workspace, balance: int, threshold: Decimal) -> bool:
    """Claim the alert and send it in one transaction: a failed send leaves no claim, so the
    next run tries again; a concurrent run waits on the claim and then finds it taken."""
    to = recipients(workspace.id)
    if not to:
        log.warning(
            "workspace %s is below its balance threshold but has no admin e-mail", workspace.id
        )
    try:
        with transaction.atomic():
            LowBalanceAlert.objects.create(workspace=workspace, balance_pico=balance)
            if to:
                link = f"{settings.ORCA_PUBLIC_BASE_URL}/w/{workspace.slug}/credits/"
                send_mail(
                    f"Orca: the balance of {workspace.name} is below ${threshold}",
                    f"The prepaid balance of workspace {workspace.name} ({workspace.slug}) is "
                    f"${format_usd(balance)}, below the alert threshold of ${threshold}.\n"
                    "Calls are refused with 402 once it cannot cover them.\n\n"
                    + (f"Add credits: {link}\n" if settings.ORCA_PUBLIC_BASE_URL else "")
                    + "You get this once; the next alert comes after the balance has been "
                    "topped up above the threshold and falls again.\n",
                    settings.DEFAULT_FROM_EMAIL,
                    to,
                )
    except IntegrityError:
        return False  # another run sent it
    return True


def send_low_balance_alerts() -> AlertRun:
    workspaces = {
        w.id: w for w in Workspace.objects.filter(low_balance_threshold_usd__isnull=False)
    }
    if not workspaces:
        return AlertRun([], [])
    ids = sorted(workspaces)
    current = current_balances(ids)
    alerted = set(
        LowBalanceAlert.objects.filter(workspace_id__in=ids).values_list("workspace_id", flat=True)
    )
    sent, rearmed = [], []
    for workspace_id in ids:
        workspace = workspaces[workspace_id]
        threshold = workspace.low_balance_threshold_usd
        limit = usd_to_pico(threshold)
        balance = current[workspace_id]
        if balance < limit and workspace_id not in alerted:
            if _send(workspace, balance, threshold):
                sent.append(workspace_id)
        elif balance > limit and workspace_id in alerted:
            LowBalanceAlert.objects.filter(workspace_id=workspace_id).delete()
            rearmed.append(workspace_id)
    return AlertRun(sent, rearmed)


def rearm_if_recovered(workspace_id: int) -> None:
    """After a credit (in its transaction): if an alert went out and the ledger balance is
    now above the threshold, the next fall below it alerts again."""
    if not LowBalanceAlert.objects.filter(workspace_id=workspace_id).exists():
        return
    threshold = (
        Workspace.objects.filter(id=workspace_id)
        .values_list("low_balance_threshold_usd", flat=True)
        .first()
    )
    balance = _ledger_balances([workspace_id])[workspace_id]
    if threshold is None or balance > usd_to_pico(threshold):
        LowBalanceAlert.objects.filter(workspace_id=workspace_id).delete()
