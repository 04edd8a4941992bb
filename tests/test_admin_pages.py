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
