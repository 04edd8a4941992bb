"""The admin edits the catalog and keys without ever displaying a secret."""

import pytest

from routing.models import Provider
from workspaces import services

pytestmark = pytest.mark.django_db

CANARY = "provider-secret-CANARY-42"


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser(
        "staff", "staff@example.test", "pw-Long-enough-1"
    )
    client.force_login(user)
    return client


def test_provider_credential_is_stored_encrypted_and_never_shown(staff):
    response = staff.post(
        "/admin/routing/provider/add/",
        {
            "slug": "acme-llm",
            "name": "Acme LLM",
            "kind": "openai",
            "base_url": "https://llm.acme.test/v1",
            "credential_env": "",
            "enabled": "on",
            "new_credential": CANARY,
            "max_concurrency": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = Provider.objects.get(slug="acme-llm")
    assert CANARY not in provider.credential_encrypted
    assert provider.resolve_credential() == CANARY

    for url in ("/admin/routing/provider/", f"/admin/routing/provider/{provider.pk}/change/"):
        page = staff.get(url)
        assert page.status_code == 200
        assert CANARY not in page.content.decode()
    assert "stored (encrypted)" in staff.get("/admin/routing/provider/").content.decode()


def test_key_pages_show_the_prefix_only_and_can_disable(staff):
    workspace, _ = services.get_or_create_workspace("adm")
    key, raw = services.create_api_key(workspace, name="admin-visible")
    listing = staff.get("/admin/workspaces/apikey/").content.decode()
    assert key.prefix in listing and raw not in listing
    change = staff.get(f"/admin/workspaces/apikey/{key.pk}/change/").content.decode()
    assert raw not in change and key.key_hash not in change

    staff.post(
        "/admin/workspaces/apikey/",
        {"action": "disable_keys", "_selected_action": [key.pk]},
    )
    key.refresh_from_db()
    assert key.enabled is False and key.revoked_at is not None


def test_staff_can_put_a_model_in_cooldown(staff):
    from routing.health_store import shared_snapshot
    from routing.models import Model
    from routing.proxy.pipeline.state import state

    provider = Provider.objects.create(
        slug="cool", name="C", kind="openai", base_url="https://c.test"
    )
    model = Model.objects.create(public_id="cool/m", provider=provider, upstream_name="m")
    response = staff.post(
        "/admin/routing/model/",
        {"action": "cooldown_five_minutes", "_selected_action": [model.pk]},
    )
    assert response.status_code == 302
    assert not state.health.available("cool|cool/m")
    entry = shared_snapshot()["cool|cool/m"]
    assert entry["available"] is False and 290 < entry["cooldown_seconds_left"] <= 300
    assert "put in cooldown by staff" in entry["cooldown_reason"]

    staff.post("/admin/routing/model/", {"action": "lift_cooldown", "_selected_action": [model.pk]})
    assert state.health.available("cool|cool/m")
    assert shared_snapshot()["cool|cool/m"]["available"] is True
