"""The prompt registry's management API, by session and by management key: create with a
first version, versions, labels (move, rollback, delete), render, trash and restore, the
key binding, roles, and 404 for every other workspace's URL."""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from prompts import services as prompt_services
from prompts.models import Prompt, PromptVersion
from workspaces import services
from workspaces.models import ApiKey, Role, Workspace

pytestmark = pytest.mark.django_db

BASE = "/api/workspaces/pr-acme/prompts/"
OTHER = "/api/workspaces/pr-globex/prompts/"
FIRST = {
    "system": "You help {{customer}} with {{product}}.",
    "messages": [{"role": "user", "content": "Example for {{customer}}"}],
    "variables": [
        {"name": "customer", "required": True},
        {"name": "product", "default": "anvils"},
    ],
    "model": "fake/chat",
    "parameters": {"temperature": 0.2, "max_tokens": 100},
    "commit_message": "first",
    "labels": ["production"],
}


@dataclass
class Team:
    acme: Workspace
    globex: Workspace
    sessions: dict
    keys: dict
    outsider: APIClient


@pytest.fixture
def team(django_user_model) -> Team:
    acme, _ = services.get_or_create_workspace("pr-acme")
    globex, _ = services.get_or_create_workspace("pr-globex")
    sessions, keys = {}, {}
    for role in (Role.OWNER, Role.DEVELOPER, Role.VIEWER):
        user = django_user_model.objects.create_user(f"pr-{role}", f"pr-{role}@example.test")
        services.add_member(acme, user, role)
        client = APIClient()
        client.force_authenticate(user)
        sessions[role] = client
        _, raw = services.create_management_key(acme, role=role, name=f"pr-{role}")
        keyed = APIClient()
        keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        keys[role] = keyed
    outsider = django_user_model.objects.create_user("pr-outsider", "pr-out@example.test")
    services.add_member(globex, outsider, Role.OWNER)
    out = APIClient()
    out.force_authenticate(outsider)
    return Team(acme, globex, sessions, keys, out)


def callers(team: Team, role: str) -> list[APIClient]:
    return [team.sessions[role], team.keys[role]]


def create(client, name="support", **body):
    return client.post(BASE, {"name": name, "version": FIRST, **body}, format="json")


def test_create_with_a_first_version_then_get_and_list(team):
    for number, client in enumerate(callers(team, Role.DEVELOPER)):
        name = f"support-{number}"
        made = create(client, name, description="Tier 1")
        assert made.status_code == 201, made.content
        body = made.json()
        assert (body["name"], body["latest_version"], body["description"]) == (name, 1, "Tier 1")
        assert body["labels"][0]["name"] == "production" and body["labels"][0]["version"] == 1
        assert body["latest"]["system"] == FIRST["system"]
        assert body["latest"]["labels"] == ["production"]
        got = client.get(f"{BASE}{name}/").json()
        assert got["latest"]["variables"][1] == {
            "name": "product",
            "type": "string",
            "required": False,
            "default": "anvils",
        }
    listed = team.sessions[Role.VIEWER].get(BASE).json()
    assert [p["name"] for p in listed] == ["support-0", "support-1"]
    bare = team.sessions[Role.DEVELOPER].post(BASE, {"name": "empty"}, format="json")
    assert bare.status_code == 201 and bare.json()["latest"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a b"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "ok", "version": "text"}, "version"),
        (
            {"name": "ok", "version": {"variables": [{"name": "a", "type": "date"}]}},
            "version.variables[0].type",
        ),
        ({"name": "ok", "version": {"parameters": {"top_k": 3}}}, "version.parameters.top_k"),
        (
            {"name": "ok", "version": {"messages": [{"role": "tool", "content": ""}]}},
            "version.messages[0].role",
        ),
    ],
)
def test_create_refuses_naming_the_field(team, body, field):
    answer = team.sessions[Role.DEVELOPER].post(BASE, body, format="json")
    assert answer.status_code == 400 and field in answer.json(), answer.content


def test_a_taken_name_is_400(team):
    create(team.sessions[Role.DEVELOPER])
    answer = create(team.sessions[Role.DEVELOPER])
    assert answer.status_code == 400 and "name" in answer.json()


