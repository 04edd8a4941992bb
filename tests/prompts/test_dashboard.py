"""The dashboard's prompt pages: the list (create, trash, restore), the editor (a new
version with errors naming the field, detected variables, labels and rollback, the diff,
usage per version, settings, delete), the try-it render endpoint, the key editor's binding
and the settings summary; viewers read only, and another workspace's prompts are 404."""

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from billing.models import UsageRecord
from prompts import services as prompts
from prompts.models import Prompt, PromptLabel
from workspaces import services
from workspaces.models import ApiKey, Role

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def acme():
    return services.get_or_create_workspace("prd-acme", "Acme")[0]


@pytest.fixture
def globex():
    return services.get_or_create_workspace("prd-globex", "Globex")[0]


def member_client(workspace, username, role, **options) -> Client:
    user = User.objects.create_user(username, f"{username}@example.com")
    services.add_member(workspace, user, role)
    client = Client(**options)
    client.force_login(user)
    return client


def url(name, workspace, *args) -> str:
    return reverse(f"dashboard:{name}", args=[workspace.slug, *args])


def support(workspace, **version):
    body = {
        "system": "You help {{customer}} in {{lang}}.",
        "variables": [{"name": "lang", "default": "English"}],
        "labels": ["production"],
        **version,
    }
    return prompts.create_prompt(workspace, name="support", version=prompts.Draft.of(body))


def version_form(**changes) -> dict:
    return {
        "action": "version",
        "system": "You help {{customer}}.",
        "messages": "",
        "variables": "",
        "model": "",
        "parameters": "",
        "commit_message": "",
        "labels": "",
        **changes,
    }


def test_the_nav_lists_prompts_and_the_list_creates_one(acme):
    client = member_client(acme, "prd-dev", Role.DEVELOPER)
    page = client.get(url("prompts", acme))
    assert page.status_code == 200
    assert f'href="{url("prompts", acme)}" aria-current="page"' in page.content.decode()
    made = client.post(url("prompts", acme), {"action": "create", "name": "support"})
    assert made.status_code == 302 and made["Location"] == url("prompt_edit", acme, "support")
    again = client.post(url("prompts", acme), {"action": "create", "name": "support"})
    assert again.status_code == 400 and "already has a prompt" in again.content.decode()
    bad = client.post(url("prompts", acme), {"action": "create", "name": "a b"})
    assert bad.status_code == 400 and Prompt.objects.count() == 1


def test_the_list_shows_labels_and_latest_version(acme):
    prompt = support(acme)
    prompts.create_version(prompt, prompts.Draft.of({"system": "v2", "labels": ["staging"]}))
    client = member_client(acme, "prd-viewer", Role.VIEWER)
    text = client.get(url("prompts", acme)).content.decode()
    assert "production → v1" in text and "staging → v2" in text and "<td>v2</td>" in text
    assert "Create a prompt" not in text  # viewers


def test_saving_makes_a_new_version_and_errors_name_the_field(acme):
    prompt = support(acme)
    client = member_client(acme, "prd-dev", Role.DEVELOPER)
    editor = url("prompt_edit", acme, "support")
    page = client.get(editor).content.decode()
    assert "You help {{customer}} in {{lang}}." in page  # prefilled from the newest version
    assert '<li class="undeclared" title="not declared: a required string">customer</li>' in page
    assert "<li>lang</li>" in page
    saved = client.post(editor, version_form(commit_message="shorter", labels="staging"))
    assert saved.status_code == 302
    prompt.refresh_from_db()
    assert prompt.latest_version == 2
    assert PromptLabel.objects.get(prompt=prompt, name="staging").version.number == 2
    bad = client.post(editor, version_form(variables='[{"name": "x", "type": "date"}]'))
    assert bad.status_code == 400 and "variables[0].type: one of string" in bad.content.decode()
    bad = client.post(editor, version_form(parameters='{"temperature": 9}'))
    assert bad.status_code == 400 and "parameters.temperature" in bad.content.decode()
    bad = client.post(editor, version_form(messages="[not json"))
    assert bad.status_code == 400 and "not valid JSON" in bad.content.decode()
    prompt.refresh_from_db()
    assert prompt.latest_version == 2


