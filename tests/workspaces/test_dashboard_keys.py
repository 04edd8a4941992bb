"""Dashboard API keys: create (shown once), list, revoke, roles and cross-workspace isolation."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from workspaces import services
from workspaces.keys import hash_key
from workspaces.models import ApiKey, Role
from workspaces.selectors import key_context

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-battery-42"
KEY_FORM = {
    "name": "ci",
    "expires_in": "never",
    "allowed_models": "",
    "allowed_ips": "",
    "rpm_limit": 0,
    "tpm_limit": 0,
    "daily_limit_usd": "",
    "monthly_limit_usd": "",
}


@pytest.fixture
def acme():
    return services.get_or_create_workspace("acme-keys", "Acme")[0]


@pytest.fixture
def globex():
    return services.get_or_create_workspace("globex-keys", "Globex")[0]


def member_client(workspace, username, role) -> Client:
    user = User.objects.create_user(username, f"{username}@example.com")
    services.add_member(workspace, user, role)
    client = Client()
    client.force_login(user)
    return client


def raw_key_in(html: bytes) -> str:
    match = re.search(rb'id="new-key"[^>]*>(sk-orca-[A-Za-z0-9_-]+)<', html)
    assert match, "the new key is not on the page"
    return match.group(1).decode()


def test_signup_to_workspace_to_key_shows_the_key_once():
    client = Client()
    response = client.post(
        reverse("dashboard:signup"),
        {
            "username": "kim",
            "email": "kim@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard:workspace_create")
    response = client.post(
        reverse("dashboard:workspace_create"), {"name": "Kim's Lab"}, follow=True
    )
    keys_url = response.redirect_chain[-1][0]
    assert keys_url == reverse("dashboard:keys", args=["kims-lab"])
    assert b"No keys yet" in response.content

    posted = client.post(keys_url, {**KEY_FORM, "name": "laptop"})
    assert posted.status_code == 302 and posted["Location"] == keys_url
    assert b"sk-orca-" not in posted.content  # the secret is not in the redirect
    created = client.get(keys_url)
    assert created.status_code == 200
    raw = raw_key_in(created.content)
    assert b'data-copy="#new-key"' in created.content
    assert "no-store" in created["Cache-Control"]
    key = ApiKey.objects.get(workspace__slug="kims-lab")
    assert key.name == "laptop" and key.key_hash == hash_key(raw)
    assert key.created_by.username == "kim"
    assert key_context(hash_key(raw)).enabled

    again = client.get(keys_url)
    assert again.status_code == 200
    assert raw.encode() not in again.content and b'id="new-key"' not in again.content
    assert key.prefix.encode() in again.content and b"laptop" in again.content


def test_create_key_with_expiry_models_ips_and_limits(acme):
    client = member_client(acme, "dev", Role.DEVELOPER)
    response = client.post(
        reverse("dashboard:keys", args=[acme.slug]),
        {
            **KEY_FORM,
            "expires_in": "30d",
            "allowed_models": "openai/*, anthropic/claude-*\nfake/chat",
            "allowed_ips": "10.0.0.0/8\n192.168.1.7",
            "rpm_limit": 60,
            "tpm_limit": 50000,
            "daily_limit_usd": "5",
            "monthly_limit_usd": "100.50",
        },
        follow=True,
    )
    assert response.status_code == 200
    raw = raw_key_in(response.content)
    key = ApiKey.objects.get(workspace=acme)
    assert key.allowed_models == ["openai/*", "anthropic/claude-*", "fake/chat"]
    assert key.allowed_ips == ["10.0.0.0/8", "192.168.1.7/32"]
    assert (key.rpm_limit, key.tpm_limit) == (60, 50000)
    assert key.daily_limit_usd == Decimal(5) and key.monthly_limit_usd == Decimal("100.50")
    expected = timezone.now() + timedelta(days=30)
    assert abs((key.expires_at - expected).total_seconds()) < 60
    context = key_context(hash_key(raw))
    assert context.key_rpm == 60 and context.key_day_pico == 5 * 10**12
    assert context.allows_model("openai/gpt-4o") and not context.allows_model("google/gemini")
    assert b"60 rpm" in response.content and b"$5/day" in response.content
    assert b"$100.50/month" in response.content


def test_bad_key_settings_are_rejected_with_the_field_named(acme):
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:keys", args=[acme.slug])
    for bad in (
        {"allowed_ips": "not-an-ip"},
        {"rpm_limit": -1},
        {"daily_limit_usd": "-3"},
        {"expires_in": "forever"},
        {"name": ""},
    ):
        response = client.post(url, {**KEY_FORM, **bad})
        assert response.status_code == 400, bad
        assert b'id="new-key"' not in response.content
    response = client.post(url, {**KEY_FORM, "allowed_ips": "not-an-ip"})
    assert b"not an IP address" in response.content
    assert not ApiKey.objects.filter(workspace=acme).exists()


def test_viewer_sees_keys_but_cannot_create_or_revoke(acme):
    key, raw = services.create_api_key(acme, name="prod")
    viewer = member_client(acme, "viewer", Role.VIEWER)
    url = reverse("dashboard:keys", args=[acme.slug])
    page = viewer.get(url)
    assert page.status_code == 200
    assert b"prod" in page.content and key.prefix.encode() in page.content
    assert raw.encode() not in page.content
    assert b"Create key" not in page.content and b"Revoke" not in page.content
    assert viewer.post(url, KEY_FORM).status_code == 403
    assert ApiKey.objects.filter(workspace=acme).count() == 1
    revoke = reverse("dashboard:key_revoke", args=[acme.slug, key.pk])
    assert viewer.post(revoke).status_code == 403
    key.refresh_from_db()
    assert key.enabled


def test_developer_revokes_a_key_with_post_only(acme):
    key, raw = services.create_api_key(acme, name="old")
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:key_revoke", args=[acme.slug, key.pk])
    assert client.get(url).status_code == 405
    key.refresh_from_db()
    assert key.enabled
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:keys", args=[acme.slug])
    key.refresh_from_db()
    assert not key.enabled and key.revoked_at is not None
    assert not key_context(hash_key(raw)).enabled
    page = client.get(response["Location"])
    assert b"revoked" in page.content


def test_cannot_revoke_another_workspaces_key_by_id(acme, globex):
    theirs, _ = services.create_api_key(globex, name="theirs")
    admin = member_client(acme, "admin", Role.OWNER)
    for slug in (acme.slug, globex.slug):
        response = admin.post(reverse("dashboard:key_revoke", args=[slug, theirs.pk]))
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.enabled and theirs.revoked_at is None
    assert b"theirs" not in admin.get(reverse("dashboard:keys", args=[acme.slug])).content


def test_key_pages_require_login_and_membership(client, acme, globex):
    key, _ = services.create_api_key(acme, name="k")
    urls = [
        reverse("dashboard:keys", args=[acme.slug]),
        reverse("dashboard:key_revoke", args=[acme.slug, key.pk]),
    ]
    for url in urls:
        response = client.post(url, KEY_FORM)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    outsider = member_client(globex, "outsider", Role.OWNER)
    for url in urls:
        assert outsider.post(url, KEY_FORM).status_code == 404
    key.refresh_from_db()
    assert key.enabled and ApiKey.objects.filter(workspace=acme).count() == 1


def test_creating_a_key_needs_a_csrf_token(acme):
    user = User.objects.create_user("csrf", "csrf@example.com")
    services.add_member(acme, user, Role.DEVELOPER)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(reverse("dashboard:keys", args=[acme.slug]), KEY_FORM).status_code == 403
    assert not ApiKey.objects.filter(workspace=acme).exists()


# --- POST/redirect/GET, editing, spend -------------------------------------------------------


def test_while_the_redirect_is_in_flight_no_stored_session_holds_the_secret(acme):
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:keys", args=[acme.slug])
    posted = client.post(url, {**KEY_FORM, "name": "in flight"})
    assert posted.status_code == 302
    # The GET that shows the secret may never come: the session row outlives the redirect.
    for session in Session.objects.all():
        assert "sk-orca-" not in str(session.get_decoded())
    raw = raw_key_in(client.get(url).content)
    assert hash_key(raw) == ApiKey.objects.get(workspace=acme).key_hash


def test_a_reload_after_creating_a_key_creates_no_second_key(acme):
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:keys", args=[acme.slug])
    response = client.post(url, {**KEY_FORM, "name": "once"}, follow=True)
    raw = raw_key_in(response.content)
    # The browser's reload re-sends the last request, which after the redirect is a GET.
    reloaded = client.get(response.redirect_chain[-1][0])
    assert raw.encode() not in reloaded.content and b'id="new-key"' not in reloaded.content
    assert ApiKey.objects.filter(workspace=acme).count() == 1
    assert client.session.get("orca_new_key") is None  # nothing of the secret is kept


def test_a_pending_secret_is_shown_only_in_its_own_workspace(acme, globex):
    user = User.objects.create_user("both", "both@example.com")
    services.add_member(acme, user, Role.DEVELOPER)
    services.add_member(globex, user, Role.DEVELOPER)
    client = Client()
    client.force_login(user)
    client.post(reverse("dashboard:keys", args=[acme.slug]), {**KEY_FORM, "name": "acme"})
    elsewhere = client.get(reverse("dashboard:keys", args=[globex.slug]))
    assert b'id="new-key"' not in elsewhere.content and b"sk-orca-" not in elsewhere.content


EDIT_FORM = {
    "name": "renamed",
    "enabled": "on",
    "expires_at": "2031-01-02T03:04",
    "allowed_models": "fake/*\norca/demo",
    "allowed_ips": "10.1.0.0/16",
    "rpm_limit": 30,
    "tpm_limit": 0,
    "daily_limit_usd": "1.5",
    "weekly_limit_usd": "",
    "monthly_limit_usd": "20",
    "spend_limit_usd": "100",
}


def test_a_developer_edits_every_setting_of_a_key_and_the_relay_sees_it(acme):
    key, raw = services.create_api_key(acme, name="edit-me")
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:key_edit", args=[acme.slug, key.pk])
    page = client.get(url)
    assert page.status_code == 200 and b'value="edit-me"' in page.content
    response = client.post(url, EDIT_FORM)
    assert response.status_code == 302 and response["Location"] == url
    key.refresh_from_db()
    assert key.name == "renamed" and key.enabled
    assert key.expires_at.isoformat() == "2031-01-02T03:04:00+00:00"
    assert key.allowed_models == ["fake/*", "orca/demo"]
    assert key.allowed_ips == ["10.1.0.0/16"]
    assert (key.rpm_limit, key.tpm_limit) == (30, 0)
    assert key.daily_limit_usd == Decimal("1.5") and key.weekly_limit_usd is None
    assert key.monthly_limit_usd == Decimal(20) and key.spend_limit_usd == Decimal(100)
    context = key_context(hash_key(raw))
    assert context.key_rpm == 30 and context.key_day_pico == 15 * 10**11
    assert context.allows_model("fake/chat") and not context.allows_model("openai/gpt-4o")
    shown = client.get(url)
    assert b"Key \xe2\x80\x9crenamed\xe2\x80\x9d" in shown.content and b"saved" in shown.content


def test_disabling_a_key_in_the_editor_pauses_it_and_enabling_restores_it(acme):
    key, raw = services.create_api_key(acme, name="toggle")
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:key_edit", args=[acme.slug, key.pk])
    off = {**EDIT_FORM, "name": "toggle"}
    del off["enabled"]  # an unticked checkbox is not sent
    client.post(url, off)
    key.refresh_from_db()
    assert not key.enabled and key.revoked_at is None
    assert not key_context(hash_key(raw)).enabled
    assert b"disabled" in client.get(url).content
    client.post(url, {**off, "enabled": "on"})
    key.refresh_from_db()
    assert key.enabled and key.revoked_at is None
    assert key_context(hash_key(raw)).enabled
    client.post(url, off)  # disabled again, then revoked for good
    client.post(reverse("dashboard:key_revoke", args=[acme.slug, key.pk]))
    key.refresh_from_db()
    assert not key.enabled and key.revoked_at is not None


def test_a_revoked_key_is_not_enabled_again_in_the_editor(acme):
    # As through the API: a key revoked (it may have leaked) stays revoked.
    key, raw = services.create_api_key(acme, name="leaked")
    services.revoke_api_key(key)
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:key_edit", args=[acme.slug, key.pk])
    answer = client.post(url, {**EDIT_FORM, "name": "leaked", "enabled": "on"})
    assert answer.status_code == 400
    assert b"A revoked key cannot be enabled again" in answer.content
    key.refresh_from_db()
    assert not key.enabled and key.revoked_at is not None
    assert not key_context(hash_key(raw)).enabled
    assert b"revoked" in client.get(url).content


def test_bad_edits_are_400_with_the_field_named_and_change_nothing(acme):
    key, _ = services.create_api_key(acme, name="stay")
    client = member_client(acme, "dev", Role.DEVELOPER)
    url = reverse("dashboard:key_edit", args=[acme.slug, key.pk])
    for field, bad, says in (
        ("allowed_ips", "300.1.1.1", b"not an IP address"),
        ("rpm_limit", "-5", b"greater than or equal to 0"),
        ("monthly_limit_usd", "lots", b"Enter a number"),
        ("expires_at", "tomorrow", b"Enter a valid date/time"),
        ("name", "", b"This field is required"),
        ("allowed_models", "a b", b"Not a model id"),
    ):
        response = client.post(url, {**EDIT_FORM, field: bad})
        assert response.status_code == 400, field
        assert says in response.content, field
    key.refresh_from_db()
    assert key.name == "stay" and key.rpm_limit == 0 and key.allowed_ips == []


def test_a_viewer_sees_a_key_but_cannot_change_it(acme):
    key, _ = services.create_api_key(acme, name="look")
    viewer = member_client(acme, "viewer", Role.VIEWER)
    url = reverse("dashboard:key_edit", args=[acme.slug, key.pk])
    page = viewer.get(url)
    assert page.status_code == 200 and b"Save key" not in page.content
    assert b"disabled" in page.content
    assert viewer.post(url, EDIT_FORM).status_code == 403
    key.refresh_from_db()
    assert key.name == "look"


def test_another_workspaces_key_cannot_be_edited(acme, globex):
    theirs, _ = services.create_api_key(globex, name="theirs")
    owner = member_client(acme, "owner", Role.OWNER)
    for slug in (acme.slug, globex.slug):
        url = reverse("dashboard:key_edit", args=[slug, theirs.pk])
        assert owner.get(url).status_code == 404
        assert owner.post(url, EDIT_FORM).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "theirs"


def _usage(workspace, key, request_id, cost_pico, created_at):
    from billing.models import UsageRecord

    return UsageRecord.objects.create(
        request_id=request_id,
        workspace=workspace,
        api_key=key,
        endpoint="chat.completions",
        model="fake/chat",
        status_code=200,
        cost_pico=cost_pico,
        created_at=created_at,
    )


def test_spend_per_key_sums_its_usage_records_by_window(acme):
    from billing.windows import window_starts

    key, _ = services.create_api_key(acme, name="spender")
    other, _ = services.create_api_key(acme, name="other")
    now = timezone.now()
    day_start, _week, month_start = window_starts(now.timestamp())
    _usage(acme, key, "req_spend_1", 1_250_000_000_000, now)  # $1.25 today
    _usage(acme, key, "req_spend_2", 2 * 10**12, day_start - timedelta(seconds=1))  # yesterday
    _usage(acme, key, "req_spend_3", 4 * 10**12, month_start - timedelta(days=40))  # long ago
    _usage(acme, other, "req_spend_4", 7 * 10**9, now)  # $0.007
    month = Decimal("1.25") + (Decimal(2) if day_start > month_start else 0)
    client = member_client(acme, "dev", Role.DEVELOPER)
    page = client.get(reverse("dashboard:key_edit", args=[acme.slug, key.pk])).content.decode()
    assert 'id="spend-day">$1.25<' in page
    assert f'id="spend-month">${month:.2f}<' in page
    assert 'id="spend-total">$7.25<' in page and "3 calls" in page
    listing = client.get(reverse("dashboard:keys", args=[acme.slug])).content.decode()
    row = re.search(rf'<tr data-key-id="{other.pk}">.*?</tr>', listing, re.S).group(0)
    assert '<td class="spend-day">$0.007</td>' in row
