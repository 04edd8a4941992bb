"""The dashboard's guardrail pages: the list and its presets, the editor (rules JSON with
errors naming the field, settings, history, bound keys), the sandbox endpoint (CSRF, roles),
the matches feed, the key editor's guardrail select and the settings summary; viewers read
only, and another workspace's ids are 404."""

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from guardrails import services as guardrail_services
from guardrails.models import Guardrail, GuardrailMatch, GuardrailVersion
from workspaces import services
from workspaces.models import ApiKey, Role

pytestmark = pytest.mark.django_db

User = get_user_model()
CAP = [{"type": "max_chars", "stage": "input", "action": "block", "limit": 50}]
PII = [{"type": "pii", "stage": "both", "action": "mask", "entities": ["email", "credit_card"]}]


@pytest.fixture
def acme():
    workspace, _ = services.get_or_create_workspace("grd-acme", "Acme")
    return workspace


@pytest.fixture
def globex():
    workspace, _ = services.get_or_create_workspace("grd-globex", "Globex")
    return workspace


def member_client(workspace, username, role, **client_options) -> Client:
    user = User.objects.create_user(username, f"{username}@example.com")
    services.add_member(workspace, user, role)
    client = Client(**client_options)
    client.force_login(user)
    return client


def url(name, workspace, *args) -> str:
    return reverse(f"dashboard:{name}", args=[workspace.slug, *args])


def edit_form(guardrail, **changes) -> dict:
    form = {
        "name": guardrail.name,
        "description": guardrail.description,
        "rules": json.dumps(guardrail_services.current_rules(guardrail)),
        "save": "1",
    }
    for flag in ("enabled", "is_default", "log_raw"):
        if getattr(guardrail, flag):
            form[flag] = "on"
    for name, value in changes.items():
        if value is None:
            form.pop(name, None)  # an unticked checkbox is not sent
        else:
            form[name] = value
    return form


# --- the list and presets -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "name", "rules"),
    [
        (
            "pii-shield",
            "PII Shield",
            [
                {
                    "type": "pii",
                    "stage": "both",
                    "action": "mask",
                    "entities": ["email", "phone", "ssn", "credit_card", "ip"],
                }
            ],
        ),
        (
            "prompt-size-cap",
            "Prompt-Size Cap",
            [{"type": "max_chars", "stage": "input", "action": "block", "limit": 50_000}],
        ),
        (
            "token-cost-cap",
            "Token Cost Cap",
            [{"type": "max_chars", "stage": "input", "action": "block", "limit": 200_000}],
        ),
        (
            "response-size-cap",
            "Response Size Cap",
            [{"type": "max_chars", "stage": "output", "action": "block", "limit": 32_000}],
        ),
    ],
)
def test_creating_from_a_preset_opens_the_editor(acme, preset, name, rules):
    client = member_client(acme, "dev", Role.DEVELOPER)
    response = client.post(url("guardrails", acme), {"preset": preset, "name": ""})
    guardrail = Guardrail.objects.get(workspace=acme)
    assert response.status_code == 302
    assert response["Location"] == url("guardrail_edit", acme, guardrail.pk)
    assert guardrail.name == name and guardrail.version == 1
    assert guardrail_services.current_rules(guardrail) == rules
    assert not guardrail.is_default  # applies to no key until bound or made the default
    page = client.get(response["Location"]).content.decode()
    assert f"Guardrail “{name}” created." in page and 'id="sandbox"' in page


def test_a_blank_guardrail_needs_a_name_and_a_taken_name_is_refused(acme):
    client = member_client(acme, "dev", Role.DEVELOPER)
    nameless = client.post(url("guardrails", acme), {"preset": "blank", "name": ""})
    assert nameless.status_code == 400 and "needs a name" in nameless.content.decode()
    made = client.post(url("guardrails", acme), {"preset": "blank", "name": "mine"})
    assert made.status_code == 302
    assert guardrail_services.current_rules(Guardrail.objects.get(name="mine")) == []
    again = client.post(url("guardrails", acme), {"preset": "pii-shield", "name": "mine"})
    assert again.status_code == 400
    assert "already has a guardrail of that name" in again.content.decode()
    assert Guardrail.objects.filter(workspace=acme).count() == 1