def test_versions_are_appended_and_immutable(team):
    client = team.keys[Role.DEVELOPER]
    create(client)
    made = client.post(
        f"{BASE}support/versions/",
        {"system": "v2 for {{customer}}", "commit_message": "shorter", "labels": ["staging"]},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert (made.json()["number"], made.json()["labels"]) == (2, ["staging"])
    versions = client.get(f"{BASE}support/versions/").json()
    assert [(v["number"], v["labels"]) for v in versions] == [(2, ["staging"]), (1, ["production"])]
    one = client.get(f"{BASE}support/versions/1/").json()
    assert one["commit_message"] == "first" and one["created_by"] is None  # a key, not a user
    assert client.get(f"{BASE}support/versions/3/").status_code == 404
    assert (
        client.put(f"{BASE}support/versions/1/", {"system": "x"}, format="json").status_code == 405
    )
    bad = client.post(f"{BASE}support/versions/", {"variables": "x"}, format="json")
    assert bad.status_code == 400 and "variables" in bad.json()
    assert client.get(f"{BASE}support/").json()["latest_version"] == 2


def test_labels_move_rollback_and_delete(team):
    client = team.sessions[Role.DEVELOPER]
    create(client)
    client.post(f"{BASE}support/versions/", {"system": "two"}, format="json")
    moved = client.put(f"{BASE}support/labels/production/", {"version": 2}, format="json")
    assert moved.status_code == 200 and moved.json()["version"] == 2
    assert moved.json()["updated_by"] == "pr-developer"
    made = client.put(f"{BASE}support/labels/staging/", {"version": 1}, format="json")
    assert made.status_code == 201
    back = client.put(f"{BASE}support/labels/production/", {"version": 1}, format="json")
    assert back.json()["version"] == 1  # rollback is a move
    labels = client.get(f"{BASE}support/labels/").json()
    assert [(label["name"], label["version"]) for label in labels] == [
        ("production", 1),
        ("staging", 1),
    ]
    assert client.get(f"{BASE}support/labels/staging/").json()["version"] == 1
    for label, field in (("latest", "label"), ("v2", "label")):
        answer = client.put(f"{BASE}support/labels/{label}/", {"version": 1}, format="json")
        assert answer.status_code == 400 and field in answer.json()
    answer = client.put(f"{BASE}support/labels/production/", {"version": 9}, format="json")
    assert answer.status_code == 400 and "version" in answer.json()
    assert client.delete(f"{BASE}support/labels/staging/").status_code == 204
    assert client.delete(f"{BASE}support/labels/staging/").status_code == 404


def test_render_returns_the_messages_with_no_upstream_call(team):
    client = team.sessions[Role.DEVELOPER]
    create(client)
    answer = client.post(
        f"{BASE}support/render/", {"variables": {"customer": "Acme"}}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "prompt": "support",
        "version": 1,
        "label": "production",
        "messages": [
            {"role": "system", "content": "You help Acme with anvils."},
            {"role": "user", "content": "Example for Acme"},
        ],
        "model": "fake/chat",
        "parameters": {"temperature": 0.2, "max_tokens": 100},
    }
    assert answer["Cache-Control"] == "no-store"
    pinned = client.post(
        f"{BASE}support/render/", {"ref": "@v1", "variables": {"customer": "A"}}, format="json"
    )
    assert pinned.json()["label"] is None
    for body, field, message in (
        ({}, "variables.customer", "support@production needs variable customer"),
        (
            {"variables": {"customer": "A", "x": 1}},
            "variables.x",
            "x is not a variable of support@production",
        ),
        ({"variables": {"customer": 3}}, "variables.customer", None),
        ({"variables": ["a"]}, "variables", None),
        ({"ref": "@nope", "variables": {"customer": "A"}}, "ref", "support has no label nope"),
    ):
        answer = client.post(f"{BASE}support/render/", body, format="json")
        assert answer.status_code == 400 and field in answer.json(), (body, answer.content)
        if message:
            assert answer.json()[field] == [message]


def test_patch_trash_and_restore(team):
    client = team.sessions[Role.DEVELOPER]
    create(client)
    changed = client.patch(
        f"{BASE}support/", {"enabled": False, "description": "off"}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert client.delete(f"{BASE}support/").status_code == 204
    assert client.get(f"{BASE}support/").status_code == 404
    assert client.get(BASE).json() == []
    trash = client.get(f"{BASE}?trash=1").json()
    assert [p["name"] for p in trash] == ["support"] and trash[0]["deleted_at"]
    create(client)  # the name is free again
    conflict = client.post(f"{BASE}support/restore/", {}, format="json")
    assert conflict.status_code == 409
    assert client.delete(f"{BASE}support/").status_code == 204
    restored = client.post(f"{BASE}support/restore/", {}, format="json")
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert client.post(f"{BASE}nothing/restore/", {}, format="json").status_code == 404


def test_viewers_read_and_developers_write(team):
    create(team.sessions[Role.DEVELOPER])
    for viewer in callers(team, Role.VIEWER):
        assert viewer.get(f"{BASE}support/").status_code == 200
        assert viewer.get(f"{BASE}support/versions/1/").status_code == 200
        assert viewer.get(f"{BASE}support/labels/").status_code == 200
        for method, url, body in (
            ("post", BASE, {"name": "x"}),
            ("patch", f"{BASE}support/", {"enabled": False}),
            ("delete", f"{BASE}support/", None),
            ("post", f"{BASE}support/versions/", {"system": "x"}),
            ("put", f"{BASE}support/labels/production/", {"version": 1}),
            ("delete", f"{BASE}support/labels/production/", None),
            ("post", f"{BASE}support/render/", {"variables": {"customer": "a"}}),
            ("post", f"{BASE}support/restore/", {}),
        ):
            assert getattr(viewer, method)(url, body, format="json").status_code == 403, (
                method,
                url,
            )
    assert Prompt.objects.get(name="support").enabled


def test_another_workspace_s_prompts_are_404(team):
    create(team.sessions[Role.DEVELOPER])
    out = team.outsider
    for url in (f"{OTHER}support/", f"{OTHER}support/versions/", f"{OTHER}support/labels/"):
        assert out.get(url).status_code == 404
    for method, url in (
        ("get", f"{BASE}"),
        ("get", f"{BASE}support/"),
        ("get", f"{BASE}support/versions/1/"),
        ("put", f"{BASE}support/labels/production/"),
        ("post", f"{BASE}support/render/"),
        ("delete", f"{BASE}support/"),
    ):
        assert getattr(out, method)(url, {"version": 1}, format="json").status_code == 404
    assert PromptVersion.objects.filter(prompt__name="support").count() == 1


def test_the_key_binding(team):
    client = team.sessions[Role.DEVELOPER]
    create(client)
    theirs = prompt_services.create_prompt(team.globex, name="theirs")
    made = client.post(
        "/api/workspaces/pr-acme/keys/",
        {"name": "bot", "prompt": "support", "prompt_label": "staging"},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert (made.json()["prompt"], made.json()["prompt_label"]) == ("support", "staging")
    key_url = f"/api/workspaces/pr-acme/keys/{made.json()['id']}/"
    assert client.get(key_url).json()["prompt"] == "support"
    for value in ("theirs", "missing", 5):
        answer = client.patch(key_url, {"prompt": value}, format="json")
        assert answer.status_code == 400 and "prompt" in answer.json()
    answer = client.patch(key_url, {"prompt_label": "bad label"}, format="json")
    assert answer.status_code == 400 and "prompt_label" in answer.json()
    assert theirs.workspace_id != team.acme.pk
    client.delete(f"{BASE}support/")
    assert client.patch(key_url, {"prompt": "support"}, format="json").status_code == 400
    key = ApiKey.objects.get(pk=made.json()["id"])
    assert key.prompt_id is not None  # trashed: the link stays
    cleared = client.patch(key_url, {"prompt": None, "prompt_label": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["prompt"] is None
    assert client.get("/api/workspaces/pr-acme/keys/").json()[0]["prompt"] is None
