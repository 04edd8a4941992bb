"""The dashboard's management keys page: admins and owners create (the secret shown once,
POST/redirect/GET), list and revoke; the secret is in no stored row in clear."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from workspaces import services
from workspaces.keys import hash_key
from workspaces.models import ManagementKey, Role

pytestmark = pytest.mark.django_db

User = get_user_model()
FORM = {"name": "deploy", "role": "developer", "expires_in": "30d"}


@pytest.fixture
def acme():
    return services.get_or_create_workspace("acme-mk", "Acme")[0]


def member_client(workspace, username, role) -> Client:
    user = User.objects.create_user(username, f"{username}@example.com")
    services.add_member(workspace, user, role)
    client = Client()
    client.force_login(user)
    return client


def page(workspace) -> str:
    return reverse("dashboard:management_keys", args=[workspace.slug])


def secret_in(html: bytes) -> str | None:
    match = re.search(rb'id="new-key"[^>]*>(sk-orca-mgmt-[A-Za-z0-9_-]+)<', html)
    return match.group(1).decode() if match else None


def test_create_redirects_and_shows_the_secret_once(acme):
    client = member_client(acme, "mk-admin", Role.ADMIN)
    posted = client.post(page(acme), FORM)
    assert posted.status_code == 302 and posted["Location"] == page(acme)
    assert secret_in(posted.content) is None
    key = ManagementKey.objects.get(workspace=acme)
    assert key.role == "developer" and key.expires_at is not None
    # while the redirect is in flight, no stored row holds the secret in clear
    for session in Session.objects.all():
        assert "sk-orca-mgmt-" not in str(session.get_decoded())
    shown = client.get(page(acme))
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    raw = secret_in(shown.content)
    assert raw is not None and hash_key(raw) == key.key_hash
    assert raw not in str(ManagementKey.objects.filter(pk=key.pk).values().get())
    reloaded = client.get(page(acme))
    assert secret_in(reloaded.content) is None and key.prefix in reloaded.content.decode()
    assert ManagementKey.objects.filter(workspace=acme).count() == 1  # a reload creates none
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get(f"/api/workspaces/{acme.slug}/keys/").status_code == 200


def test_the_page_is_for_admins_and_owners(acme):
    for role in (Role.VIEWER, Role.DEVELOPER):
        client = member_client(acme, f"mk-{role}", role)
        assert client.get(page(acme)).status_code == 403
        assert client.post(page(acme), FORM).status_code == 403
    assert not ManagementKey.objects.exists()
    assert member_client(acme, "mk-owner", Role.OWNER).get(page(acme)).status_code == 200


def test_roles_offered_are_at_most_ones_own(acme):
    admin = member_client(acme, "mk-admin", Role.ADMIN)
    html = admin.get(page(acme)).content.decode()
    assert 'value="admin"' in html and 'value="owner"' not in html
    refused = admin.post(page(acme), {**FORM, "role": "owner"})
    assert refused.status_code == 400 and "owner is not one of the available choices" in (
        refused.content.decode()
    )
    assert not ManagementKey.objects.exists()


@pytest.mark.parametrize(
    "form",
    [
        {**FORM, "name": ""},
        {**FORM, "name": "x" * 101},
        {**FORM, "role": "root"},
        {**FORM, "expires_in": "forever"},
        {},
    ],
)
def test_bad_input_is_400_and_creates_nothing(acme, form):
    client = member_client(acme, "mk-owner", Role.OWNER)
    assert client.post(page(acme), form).status_code == 400
    assert not ManagementKey.objects.exists()


def test_revoke(acme):
    owner = member_client(acme, "mk-owner", Role.OWNER)
    admin = member_client(acme, "mk-admin", Role.ADMIN)
    key, _ = services.create_management_key(acme, role=Role.ADMIN, name="ops")
    owner_key, _ = services.create_management_key(acme, role=Role.OWNER, name="root")
    revoke = reverse("dashboard:management_key_revoke", args=[acme.slug, key.id])
    assert admin.get(revoke).status_code == 405
    done = admin.post(revoke)
    assert done.status_code == 302 and done["Location"] == page(acme)
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "revoked" in admin.get(page(acme)).content.decode()
    owner_revoke = reverse("dashboard:management_key_revoke", args=[acme.slug, owner_key.id])
    assert admin.post(owner_revoke).status_code == 403
    owner_key.refresh_from_db()
    assert owner_key.revoked_at is None
    assert owner.post(owner_revoke).status_code == 302
    owner_key.refresh_from_db()
    assert owner_key.revoked_at is not None


def test_another_workspaces_keys_are_404(acme):
    globex = services.get_or_create_workspace("globex-mk")[0]
    theirs, _ = services.create_management_key(globex, role=Role.VIEWER, name="theirs")
    owner = member_client(acme, "mk-owner", Role.OWNER)
    assert owner.get(page(globex)).status_code == 404
    revoke = reverse("dashboard:management_key_revoke", args=[acme.slug, theirs.id])
    assert owner.post(revoke).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert "theirs" not in owner.get(page(acme)).content.decode()


def test_the_keys_page_links_here_for_admins(acme):
    admin = member_client(acme, "mk-admin", Role.ADMIN)
    viewer = member_client(acme, "mk-viewer", Role.VIEWER)
    keys = reverse("dashboard:keys", args=[acme.slug])
    assert page(acme) in admin.get(keys).content.decode()
    assert page(acme) not in viewer.get(keys).content.decode()
