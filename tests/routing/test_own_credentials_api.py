"""A workspace's own provider keys (BYOK) through the management API and the dashboard:
write-only, admins and owners only, checked input, base URLs through the SSRF guard."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from routing.models import Provider, ProviderCredential
from workspaces import services
from workspaces.models import Role

pytestmark = pytest.mark.django_db

SECRET = "sk-own-credential-CANARY-4d2e9b"
BASE = "/api/workspaces/own-acme/providers/"


@pytest.fixture
def team(django_user_model):
    acme, _ = services.get_or_create_workspace("own-acme")
    globex, _ = services.get_or_create_workspace("own-globex")
    people = {}
    for name, workspace, role in (
        ("owner", acme, Role.OWNER),
        ("admin", acme, Role.ADMIN),
        ("developer", acme, Role.DEVELOPER),
        ("viewer", acme, Role.VIEWER),
        ("outsider", globex, Role.OWNER),
    ):
        user = django_user_model.objects.create_user(name, f"{name}@example.test", "pw-12345678")
        services.add_member(workspace, user, role)
        client = APIClient()
        client.force_authenticate(user)
        people[name] = client
        browser = Client()
        browser.force_login(user)
        people[f"{name}-browser"] = browser
    Provider.objects.create(slug="oa", name="OA", kind="openai", base_url="https://oa.test/v1")
    Provider.objects.create(slug="an", name="AN", kind="anthropic", base_url="https://an.test/v1")
    Provider.objects.create(slug="dm", name="Demo", kind="demo")
    Provider.objects.create(
        slug="off", name="Off", kind="openai", base_url="https://off.test", enabled=False
    )
    people["acme"], people["globex"] = acme, globex
    return people


def test_add_read_replace_change_delete_never_returns_the_secret(team):
    admin = team["admin"]
    created = admin.post(BASE, {"provider": "oa", "credential": SECRET}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["provider"] == "oa" and body["hint"] == SECRET[-4:]
    assert body["allow_fallback"] is True and body["base_url"] == ""
    assert SECRET not in created.content.decode()
    row = ProviderCredential.objects.get(workspace=team["acme"])
    assert SECRET not in row.credential_encrypted and row.credential() == SECRET

    listed = admin.get(BASE)
    assert [r["provider"] for r in listed.json()] == ["oa"]
    assert SECRET not in listed.content.decode()
    assert SECRET not in admin.get(f"{BASE}oa/").content.decode()

    # POST again replaces (200), as does PUT; PATCH changes settings only.
    again = admin.post(
        BASE, {"provider": "oa", "credential": "replacement-key-0001"}, format="json"
    )
    assert again.status_code == 200 and again.json()["hint"] == "0001"
    put = admin.put(
        f"{BASE}oa/",
        {"credential": "replacement-key-0002", "base_url": "https://8.8.8.8/v1/"},
        format="json",
    )
    assert put.status_code == 200, put.json()
    assert put.json()["base_url"] == "https://8.8.8.8/v1"
    patched = admin.patch(f"{BASE}oa/", {"allow_fallback": False}, format="json")
    assert patched.status_code == 200 and patched.json()["allow_fallback"] is False
    assert patched.json()["hint"] == "0002"
    assert ProviderCredential.objects.get().credential() == "replacement-key-0002"
    assert ProviderCredential.objects.count() == 1

    assert admin.delete(f"{BASE}oa/").status_code == 204
    assert not ProviderCredential.objects.exists()
    assert admin.get(f"{BASE}oa/").status_code == 404


def test_only_admins_and_owners_and_never_another_workspace(team):
    assert (
        team["owner"]
        .post(BASE, {"provider": "oa", "credential": SECRET}, format="json")
        .status_code
        == 201
    )
    for role in ("developer", "viewer"):
        assert team[role].get(BASE).status_code == 403, role
        assert (
            team[role]
            .post(BASE, {"provider": "an", "credential": SECRET}, format="json")
            .status_code
            == 403
        )
        assert team[role].delete(f"{BASE}oa/").status_code == 403
    outsider = team["outsider"]
    assert outsider.get(BASE).status_code == 404
    assert outsider.delete(f"{BASE}oa/").status_code == 404
    assert outsider.get("/api/workspaces/own-globex/providers/oa/").status_code == 404
    assert ProviderCredential.objects.filter(workspace=team["acme"]).count() == 1
    anonymous = APIClient()
    assert anonymous.get(BASE).status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"credential": SECRET}, "provider"),
        ({"provider": "oa"}, "credential"),
        ({"provider": "oa", "credential": ""}, "credential"),
        ({"provider": "oa", "credential": "   "}, "credential"),
        ({"provider": "oa", "credential": "a\x00b-credential"}, "credential"),
        ({"provider": "oa", "credential": "two words-here"}, "credential"),
        ({"provider": "oa", "credential": "line\nbreak-key"}, "credential"),
        ({"provider": "oa", "credential": "ключ-не-ascii"}, "credential"),
        ({"provider": "oa", "credential": "x" * 1001}, "credential"),
        ({"provider": "oa", "credential": ["list"]}, "credential"),
        ({"provider": "nope", "credential": SECRET}, "provider"),
        ({"provider": "dm", "credential": SECRET}, "provider"),  # demo needs no key
        ({"provider": "off", "credential": SECRET}, "provider"),  # disabled
        ({"provider": "oa", "credential": SECRET, "base_url": "ftp://x.example.com"}, "base_url"),
        ({"provider": "oa", "credential": SECRET, "base_url": "not a url"}, "base_url"),
        (
            {"provider": "oa", "credential": SECRET, "base_url": "http://u:p@x.example.com"},
            "base_url",
        ),
        ({"provider": "oa", "credential": SECRET, "base_url": "https://x\x00.test"}, "base_url"),
        ({"provider": "oa", "credential": SECRET, "base_url": "https://" + "x" * 300}, "base_url"),
        (
            {"provider": "oa", "credential": SECRET, "base_url": "https://no-such-host.invalid/v1"},
            "base_url",
        ),
        (
            {"provider": "an", "credential": SECRET, "base_url": "https://api.example.com"},
            "base_url",
        ),
        ({"provider": "oa", "credential": SECRET, "allow_fallback": "maybe"}, "allow_fallback"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_saves_nothing(team, body, field):
    response = team["admin"].post(BASE, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not ProviderCredential.objects.exists()
    assert SECRET not in response.content.decode()


@pytest.mark.parametrize("body", [[], "text", None, 7])
def test_a_body_that_is_not_an_object_is_a_400(team, body):
    response = team["admin"].post(BASE, body, format="json")
    assert response.status_code == 400
    assert not ProviderCredential.objects.exists()


def test_put_and_patch_check_the_same_way(team):
    admin = team["admin"]
    admin.post(BASE, {"provider": "oa", "credential": SECRET}, format="json")
    assert admin.put(f"{BASE}oa/", {"base_url": ""}, format="json").status_code == 400
    bad = admin.patch(f"{BASE}oa/", {"base_url": "http://169.254.169.254/"}, format="json")
    assert bad.status_code == 400 and "base_url" in bad.json()
    moved = admin.patch(f"{BASE}oa/", {"provider": "an"}, format="json")  # not a field here
    assert moved.status_code == 200 and moved.json()["provider"] == "oa"
    assert admin.patch(f"{BASE}nope/", {"allow_fallback": False}, format="json").status_code == 404
    row = ProviderCredential.objects.get()
    assert row.base_url == "" and row.provider.slug == "oa" and row.credential() == SECRET


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000/v1",
        "http://10.1.2.3/v1",
        "http://[::1]:8080/v1",
        "http://localhost/v1",
    ],
)
def test_a_private_base_url_needs_the_operators_allowance(team, settings, base_url):
    settings.ORCA_UPSTREAM_ALLOW_PRIVATE = False
    settings.ORCA_UPSTREAM_ALLOWED_NETWORKS = ""
    body = {"provider": "oa", "credential": SECRET, "base_url": base_url}
    refused = team["admin"].post(BASE, body, format="json")
    assert refused.status_code == 400
    message = refused.json()["base_url"][0]
    assert "ORCA_UPSTREAM_ALLOW_PRIVATE" in message and "not allowed" in message
    assert not ProviderCredential.objects.exists()
    settings.ORCA_UPSTREAM_ALLOW_PRIVATE = True
    assert team["admin"].post(BASE, body, format="json").status_code == 201


def test_metadata_addresses_stay_refused_under_allow_private(team, settings):
    settings.ORCA_UPSTREAM_ALLOW_PRIVATE = True
    body = {"provider": "oa", "credential": SECRET, "base_url": "http://169.254.169.254/v1"}
    refused = team["admin"].post(BASE, body, format="json")
    assert refused.status_code == 400 and "cloud metadata" in refused.json()["base_url"][0]
    settings.ORCA_UPSTREAM_ALLOWED_NETWORKS = "169.254.169.254/32"  # only listing it allows it
    assert team["admin"].post(BASE, body, format="json").status_code == 201


# --- the dashboard page -----------------------------------------------------------------------

PAGE = "/w/own-acme/providers/"


def test_the_page_adds_replaces_and_deletes_with_redirects(team):
    browser = team["admin-browser"]
    page = browser.get(PAGE)
    assert page.status_code == 200 and "No keys of your own yet" in page.content.decode()
    added = browser.post(PAGE, {"provider": "oa", "credential": SECRET, "allow_fallback": "on"})
    assert added.status_code == 302 and added["Location"] == PAGE
    shown = browser.get(PAGE).content.decode()
    assert f"…{SECRET[-4:]}" in shown and "was added" in shown
    assert SECRET not in shown and SECRET[:-4] not in shown
    row = ProviderCredential.objects.get()
    assert row.allow_fallback is True and row.credential() == SECRET

    replaced = browser.post(PAGE, {"provider": "oa", "credential": "second-key-7777"})
    assert replaced.status_code == 302
    shown = browser.get(PAGE).content.decode()
    assert "…7777" in shown and "was replaced" in shown and "only your key" in shown
    assert ProviderCredential.objects.get().allow_fallback is False  # unchecked box

    deleted = browser.post(f"{PAGE}oa/delete/")
    assert deleted.status_code == 302 and deleted["Location"] == PAGE
    assert not ProviderCredential.objects.exists()
    assert browser.post(f"{PAGE}oa/delete/").status_code == 404
    assert browser.get(f"{PAGE}oa/delete/").status_code == 405


def test_the_page_refuses_bad_input_in_place(team, settings):
    settings.ORCA_UPSTREAM_ALLOW_PRIVATE = False
    browser = team["owner-browser"]
    for body, text in (
        ({"provider": "oa", "credential": ""}, "This field is required"),
        ({"provider": "nope", "credential": SECRET}, "Select a valid choice"),
        (
            {"provider": "an", "credential": SECRET, "base_url": "https://a.example.com"},
            "only OpenAI-compatible",
        ),
        (
            {"provider": "oa", "credential": SECRET, "base_url": "http://127.0.0.1/v1"},
            "not allowed",
        ),
        ({"provider": "oa", "credential": "bad key with spaces"}, "printable ASCII"),
    ):
        page = browser.post(PAGE, body)
        assert page.status_code == 400, body
        html = page.content.decode()
        assert text in html, (body, html[:2000])
        assert SECRET not in html  # the password field never renders its value
    assert not ProviderCredential.objects.exists()


def test_the_page_is_for_admins_and_owners(team):
    for role in ("developer", "viewer"):
        browser = team[f"{role}-browser"]
        assert browser.get(PAGE).status_code == 403
        assert browser.post(PAGE, {"provider": "oa", "credential": SECRET}).status_code == 403
    assert team["outsider-browser"].get(PAGE).status_code == 404
    assert not ProviderCredential.objects.exists()


def test_the_models_page_says_not_configured(team):
    from routing.models import Model

    Model.objects.create(
        public_id="oa/m", provider=Provider.objects.get(slug="oa"), upstream_name="m"
    )
    Model.objects.create(
        public_id="dm/m", provider=Provider.objects.get(slug="dm"), upstream_name="m"
    )
    Provider.objects.filter(slug="oa").update(credential_env="OA_TEST_KEY")
    browser = team["viewer-browser"]

    def status_of(public_id: str) -> str:
        html = browser.get("/w/own-acme/models/").content.decode()
        row = html.split(f"<code>{public_id}</code>", 1)[1].split("</tr>", 1)[0]
        return row

    assert "not configured" in status_of("oa/m") and "OA_TEST_KEY" in status_of("oa/m")
    assert "not configured" not in status_of("dm/m")  # the demo kind needs no credential
    team["admin"].post(BASE, {"provider": "oa", "credential": SECRET}, format="json")
    assert "not configured" not in status_of("oa/m")  # the workspace's own key serves it


def test_management_keys_use_the_same_roles(team):
    def client_with(workspace, role: str) -> APIClient:
        _, raw = services.create_management_key(workspace, role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    admin = client_with(team["acme"], Role.ADMIN)
    created = admin.post(BASE, {"provider": "oa", "credential": SECRET}, format="json")
    assert created.status_code == 201 and SECRET not in created.content.decode()
    assert [r["provider"] for r in admin.get(BASE).json()] == ["oa"]
    developer = client_with(team["acme"], Role.DEVELOPER)
    assert developer.get(BASE).status_code == 403
    assert developer.delete(f"{BASE}oa/").status_code == 403
    other = client_with(team["globex"], Role.OWNER)
    assert other.get(BASE).status_code == 404
    assert other.delete(f"{BASE}oa/").status_code == 404
    assert ProviderCredential.objects.filter(workspace=team["acme"]).count() == 1
    # A relay key is no credential here.
    _, relay_key = services.create_api_key(team["acme"])
    relay = APIClient()
    relay.credentials(HTTP_AUTHORIZATION=f"Bearer {relay_key}")
    assert relay.get(BASE).status_code in (401, 403)


def test_the_schema_shows_the_credential_as_write_only():
    schema = Client().get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert "credential" not in components["OwnCredential"]["properties"]
    for name in ("OwnCredentialAddRequest", "OwnCredentialChangeRequest"):
        assert components[name]["properties"]["credential"]["writeOnly"] is True, name
    paths = schema["paths"]
    assert set(paths["/api/workspaces/{workspace}/providers/"]) == {"get", "post"}
    detail = paths["/api/workspaces/{workspace}/providers/{provider}/"]
    assert set(detail) >= {"get", "put", "patch", "delete"}
