"""Billing in the admin: staff grant credits (an audited ledger entry); usage, rollups and
the ledger are read-only and show USD, never a secret."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission

from billing.models import LedgerEntry, UsageRecord, UsageRollup
from billing.rollups import roll_up
from billing.selectors import balance_usd
from billing.services import grant_credits
from workspaces import services

pytestmark = pytest.mark.django_db

ADD = "/admin/billing/ledgerentry/add/"


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.test")


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def workspaces():
    acme, _ = services.get_or_create_workspace("adm-acme")
    globex, _ = services.get_or_create_workspace("adm-globex")
    grant_credits(acme.id, Decimal(1), note="opening")
    return acme, globex


def test_staff_grant_credits_with_an_audit_entry(staff, staff_user, workspaces):
    acme, globex = workspaces
    assert staff.get(ADD).status_code == 200
    response = staff.post(
        ADD, {"workspace": acme.pk, "amount_usd": "12.345678901234", "note": "invoice 42"}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = LedgerEntry.objects.get(workspace=acme, note="invoice 42")
    assert entry.kind == LedgerEntry.Kind.GRANT
    assert entry.amount_pico == 12_345_678_901_234
    assert entry.created_by == staff_user
    assert balance_usd(acme.id) == Decimal("13.345678901234")
    assert balance_usd(globex.id) == 0
    log = LogEntry.objects.get(object_id=str(entry.pk))
    assert log.user == staff_user and log.is_addition()
    page = staff.get(response["Location"]).content.decode()
    assert "Granted 12.345678901234 USD to adm-acme; balance now 13.345678901234 USD" in page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount_usd": "0", "note": "x"}, "amount_usd"),
        ({"amount_usd": "-5", "note": "x"}, "amount_usd"),
        ({"amount_usd": "1.0000000000001", "note": "x"}, "amount_usd"),
        ({"amount_usd": "1000001", "note": "x"}, "amount_usd"),
        ({"amount_usd": "abc", "note": "x"}, "amount_usd"),
        ({"amount_usd": "5", "note": ""}, "note"),
    ],
)
def test_bad_grants_are_refused(staff, workspaces, data, field):
    acme, _ = workspaces
    before = LedgerEntry.objects.count()
    response = staff.post(ADD, {"workspace": acme.pk, **data})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert LedgerEntry.objects.count() == before
    assert balance_usd(acme.id) == 1


def test_ledger_entries_cannot_be_edited_or_deleted(staff, workspaces):
    acme, _ = workspaces
    entry = LedgerEntry.objects.get(workspace=acme)
    change = staff.get(f"/admin/billing/ledgerentry/{entry.pk}/change/")
    assert change.status_code == 200  # view only
    assert "opening" in change.content.decode()
    staff.post(
        f"/admin/billing/ledgerentry/{entry.pk}/change/",
        {"workspace": acme.pk, "kind": "grant", "amount_pico": 10**15, "note": "more"},
    )
    entry.refresh_from_db()
    assert entry.amount_pico == 10**12 and entry.note == "opening"
    assert staff.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/").status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
    listing = staff.get("/admin/billing/ledgerentry/").content.decode()
    assert ">1<" in listing  # the amount in USD, exact


def test_staff_without_the_permission_cannot_grant(client, django_user_model, workspaces):
    acme, _ = workspaces
    clerk = django_user_model.objects.create_user("clerk", "clerk@example.test", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    client.force_login(clerk)
    assert client.get("/admin/billing/ledgerentry/").status_code == 200
    assert client.get(ADD).status_code == 403
    response = client.post(ADD, {"workspace": acme.pk, "amount_usd": "5", "note": "x"})
    assert response.status_code == 403
    assert balance_usd(acme.id) == 1


def test_usage_and_rollups_are_read_only_in_usd_without_secrets(staff, workspaces):
    acme, _ = workspaces
    key, raw = services.create_api_key(acme, name="visible-name")
    at = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)
    record = UsageRecord.objects.create(
        request_id="gen-admin-1",
        workspace=acme,
        api_key=key,
        endpoint="chat.completions",
        model="openai/gpt-4o",
        status_code=200,
        cost_pico=1_234_567,
        created_at=at,
    )
    roll_up("hour", datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 2, tzinfo=UTC))
    rollup = UsageRollup.objects.get()

    pages = {
        "/admin/billing/usagerecord/": 200,
        f"/admin/billing/usagerecord/{record.pk}/change/": 200,
        "/admin/billing/usagerollup/": 200,
        f"/admin/billing/usagerollup/{rollup.pk}/change/": 200,
        "/admin/billing/usagerecord/add/": 403,
        "/admin/billing/usagerollup/add/": 403,
    }
    for url, status in pages.items():
        response = staff.get(url)
        assert response.status_code == status, url
        text = response.content.decode()
        assert raw not in text and key.key_hash not in text, url
        if status == 200:
            assert "0.000001234567" in text, url
    assert key.prefix in staff.get("/admin/billing/usagerecord/").content.decode()
    staff.post(f"/admin/billing/usagerecord/{record.pk}/change/", {"cost_pico": 0})
    record.refresh_from_db()
    assert record.cost_pico == 1_234_567
