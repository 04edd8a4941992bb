"""Every admin changelist and add page renders for staff, and no secret appears on any."""

import pytest
from django.contrib import admin

from routing.models import Provider
from workspaces import services

pytestmark = pytest.mark.django_db

CANARY = "provider-secret-CANARY-admin"


def test_every_registered_model_renders_without_secrets(client, django_user_model):
    staff = django_user_model.objects.create_superuser(
        "root", "root@example.test", "pw-long-enough-1"
    )
    client.force_login(staff)
    provider = Provider(slug="adm", name="A", kind="openai", base_url="https://a.test")
    provider.set_credential(CANARY)
    provider.save()
    workspace, _ = services.get_or_create_workspace("adm")
    key, raw = services.create_api_key(workspace)
    for model in admin.site._registry:
        meta = model._meta
        page = client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert page.status_code == 200, meta.label
        text = page.content.decode()
        for secret in (CANARY, raw, key.key_hash):
            assert secret not in text, meta.label


def test_guardrail_pages_are_read_only_and_show_a_matchs_text_only_where_kept(
    client, django_user_model
):
    from datetime import UTC, datetime

    from guardrails.models import GuardrailMatch, GuardrailVersion
    from guardrails.services import Change, create_guardrail, update_guardrail

    staff = django_user_model.objects.create_superuser(
        "root", "root@example.test", "pw-long-enough-1"
    )
    client.force_login(staff)
    workspace, _ = services.get_or_create_workspace("adm-gr")
    rules = [{"type": "max_chars", "stage": "input", "action": "block", "limit": 9}]
    guardrail = create_guardrail(workspace, name="adm-shield", rules=rules)
    update_guardrail(guardrail, Change(rules=[{**rules[0], "limit": 99}]))
    common = {
        "workspace": workspace, "guardrail": guardrail, "guardrail_name": "adm-shield",
        "version": 2, "request_id": "req_adm", "stage": "input", "action": "mask",
        "rule_index": 0, "rule_type": "pii", "entity": "email", "created_at": datetime.now(UTC),
    }  # fmt: skip
    kept = GuardrailMatch.objects.create(**common, raw_text="kept-CANARY@example.test")
    bare = GuardrailMatch.objects.create(**common)
    page = client.get(f"/admin/guardrails/guardrail/{guardrail.pk}/change/").content.decode()
    assert "&quot;limit&quot;: 9," in page and "&quot;limit&quot;: 99," in page  # both, inline
    assert 'name="versions-0-rules"' not in page  # read-only: no input for a version
    assert 'name="name"' not in page and 'name="enabled"' in page
    version = GuardrailVersion.objects.get(guardrail=guardrail, number=1)
    assert client.get(f"/admin/guardrails/guardrailversion/{version.pk}/change/").status_code == 200
    assert client.get("/admin/guardrails/guardrailversion/add/").status_code == 403
    listed = client.get("/admin/guardrails/guardrailmatch/?action__exact=mask")
    assert listed.status_code == 200 and "kept-CANARY" not in listed.content.decode()
    shown = client.get(f"/admin/guardrails/guardrailmatch/{kept.pk}/change/").content.decode()
    assert "kept-CANARY@example.test" in shown
    hidden = client.get(f"/admin/guardrails/guardrailmatch/{bare.pk}/change/").content.decode()
    assert "Raw text" not in hidden and "req_adm" in hidden


def test_prompt_pages_show_versions_and_labels_read_only(client, django_user_model):
    from prompts import services as prompts

    staff = django_user_model.objects.create_superuser(
        "root", "root@example.test", "pw-long-enough-1"
    )
    client.force_login(staff)
    workspace, _ = services.get_or_create_workspace("adm-pr")
    draft = prompts.Draft.of({"system": "adm system v1", "labels": ["production"]})
    prompt = prompts.create_prompt(workspace, name="adm-support", version=draft)
    second = prompts.create_version(prompt, prompts.Draft.of({"commit_message": "adm v2 note"}))
    page = client.get(f"/admin/prompts/prompt/{prompt.pk}/change/").content.decode()
    assert "adm v2 note" in page and "production" in page  # the inlines
    assert 'name="name"' not in page and 'name="enabled"' in page
    assert 'name="versions-0-commit_message"' not in page  # read-only: no input for a version
    shown = client.get(f"/admin/prompts/promptversion/{second.pk}/change/")
    assert shown.status_code == 200 and 'name="system"' not in shown.content.decode()
    assert client.get("/admin/prompts/promptversion/add/").status_code == 403
    assert client.get("/admin/prompts/promptlabel/add/").status_code == 403
    label = prompt.labels.get()
    labelled = client.get(f"/admin/prompts/promptlabel/{label.pk}/change/").content.decode()
    assert 'name="version"' not in labelled
    version = prompt.versions.get(number=1)
    assert client.post(f"/admin/prompts/promptversion/{version.pk}/delete/").status_code == 403