def test_the_list_shows_default_status_version_and_bound_keys(acme):
    shield = guardrail_services.create_guardrail(acme, name="shield", rules=PII, is_default=True)
    guardrail_services.update_guardrail(shield, guardrail_services.Change(rules=CAP))
    guardrail_services.create_guardrail(acme, name="off", rules=CAP, enabled=False)
    key, _ = services.create_api_key(acme, name="k")
    guardrail_services.bind_key(key, shield)
    client = member_client(acme, "viewer", Role.VIEWER)
    page = client.get(url("guardrails", acme))
    assert page.status_code == 200
    html = page.content.decode()
    row = html[html.index(f'data-guardrail-id="{shield.pk}"') :].split("</tr>")[0]
    assert "<strong>default</strong>" in row and "v2" in row and "<td>1</td>" in row
    assert "status-off" in html and "Create a guardrail" not in html  # viewer: read-only
    nav = f'<a href="{url("guardrails", acme)}" aria-current="page">Guardrails</a>'
    assert nav in html
    assert '<div class="table-wrap"><table' in html


# --- the editor -----------------------------------------------------------------------------


def test_saving_new_rules_makes_a_version_and_keeps_the_old_one(acme):
    guardrail = guardrail_services.create_guardrail(acme, name="g", rules=PII)
    client = member_client(acme, "dev", Role.DEVELOPER)
    edit = url("guardrail_edit", acme, guardrail.pk)
    response = client.post(edit, edit_form(guardrail, rules=json.dumps(CAP), log_raw="on"))
    assert response.status_code == 302 and response["Location"] == edit
    guardrail.refresh_from_db()
    assert guardrail.version == 2 and guardrail.log_raw
    assert GuardrailVersion.objects.get(guardrail=guardrail, number=1).rules == PII
    page = client.get(edit).content.decode()
    assert "Version 2 is live." in page
    assert 'v2 <span class="status-on">current</span>' in page and "v1" in page
    same = client.post(edit, edit_form(guardrail, description="only this"))
    assert same.status_code == 302
    guardrail.refresh_from_db()
    assert guardrail.version == 2 and guardrail.description == "only this"


@pytest.mark.parametrize(
    ("rules", "shown"),
    [
        ("[{", "Not valid JSON"),
        ('{"type": "pii"}', "rules: a JSON list of rules"),
        (json.dumps([{**CAP[0], "limit": -1}]), "rules[0].limit:"),
        (json.dumps([*CAP, {"type": "telepathy"}]), "rules[1].type:"),
        (
            json.dumps(
                [{"type": "moderation", "model": "no/such", "stage": "input", "action": "block"}]
            ),
            "rules[0].model: no model",
        ),
    ],
)
def test_bad_rules_are_shown_naming_the_field_and_nothing_is_saved(acme, rules, shown):
    guardrail = guardrail_services.create_guardrail(acme, name="g", rules=PII)
    client = member_client(acme, "dev", Role.DEVELOPER)
    response = client.post(
        url("guardrail_edit", acme, guardrail.pk), edit_form(guardrail, rules=rules)
    )
    assert response.status_code == 400
    assert shown in response.content.decode()
    guardrail.refresh_from_db()
    assert guardrail.version == 1 and guardrail.versions.count() == 1


def test_making_a_guardrail_the_default_demotes_the_previous_one(acme):
    first = guardrail_services.create_guardrail(acme, name="first", rules=CAP, is_default=True)
    second = guardrail_services.create_guardrail(acme, name="second", rules=CAP)
    client = member_client(acme, "dev", Role.DEVELOPER)
    edit = url("guardrail_edit", acme, second.pk)
    assert "The default now:" in client.get(edit).content.decode()
    assert client.post(edit, edit_form(second, is_default="on")).status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default and not first.is_default
    settings_page = client.get(url("settings", acme)).content.decode()
    assert (
        "second</a> (v1)" in settings_page
        and "screens every key bound to no guardrail" in settings_page
    )
    off = client.post(edit, edit_form(second, enabled=None, is_default=None))
    assert off.status_code == 302
    second.refresh_from_db()
    assert not second.enabled and not second.is_default


