"""Dashboard accounts, workspaces, members and settings: roles and isolation on every view."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from billing.services import grant_credits
from workspaces import services
from workspaces.models import Membership, Role, Workspace

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-battery-42"

WORKSPACE_URLS = ["workspace", "members", "settings", "keys", "guardrails", "guardrail_matches"]


@pytest.fixture
def acme():
    workspace, _ = services.get_or_create_workspace("acme-dash", "Acme")
    return workspace


@pytest.fixture
def globex():
    workspace, _ = services.get_or_create_workspace("globex-dash", "Globex")
    return workspace


def member(workspace, username, role):
    user = User.objects.create_user(username, f"{username}@example.com")
    services.add_member(workspace, user, role)
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Access on every view ---------------------------------------------------------------------


def all_urls(slug: str, key_id: int = 1) -> list[str]:
    return [
        reverse("dashboard:workspace_create"),
        *(reverse(f"dashboard:{name}", args=[slug]) for name in WORKSPACE_URLS),
        reverse("dashboard:key_revoke", args=[slug, key_id]),
        reverse("dashboard:guardrail_edit", args=[slug, 1]),
        reverse("dashboard:guardrail_sandbox", args=[slug, 1]),
    ]


def test_anonymous_users_are_sent_to_log_in_from_every_view(client, acme):
    login_url = reverse("login")
    for url in all_urls(acme.slug):
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith(f"{login_url}?next="), url


def test_anonymous_home_is_the_landing_page_and_signup_is_open(client):
    response = client.get(reverse("dashboard:home"))
    assert response.status_code == 200
    assert b"One key and one base URL" in response.content
    assert client.get(reverse("dashboard:signup")).status_code == 200


def test_another_workspace_answers_404_on_every_view(acme, globex):
    outsider = client_for(member(globex, "outsider", Role.OWNER))
    for slug in (acme.slug, "no-such-workspace"):
        for url in all_urls(slug)[1:]:
            assert outsider.get(url).status_code == 404, url
            assert outsider.post(url).status_code == 404, url


def test_viewer_reads_every_page_but_cannot_post(acme):
    viewer = client_for(member(acme, "viewer", Role.VIEWER))
    for name in ("members", "settings", "keys", "guardrails"):
        url = reverse(f"dashboard:{name}", args=[acme.slug])
        assert viewer.get(url).status_code == 200, url
        assert viewer.post(url, {"action": "invite", "name": "x"}).status_code == 403, url
    key, _ = services.create_api_key(acme, name="k")
    revoke = reverse("dashboard:key_revoke", args=[acme.slug, key.pk])
    assert viewer.post(revoke).status_code == 403
    key.refresh_from_db()
    assert key.enabled


def test_developer_cannot_change_members_or_settings(acme):
    developer = client_for(member(acme, "dev", Role.DEVELOPER))
    other = User.objects.create_user("other", "other@example.com")
    response = developer.post(
        reverse("dashboard:members", args=[acme.slug]),
        {"action": "invite", "user": "other", "role": "viewer"},
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=other).exists()
    response = developer.post(
        reverse("dashboard:settings", args=[acme.slug]),
        {"rpm_limit": 5, "tpm_limit": 0, "data_retention": "metadata", "retention_days": 30},
    )
    assert response.status_code == 403
    acme.refresh_from_db()
    assert acme.rpm_limit == 0


def test_csrf_is_enforced_on_dashboard_forms(acme):
    owner = member(acme, "owner", Role.OWNER)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    url = reverse("dashboard:settings", args=[acme.slug])
    form = {"rpm_limit": 7, "tpm_limit": 0, "data_retention": "metadata", "retention_days": 30}
    assert client.post(url, form).status_code == 403
    page = client.get(url)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    assert client.post(url, {**form, "csrfmiddlewaretoken": token.decode()}).status_code == 302
    acme.refresh_from_db()
    assert acme.rpm_limit == 7


# --- Accounts ---------------------------------------------------------------------------------


def test_signup_logs_in_and_leads_to_creating_a_workspace(client):
    response = client.post(
        reverse("dashboard:signup"),
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:workspace_create")
    user = User.objects.get(username="newbie")
    assert user.email == "newbie@example.com" and user.check_password(PASSWORD)
    assert client.get(reverse("dashboard:workspace_create")).status_code == 200


def test_signup_rejects_mismatched_passwords_and_taken_emails(client):
    User.objects.create_user("taken", "taken@example.com")
    response = client.post(
        reverse("dashboard:signup"),
        {"username": "a", "email": "TAKEN@example.com", "password1": PASSWORD, "password2": "x"},
    )
    assert response.status_code == 200
    assert b"already exists" in response.content
    assert not User.objects.filter(username="a").exists()


def test_login_and_logout(client):
    User.objects.create_user("alice", "alice@example.com", PASSWORD)
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"Forgot your password" in page.content
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("dashboard:home")).context["user"].username == "alice"
    assert client.post(reverse("logout")).status_code == 302
    assert not client.get(reverse("dashboard:home")).context["user"].is_authenticated


def test_password_reset_sends_an_email_with_a_working_link(client):
    User.objects.create_user("bob", "bob@example.com", PASSWORD)
    response = client.post(reverse("password_reset"), {"email": "bob@example.com"})
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["bob@example.com"]
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and b"Choose a new password" in form_page.content
    new = "another-strong-pass-77"
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}
    )
    assert done.status_code == 302
    assert b"Password changed" in client.get(done["Location"]).content
    assert User.objects.get(username="bob").check_password(new)


# --- Workspaces -------------------------------------------------------------------------------


def test_home_lists_only_my_workspaces(acme, globex):
    client = client_for(member(acme, "me", Role.DEVELOPER))
    page = client.get(reverse("dashboard:home"))
    assert page.status_code == 200
    assert reverse("dashboard:workspace", args=[acme.slug]).encode() in page.content
    assert globex.slug.encode() not in page.content
    assert reverse("dashboard:workspace_create").encode() in page.content


def test_creating_a_workspace_makes_me_owner_with_a_unique_slug(acme):
    user = User.objects.create_user("founder", "founder@example.com")
    client = client_for(user)
    response = client.post(reverse("dashboard:workspace_create"), {"name": "Acme Dash"})
    workspace = Workspace.objects.get(memberships__user=user)
    assert workspace.name == "Acme Dash" and workspace.slug == "acme-dash-2"
    assert response["Location"] == reverse("dashboard:keys", args=[workspace.slug])
    assert Membership.objects.get(user=user).role == Role.OWNER
    client.post(reverse("dashboard:workspace_create"), {"name": "New"})
    assert Workspace.objects.filter(name="New").get().slug != "new"  # /w/new/ is taken
    assert client.post(reverse("dashboard:workspace_create"), {"name": ""}).status_code == 200


def test_workspace_home_redirects_to_keys(acme):
    client = client_for(member(acme, "me", Role.VIEWER))
    response = client.get(reverse("dashboard:workspace", args=[acme.slug]))
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:keys", args=[acme.slug])


# --- Members ----------------------------------------------------------------------------------


def post_members(client, slug, **data):
    return client.post(reverse("dashboard:members", args=[slug]), data)


def test_admin_invites_by_username_or_email_and_changes_roles(acme):
    admin = client_for(member(acme, "admin", Role.ADMIN))
    carol = User.objects.create_user("carol", "carol@example.com")
    dave = User.objects.create_user("dave", "Dave@Example.com")
    assert (
        post_members(admin, acme.slug, action="invite", user="carol", role="viewer").status_code
        == 302
    )
    by_email = post_members(
        admin, acme.slug, action="invite", user="dave@example.com", role="developer"
    )
    assert by_email.status_code == 302
    assert Membership.objects.get(user=carol, workspace=acme).role == Role.VIEWER
    dave_membership = Membership.objects.get(user=dave, workspace=acme)
    assert dave_membership.role == Role.DEVELOPER
    page = admin.get(reverse("dashboard:members", args=[acme.slug]))
    assert b"carol" in page.content and b"dave" in page.content
    post_members(admin, acme.slug, action="role", membership=dave_membership.pk, role="admin")
    dave_membership.refresh_from_db()
    assert dave_membership.role == Role.ADMIN
    unknown = post_members(admin, acme.slug, action="invite", user="nobody", role="viewer")
    assert unknown.status_code == 400 and b"No account" in unknown.content
    again = post_members(admin, acme.slug, action="invite", user="carol", role="admin")
    assert again.status_code == 400 and b"Already a member" in again.content
    post_members(admin, acme.slug, action="remove", membership=dave_membership.pk)
    assert not Membership.objects.filter(pk=dave_membership.pk).exists()


def test_only_an_owner_can_grant_or_touch_the_owner_role(acme):
    owner = member(acme, "owner", Role.OWNER)
    admin = client_for(member(acme, "admin", Role.ADMIN))
    erin = member(acme, "erin", Role.DEVELOPER)
    frank = User.objects.create_user("frank", "frank@example.com")
    erin_membership = Membership.objects.get(user=erin)
    owner_membership = Membership.objects.get(user=owner)

    response = post_members(admin, acme.slug, action="invite", user="frank", role="owner")
    assert response.status_code == 403 and b"Only an owner can make someone" in response.content
    assert not Membership.objects.filter(user=frank).exists()
    post_members(admin, acme.slug, action="role", membership=erin_membership.pk, role="owner")
    post_members(admin, acme.slug, action="role", membership=owner_membership.pk, role="viewer")
    post_members(admin, acme.slug, action="remove", membership=owner_membership.pk)
    erin_membership.refresh_from_db()
    owner_membership.refresh_from_db()
    assert erin_membership.role == Role.DEVELOPER and owner_membership.role == Role.OWNER

    owner_client = client_for(owner)
    post_members(
        owner_client, acme.slug, action="role", membership=erin_membership.pk, role="owner"
    )
    erin_membership.refresh_from_db()
    assert erin_membership.role == Role.OWNER


def test_the_last_owner_cannot_be_removed_or_demoted(acme, globex):
    owner = member(acme, "owner", Role.OWNER)
    client = client_for(owner)
    mine = Membership.objects.get(user=owner)
    post_members(client, acme.slug, action="remove", membership=mine.pk)
    post_members(client, acme.slug, action="role", membership=mine.pk, role="admin")
    mine.refresh_from_db()
    assert mine.role == Role.OWNER
    page = client.get(reverse("dashboard:members", args=[acme.slug]))
    assert b"at least one owner" in page.content
    # With a second owner, leaving is allowed.
    other = member(acme, "second", Role.OWNER)
    response = post_members(client, acme.slug, action="remove", membership=mine.pk)
    assert response["Location"] == reverse("dashboard:home")
    assert list(Membership.objects.filter(workspace=acme).values_list("user", flat=True)) == [
        other.pk
    ]


def test_members_of_another_workspace_answer_404(acme, globex):
    admin = client_for(member(acme, "admin", Role.ADMIN))
    stranger = Membership.objects.get(user=member(globex, "stranger", Role.VIEWER))
    response = post_members(admin, acme.slug, action="remove", membership=stranger.pk)
    assert response.status_code == 404
    response = post_members(admin, acme.slug, action="role", membership=stranger.pk, role="admin")
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert stranger.role == Role.VIEWER


# --- Settings ---------------------------------------------------------------------------------


def test_admin_edits_settings_and_sees_the_balance(acme):
    grant_credits(acme.id, Decimal(12), note="test")
    admin = client_for(member(acme, "admin", Role.ADMIN))
    url = reverse("dashboard:settings", args=[acme.slug])
    page = admin.get(url)
    assert page.status_code == 200
    assert b"$12.00" in page.content
    assert b"No default guardrail" in page.content  # and a link to the real control
    assert reverse("dashboard:guardrails", args=[acme.slug]).encode() in page.content
    assert b"markup" not in page.content.lower()
    form = {
        "rpm_limit": 60,
        "tpm_limit": 10000,
        "data_retention": "keep",
        "retention_days": 14,
        "keep_response_history": "on",
    }
    assert admin.post(url, form).status_code == 302
    acme.refresh_from_db()
    assert (acme.rpm_limit, acme.tpm_limit, acme.data_retention, acme.retention_days) == (
        60,
        10000,
        "keep",
        14,
    )
    assert acme.keep_response_history
    for bad in (0, 181):
        response = admin.post(url, {**form, "retention_days": bad})
        assert response.status_code == 400
    acme.refresh_from_db()
    assert acme.retention_days == 14


def test_viewer_sees_settings_read_only(acme):
    viewer = client_for(member(acme, "viewer", Role.VIEWER))
    page = viewer.get(reverse("dashboard:settings", args=[acme.slug]))
    assert page.status_code == 200
    assert b"Save settings" not in page.content and b"disabled" in page.content