def test_labels_move_roll_back_and_delete(acme):
    prompt = support(acme)
    prompts.create_version(prompt, prompts.Draft.of({"system": "two"}))
    client = member_client(acme, "prd-dev", Role.DEVELOPER)
    editor = url("prompt_edit", acme, "support")
    page = client.get(editor).content.decode()
    assert "Make production" in page  # v2 is not production yet
    client.post(editor, {"action": "label", "label": "production", "version": "2"})
    assert prompt.labels.get(name="production").version.number == 2
    assert "Roll production back here" in client.get(editor).content.decode()
    client.post(editor, {"action": "label", "label": "production", "version": "1"})
    assert prompt.labels.get(name="production").version.number == 1
    refused = client.post(
        editor, {"action": "label", "label": "latest", "version": "1"}, follow=True
    )
    assert "latest always means the newest version" in refused.content.decode()
    client.post(editor, {"action": "unlabel", "label": "production"})
    assert not prompt.labels.exists()


def test_the_diff_compares_any_two_versions_side_by_side(acme):
    prompt = support(acme)
    prompts.create_version(prompt, prompts.Draft.of({"system": "You help {{customer}}."}))
    prompts.create_version(prompt, prompts.Draft.of({"system": "Third", "model": "fake/chat"}))
    client = member_client(acme, "prd-viewer", Role.VIEWER)
    editor = url("prompt_edit", acme, "support")
    newest = client.get(editor).content.decode()  # the newest two by default
    assert "v2 → v3" in newest and '<td class="r">Third</td>' in newest
    picked = client.get(editor, {"a": "1", "b": "2"}).content.decode()
    assert "v1 → v2" in picked
    assert '<tr class="changed">' in picked
    assert '<td class="l">You help {{customer}} in {{lang}}.</td>' in picked
    same = client.get(editor, {"a": "2", "b": "2"}).content.decode()
    assert "identical" in same


def test_usage_and_cost_per_version(acme, globex):
    support(acme)
    key, _ = services.create_api_key(acme, name="bot")
    now = datetime.now(UTC)
    for n, (version, cost, status) in enumerate(
        [(1, 10**10, 200), (1, 5 * 10**9, 500), (2, 10**12, 200)]
    ):
        UsageRecord.objects.create(
            request_id=f"req_prd_{n}", workspace=acme, api_key=key, endpoint="chat.completions",
            model="fake/chat", status_code=status, prompt_tokens=10, completion_tokens=5,
            cost_pico=cost, prompt="support", prompt_version=version, created_at=now,
        )  # fmt: skip
    UsageRecord.objects.create(
        request_id="req_prd_other", workspace=globex, endpoint="chat.completions",
        model="fake/chat", status_code=200, cost_pico=7 * 10**12, prompt="support",
        prompt_version=1, created_at=now,
    )  # fmt: skip
    client = member_client(acme, "prd-viewer", Role.VIEWER)
    text = client.get(url("prompt_edit", acme, "support")).content.decode()
    assert "<tr><td>v2</td><td>1</td><td>0</td><td>10</td><td>5</td><td>1</td></tr>" in text
    assert "<tr><td>v1</td><td>2</td><td>1</td><td>20</td><td>10</td><td>0.015</td></tr>" in text
    assert "<td>7</td>" not in text  # another workspace's calls are not counted