def test_deleting_is_refused_while_keys_are_bound(acme):
    guardrail = guardrail_services.create_guardrail(acme, name="g", rules=CAP)
    key, _ = services.create_api_key(acme, name="bound-key")
    guardrail_services.bind_key(key, guardrail)
    client = member_client(acme, "dev", Role.DEVELOPER)
    edit = url("guardrail_edit", acme, guardrail.pk)
    page = client.get(edit).content.decode()
    assert "bound-key" in page and url("key_edit", acme, key.pk) in page
    refused = client.post(edit, {"delete": "1"}, follow=True)
    assert "1 API key is bound to this guardrail" in refused.content.decode()
    assert Guardrail.objects.filter(pk=guardrail.pk).exists()
    guardrail_services.bind_key(key, None)
    deleted = client.post(edit, {"delete": "1"})
    assert deleted.status_code == 302 and deleted["Location"] == url("guardrails", acme)
    assert not Guardrail.objects.filter(pk=guardrail.pk).exists()


def test_viewers_see_a_read_only_editor_without_the_sandbox(acme):
    guardrail = guardrail_services.create_guardrail(acme, name="g", rules=CAP)
    viewer = member_client(acme, "viewer", Role.VIEWER)
    edit = url("guardrail_edit", acme, guardrail.pk)
    html = viewer.get(edit).content.decode()
    assert 'name="rules"' in html and "disabled" in html
    assert 'id="sandbox"' not in html and "Save guardrail" not in html
    assert viewer.post(edit, edit_form(guardrail, name="hijacked")).status_code == 403
    assert viewer.post(edit, {"delete": "1"}).status_code == 403
    sandbox = url("guardrail_sandbox", acme, guardrail.pk)
    assert viewer.post(sandbox, "{}", content_type="application/json").status_code == 403
    guardrail.refresh_from_db()
    assert guardrail.name == "g"


def test_another_workspaces_guardrail_is_404_on_every_page(acme, globex):
    theirs = guardrail_services.create_guardrail(globex, name="theirs", rules=CAP)
    owner = member_client(acme, "owner", Role.OWNER)
    for slug in (acme.slug, globex.slug):
        edit = reverse("dashboard:guardrail_edit", args=[slug, theirs.pk])
        assert owner.get(edit).status_code == 404, edit
        assert owner.post(edit, {"delete": "1"}).status_code == 404, edit
        sandbox = reverse("dashboard:guardrail_sandbox", args=[slug, theirs.pk])
        assert owner.post(sandbox, "{}", content_type="application/json").status_code == 404
        assert owner.get(reverse("dashboard:guardrails", args=[slug])).status_code == (
            200 if slug == acme.slug else 404
        )
    assert owner.get(f"/w/{acme.slug}/guardrails/{'9' * 30}/").status_code == 404
    assert Guardrail.objects.filter(pk=theirs.pk).exists()


# --- the sandbox endpoint (its results are the real engine's) -------------------------------


def _csrf_client(workspace, username, role) -> tuple[Client, str]:
    client = member_client(workspace, username, role, enforce_csrf_checks=True)
    client.get(url("guardrails", workspace))  # sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


