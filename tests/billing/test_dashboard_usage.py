"""Dashboard usage, request log, request detail and ledger pages: role enforcement,
cross-workspace isolation, charts from the rollups and exact USD strings."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from billing import rollups
from billing.models import LedgerEntry, UsageRecord
from workspaces import services
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def record(workspace, key, model="dashtest/alpha", status=200, **fields):
    values = {
        "request_id": f"gen-{uuid.uuid4().hex}",
        "workspace": workspace,
        "api_key": key,
        "endpoint": "chat.completions",
        "model": model,
        "upstream_model": "alpha",
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "cost_pico": 1_234_567_890_123,  # 1.234567890123 USD
        "status_code": status,
        "latency_ms": 321,
        "ttft_ms": 87,
        "created_at": timezone.now() - timedelta(minutes=5),
        **fields,
    }
    return UsageRecord.objects.create(**values)


@pytest.fixture
def world():
    users = {
        role: get_user_model().objects.create_user(f"use-{role}")
        for role in ("owner", "viewer", "outsider")
    }
    mine, _ = services.get_or_create_workspace("use-mine")
    theirs, _ = services.get_or_create_workspace("use-theirs")
    services.add_member(mine, users["owner"], Role.OWNER)
    services.add_member(mine, users["viewer"], Role.VIEWER)
    services.add_member(theirs, users["outsider"], Role.OWNER)
    key, _ = services.create_api_key(mine, name="prod-key")
    other_key, _ = services.create_api_key(mine, name="batch-key")
    their_key, _ = services.create_api_key(theirs, name="their-key")
    mine_record = record(
        mine,
        key,
        router="orcarouter/cheap",
        fallback_level=1,
        attempts=[{"model": "dashtest/down", "status": 503}],
    )
    failed = record(mine, other_key, model="dashother/beta", status=429, cost_pico=0)
    their_record = record(theirs, their_key, model="dashtheirs/secret", cost_pico=5 * 10**12)
    LedgerEntry.objects.create(workspace=mine, kind="grant", amount_pico=10 * 10**12, note="top up")
    LedgerEntry.objects.create(
        workspace=mine,
        kind="spend",
        amount_pico=-1_234_567_890_123,
        request_id=mine_record.request_id,
    )
    LedgerEntry.objects.create(
        workspace=theirs, kind="grant", amount_pico=77 * 10**12, note="their-note"
    )
    return {
        "users": users,
        "mine": mine,
        "theirs": theirs,
        "key": key,
        "other_key": other_key,
        "record": mine_record,
        "failed": failed,
        "their_record": their_record,
    }


def login(client, world, role):
    client.force_login(world["users"][role])
    return client


def urls(world):
    return [
        reverse("dashboard:usage", args=["use-mine"]),
        reverse("dashboard:usage_detail", args=["use-mine", world["record"].request_id]),
        reverse("dashboard:ledger", args=["use-mine"]),
    ]


def test_anonymous_is_sent_to_login(client, world):
    for url in urls(world):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response["Location"], url


def test_non_member_gets_404(client, world):
    login(client, world, "outsider")
    for url in urls(world):
        assert client.get(url).status_code == 404, url


def test_viewer_reads_every_page(client, world):
    login(client, world, "viewer")
    for url in urls(world):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Usage" in response.content  # nav: the workspace is in the context


def test_pages_are_read_only(client, world):
    login(client, world, "owner")
    for url in urls(world):
        assert client.post(url, {}).status_code == 405, url


def test_another_workspaces_request_id_is_404(client, world):
    login(client, world, "owner")
    url = reverse("dashboard:usage_detail", args=["use-mine", world["their_record"].request_id])
    assert client.get(url).status_code == 404
    missing = reverse("dashboard:usage_detail", args=["use-mine", "gen-missing"])
    assert client.get(missing).status_code == 404


def test_usage_page_shows_the_log_and_the_charts_from_the_rollups(client, world):
    now = timezone.now()
    rollups.roll_up("hour", now - timedelta(days=2), now + timedelta(hours=1))
    login(client, world, "viewer")
    url = reverse("dashboard:usage", args=["use-mine"])
    response = client.get(url)
    page = response.content.decode()

    # request log: this workspace's records, newest first, linking to the detail
    assert world["record"].request_id in page and world["failed"].request_id in page
    assert world["their_record"].request_id not in page and "dashtheirs/secret" not in page
    detail = reverse("dashboard:usage_detail", args=["use-mine", world["record"].request_id])
    assert f'href="{detail}"' in page
    assert "$1.234567890123" in page

    # charts come from the rollups: legend totals per model, SVG segments per bucket
    legend = {item["name"]: item for item in response.context["legend"]}
    assert set(legend) == {"dashtest/alpha", "dashother/beta"}
    assert legend["dashtest/alpha"]["cost_usd"] == "1.234567890123"
    assert legend["dashtest/alpha"]["tokens"] == 150
    assert legend["dashother/beta"]["errors"] == 1
    charts = {chart["metric"]: chart for chart in response.context["charts"]}
    assert set(charts) == {"cost_pico", "requests", "tokens"}
    assert charts["requests"]["total"] == "2"
    assert charts["cost_pico"]["total"] == "1.234567890123"
    assert len(charts["requests"]["bars"]) in (24, 25)
    assert page.count("<svg") == 3 and "dashtest/alpha: 1.234567890123" in page

    # by key, and by day
    response = client.get(url, {"group_by": "key"})
    assert {item["name"] for item in response.context["legend"]} == {"prod-key", "batch-key"}
    rollups.roll_up("day", now - timedelta(days=2), now + timedelta(days=1))
    response = client.get(url, {"period": "day"})
    assert response.context["period"] == "day"
    assert {item["name"] for item in response.context["legend"]} == {
        "dashtest/alpha",
        "dashother/beta",
    }

    # the CSV export link keeps the filters
    assert "/api/workspaces/use-mine/usage/export.csv" in page


def test_charts_are_empty_before_the_rollups_run(client, world):
    login(client, world, "viewer")
    response = client.get(reverse("dashboard:usage", args=["use-mine"]))
    assert response.context["legend"] == []
    assert world["record"].request_id in response.content.decode()  # the log reads records


def test_request_log_filters(client, world):
    login(client, world, "viewer")
    url = reverse("dashboard:usage", args=["use-mine"])

    def shown(**params):
        return {r.request_id for r in client.get(url, params).context["records"]}

    mine, failed = world["record"].request_id, world["failed"].request_id
    assert shown(key=world["key"].pk) == {mine}
    assert shown(model="dashother/beta") == {failed}
    assert shown(status="error") == {failed}
    assert shown(status="200") == {mine}
    response = client.get(url, {"status": "bad"})
    assert response.status_code == 400 and b"status" in response.content
    response = client.get(url, {"model": "dashother/beta"})
    assert b"export.csv?model=dashother%2Fbeta" in response.content


def test_usage_detail_shows_one_record(client, world):
    login(client, world, "viewer")
    rec = world["record"]
    page = client.get(
        reverse("dashboard:usage_detail", args=["use-mine", rec.request_id])
    ).content.decode()
    for text in (
        rec.request_id,
        "$1.234567890123",
        "321 ms",
        "87 ms",
        "orcarouter/cheap",
        "dashtest/down",
        "prod-key",
        ">120<",
        ">30<",
    ):
        assert text in page, text


def test_ledger_shows_balance_and_entries(client, world):
    login(client, world, "viewer")
    page = client.get(reverse("dashboard:ledger", args=["use-mine"])).content.decode()
    assert "$8.765432109877" in page
    assert ">10<" in page
    assert "-1.234567890123" in page and "top up" in page
    assert "their-note" not in page and "$77" not in page
