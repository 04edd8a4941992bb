"""The routing management API: scoped to the caller's workspace, roles enforced."""

import pytest
from rest_framework.test import APIClient

from routing.models import Model, Provider, Router
from workspaces import services
from workspaces.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(django_user_model):
    acme, _ = services.get_or_create_workspace("api-acme")
    globex, _ = services.get_or_create_workspace("api-globex")
    people = {}
    for name, workspace, role in (
        ("owner", acme, Role.OWNER),
        ("viewer", acme, Role.VIEWER),
        ("outsider", globex, Role.OWNER),
    ):
        user = django_user_model.objects.create_user(name, f"{name}@example.test", "pw-12345678")
        services.add_member(workspace, user, role)
        client = APIClient()
        client.force_authenticate(user)
        people[name] = client
    provider = Provider.objects.create(slug="p", name="P", kind="openai", base_url="https://p.test")
    Model.objects.create(public_id="p/m", provider=provider, upstream_name="m")
    Router.objects.create(workspace=globex, name="secret", candidates=["p/*"])
    return people


BASE = "/api/workspaces/api-acme/routers/"


def test_list_create_update_delete(team):
    owner = team["owner"]
    listed = owner.get(BASE).json()
    assert [r["name"] for r in listed] == ["auto"]  # seeded for every workspace
    created = owner.post(
        BASE,
        {"name": "fast", "candidates": ["p/*"], "strategy": "fastest", "default_model": "p/m"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["strategy"] == "fastest"
    changed = owner.patch(f"{BASE}fast/", {"strategy": "cheapest"}, format="json")
    assert changed.status_code == 200 and changed.json()["strategy"] == "cheapest"
    assert owner.delete(f"{BASE}fast/").status_code == 204
    assert not Router.objects.filter(name="fast").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"name": "orcarouter"}, "name"),
        ({"name": "auto"}, "name"),  # taken
        ({"name": "x" * 51}, "name"),
        ({"name": "ok", "strategy": "vibes"}, "strategy"),
        ({"name": "ok", "candidates": "p/*"}, "candidates"),
        ({"name": "ok", "default_model": "p/none"}, "default_model"),
    ],
)
def test_invalid_routers_are_refused_naming_the_field(team, body, field):
    response = team["owner"].post(BASE, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Router.objects.filter(name="ok").exists()


def test_viewers_read_but_cannot_write(team):
    viewer = team["viewer"]
    assert viewer.get(BASE).status_code == 200
    assert viewer.post(BASE, {"name": "mine"}, format="json").status_code == 403
    assert viewer.delete(f"{BASE}auto/").status_code == 403


def test_other_workspaces_answer_like_missing_ones(team):
    owner = team["owner"]
    assert owner.get("/api/workspaces/api-globex/routers/").status_code == 404
    assert owner.get("/api/workspaces/api-globex/routers/secret/").status_code == 404
    assert owner.get("/api/workspaces/no-such-team/routers/").status_code == 404
    assert owner.get(f"{BASE}secret/").status_code == 404  # globex's router by name
    assert owner.delete("/api/workspaces/api-globex/routers/secret/").status_code == 404
    assert Router.objects.filter(name="secret").exists()
    assert APIClient().get(BASE).status_code == 401  # anonymous: a Bearer challenge


def test_model_health(team):
    response = team["viewer"].get("/api/workspaces/api-acme/model-health/")
    assert response.status_code == 200
    row = next(r for r in response.json()["data"] if r["model"] == "p/m")
    assert row["available"] is True
    assert team["outsider"].get("/api/workspaces/api-acme/model-health/").status_code == 404