def test_the_sandbox_screens_the_editors_rules_live_with_csrf(acme):
    guardrail = guardrail_services.create_guardrail(acme, name="g", rules=CAP)
    client, token = _csrf_client(acme, "dev", Role.DEVELOPER)
    sandbox = url("guardrail_sandbox", acme, guardrail.pk)
    body = {"text": "Mail jo@example.com, card 4111 1111 1111 1111.", "stage": "input"}
    no_token = client.post(sandbox, json.dumps(body), content_type="application/json")
    assert no_token.status_code == 403
    saved = client.post(
        sandbox, json.dumps(body), content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert saved.status_code == 200 and saved.json()["decision"] == "pass"  # CAP: 50 chars
    assert saved["Cache-Control"].startswith("max-age=0")
    unsaved = client.post(
        sandbox,
        json.dumps({**body, "rules": PII}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    ).json()
    assert unsaved["decision"] == "mask"
    assert unsaved["masked_text"] == "Mail [EMAIL], card [CREDIT_CARD]."
    assert {m["entity"] for m in unsaved["matches"]} == {"email", "credit_card"}
    assert "jo@example.com" not in json.dumps(unsaved["matches"])  # log_raw is off
    assert not GuardrailMatch.objects.exists()
    guardrail.refresh_from_db()
    assert guardrail.version == 1  # the sandbox never saves


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "a", "rules": [{**CAP[0], "limit": "many"}]}, "rules[0].limit"),
        ({"text": "a", "rules": "nope"}, "rules"),
        ({"text": "a", "stage": "both"}, "stage"),
        ({"text": ["a"]}, "text"),
        ({"text": "x" * 500_001}, "text"),
    ],
)
def test_a_bad_sandbox_call_is_400_naming_the_field(acme, body, field):
    guardrail = guardrail_services.create_guardrail(acme, name="g", rules=CAP)
    client = member_client(acme, "dev", Role.DEVELOPER)
    response = client.post(
        url("guardrail_sandbox", acme, guardrail.pk),
        json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == field
    bad_json = client.post(
        url("guardrail_sandbox", acme, guardrail.pk), "{", content_type="application/json"
    )
    assert bad_json.status_code == 400


def test_the_editor_page_loads_the_sandbox_script_from_orca(acme):
    guardrail = guardrail_services.create_guardrail(acme, name="g", rules=CAP)
    client = member_client(acme, "dev", Role.DEVELOPER)
    html = client.get(url("guardrail_edit", acme, guardrail.pk)).content.decode()
    assert '<script src="/static/orca/guardrails.js" defer></script>' in html
    assert f'data-url="{url("guardrail_sandbox", acme, guardrail.pk)}"' in html
    assert "cdn" not in html.lower()


# --- the matches feed -----------------------------------------------------------------------


def test_the_matches_feed_filters_and_shows_text_only_where_kept(acme, globex):
    guardrail = guardrail_services.create_guardrail(acme, name="shield", rules=PII)
    key, _ = services.create_api_key(acme, name="feed-key")
    common = {
        "workspace": acme, "guardrail": guardrail, "guardrail_name": "shield", "version": 1,
        "endpoint": "chat.completions", "rule_index": 0, "rule_type": "pii",
        "created_at": datetime.now(UTC),
    }  # fmt: skip
    kept = {"raw_text": "KEPT@example.test", "entity": "email"}
    GuardrailMatch.objects.create(
        **common, api_key=key, request_id="req_in", stage="input", action="mask", **kept
    )
    GuardrailMatch.objects.create(
        **common, request_id="req_out", stage="output", action="flag", entity="credit_card"
    )
    theirs = guardrail_services.create_guardrail(globex, name="theirs", rules=PII)
    GuardrailMatch.objects.create(
        **{**common, "workspace": globex, "guardrail": theirs},
        request_id="req_theirs",
        stage="input",
        action="mask",
    )
    viewer = member_client(acme, "viewer", Role.VIEWER)
    feed = url("guardrail_matches", acme)
    html = viewer.get(feed).content.decode()
    assert "req_in" in html and "req_out" in html and "req_theirs" not in html
    assert "KEPT@example.test" in html and "not kept" in html
    only_output = viewer.get(feed, {"stage": "output", "guardrail": guardrail.pk}).content.decode()
    assert "req_out" in only_output and "req_in" not in only_output
    by_key = viewer.get(feed, {"key": key.pk}).content.decode()
    assert "req_in" in by_key and "req_out" not in by_key
    bad = viewer.get(feed, {"action": "explode"})
    assert bad.status_code == 400 and "action: one of" in bad.content.decode()
    assert viewer.post(feed).status_code == 405


# --- the key editor's guardrail -------------------------------------------------------------

KEY_FORM = {"name": "k", "enabled": "on", "rpm_limit": "0", "tpm_limit": "0"}


def test_the_key_editor_binds_a_guardrail_of_its_workspace_only(acme, globex):
    mine = guardrail_services.create_guardrail(acme, name="mine", rules=CAP)
    theirs = guardrail_services.create_guardrail(globex, name="theirs-secret", rules=CAP)
    key, _ = services.create_api_key(acme, name="k")
    client = member_client(acme, "dev", Role.DEVELOPER)
    edit = url("key_edit", acme, key.pk)
    page = client.get(edit).content.decode()
    assert "None: the workspace default" in page and ">mine</option>" in page
    assert "theirs-secret" not in page
    assert client.post(edit, {**KEY_FORM, "guardrail": mine.pk}).status_code == 302
    key.refresh_from_db()
    assert key.guardrail == mine
    refused = client.post(edit, {**KEY_FORM, "guardrail": theirs.pk})
    assert refused.status_code == 400 and "Select a valid choice" in refused.content.decode()
    key.refresh_from_db()
    assert key.guardrail == mine
    assert client.post(edit, {**KEY_FORM, "guardrail": ""}).status_code == 302
    key.refresh_from_db()
    assert key.guardrail is None
    assert ApiKey.objects.filter(guardrail=theirs).count() == 0
