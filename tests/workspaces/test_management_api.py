"""The workspace management API (workspaces, members, API keys, management keys), by session
and by management key: every endpoint, the dashboard's role rules, 404s for other workspaces,
bad input, and secrets shown once and never stored."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing.services import grant_credits
from workspaces import services
from workspaces.keys import hash_key
from workspaces.models import ApiKey, ManagementKey, Membership, Role, Workspace

pytestmark = pytest.mark.django_db

BASE = "/api/workspaces/ma-acme/"
OTHER = "/api/workspaces/ma-globex/"
ROLES = [Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.VIEWER]


@dataclass
class Team:
    acme: Workspace
    globex: Workspace
    users: dict  # role -> user of acme
    sessions: dict  # role -> APIClient logged in (session, CSRF enforced)
    keys: dict  # role -> APIClient sending a management key of acme
    raw_keys: dict  # role -> raw management key
    outsider: APIClient  # owner of globex, by session


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def team(django_user_model) -> Team:
    acme, _ = services.get_or_create_workspace("ma-acme")
    globex, _ = services.get_or_create_workspace("ma-globex")
    users, sessions, keys, raw_keys = {}, {}, {}, {}
    for role in ROLES:
        # No password: hashing one costs far more than the rest of a test here.
        user = django_user_model.objects.create_user(f"ma-{role}", f"ma-{role}@example.test")
        services.add_member(acme, user, role)
        users[role] = user
        client = APIClient()
        client.force_authenticate(user)
        sessions[role] = client
        _, raw = services.create_management_key(acme, role=role, name=f"ma-{role}")
        raw_keys[role] = raw
        keys[role] = _key_client(raw)
    outsider = django_user_model.objects.create_user("ma-outsider", "out@example.test")
    services.add_member(globex, outsider, Role.OWNER)
    out = APIClient()
    out.force_authenticate(outsider)
    return Team(acme, globex, users, sessions, keys, raw_keys, out)


def callers(team: Team, role: str) -> list[APIClient]:
    return [team.sessions[role], team.keys[role]]


# --- workspaces -----------------------------------------------------------------------------


def test_workspace_list_is_the_callers_own(team, django_user_model):
    services.add_member(team.globex, team.users[Role.VIEWER], Role.ADMIN)
    listed = team.sessions[Role.VIEWER].get("/api/workspaces/").json()
    assert [(w["slug"], w["role"]) for w in listed] == [
        ("ma-acme", "viewer"),
        ("ma-globex", "admin"),
    ]
    by_key = team.keys[Role.DEVELOPER].get("/api/workspaces/").json()
    assert [(w["slug"], w["role"]) for w in by_key] == [("ma-acme", "developer")]
    assert APIClient().get("/api/workspaces/").status_code == 401


def test_workspace_settings_read_by_all_changed_by_admins(team):
    for client in callers(team, Role.VIEWER):
        got = client.get(BASE)
        assert got.status_code == 200
        assert got.json()["slug"] == "ma-acme" and got.json()["data_retention"] == "metadata"
        assert client.patch(BASE, {"rpm_limit": 5}, format="json").status_code == 403
    for client in callers(team, Role.DEVELOPER):
        assert client.patch(BASE, {"rpm_limit": 5}, format="json").status_code == 403
    for number, client in enumerate(callers(team, Role.ADMIN), start=1):
        changed = client.patch(
            BASE,
            {"rpm_limit": number, "data_retention": "keep", "retention_days": 7},
            format="json",
        )
        assert changed.status_code == 200, changed.json()
        team.acme.refresh_from_db()
        assert (team.acme.rpm_limit, team.acme.data_retention) == (number, "keep")
    # name, slug and markup are the operator's: accepted in the body, never applied
    team.keys[Role.OWNER].patch(
        BASE, {"slug": "stolen", "name": "X", "markup_percent": "-99"}, format="json"
    )
    team.acme.refresh_from_db()
    assert (team.acme.slug, team.acme.name, team.acme.markup_percent) == ("ma-acme", "ma-acme", 0)
    assert team.keys[Role.OWNER].put(BASE, {}, format="json").status_code == 405


def test_low_balance_threshold_is_a_setting_of_the_api_as_of_the_settings_page(team):
    owner = team.keys[Role.OWNER]
    assert owner.get(BASE).json()["low_balance_threshold_usd"] is None
    changed = owner.patch(BASE, {"low_balance_threshold_usd": "5.50"}, format="json")
    assert changed.status_code == 200 and changed.json()["low_balance_threshold_usd"] == "5.50"
    team.acme.refresh_from_db()
    assert str(team.acme.low_balance_threshold_usd) == "5.50"
    cleared = owner.patch(BASE, {"low_balance_threshold_usd": None}, format="json")
    assert cleared.status_code == 200
    team.acme.refresh_from_db()
    assert team.acme.low_balance_threshold_usd is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"retention_days": 0}, "retention_days"),
        ({"retention_days": 181}, "retention_days"),
        ({"data_retention": "forever"}, "data_retention"),
        ({"data_retention": "keep\x00"}, "data_retention"),
        ({"rpm_limit": -1}, "rpm_limit"),
        ({"tpm_limit": 2**40}, "tpm_limit"),
        ({"keep_response_history": "maybe"}, "keep_response_history"),
        ({"low_balance_threshold_usd": "0"}, "low_balance_threshold_usd"),
        ({"low_balance_threshold_usd": "1000000.01"}, "low_balance_threshold_usd"),
        ({"low_balance_threshold_usd": "5.001"}, "low_balance_threshold_usd"),
        ({"low_balance_threshold_usd": "lots"}, "low_balance_threshold_usd"),
    ],
)
def test_bad_workspace_settings_are_400_naming_the_field(team, body, field):
    response = team.keys[Role.OWNER].patch(BASE, body, format="json")
    assert response.status_code == 400 and field in response.json()
    team.acme.refresh_from_db()
    assert team.acme.rpm_limit == 0 and team.acme.retention_days == 30


def test_the_api_speaks_json_only(team):
    response = team.keys[Role.OWNER].patch(BASE, "rpm_limit=5", content_type="text/plain")
    assert response.status_code == 415
    broken = team.keys[Role.OWNER].patch(BASE, "{", content_type="application/json")
    assert broken.status_code == 400 and "detail" in broken.json()


# --- members --------------------------------------------------------------------------------


def test_members_list_and_get(team):
    for client in callers(team, Role.VIEWER):
        listed = client.get(BASE + "members/").json()
        assert [(m["username"], m["role"]) for m in listed] == [
            ("ma-admin", "admin"), ("ma-developer", "developer"),
            ("ma-owner", "owner"), ("ma-viewer", "viewer"),
        ]  # fmt: skip
        one = client.get(f"{BASE}members/{listed[0]['id']}/").json()
        assert one["email"] == "ma-admin@example.test"


def test_admins_add_members_by_username_or_email(team, django_user_model):
    django_user_model.objects.create_user("ma-new", "New@Example.test")
    django_user_model.objects.create_user("ma-new2", "new2@example.test")
    for client in [*callers(team, Role.DEVELOPER), *callers(team, Role.VIEWER)]:
        refused = client.post(BASE + "members/", {"user": "ma-new"}, format="json")
        assert refused.status_code == 403
    added = team.sessions[Role.ADMIN].post(
        BASE + "members/", {"user": "new@example.test", "role": "viewer"}, format="json"
    )
    assert added.status_code == 201, added.json()
    assert added.json()["username"] == "ma-new" and added.json()["role"] == "viewer"
    by_key = team.keys[Role.ADMIN].post(BASE + "members/", {"user": "ma-new2"}, format="json")
    assert by_key.status_code == 201 and by_key.json()["role"] == "developer"  # the default
    again = team.keys[Role.ADMIN].post(BASE + "members/", {"user": "ma-new2"}, format="json")
    assert again.status_code == 409 and "already a member" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user"),
        ({"user": "nobody-at-all"}, "user"),
        ({"user": "ma-viewer\x00"}, "user"),
        ({"user": "x" * 255}, "user"),
        ({"user": "ma-outsider", "role": "god"}, "role"),
        ({"user": ["ma-outsider"]}, "user"),
    ],
)
def test_bad_member_input_is_400_naming_the_field(team, body, field):
    response = team.keys[Role.OWNER].post(BASE + "members/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert Membership.objects.filter(workspace=team.acme).count() == 4


def test_only_owners_grant_change_or_remove_owners(team):
    owner_id = Membership.objects.get(user=team.users[Role.OWNER]).id
    viewer_id = Membership.objects.get(user=team.users[Role.VIEWER]).id
    for client in callers(team, Role.ADMIN):
        grant = client.patch(f"{BASE}members/{viewer_id}/", {"role": "owner"}, format="json")
        assert grant.status_code == 403 and "only an owner" in grant.json()["detail"]
        demote = client.patch(f"{BASE}members/{owner_id}/", {"role": "viewer"}, format="json")
        assert demote.status_code == 403
        assert client.delete(f"{BASE}members/{owner_id}/").status_code == 403
        add = client.post(
            BASE + "members/", {"user": "ma-outsider", "role": "owner"}, format="json"
        )
        assert add.status_code == 403
    assert Membership.objects.get(pk=owner_id).role == Role.OWNER
    assert Membership.objects.get(pk=viewer_id).role == Role.VIEWER
    promoted = team.keys[Role.OWNER].patch(
        f"{BASE}members/{viewer_id}/", {"role": "owner"}, format="json"
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "owner"


def test_the_last_owner_stays(team):
    owner_id = Membership.objects.get(user=team.users[Role.OWNER]).id
    for client in callers(team, Role.OWNER):
        demote = client.patch(f"{BASE}members/{owner_id}/", {"role": "admin"}, format="json")
        assert demote.status_code == 409 and "at least one owner" in demote.json()["detail"]
        assert client.delete(f"{BASE}members/{owner_id}/").status_code == 409
    assert Membership.objects.get(pk=owner_id).role == Role.OWNER


def test_admins_change_roles_and_remove_members(team):
    developer_id = Membership.objects.get(user=team.users[Role.DEVELOPER]).id
    changed = team.keys[Role.ADMIN].patch(
        f"{BASE}members/{developer_id}/", {"role": "viewer"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    bad = team.keys[Role.ADMIN].patch(
        f"{BASE}members/{developer_id}/", {"role": "boss"}, format="json"
    )
    assert bad.status_code == 400 and "role" in bad.json()
    assert team.sessions[Role.ADMIN].delete(f"{BASE}members/{developer_id}/").status_code == 204
    assert not Membership.objects.filter(pk=developer_id).exists()
    assert team.keys[Role.ADMIN].get(f"{BASE}members/{developer_id}/").status_code == 404


def test_members_of_another_workspace_are_404(team):
    theirs = Membership.objects.get(workspace=team.globex).id
    for client in callers(team, Role.OWNER):
        assert client.get(f"{BASE}members/{theirs}/").status_code == 404
        assert (
            client.patch(f"{BASE}members/{theirs}/", {"role": "viewer"}, format="json").status_code
            == 404
        )
        assert client.delete(f"{BASE}members/{theirs}/").status_code == 404
        assert client.get(OTHER + "members/").status_code == 404
    assert Membership.objects.get(pk=theirs).role == Role.OWNER
    assert team.outsider.get(BASE + "members/").status_code == 404


# --- API keys -------------------------------------------------------------------------------


def test_creating_a_key_shows_its_secret_once(team):
    for client in callers(team, Role.DEVELOPER):
        created = client.post(
            BASE + "keys/",
            {
                "name": "ci",
                "allowed_models": ["openai/*", " fake/chat "],
                "allowed_ips": ["10.0.0.1", "192.168.0.0/16"],
                "rpm_limit": 60,
                "daily_limit_usd": "2.5",
                "expires_at": (timezone.now() + timedelta(days=3)).isoformat(),
            },
            format="json",
        )
        assert created.status_code == 201, created.json()
        assert created["Cache-Control"] == "no-store"
        body = created.json()
        raw = body["key"]
        assert raw.startswith("sk-orca-") and not raw.startswith("sk-orca-mgmt-")
        key = ApiKey.objects.get(pk=body["id"])
        assert key.key_hash == hash_key(raw) and key.workspace == team.acme
        assert raw not in str(ApiKey.objects.filter(pk=key.pk).values().get())
        assert key.allowed_models == ["openai/*", "fake/chat"]
        assert key.allowed_ips == ["10.0.0.1/32", "192.168.0.0/16"]
        assert key.rpm_limit == 60 and str(key.daily_limit_usd) == "2.500000"
        assert body["prefix"] == key.prefix and raw.endswith(key.prefix[-4:])
        for path in (BASE + "keys/", f"{BASE}keys/{key.id}/"):
            assert raw not in client.get(path).content.decode()
            assert "key" not in (client.get(f"{BASE}keys/{key.id}/").json())
    session_key = ApiKey.objects.get(pk=ApiKey.objects.filter(name="ci").order_by("id")[0].pk)
    assert session_key.created_by == team.users[Role.DEVELOPER]


def test_viewers_read_keys_and_change_nothing(team):
    key, _ = services.create_api_key(team.acme, name="seen")
    for client in callers(team, Role.VIEWER):
        assert [k["name"] for k in client.get(BASE + "keys/").json()] == ["seen"]
        assert client.get(f"{BASE}keys/{key.id}/").json()["enabled"] is True
        assert client.post(BASE + "keys/", {"name": "x"}, format="json").status_code == 403
        assert (
            client.patch(f"{BASE}keys/{key.id}/", {"rpm_limit": 1}, format="json").status_code
            == 403
        )
        assert client.delete(f"{BASE}keys/{key.id}/").status_code == 403
    key.refresh_from_db()
    assert key.enabled and key.rpm_limit == 0
    assert ApiKey.objects.filter(workspace=team.acme).count() == 1


def test_updating_a_keys_limits_models_ips_expiry_and_enabled(team):
    key, _ = services.create_api_key(team.acme, name="edit")
    expiry = timezone.now() + timedelta(days=1)
    changed = team.keys[Role.DEVELOPER].patch(
        f"{BASE}keys/{key.id}/",
        {
            "name": "edited",
            "allowed_models": ["anthropic/*"],
            "allowed_ips": ["2001:db8::/32"],
            "tpm_limit": 1000,
            "spend_limit_usd": "10",
            "weekly_limit_usd": None,
            "monthly_limit_usd": "3.25",
            "expires_at": expiry.isoformat(),
            "enabled": False,
        },
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    key.refresh_from_db()
    assert key.name == "edited" and key.allowed_models == ["anthropic/*"]
    assert key.allowed_ips == ["2001:db8::/32"] and key.tpm_limit == 1000
    assert str(key.spend_limit_usd) == "10.000000" and key.weekly_limit_usd is None
    assert key.expires_at == expiry and key.enabled is False
    enabled = team.keys[Role.DEVELOPER].patch(
        f"{BASE}keys/{key.id}/", {"enabled": True, "expires_at": None}, format="json"
    )
    assert enabled.status_code == 200 and enabled.json()["expires_at"] is None
    key.refresh_from_db()
    assert key.enabled and key.expires_at is None and key.name == "edited"  # partial


def test_revoking_a_key(team):
    key, _ = services.create_api_key(team.acme, name="gone")
    revoked = team.sessions[Role.DEVELOPER].delete(f"{BASE}keys/{key.id}/")
    assert revoked.status_code == 200
    assert revoked.json()["enabled"] is False and revoked.json()["revoked_at"] is not None
    key.refresh_from_db()
    assert not key.enabled and key.revoked_at is not None
    again = team.keys[Role.DEVELOPER].delete(f"{BASE}keys/{key.id}/")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    back = team.keys[Role.OWNER].patch(f"{BASE}keys/{key.id}/", {"enabled": True}, format="json")
    assert back.status_code == 400 and "revoked" in str(back.json()["enabled"])
    assert team.keys[Role.OWNER].get(BASE + "keys/").json()[0]["revoked_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"allowed_ips": ["not-an-ip"]}, "allowed_ips"),
        ({"allowed_ips": "10.0.0.1"}, "allowed_ips"),
        ({"allowed_models": ["open ai/*"]}, "allowed_models"),
        ({"allowed_models": ["x" * 201]}, "allowed_models"),
        ({"allowed_models": ["m"] * 201}, "allowed_models"),
        ({"allowed_models": [None]}, "allowed_models"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"rpm_limit": -1}, "rpm_limit"),
        ({"rpm_limit": 2**31}, "rpm_limit"),
        ({"daily_limit_usd": "-1"}, "daily_limit_usd"),
        ({"daily_limit_usd": "1e400"}, "daily_limit_usd"),
        ({"daily_limit_usd": "NaN"}, "daily_limit_usd"),
        ({"spend_limit_usd": "0.0000001"}, "spend_limit_usd"),
        ({"expires_at": "tomorrow"}, "expires_at"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"enabled": "perhaps"}, "enabled"),
    ],
)
def test_bad_key_input_is_400_naming_the_field(team, body, field):
    key, _ = services.create_api_key(team.acme, name="target")
    before = ApiKey.objects.filter(pk=key.pk).values().get()
    created = team.keys[Role.OWNER].post(BASE + "keys/", body, format="json")
    assert created.status_code == 400 and field in created.json(), created.json()
    changed = team.keys[Role.OWNER].patch(f"{BASE}keys/{key.id}/", body, format="json")
    assert changed.status_code == 400 and field in changed.json()
    assert ApiKey.objects.filter(workspace=team.acme).count() == 1
    assert ApiKey.objects.filter(pk=key.pk).values().get() == before


def test_keys_of_another_workspace_are_404(team):
    theirs, _ = services.create_api_key(team.globex, name="theirs")
    for client in callers(team, Role.OWNER):
        assert client.get(f"{BASE}keys/{theirs.id}/").status_code == 404
        assert (
            client.patch(f"{BASE}keys/{theirs.id}/", {"enabled": False}, format="json").status_code
            == 404
        )
        assert client.delete(f"{BASE}keys/{theirs.id}/").status_code == 404
        assert client.get(OTHER + "keys/").status_code == 404
        assert client.post(OTHER + "keys/", {"name": "x"}, format="json").status_code == 404
        assert client.get(f"{BASE}keys/{'9' * 30}/").status_code == 404  # past a bigint
    theirs.refresh_from_db()
    assert theirs.enabled and not ApiKey.objects.filter(workspace=team.globex, name="x").exists()


# --- management keys ------------------------------------------------------------------------


def test_management_keys_are_for_admins(team):
    for client in [*callers(team, Role.DEVELOPER), *callers(team, Role.VIEWER)]:
        assert client.get(BASE + "management-keys/").status_code == 403
        refused = client.post(BASE + "management-keys/", {"role": "viewer"}, format="json")
        assert refused.status_code == 403
    listed = team.keys[Role.ADMIN].get(BASE + "management-keys/").json()
    assert sorted(k["name"] for k in listed) == [
        "ma-admin",
        "ma-developer",
        "ma-owner",
        "ma-viewer",
    ]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    for raw in team.raw_keys.values():
        assert raw not in str(listed)


def test_creating_a_management_key_shows_its_secret_once(team):
    created = team.sessions[Role.ADMIN].post(
        BASE + "management-keys/", {"name": "deploy", "role": "developer"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created["Cache-Control"] == "no-store"
    body = created.json()
    assert body["role"] == "developer" and body["created_by"] == "ma-admin"
    raw = body["key"]
    key = ManagementKey.objects.get(pk=body["id"])
    assert raw.startswith("sk-orca-mgmt-") and key.key_hash == hash_key(raw)
    assert raw not in str(ManagementKey.objects.filter(pk=key.pk).values().get())
    got = team.keys[Role.ADMIN].get(f"{BASE}management-keys/{key.id}/").json()
    assert "key" not in got and got["prefix"] == key.prefix
    # the new key works, with its own role
    new = _key_client(raw)
    assert new.get(BASE + "keys/").status_code == 200
    assert new.get(BASE + "management-keys/").status_code == 403
    by_key = team.keys[Role.ADMIN].post(BASE + "management-keys/", {"role": "admin"}, format="json")
    assert by_key.status_code == 201 and by_key.json()["created_by"] is None


def test_a_management_keys_role_is_at_most_its_creators(team):
    for client in callers(team, Role.ADMIN):
        refused = client.post(BASE + "management-keys/", {"role": "owner"}, format="json")
        assert refused.status_code == 403 and "at most your own" in refused.json()["detail"]
    assert (
        team.keys[Role.OWNER]
        .post(BASE + "management-keys/", {"role": "owner"}, format="json")
        .status_code
        == 201
    )


def test_revoking_a_management_key(team):
    owner_key = ManagementKey.objects.get(name="ma-owner")
    viewer_key = ManagementKey.objects.get(name="ma-viewer")
    refused = team.keys[Role.ADMIN].delete(f"{BASE}management-keys/{owner_key.id}/")
    assert refused.status_code == 403 and "owner" in refused.json()["detail"]
    revoked = team.keys[Role.ADMIN].delete(f"{BASE}management-keys/{viewer_key.id}/")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    answer = team.keys[Role.VIEWER].get(BASE)
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    owner_key.refresh_from_db()
    assert owner_key.revoked_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "role"),
        ({"role": "root"}, "role"),
        ({"role": "viewer", "name": ""}, "name"),
        ({"role": "viewer", "name": "\x00"}, "name"),
        ({"role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"role": "viewer", "expires_at": 12}, "expires_at"),
    ],
)
def test_bad_management_key_input_is_400(team, body, field):
    response = team.keys[Role.OWNER].post(BASE + "management-keys/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert ManagementKey.objects.filter(workspace=team.acme).count() == 4


def test_management_keys_of_another_workspace_are_404(team):
    theirs, _ = services.create_management_key(team.globex, role=Role.OWNER, name="theirs")
    for client in callers(team, Role.OWNER):
        assert client.get(f"{BASE}management-keys/{theirs.id}/").status_code == 404
        assert client.delete(f"{BASE}management-keys/{theirs.id}/").status_code == 404
        assert client.get(OTHER + "management-keys/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


# --- the other resources, by management key -------------------------------------------------


def test_routers_usage_and_ledger_answer_a_management_key(team):
    grant_credits(team.acme.id, Decimal(5), note="api test")
    viewer = team.keys[Role.VIEWER]
    assert viewer.get(BASE + "routers/").status_code == 200
    assert viewer.get(BASE + "usage/").json()["results"] == []
    assert viewer.get(BASE + "usage/series/").status_code == 200
    export = viewer.get(BASE + "usage/export.csv")
    assert export.status_code == 200 and b"".join(export.streaming_content).startswith(
        b"request_id"
    )
    ledger = viewer.get(BASE + "ledger/").json()
    assert ledger["balance_usd"] == "5" and ledger["results"][0]["kind"] == "grant"
    assert viewer.get(BASE + "model-health/").status_code == 200
    for path in ("routers/", "usage/", "usage/series/", "ledger/", "model-health/"):
        assert viewer.get(OTHER + path).status_code == 404, path


def test_a_session_write_still_needs_its_csrf_token(team, client):
    """A management key needs no CSRF token; the dashboard session keeps needing one."""
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.force_login(team.users[Role.OWNER])
    refused = csrf_client.patch(BASE, {"rpm_limit": 9}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert team.keys[Role.OWNER].patch(BASE, {"rpm_limit": 9}, format="json").status_code == 200


def test_a_keys_spend_is_in_its_answers(team):
    from datetime import UTC, datetime

    from billing.models import UsageRecord

    key, _ = services.create_api_key(team.acme, name="spender")
    other, _ = services.create_api_key(team.acme, name="idle")
    old = datetime(2020, 1, 1, tzinfo=UTC)
    for number, (cost, when) in enumerate([(1_500_000_000_000, old), (250_000_000_000, None)]):
        UsageRecord.objects.create(
            request_id=f"req_spend_{number}",
            workspace=team.acme,
            api_key=key,
            endpoint="chat.completions",
            model="fake/chat",
            status_code=200,
            cost_pico=cost,
            created_at=when or timezone.now(),
        )
    viewer = team.keys[Role.VIEWER]
    one = viewer.get(f"{BASE}keys/{key.id}/").json()["spend"]
    assert one == {"total_usd": "1.75", "day_usd": "0.25", "week_usd": "0.25", "month_usd": "0.25"}
    listed = {k["name"]: k["spend"]["total_usd"] for k in viewer.get(BASE + "keys/").json()}
    assert listed == {"spender": "1.75", "idle": "0"}
    changed = team.keys[Role.DEVELOPER].patch(
        f"{BASE}keys/{key.id}/", {"rpm_limit": 3}, format="json"
    )
    assert changed.json()["spend"]["total_usd"] == "1.75"
    assert other.id in {k["id"] for k in viewer.get(BASE + "keys/").json()}


# --- a member's management keys follow their membership ----------------------------------


def _made_by(team: Team, role: str, key_role: str) -> APIClient:
    made = team.sessions[role].post(BASE + "management-keys/", {"role": key_role}, format="json")
    assert made.status_code == 201, made.content
    return _key_client(made.json()["key"])


def test_removing_a_member_revokes_the_management_keys_they_made(team):
    admin_key = _made_by(team, Role.ADMIN, Role.ADMIN)
    assert admin_key.get(BASE + "members/").status_code == 200
    member = Membership.objects.get(workspace=team.acme, user=team.users[Role.ADMIN])
    removed = team.sessions[Role.OWNER].delete(BASE + f"members/{member.id}/")
    assert removed.status_code == 204
    refused = admin_key.get(BASE + "members/")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert team.keys[Role.ADMIN].get(BASE + "members/").status_code == 200  # not theirs


def test_a_demoted_member_keeps_only_the_keys_within_their_new_role(team):
    admin_key = _made_by(team, Role.ADMIN, Role.ADMIN)
    viewer_key = _made_by(team, Role.ADMIN, Role.VIEWER)
    member = Membership.objects.get(workspace=team.acme, user=team.users[Role.ADMIN])
    demoted = team.sessions[Role.OWNER].patch(
        BASE + f"members/{member.id}/", {"role": Role.DEVELOPER}, format="json"
    )
    assert demoted.status_code == 200
    assert admin_key.get(BASE + "keys/").status_code == 401
    assert viewer_key.get(BASE + "keys/").status_code == 200


def test_deleting_the_account_revokes_its_management_keys(team):
    admin_key = _made_by(team, Role.ADMIN, Role.DEVELOPER)
    team.users[Role.ADMIN].delete()
    assert admin_key.get(BASE + "keys/").status_code == 401
    assert team.keys[Role.ADMIN].get(BASE + "keys/").status_code == 200  # made by no one


def test_openrouter_key_answers_split_out_the_byok_spend(team):
    """/api/v1/keys' byok_usage fields: what the calls served with the workspace's own
    credential cost (in `usage` too), from the records' byok flag; buffered records count
    by theirs as well."""
    from datetime import UTC, datetime

    from billing.models import UsageRecord
    from billing.services import UsageEvent
    from billing.spend import key_spends

    key, _ = services.create_api_key(team.acme, name="byok spender")
    old = datetime(2020, 1, 1, tzinfo=UTC)
    rows = [(3 * 10**12, old, False), (2 * 10**12, old, True), (10**12, None, True)]
    for number, (cost, when, byok) in enumerate(rows):
        UsageRecord.objects.create(
            request_id=f"req_byok_{number}",
            workspace=team.acme,
            api_key=key,
            endpoint="chat.completions",
            model="fake/chat",
            status_code=200,
            cost_pico=cost,
            byok=byok,
            created_at=when or timezone.now(),
        )
    answer = team.keys[Role.VIEWER].get(f"/api/v1/keys/{key.key_hash}")
    assert answer.status_code == 200, answer.content
    data = answer.json()["data"]
    assert (data["usage"], data["usage_daily"]) == (6.0, 1.0)
    assert (data["byok_usage"], data["byok_usage_daily"], data["byok_usage_monthly"]) == (
        3.0,
        1.0,
        1.0,
    )
    buffered = UsageEvent(
        request_id="req_byok_buffered",
        workspace_id=team.acme.id,
        api_key_id=key.id,
        endpoint="chat.completions",
        model="fake/chat",
        upstream_model="fake-chat",
        prompt_tokens=1,
        completion_tokens=1,
        cached_tokens=0,
        reasoning_tokens=0,
        usage_reported=True,
        status_code=200,
        error_code="",
        streamed=False,
        latency_ms=1,
        ttft_ms=None,
        created_at=timezone.now(),
        cost_pico=5 * 10**11,
        byok=True,
    )
    spend = key_spends(team.acme.id, [key.id], [buffered])[key.id]
    assert (spend.total, spend.day) == (65 * 10**11, 15 * 10**11)
    assert spend.byok == (35 * 10**11, 15 * 10**11, 15 * 10**11, 15 * 10**11)
