"""OpenRouter's provisioning API (/api/v1/keys) against the live server: management keys
create, list, read, update and delete a workspace's API keys, and what they set is what the
relay enforces."""

import time
from decimal import Decimal

import httpx
import orjson
import pytest

from billing.pricing import format_usd
from billing.services import grant_credits
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.models import ApiKey, ManagementKey, Role

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture
def provisioning(live, db_access):
    """A workspace with credit, an admin management key and a viewer one."""
    workspace, _ = services.get_or_create_workspace("or-provisioning")
    ApiKey.objects.filter(workspace=workspace).delete()
    ManagementKey.objects.filter(workspace=workspace).delete()
    if not workspace.ledger.exists():
        grant_credits(workspace.id, Decimal(5), note="provisioning test")
    _, admin = services.create_management_key(workspace, role=Role.ADMIN, name="script")
    _, viewer = services.create_management_key(workspace, role=Role.VIEWER, name="reader")
    return workspace, admin, viewer


def api(live, method: str, path: str, key: str | None, body=None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        kwargs["content"] = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.request(
        method, live.server.base_url + "/api/v1" + path, headers=headers, timeout=10, **kwargs
    )


def relay_chat(live, key: str) -> httpx.Response:
    return httpx.post(
        live.server.base_url + "/v1/chat/completions",
        json={"model": "fake/chat", "messages": HELLO},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def until(check, timeout: float = 3.0):
    """The gateways reload a changed key within a poll (0.25 s): wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_create_use_read_update_and_delete_a_key(
    live, provisioning, upstreams, db_access, django_db_blocker
):
    workspace, admin, _ = provisioning
    created = api(live, "POST", "/keys", admin, {"name": "customer 42", "limit": 1.5})
    assert created.status_code == 201, created.text
    body = created.json()
    raw, data = body["key"], body["data"]
    row = ApiKey.objects.get(workspace=workspace, name="customer 42")
    assert data["hash"] == row.key_hash and data["label"] == row.prefix
    assert (data["limit"], data["limit_reset"], data["usage"]) == (1.5, None, 0.0)
    assert row.spend_limit_usd == Decimal("1.5")
    assert data["workspace_id"] == workspace.slug and data["disabled"] is False

    # The key works on the relay, and its spend is what the call cost.
    answer = relay_chat(live, raw)
    assert answer.status_code == 200, answer.text
    record = wait_for_usage(django_db_blocker, answer.headers["x-orca-request-id"])
    got = api(live, "GET", f"/keys/{row.key_hash}", admin).json()["data"]
    assert Decimal(str(got["usage"])) == Decimal(format_usd(record.cost_pico)) > 0
    assert got["limit_remaining"] == float(Decimal("1.5") - Decimal(format_usd(record.cost_pico)))

    listed = api(live, "GET", "/keys", admin).json()["data"]
    assert [k["hash"] for k in listed] == [row.key_hash]
    for text in (created.text, api(live, "GET", "/keys", admin).text):
        assert text.count(raw) == (1 if text is created.text else 0)  # the secret, once

    # A daily cap of nothing: the relay refuses the key's next call.
    patched = api(
        live, "PATCH", f"/keys/{row.key_hash}", admin, {"limit": 0, "limit_reset": "daily"}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["data"]["limit"], patched.json()["data"]["limit_reset"]) == (
        0.0,
        "daily",
    )
    row.refresh_from_db()
    assert (row.spend_limit_usd, row.daily_limit_usd) == (None, Decimal(0))
    assert until(lambda: relay_chat(live, raw).status_code == 402)

    renamed = api(live, "PATCH", f"/keys/{row.key_hash}", admin, {"name": "renamed", "limit": None})
    assert renamed.json()["data"]["name"] == "renamed"
    assert renamed.json()["data"]["limit"] is None
    assert until(lambda: relay_chat(live, raw).status_code == 200)

    disabled = api(live, "PATCH", f"/keys/{row.key_hash}", admin, {"disabled": True})
    assert disabled.json()["data"]["disabled"] is True
    assert until(lambda: relay_chat(live, raw).status_code == 401)
    assert api(live, "GET", "/keys", admin).json()["data"] == []  # disabled keys left out
    assert len(api(live, "GET", "/keys?include_disabled=true", admin).json()["data"]) == 1
    enabled = api(live, "PATCH", f"/keys/{row.key_hash}", admin, {"disabled": False})
    assert enabled.json()["data"]["disabled"] is False
    assert until(lambda: relay_chat(live, raw).status_code == 200)

    deleted = api(live, "DELETE", f"/keys/{row.key_hash}", admin)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": True}
    assert api(live, "GET", f"/keys/{row.key_hash}", admin).status_code == 404
    assert until(lambda: relay_chat(live, raw).status_code == 401)
    assert not ApiKey.objects.filter(pk=row.pk).exists()


def test_a_revoked_key_is_not_enabled_again(live, provisioning, db_access):
    workspace, admin, _ = provisioning
    key, _ = services.create_api_key(workspace, name="revoked")
    services.revoke_api_key(key)
    answer = api(live, "PATCH", f"/keys/{key.key_hash}", admin, {"disabled": False})
    assert answer.status_code == 400
    assert "revoked" in answer.json()["error"]["message"]
    key.refresh_from_db()
    assert key.enabled is False


def test_create_with_expiry_and_paging(live, provisioning, db_access):
    workspace, admin, _ = provisioning
    made = api(
        live, "POST", "/keys", admin, {"name": "expiring", "expires_at": "2099-01-31T00:00:00Z"}
    )
    assert made.status_code == 201, made.text
    assert made.json()["data"]["expires_at"].startswith("2099-01-31T00:00:00")
    for i in range(3):
        services.create_api_key(workspace, name=f"more {i}")
    everything = api(live, "GET", "/keys", admin).json()["data"]
    assert len(everything) == 4
    assert api(live, "GET", "/keys?offset=3", admin).json()["data"] == everything[3:]


@pytest.mark.parametrize(
    ("credential", "status", "needle"),
    [
        (None, 401, "management key"),
        ("relay", 401, "not accepted on the management API"),
        ("sk-orca-mgmt-" + "x" * 40, 401, "invalid management key"),
    ],
)
def test_only_management_keys_are_accepted(live, provisioning, credential, status, needle):
    key = live.key if credential == "relay" else credential
    answer = api(live, "GET", "/keys", key)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == status
    assert needle in answer.json()["error"]["message"]


def test_a_management_key_is_refused_on_the_relays_openrouter_endpoints(live, provisioning):
    _, admin, _ = provisioning
    for path in ("/api/v1/key", "/api/v1/models", "/api/v1/generation?id=req_x"):
        answer = httpx.get(
            live.server.base_url + path, headers={"Authorization": f"Bearer {admin}"}
        )
        assert answer.status_code == 401, path
        assert "management keys" in answer.json()["error"]["message"]
    chat = httpx.post(
        live.server.base_url + "/api/v1/chat/completions",
        json={"model": "fake/chat", "messages": HELLO},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert chat.status_code == 401


def test_credits_take_a_live_management_key_only(live, provisioning, db_access):
    workspace, admin, viewer = provisioning

    def credits(key: str) -> httpx.Response:
        return httpx.get(
            live.server.base_url + "/api/v1/credits", headers={"Authorization": f"Bearer {key}"}
        )

    for key in (admin, viewer):
        answer = credits(key)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["total_credits"] == 5.0
    services.revoke_management_key(ManagementKey.objects.get(workspace=workspace, name="reader"))
    for key in (viewer, "sk-orca-mgmt-" + "z" * 43):
        answer = credits(key)
        assert answer.status_code == 401
        assert answer.json()["error"]["message"] == "invalid management key"


def test_a_viewer_key_reads_but_does_not_write(live, provisioning, db_access):
    workspace, _, viewer = provisioning
    key, _ = services.create_api_key(workspace, name="seen")
    assert api(live, "GET", "/keys", viewer).status_code == 200
    assert api(live, "GET", f"/keys/{key.key_hash}", viewer).status_code == 200
    for method, path, body in (
        ("POST", "/keys", {"name": "nope"}),
        ("PATCH", f"/keys/{key.key_hash}", {"name": "nope"}),
        ("DELETE", f"/keys/{key.key_hash}", None),
    ):
        answer = api(live, method, path, viewer, body)
        assert answer.status_code == 403, (method, answer.text)
        assert answer.json()["error"]["code"] == 403
    key.refresh_from_db()
    assert key.name == "seen"
    assert ApiKey.objects.filter(workspace=workspace).count() == 1


BAD_CREATES = [
    (b"{not json", "JSON parse error"),
    (b"[1, 2]", "must be a JSON object"),
    ({}, "`name` is required"),
    ({"name": 7}, "`name` must be a non-empty string"),
    ({"name": "   "}, "`name` must be a non-empty string"),
    ({"name": "a\u0000b"}, "NUL"),
    ({"name": "x" * 101}, "longer than 100"),
    ({"name": "k", "limit": -1}, "between 0 and"),
    ({"name": "k", "limit": True}, "`limit` must be a number"),
    ({"name": "k", "limit": "5"}, "`limit` must be a number"),
    (b'{"name": "k", "limit": 1000000000000000000000000000000}', "between 0 and"),
    (b'{"name": "k", "limit": 1e400}', "between 0 and"),
    ({"name": "k", "limit": 1, "limit_reset": "hourly"}, "`limit_reset` must be one of"),
    ({"name": "k", "limit_reset": "daily"}, "needs a `limit`"),
    ({"name": "k", "expires_at": "tomorrow"}, "ISO 8601"),
    ({"name": "k", "expires_at": 5}, "ISO 8601"),
    ({"name": "k", "expires_at": "2099-01-01T00:00:00"}, "time zone"),
    ({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}, "in the future"),
    # Past 9999 once in UTC: stored, it could never be read back (every list would fail).
    ({"name": "k", "expires_at": "9999-12-31T23:59:59-12:00"}, "before the year 9999"),
    ({"name": "k", "expires_at": "9999-06-01T00:00:00Z"}, "before the year 9999"),
    ({"name": "k", "include_byok_in_limit": "yes"}, "true or false"),
    ({"name": "k", "workspace_id": "someone-else"}, "own workspace"),
    ({"name": "k", "creator_user_id": "u1"}, "not supported"),
    ({"name": "k", "role": "owner"}, "unknown field 'role'"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_CREATES)
def test_bad_input_is_a_400_naming_the_problem(live, provisioning, db_access, body, needle):
    workspace, admin, _ = provisioning
    answer = api(live, "POST", "/keys", admin, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == 400
    assert needle in answer.json()["error"]["message"]
    assert not ApiKey.objects.filter(workspace=workspace).exists()  # nothing written


def test_an_expiry_with_any_offset_is_kept_in_utc(live, provisioning, db_access):
    # PostgreSQL refuses offsets past 15:59, which ISO 8601 and Python allow.
    _, admin, _ = provisioning
    body = {"name": "far offset", "expires_at": "2030-01-01T00:00:00+23:59"}
    made = api(live, "POST", "/keys", admin, body)
    assert made.status_code == 201, made.text
    assert made.json()["data"]["expires_at"] == "2029-12-31T00:01:00+00:00"
    listed = api(live, "GET", "/keys", admin)
    assert listed.status_code == 200, listed.text
    assert [k["name"] for k in listed.json()["data"]] == ["far offset"]


@pytest.mark.parametrize(
    ("method", "path", "body", "needle"),
    [
        ("GET", "/keys/not-a-hash", None, "64 lower-case hexadecimal"),
        ("GET", "/keys/" + "A" * 64, None, "64 lower-case hexadecimal"),
        ("GET", "/keys?offset=-1", None, "`offset`"),
        ("GET", "/keys?offset=ten", None, "`offset`"),
        ("GET", "/keys?include_disabled=maybe", None, "`include_disabled`"),
        ("GET", "/keys?offset=%00", None, "NUL"),
        ("GET", "/keys/%FF", None, "UTF-8"),
        ("PATCH", "/keys/{hash}", {"disabled": "no"}, "`disabled` must be true or false"),
        ("PATCH", "/keys/{hash}", {"limit": []}, "`limit` must be a number"),
        ("PATCH", "/keys/{hash}", {"expires_at": "2099-01-01T00:00:00Z"}, "unknown field"),
        ("PATCH", "/keys/{hash}", b"\xff\xfe", "JSON parse error"),
        ("PATCH", "/keys/{hash}", "null", "must be a JSON object"),
    ],
)
def test_bad_ids_queries_and_updates_are_400s(
    live, provisioning, db_access, method, path, body, needle
):
    workspace, admin, _ = provisioning
    key, _ = services.create_api_key(workspace, name="target")
    payload = orjson.dumps(None) if body == "null" else body
    answer = api(live, method, path.replace("{hash}", key.key_hash), admin, payload)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == 400
    assert needle in answer.json()["error"]["message"]
    key.refresh_from_db()
    assert (key.name, key.enabled, key.spend_limit_usd) == ("target", True, None)


def test_wrong_methods_and_media_types(live, provisioning, db_access):
    workspace, admin, _ = provisioning
    key, _ = services.create_api_key(workspace, name="target")
    assert api(live, "PUT", "/keys", admin, {"name": "x"}).status_code == 405
    assert api(live, "POST", f"/keys/{key.key_hash}", admin, {"name": "x"}).status_code == 405
    form = httpx.post(
        live.server.base_url + "/api/v1/keys",
        data={"name": "x"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert form.status_code == 415
    assert form.json()["error"]["code"] == 415


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("failures", "status"), [(1, 200), (5, 409)])
def test_a_deletion_racing_the_usage_writer_is_tried_again(monkeypatch, failures, status):
    """A usage record committed while the deletion runs fails it at commit (the foreign key
    is checked then): the deletion is tried again, and after five tries answers 409."""
    from django.db import IntegrityError
    from django.db.models import QuerySet
    from django.test import Client

    workspace, _ = services.get_or_create_workspace("or-delete-race")
    key, _ = services.create_api_key(workspace, name="racing")
    _, admin = services.create_management_key(workspace, role=Role.ADMIN)
    real_delete = QuerySet.delete
    tries = []

    def delete(queryset):
        if queryset.model is ApiKey:
            tries.append(1)
            if len(tries) <= failures:
                real_delete(queryset)  # really deleted, then refused at commit: rolled back
                raise IntegrityError("still referenced from billing_usagerecord")
        return real_delete(queryset)

    monkeypatch.setattr(QuerySet, "delete", delete)
    monkeypatch.setattr("workspaces.openrouter_api.time.sleep", lambda seconds: None)
    answer = Client().delete(f"/api/v1/keys/{key.key_hash}", HTTP_AUTHORIZATION=f"Bearer {admin}")
    assert answer.status_code == status, answer.content
    assert ApiKey.objects.filter(pk=key.pk).exists() is (status == 409)
    assert len(tries) == min(failures + 1, 5)
    if status == 409:
        assert answer.json()["error"] == {
            "code": 409,
            "message": "the key's last calls are still being recorded; delete it again in a moment",
        }
