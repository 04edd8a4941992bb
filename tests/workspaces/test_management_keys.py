"""Management keys: material, the create_key command, and the DRF authentication that
accepts them (and refuses relay keys) on the management API."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from routing.models import Router
from workspaces import services
from workspaces.keys import generate_key, hash_key, looks_like_management_key
from workspaces.management_auth import (
    RELAY_KEY_REFUSED,
    ManagementKeyAuthentication,
    ManagementKeyOnly,
    access_of,
)
from workspaces.models import ManagementKey, Role

pytestmark = pytest.mark.django_db

ROUTERS = "/api/workspaces/{}/routers/"


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def pair():
    acme, _ = services.get_or_create_workspace("mk-acme")
    globex, _ = services.get_or_create_workspace("mk-globex")
    Router.objects.create(workspace=globex, name="secret", candidates=["p/*"])
    return acme, globex


def test_a_management_key_is_stored_only_as_a_keyed_hash(pair):
    acme, _ = pair
    key, raw = services.create_management_key(acme, role=Role.ADMIN, name="ci")
    assert re.fullmatch(r"sk-orca-mgmt-[A-Za-z0-9_-]{43}", raw)
    assert looks_like_management_key(raw)
    row = ManagementKey.objects.filter(pk=key.pk).values().get()
    assert row["key_hash"] == hash_key(raw)
    assert raw not in str(row) and raw[13:] not in str(row)
    assert key.prefix.startswith("sk-orca-mgmt-") and key.prefix.endswith(raw[-4:])
    assert len(key.prefix) < 24
    with pytest.raises(ValueError, match="role must be one of"):
        services.create_management_key(acme, role="superuser")


def test_relay_keys_never_look_like_management_keys(monkeypatch):
    tokens = iter(["mgmt-" + "a" * 38, "b" * 43])
    monkeypatch.setattr("workspaces.keys.secrets.token_urlsafe", lambda n: next(tokens))
    assert generate_key() == "sk-orca-" + "b" * 43


def test_create_key_management_prints_one_management_key():
    out = StringIO()
    call_command(
        "create_key", "--workspace", "mk-cli", "--management", "--role", "admin", stdout=out
    )
    printed = out.getvalue()
    assert re.fullmatch(r"sk-orca-mgmt-[A-Za-z0-9_-]{43}\n", printed)
    key = ManagementKey.objects.get(workspace__slug="mk-cli")
    assert key.role == "admin" and key.key_hash == hash_key(printed.strip())
    assert not key.workspace.api_keys.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--management"], "--management needs --role"),
        (["--role", "admin"], "--role applies to management keys"),
    ],
)
def test_create_key_refuses_incomplete_management_options(argv, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_key", "--workspace", "mk-bad", *argv, stdout=StringIO())
    assert not ManagementKey.objects.filter(workspace__slug="mk-bad").exists()


def test_create_key_refuses_an_unknown_role():
    with pytest.raises(CommandError, match="invalid choice"):
        call_command(
            "create_key", "--workspace", "mk-bad", "--management", "--role", "root",
            stdout=StringIO(),
        )  # fmt: skip


def test_a_management_key_reaches_its_own_workspace_only(pair):
    acme, _ = pair
    key, raw = services.create_management_key(acme, role=Role.VIEWER)
    client = bearer(raw)
    listed = client.get(ROUTERS.format("mk-acme"))
    assert listed.status_code == 200 and [r["name"] for r in listed.json()] == ["auto"]
    theirs = client.get(ROUTERS.format("mk-globex"))
    missing = client.get(ROUTERS.format("mk-no-such"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert client.get(ROUTERS.format("mk-globex") + "secret/").status_code == 404
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_the_key_role_is_enforced(pair):
    acme, _ = pair
    _, viewer = services.create_management_key(acme, role=Role.VIEWER)
    _, developer = services.create_management_key(acme, role=Role.DEVELOPER)
    body = {"name": "fast", "candidates": ["p/*"]}
    refused = bearer(viewer).post(ROUTERS.format("mk-acme"), body, format="json")
    assert refused.status_code == 403
    created = bearer(developer).post(ROUTERS.format("mk-acme"), body, format="json")
    assert created.status_code == 201, created.json()  # no CSRF token needed with a key


def test_revoked_expired_and_unknown_keys_get_401(pair):
    acme, _ = pair
    revoked, revoked_raw = services.create_management_key(acme, role=Role.OWNER)
    services.revoke_management_key(revoked)
    _, expired_raw = services.create_management_key(
        acme, role=Role.OWNER, expires_at=timezone.now() - timedelta(seconds=1)
    )
    cases = {
        revoked_raw: "revoked",
        expired_raw: "expired",
        "sk-orca-mgmt-" + "x" * 43: "invalid management key",
        "sk-orca-mgmt-short": "invalid management key",
        "not-a-key": "invalid management key",
    }
    for raw, message in cases.items():
        response = bearer(raw).get(ROUTERS.format("mk-acme"))
        assert response.status_code == 401, raw
        assert message in response.json()["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_relay_keys_are_refused_on_the_management_api(pair):
    acme, _ = pair
    _, relay = services.create_api_key(acme, name="relay")
    response = bearer(relay).get(ROUTERS.format("mk-acme"))
    assert response.status_code == 401
    assert response.json()["detail"] == RELAY_KEY_REFUSED
    assert bearer(relay).post(ROUTERS.format("mk-acme"), {}, format="json").status_code == 401


def test_a_relay_key_beside_a_session_grants_nothing_the_session_does_not(pair, django_user_model):
    acme, globex = pair
    user = django_user_model.objects.create_user("mk-user", "mk@example.test", "pw-12345678")
    services.add_member(acme, user, Role.VIEWER)
    _, relay = services.create_api_key(globex, name="globex relay")
    client = APIClient()
    client.force_login(user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {relay}")
    assert client.get(ROUTERS.format("mk-acme")).status_code == 200  # the session's rights
    assert client.get(ROUTERS.format("mk-globex")).status_code == 404  # not the key's


def test_no_credentials_get_a_401_challenge(pair):
    response = APIClient().get(ROUTERS.format("mk-acme"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="orca-management"'


def test_access_of_gives_the_keys_workspace_and_role(pair):
    acme, _ = pair
    key, raw = services.create_management_key(acme, role=Role.DEVELOPER)
    factory = APIRequestFactory()
    from rest_framework.request import Request

    request = Request(
        factory.get("/", HTTP_AUTHORIZATION=f"Bearer {raw}"),
        authenticators=[ManagementKeyAuthentication()],
    )
    access = access_of(request)
    assert access is not None
    assert (access.workspace, access.role, access.key) == (acme, "developer", key)
    assert access.has_role(Role.VIEWER) and not access.has_role(Role.ADMIN)
    assert access_of(request, "mk-acme") == access
    assert access_of(request, "mk-globex") is None


def test_staff_see_management_keys_read_only_and_can_revoke_them(pair, client, django_user_model):
    acme, _ = pair
    key, raw = services.create_management_key(acme, role=Role.ADMIN, name="ops")
    staff = django_user_model.objects.create_superuser("mk-root", "root@example.test")
    client.force_login(staff)
    listing = client.get("/admin/workspaces/managementkey/")
    assert listing.status_code == 200 and key.prefix in listing.content.decode()
    detail = client.get(f"/admin/workspaces/managementkey/{key.id}/change/")
    assert detail.status_code == 200
    for page in (listing, detail):
        assert raw not in page.content.decode() and key.key_hash not in page.content.decode()
    revoked = client.post(
        "/admin/workspaces/managementkey/",
        {"action": "revoke_keys", "_selected_action": [key.id]},
    )
    assert revoked.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


class _KeyScoped(APIView):
    """A view with no workspace in its URL, as the OpenRouter-style /api/v1/keys is."""

    permission_classes = [ManagementKeyOnly]
    write_role = Role.ADMIN

    def get(self, request):
        return Response({"workspace": self.workspace.slug, "role": self.access.role})

    def post(self, request):
        return Response({"ok": True})


def test_management_key_only_gives_the_keys_workspace(pair, django_user_model):
    acme, _ = pair
    _, viewer = services.create_management_key(acme, role=Role.VIEWER)
    _, admin = services.create_management_key(acme, role=Role.ADMIN)
    factory = APIRequestFactory()
    view = _KeyScoped.as_view()

    def call(method: str, raw: str | None = None, user=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}
        request = getattr(factory, method)("/", **headers)
        if user is not None:
            force_authenticate(request, user)
        return view(request)

    got = call("get", viewer)
    assert got.status_code == 200 and got.data == {"workspace": "mk-acme", "role": "viewer"}
    assert call("post", viewer).status_code == 403
    assert call("post", admin).status_code == 200
    assert call("get").status_code == 401
    user = django_user_model.objects.create_user("mk-session")
    services.add_member(acme, user, Role.OWNER)
    assert call("get", user=user).status_code == 403  # a session has no single workspace
