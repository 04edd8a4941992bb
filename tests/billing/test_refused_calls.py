"""Calls the gateway refuses before any upstream still reach the request log: a usage row
with the status and code the client got, zero cost, through the usage buffer (live server,
PostgreSQL and Redis as configured). A key nobody owns has no workspace to log to."""

import time

import httpx
import pytest

from billing.models import UsageRecord
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.models import ApiKey

ASK = {"model": "fake/chat", "messages": [{"role": "user", "content": "hi"}]}


def call(live, key: str, body: dict = ASK) -> httpx.Response:
    return httpx.post(
        f"{live.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def refused(live, django_db_blocker, response: httpx.Response, status: int) -> UsageRecord:
    assert response.status_code == status, response.text
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    assert record.status_code == status and record.cost_pico == 0
    assert record.prompt_tokens == 0 and record.completion_tokens == 0
    assert record.error_code == response.json()["error"]["code"]
    return record


def test_a_402_for_an_empty_balance_is_logged_with_the_model(live, db_access, django_db_blocker):
    broke, _ = services.get_or_create_workspace("refused-broke")
    key, raw = services.create_api_key(broke, name="no credit")
    record = refused(live, django_db_blocker, call(live, raw), 402)
    assert record.workspace_id == broke.id and record.api_key_id == key.id
    assert record.model == "fake/chat" and record.endpoint == "chat.completions"


def test_a_429_of_the_keys_rate_limit_is_logged(live, db_access, django_db_blocker):
    key, raw = live.new_key(name="refused-rpm")
    ApiKey.objects.filter(pk=key.pk).update(rpm_limit=1)  # update(): bumps the version too
    key.refresh_from_db()
    deadline = time.monotonic() + 5
    while True:
        first = call(live, raw)
        assert first.status_code in (200, 429)
        second = call(live, raw)
        if second.status_code == 429 or time.monotonic() > deadline:
            break
    record = refused(live, django_db_blocker, second, 429)
    assert record.api_key_id == key.id and record.model == "fake/chat"


def test_a_revoked_key_is_logged_as_401_in_its_workspace(live, db_access, django_db_blocker):
    key, raw = live.new_key(name="refused-revoked")
    services.revoke_api_key(key)
    deadline = time.monotonic() + 5
    while (response := call(live, raw)).status_code != 401:
        assert time.monotonic() < deadline, "the revocation never reached the server"
        time.sleep(0.1)
    record = refused(live, django_db_blocker, response, 401)
    assert record.workspace_id == live.workspace.id and record.api_key_id == key.id


def test_a_leaked_keys_refusals_are_logged_once_a_minute(live, db_access, django_db_blocker):
    """Whoever holds a revoked key or calls from a refused address cannot fill the log: the
    first refusal is logged, the next ones of the minute are not (the call is still 401/403)."""
    revoked, revoked_raw = live.new_key(name="refused-flood-revoked")
    services.revoke_api_key(revoked)
    deadline = time.monotonic() + 5
    while (first := call(live, revoked_raw)).status_code != 401:
        assert time.monotonic() < deadline, "the revocation never reached the server"
        time.sleep(0.1)
    refused(live, django_db_blocker, first, 401)
    fenced, fenced_raw = live.new_key(name="refused-flood-ip", allowed_ips=["10.0.0.0/8"])
    refused(live, django_db_blocker, call(live, fenced_raw), 403)
    again = [call(live, revoked_raw) for _ in range(5)] + [call(live, fenced_raw) for _ in range(5)]
    assert [r.status_code for r in again] == [401] * 5 + [403] * 5
    time.sleep(0.5)  # several flush periods of the server (ORCA_USAGE_FLUSH_SECONDS=0.1)
    with django_db_blocker.unblock():
        rows = UsageRecord.objects.filter(api_key_id__in=[revoked.id, fenced.id])
        assert sorted(rows.values_list("status_code", flat=True)) == [401, 403]


def test_a_refused_address_and_a_refused_model_are_logged_as_403(
    live, db_access, django_db_blocker
):
    fenced, fenced_raw = live.new_key(name="refused-ip", allowed_ips=["10.0.0.0/8"])
    record = refused(live, django_db_blocker, call(live, fenced_raw), 403)
    assert record.api_key_id == fenced.id and record.error_code == "ip_not_allowed"
    picky, picky_raw = live.new_key(name="refused-model", allowed_models=["orca/*"])
    record = refused(live, django_db_blocker, call(live, picky_raw), 403)
    assert record.api_key_id == picky.id and record.error_code == "model_not_allowed"
    assert record.model == "fake/chat"


def test_an_unknown_key_and_a_bad_request_leave_no_row(live, db_access, django_db_blocker):
    unknown = call(live, "sk-orca-" + "u" * 43)
    bad = call(live, live.key, {"model": "fake/chat", "messages": "not a list"})
    assert (unknown.status_code, bad.status_code) == (401, 400)
    time.sleep(0.5)  # several flush periods of the server (ORCA_USAGE_FLUSH_SECONDS=0.1)
    ids = [unknown.headers["x-orca-request-id"], bad.headers["x-orca-request-id"]]
    with django_db_blocker.unblock():
        assert not UsageRecord.objects.filter(request_id__in=ids).exists()


@pytest.mark.parametrize("status", [402])
def test_the_dashboard_log_shows_refused_calls(live, db_access, django_db_blocker, status):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from workspaces.models import Role

    broke, _ = services.get_or_create_workspace("refused-log")
    _, raw = services.create_api_key(broke, name="no credit")
    record = refused(live, django_db_blocker, call(live, raw), status)
    user, _ = get_user_model().objects.get_or_create(username="refused-viewer")
    services.add_member(broke, user, Role.VIEWER)
    client = Client()
    client.force_login(user)
    page = client.get(f"/w/{broke.slug}/usage/").content.decode()
    assert record.request_id in page and "insufficient" in page
    errors = client.get(f"/w/{broke.slug}/usage/", {"status": "error"}).content.decode()
    assert record.request_id in errors
