"""Low-balance alerts: the threshold is a workspace setting; the beat task e-mails owners and
admins once when the balance falls below it, and again only after a top-up lifted it above."""

import threading
from decimal import Decimal

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connections
from django.test import Client
from django.urls import reverse

from billing import tasks
from billing.balances import BALANCE_KEY
from billing.models import LedgerEntry, LowBalanceAlert
from billing.services import grant_credits
from workspaces import services
from workspaces.models import Role

User = get_user_model()
PICO = 10**12


def team(slug: str):
    workspace, _ = services.get_or_create_workspace(slug, slug.title())
    people = {}
    for role in (Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.VIEWER):
        user = User.objects.create_user(f"{slug}-{role}", f"{slug}-{role}@example.com")
        services.add_member(workspace, user, role)
        people[role] = user
    return workspace, people


def spend(workspace, usd: str) -> None:
    LedgerEntry.objects.create(
        workspace=workspace, kind=LedgerEntry.Kind.SPEND, amount_pico=-int(Decimal(usd) * PICO)
    )


def forget_live_balance(workspace) -> None:
    if django_settings.REDIS_URL:
        redis.Redis.from_url(django_settings.REDIS_URL).delete(BALANCE_KEY.format(workspace.id))


@pytest.mark.django_db
def test_the_threshold_is_a_setting_admins_change_with_a_validated_form():
    workspace, people = team("alertform")
    client = Client()
    client.force_login(people[Role.ADMIN])
    url = reverse("dashboard:settings", args=[workspace.slug])
    base = {"rpm_limit": 0, "tpm_limit": 0, "data_retention": "metadata", "retention_days": 30}
    page = client.get(url)
    assert b"Low-balance alert below (USD)" in page.content
    for bad, message in (
        ("0", b"from $0.01"),
        ("-3", b"from $0.01"),
        ("abc", b"Enter a number"),
        ("1.234", b"2 decimal places"),
    ):
        response = client.post(url, {**base, "low_balance_threshold_usd": bad})
        assert response.status_code == 400, bad
        assert message in response.content, bad
    workspace.refresh_from_db()
    assert workspace.low_balance_threshold_usd is None
    assert client.post(url, {**base, "low_balance_threshold_usd": "12.50"}).status_code == 302
    workspace.refresh_from_db()
    assert workspace.low_balance_threshold_usd == Decimal("12.50")
    developer = Client()
    developer.force_login(people[Role.DEVELOPER])
    assert developer.post(url, {**base, "low_balance_threshold_usd": "99"}).status_code == 403
    assert client.post(url, {**base, "low_balance_threshold_usd": ""}).status_code == 302
    workspace.refresh_from_db()
    assert workspace.low_balance_threshold_usd is None


@pytest.mark.django_db
def test_one_email_when_the_balance_falls_below_and_another_only_after_a_top_up(settings):
    settings.ORCA_PUBLIC_BASE_URL = "https://orca.example.test"
    workspace, people = team("alerts")
    quiet, _ = team("alerts-quiet")  # no threshold: never alerted
    forget_live_balance(workspace)
    workspace.low_balance_threshold_usd = Decimal("10")
    workspace.save()
    grant_credits(workspace.id, Decimal("25"))
    grant_credits(quiet.id, Decimal("1"))
    assert tasks.send_low_balance_alerts() == {"sent": [], "rearmed": []}
    spend(workspace, "16")  # 9 left
    assert tasks.send_low_balance_alerts()["sent"] == [workspace.id]
    [message] = mail.outbox
    assert sorted(message.to) == sorted(
        [people[Role.OWNER].email, people[Role.ADMIN].email]
    )  # not the developer, not the viewer
    assert "below $10" in message.subject
    assert "$9" in message.body
    assert f"https://orca.example.test/w/{workspace.slug}/credits/" in message.body
    # Still low, and lower: no second message.
    spend(workspace, "4")
    for _ in range(2):
        assert tasks.send_low_balance_alerts()["sent"] == []
    assert len(mail.outbox) == 1
    # Topped up, but not above the threshold: still armed off.
    grant_credits(workspace.id, Decimal("4"))  # 9
    assert LowBalanceAlert.objects.filter(workspace=workspace).exists()
    assert tasks.send_low_balance_alerts()["sent"] == []
    # Above it: re-armed by the credit itself (before any run of the task).
    grant_credits(workspace.id, Decimal("5"))  # 14
    assert not LowBalanceAlert.objects.filter(workspace=workspace).exists()
    spend(workspace, "5")  # 9 again
    assert tasks.send_low_balance_alerts()["sent"] == [workspace.id]
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_the_task_rearms_when_the_balance_rose_without_a_credit():
    workspace, _ = team("alerts-refund")
    forget_live_balance(workspace)
    workspace.low_balance_threshold_usd = Decimal("5")
    workspace.save()
    assert tasks.send_low_balance_alerts()["sent"] == [workspace.id]  # $0
    LedgerEntry.objects.create(
        workspace=workspace, kind=LedgerEntry.Kind.REFUND, amount_pico=6 * PICO
    )
    assert tasks.send_low_balance_alerts() == {"sent": [], "rearmed": [workspace.id]}
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.skipif(not django_settings.REDIS_URL, reason="the live balance lives in Redis")
def test_the_live_balance_in_redis_is_what_is_compared():
    """Redis holds the gateways' balance, net of calls in flight, ahead of the ledger (whose
    spends arrive in batches)."""
    workspace, _ = team("alerts-live")
    workspace.low_balance_threshold_usd = Decimal("5")
    workspace.save()
    grant_credits(workspace.id, Decimal("50"))
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.set(BALANCE_KEY.format(workspace.id), 3 * PICO)
    try:
        assert tasks.send_low_balance_alerts()["sent"] == [workspace.id]
        assert "$3" in mail.outbox[0].body
    finally:
        client.delete(BALANCE_KEY.format(workspace.id))


@pytest.mark.django_db
def test_a_failed_send_is_tried_again_next_run(settings, monkeypatch):
    workspace, _ = team("alerts-smtp")
    forget_live_balance(workspace)
    workspace.low_balance_threshold_usd = Decimal("5")
    workspace.save()

    def broken(*args, **kwargs):
        raise OSError("SMTP server unreachable")

    monkeypatch.setattr("billing.alerts.send_mail", broken)
    with pytest.raises(OSError):
        tasks.send_low_balance_alerts()
    assert not LowBalanceAlert.objects.exists()
    monkeypatch.undo()
    assert tasks.send_low_balance_alerts()["sent"] == [workspace.id]
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_one_email():
    if connections["default"].vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")
    workspace, _ = team("alerts-race")
    forget_live_balance(workspace)
    workspace.low_balance_threshold_usd = Decimal("5")
    workspace.save()
    barrier = threading.Barrier(4)
    results: list[dict] = []

    def run() -> None:
        try:
            barrier.wait(10)
            results.append(tasks.send_low_balance_alerts())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(len(r["sent"]) for r in results) == [0, 0, 0, 1]
    assert len(mail.outbox) == 1