def test_try_it_renders_with_variables(acme):
    support(acme)
    client = member_client(acme, "prd-dev", Role.DEVELOPER, enforce_csrf_checks=True)
    page = client.get(url("prompt_edit", acme, "support"))
    assert 'id="tryit"' in page.content.decode()
    endpoint = url("prompt_render", acme, "support")
    body = json.dumps({"ref": "@production", "variables": {"customer": "Acme"}})
    assert client.post(endpoint, body, content_type="application/json").status_code == 403  # CSRF
    token = page.cookies["csrftoken"].value
    answer = client.post(endpoint, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert answer.status_code == 200
    assert answer.json()["messages"] == [{"role": "system", "content": "You help Acme in English."}]
    missing = client.post(
        endpoint,
        json.dumps({"variables": {}}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "variables.customer"


def test_viewers_read_only(acme):
    support(acme)
    client = member_client(acme, "prd-viewer", Role.VIEWER)
    editor = url("prompt_edit", acme, "support")
    page = client.get(editor).content.decode()
    assert "Save as a new version" not in page and 'id="tryit"' not in page
    assert "disabled" in page
    for body in (
        version_form(),
        {"action": "label", "label": "production", "version": "1"},
        {"action": "trash"},
        {"action": "settings", "enabled": ""},
    ):
        assert client.post(editor, body).status_code == 403
    assert client.post(url("prompts", acme), {"action": "create", "name": "x"}).status_code == 403
    assert (
        client.post(
            url("prompt_render", acme, "support"), "{}", content_type="application/json"
        ).status_code
        == 403
    )
    assert Prompt.objects.get(name="support").enabled


def test_trash_and_restore(acme):
    prompt = support(acme)
    client = member_client(acme, "prd-dev", Role.DEVELOPER)
    editor = url("prompt_edit", acme, "support")
    assert client.post(editor, {"action": "trash"}).status_code == 302
    assert client.get(editor).status_code == 404
    listing = client.get(url("prompts", acme)).content.decode()
    assert "Restore" in listing and "The trash is empty" not in listing
    client.post(url("prompts", acme), {"action": "restore", "id": prompt.pk})
    prompt.refresh_from_db()
    assert prompt.deleted_at is None
    client.post(editor, {"action": "settings", "description": "tier 1"})
    prompt.refresh_from_db()
    assert (prompt.description, prompt.enabled) == ("tier 1", False)  # unchecked: off


def test_another_workspace_s_prompt_is_404(acme, globex):
    support(globex)
    client = member_client(acme, "prd-owner", Role.OWNER)
    assert client.get(url("prompt_edit", acme, "support")).status_code == 404
    assert client.get(url("prompt_edit", globex, "support")).status_code == 404
    theirs = Prompt.objects.get(workspace=globex)
    client.post(url("prompts", acme), {"action": "restore", "id": theirs.pk})
    assert (
        client.post(
            url("prompt_render", acme, "support"), "{}", content_type="application/json"
        ).status_code
        == 404
    )


def test_the_key_editor_binds_a_prompt_and_settings_summarise(acme, globex):
    support(acme)
    support(globex)
    key, _ = services.create_api_key(acme, name="bot")
    client = member_client(acme, "prd-dev", Role.DEVELOPER)
    editor = url("key_edit", acme, key.pk)
    page = client.get(editor).content.decode()
    assert "<legend>Prompt</legend>" in page
    ours = Prompt.objects.get(workspace=acme)
    theirs = Prompt.objects.get(workspace=globex)
    form = {"name": "bot", "enabled": "on", "rpm_limit": "0", "tpm_limit": "0"}
    saved = client.post(editor, {**form, "prompt": ours.pk, "prompt_label": "staging"})
    assert saved.status_code == 302
    key.refresh_from_db()
    assert (key.prompt_id, key.prompt_label) == (ours.pk, "staging")
    refused = client.post(editor, {**form, "prompt": theirs.pk})
    assert refused.status_code == 400
    refused = client.post(editor, {**form, "prompt": ours.pk, "prompt_label": "bad label"})
    assert refused.status_code == 400
    settings = client.get(url("settings", acme)).content.decode()
    assert "available when that feature lands" not in settings
    assert "1 key bound to one" in settings
    prompts.trash_prompt(ours)
    page = client.get(editor).content.decode()
    assert "support (in the trash)" in page and "nothing is injected" in page
    assert ApiKey.objects.get(pk=key.pk).prompt_id == ours.pk
