"""The guardrails management API, by session and by management key: CRUD, immutable
versions, one default per workspace, deletion refused while keys are bound, key binding,
the sandbox, the matches feed, roles, and 404 for every other workspace's URL."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from guardrails import services as guardrail_services
from guardrails.models import Guardrail, GuardrailMatch, GuardrailVersion
from routing.models import Model, Provider
from workspaces import services
from workspaces.models import ApiKey, Role, Workspace

pytestmark = pytest.mark.django_db

BASE = "/api/workspaces/gr-acme/guardrails/"
OTHER = "/api/workspaces/gr-globex/guardrails/"
PII = [{"type": "pii", "stage": "both", "action": "mask", "entities": ["email", "credit_card"]}]
CAP = [{"type": "max_chars", "stage": "input", "action": "block", "limit": 50}]


@dataclass
class Team:
    acme: Workspace
    globex: Workspace
    sessions: dict  # role -> APIClient (session)
    keys: dict  # role -> APIClient (management key)
    users: dict
    outsider: APIClient


def _key_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def team(django_user_model) -> Team:
    acme, _ = services.get_or_create_workspace("gr-acme")
    globex, _ = services.get_or_create_workspace("gr-globex")
    sessions, keys, users = {}, {}, {}
    for role in (Role.OWNER, Role.DEVELOPER, Role.VIEWER):
        user = django_user_model.objects.create_user(f"gr-{role}", f"gr-{role}@example.test")
        services.add_member(acme, user, role)
        users[role] = user
        client = APIClient()
        client.force_authenticate(user)
        sessions[role] = client
        _, raw = services.create_management_key(acme, role=role, name=f"gr-{role}")
        keys[role] = _key_client(raw)
    outsider = django_user_model.objects.create_user("gr-outsider", "gr-out@example.test")
    services.add_member(globex, outsider, Role.OWNER)
    out = APIClient()
    out.force_authenticate(outsider)
    provider = Provider.objects.create(
        slug="gr-p", name="P", kind="openai", base_url="https://p.test"
    )
    Model.objects.create(public_id="gr-p/moderator", provider=provider, upstream_name="mod")
    return Team(acme, globex, sessions, keys, users, out)


def callers(team: Team, role: str) -> list[APIClient]:
    return [team.sessions[role], team.keys[role]]


def make(workspace, name="shield", rules=PII, **options) -> Guardrail:
    return guardrail_services.create_guardrail(workspace, name=name, rules=rules, **options)


# --- CRUD and versions ----------------------------------------------------------------------


def test_create_list_get_update_delete(team):
    for number, client in enumerate(callers(team, Role.DEVELOPER)):
        created = client.post(
            BASE,
            {"name": f"pii-{number}", "description": "masks", "rules": PII},
            format="json",
        )
        assert created.status_code == 201, created.json()
        body = created.json()
        assert body["version"] == 1 and body["rules"] == PII and body["keys"] == 0
        assert (body["enabled"], body["is_default"], body["log_raw"]) == (True, False, False)
        got = client.get(f"{BASE}{body['id']}/").json()
        assert got == body
    listed = team.keys[Role.VIEWER].get(BASE).json()
    assert [g["name"] for g in listed] == ["pii-0", "pii-1"]
    assert listed[0]["created_by"] == "gr-developer" and listed[1]["created_by"] is None
    first = listed[0]["id"]
    renamed = team.keys[Role.DEVELOPER].patch(
        f"{BASE}{first}/", {"name": "renamed", "enabled": False}, format="json"
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "renamed" and renamed.json()["enabled"] is False
    assert renamed.json()["version"] == 1  # no new rules, no new version
    assert team.keys[Role.DEVELOPER].delete(f"{BASE}{first}/").status_code == 204
    assert not Guardrail.objects.filter(pk=first).exists()
    assert team.keys[Role.DEVELOPER].get(f"{BASE}{first}/").status_code == 404


def test_editing_the_rules_makes_version_2_and_leaves_version_1_as_it_was(team):
    guardrail = make(team.acme)
    v1 = GuardrailVersion.objects.get(guardrail=guardrail, number=1)
    v1_before = GuardrailVersion.objects.filter(pk=v1.pk).values().get()
    changed = team.sessions[Role.DEVELOPER].patch(
        f"{BASE}{guardrail.id}/", {"rules": CAP}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["version"] == 2 and changed.json()["rules"] == CAP
    assert GuardrailVersion.objects.filter(pk=v1.pk).values().get() == v1_before
    same = team.keys[Role.DEVELOPER].patch(f"{BASE}{guardrail.id}/", {"rules": CAP}, format="json")
    assert same.json()["version"] == 2  # the same rules again: no version
    history = team.keys[Role.VIEWER].get(f"{BASE}{guardrail.id}/versions/").json()
    assert [(v["number"], v["rules"], v["current"]) for v in history] == [
        (2, CAP, True),
        (1, PII, False),
    ]
    assert history[0]["created_by"] == "gr-developer" and history[0]["created_at"]
    one = team.keys[Role.VIEWER].get(f"{BASE}{guardrail.id}/versions/1/")
    assert one.status_code == 200 and one.json()["rules"] == PII
    assert team.keys[Role.VIEWER].get(f"{BASE}{guardrail.id}/versions/3/").status_code == 404


def test_put_replaces_the_whole_guardrail(team):
    guardrail = make(team.acme, description="old", log_raw=True)
    put = team.keys[Role.DEVELOPER].put(
        f"{BASE}{guardrail.id}/", {"name": "shield", "rules": CAP}, format="json"
    )
    assert put.status_code == 200, put.json()
    body = put.json()
    assert (body["description"], body["log_raw"], body["rules"], body["version"]) == (
        "",
        False,
        CAP,
        2,
    )
    missing = team.keys[Role.DEVELOPER].put(f"{BASE}{guardrail.id}/", {}, format="json")
    assert missing.status_code == 400 and "name" in missing.json()


def test_promoting_a_default_demotes_the_previous_one(team):
    first = make(team.acme, name="first", is_default=True)
    second = make(team.acme, name="second")
    promoted = team.keys[Role.DEVELOPER].patch(
        f"{BASE}{second.id}/", {"is_default": True}, format="json"
    )
    assert promoted.status_code == 200 and promoted.json()["is_default"] is True
    first.refresh_from_db()
    assert first.is_default is False
    created = team.keys[Role.DEVELOPER].post(
        BASE, {"name": "third", "rules": CAP, "is_default": True}, format="json"
    )
    assert created.status_code == 201 and created.json()["is_default"] is True
    assert list(
        Guardrail.objects.filter(workspace=team.acme, is_default=True).values_list(
            "name", flat=True
        )
    ) == ["third"]
    demoted = team.keys[Role.DEVELOPER].patch(
        f"{BASE}{created.json()['id']}/", {"is_default": False}, format="json"
    )
    assert demoted.json()["is_default"] is False
    assert not Guardrail.objects.filter(workspace=team.acme, is_default=True).exists()
    # another workspace's default is its own
    theirs = make(team.globex, name="theirs", is_default=True)
    guardrail_services.promote_default(first)
    theirs.refresh_from_db()
    assert theirs.is_default


def test_deleting_a_guardrail_keys_are_bound_to_is_refused(team):
    guardrail = make(team.acme)
    for name in ("a", "b"):
        key, _ = services.create_api_key(team.acme, name=name)
        guardrail_services.bind_key(key, guardrail)
    refused = team.keys[Role.DEVELOPER].delete(f"{BASE}{guardrail.id}/")
    assert refused.status_code == 409 and "2 API keys" in refused.json()["detail"]
    assert team.keys[Role.DEVELOPER].get(BASE).json()[0]["keys"] == 2
    for key in ApiKey.objects.filter(workspace=team.acme, guardrail=guardrail):
        unbound = team.keys[Role.DEVELOPER].patch(
            f"/api/workspaces/gr-acme/keys/{key.id}/", {"guardrail": None}, format="json"
        )
        assert unbound.status_code == 200 and unbound.json()["guardrail"] is None
    assert team.keys[Role.DEVELOPER].delete(f"{BASE}{guardrail.id}/").status_code == 204


# --- validation -----------------------------------------------------------------------------


BAD_REGEX = {"type": "regex", "stage": "output", "action": "flag", "pattern": "(unclosed"}
UNKNOWN_MODEL = {"type": "moderation", "stage": "input", "action": "block", "model": "no/such"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "ok", "rules": "pii"}, "rules"),
        ({"name": "ok", "rules": [{"type": "pii"}] * 101}, "rules"),
        ({"name": "ok", "rules": [{"type": "telepathy", "stage": "input"}]}, "rules[0].type"),
        ({"name": "ok", "rules": [*CAP, BAD_REGEX]}, "rules[1].pattern"),
        ({"name": "ok", "rules": [{**CAP[0], "limit": -5}]}, "rules[0].limit"),
        ({"name": "ok", "rules": [*CAP, UNKNOWN_MODEL]}, "rules[1].model"),
        ({"name": "ok", "enabled": "perhaps"}, "enabled"),
        ({"name": "ok", "description": "x" * 501}, "description"),
    ],
)
def test_bad_input_is_400_naming_the_field(team, body, field):
    existing = make(team.acme, name="existing")
    created = team.keys[Role.OWNER].post(BASE, body, format="json")
    assert created.status_code == 400 and field in created.json(), created.json()
    if body:
        changed = team.keys[Role.OWNER].patch(f"{BASE}{existing.id}/", body, format="json")
        assert changed.status_code == 400 and field in changed.json(), changed.json()
    assert list(Guardrail.objects.filter(workspace=team.acme)) == [existing]
    assert existing.versions.count() == 1


def test_a_taken_name_is_refused_and_a_moderation_model_from_the_catalog_is_taken(team):
    make(team.acme, name="taken")
    again = team.keys[Role.OWNER].post(BASE, {"name": "taken", "rules": CAP}, format="json")
    assert again.status_code == 400 and "already has a guardrail" in again.json()["name"][0]
    theirs = team.keys[Role.OWNER].post(BASE, {"name": "free"}, format="json")
    assert theirs.status_code == 201 and theirs.json()["rules"] == []
    moderation = [
        {"type": "moderation", "stage": "input", "action": "block", "model": "gr-p/moderator"}
    ]
    ok = team.keys[Role.OWNER].post(BASE, {"name": "mod", "rules": moderation}, format="json")
    assert ok.status_code == 201, ok.json()
    Model.objects.filter(public_id="gr-p/moderator").update(enabled=False)
    gone = team.keys[Role.OWNER].patch(
        f"{BASE}{ok.json()['id']}/", {"rules": [*CAP, *moderation]}, format="json"
    )
    assert gone.status_code == 400 and "rules[1].model" in gone.json()


# --- roles and other workspaces -------------------------------------------------------------


def test_viewers_read_and_change_nothing(team):
    guardrail = make(team.acme)
    url = f"{BASE}{guardrail.id}/"
    for client in callers(team, Role.VIEWER):
        assert client.get(BASE).status_code == 200
        assert client.get(url).status_code == 200
        assert client.get(url + "versions/").status_code == 200
        assert client.get(BASE + "matches/").status_code == 200
        assert client.post(BASE, {"name": "x"}, format="json").status_code == 403
        assert client.patch(url, {"enabled": False}, format="json").status_code == 403
        assert client.put(url, {"name": "x"}, format="json").status_code == 403
        assert client.delete(url).status_code == 403
        assert client.post(url + "test/", {"text": "a"}, format="json").status_code == 403
    guardrail.refresh_from_db()
    assert guardrail.enabled and Guardrail.objects.filter(workspace=team.acme).count() == 1


def test_every_url_of_another_workspace_is_404(team):
    theirs = make(team.globex, name="theirs")
    GuardrailMatch.objects.create(
        workspace=team.globex, guardrail=theirs, guardrail_name="theirs", version=1,
        request_id="req_theirs", stage="input", action="mask", rule_index=0, rule_type="pii",
        entity="email", created_at=datetime.now(UTC),
    )  # fmt: skip
    mine = f"{BASE}{theirs.id}/"
    for client in callers(team, Role.OWNER):
        assert client.get(mine).status_code == 404
        assert client.patch(mine, {"enabled": False}, format="json").status_code == 404
        assert client.put(mine, {"name": "x"}, format="json").status_code == 404
        assert client.delete(mine).status_code == 404
        assert client.get(mine + "versions/").status_code == 404
        assert client.get(mine + "versions/1/").status_code == 404
        assert client.post(mine + "test/", {"text": "a"}, format="json").status_code == 404
        assert client.get(f"{BASE}{'9' * 30}/").status_code == 404  # past a bigint
        for path in ("", f"{theirs.id}/", f"{theirs.id}/versions/", "matches/"):
            assert client.get(OTHER + path).status_code == 404, path
        assert client.post(OTHER, {"name": "x"}, format="json").status_code == 404
        sandbox = client.post(f"{OTHER}{theirs.id}/test/", {"text": "a"}, format="json")
        assert sandbox.status_code == 404
        assert client.get(BASE + "matches/").json()["results"] == []  # none of theirs
        assert client.get(f"{BASE}matches/?guardrail={theirs.id}").json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.enabled and Guardrail.objects.filter(workspace=team.globex).count() == 1
    assert team.outsider.get(BASE).status_code == 404


# --- key binding ----------------------------------------------------------------------------

KEYS = "/api/workspaces/gr-acme/keys/"


def test_binding_a_key_to_a_guardrail_of_its_workspace(team):
    guardrail = make(team.acme)
    created = team.keys[Role.DEVELOPER].post(
        KEYS, {"name": "bound", "guardrail": guardrail.id}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["guardrail"] == guardrail.id
    key = ApiKey.objects.get(pk=created.json()["id"])
    assert key.guardrail_id == guardrail.id
    plain, _ = services.create_api_key(team.acme, name="plain")
    assert team.keys[Role.VIEWER].get(f"{KEYS}{plain.id}/").json()["guardrail"] is None
    bound = team.keys[Role.DEVELOPER].patch(
        f"{KEYS}{plain.id}/", {"guardrail": guardrail.id}, format="json"
    )
    assert bound.status_code == 200 and bound.json()["guardrail"] == guardrail.id
    viewer = team.keys[Role.VIEWER].patch(f"{KEYS}{plain.id}/", {"guardrail": None}, format="json")
    assert viewer.status_code == 403
    plain.refresh_from_db()
    assert plain.guardrail_id == guardrail.id


@pytest.mark.parametrize("value", ["theirs", 10**17, 0, "abc", 2**64])
def test_binding_to_another_workspaces_or_no_guardrail_is_400_naming_guardrail(team, value):
    theirs = make(team.globex, name="theirs")
    target = theirs.id if value == "theirs" else value
    key, _ = services.create_api_key(team.acme, name="k")
    changed = team.keys[Role.OWNER].patch(f"{KEYS}{key.id}/", {"guardrail": target}, format="json")
    assert changed.status_code == 400 and "guardrail" in changed.json(), changed.json()
    created = team.keys[Role.OWNER].post(KEYS, {"name": "n", "guardrail": target}, format="json")
    assert created.status_code == 400 and "guardrail" in created.json()
    key.refresh_from_db()
    assert key.guardrail_id is None
    assert not ApiKey.objects.filter(workspace=team.acme, name="n").exists()
    with pytest.raises(guardrail_services.Refused) as refused:
        guardrail_services.bind_key(key, theirs)
    assert refused.value.field == "guardrail"


# --- the sandbox (its results are the real engine's: guardrails/engine) ---------------------


def _sandbox(team, guardrail, body, role=Role.DEVELOPER):
    response = team.keys[role].post(f"{BASE}{guardrail.id}/test/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_the_sandbox_masks_an_email_and_a_card_number(team):
    guardrail = make(team.acme)
    text = "Mail jo@example.com, card 4111 1111 1111 1111."
    result = _sandbox(team, guardrail, {"text": text, "stage": "input"})
    assert result["decision"] == "mask" and result["blocked_by"] is None
    assert result["masked_text"] == "Mail [EMAIL], card [CREDIT_CARD]."
    assert {(m["entity"], m["action"], m["type"]) for m in result["matches"]} == {
        ("email", "mask", "pii"),
        ("credit_card", "mask", "pii"),
    }
    assert all("text" not in m for m in result["matches"])  # log_raw is off
    assert "jo@example.com" not in str(result["matches"])
    assert result["version"] == 1
    assert not GuardrailMatch.objects.exists()  # nothing recorded


def test_the_sandbox_shows_the_matched_text_only_under_log_raw(team):
    guardrail = make(team.acme, log_raw=True)
    result = _sandbox(team, guardrail, {"text": "write to jo@example.com", "stage": "output"})
    assert [m["text"] for m in result["matches"]] == ["jo@example.com"]
    assert result["matches"][0]["stage"] == "output"


def test_the_sandbox_blocks_passes_and_runs_an_older_version(team):
    guardrail = make(team.acme, rules=CAP)
    blocked = _sandbox(team, guardrail, {"text": "x" * 51, "stage": "input"})
    assert blocked["decision"] == "block"
    assert blocked["blocked_by"]["type"] == "max_chars"
    assert blocked["blocked_by"]["rule_index"] == 0
    assert _sandbox(team, guardrail, {"text": "x" * 51, "stage": "output"})["decision"] == "pass"
    assert _sandbox(team, guardrail, {"text": "short", "stage": "input"}) == {
        "decision": "pass",
        "version": 1,
        "matches": [],
        "masked_text": "short",
        "blocked_by": None,
    }
    guardrail_services.update_guardrail(
        guardrail,
        guardrail_services.Change(
            rules=[{"type": "keyword", "stage": "input", "action": "flag", "keywords": ["x"]}]
        ),
    )
    flagged = _sandbox(team, guardrail, {"text": "x marks", "stage": "input"})
    assert flagged["decision"] == "flag" and flagged["version"] == 2
    assert flagged["masked_text"] == "x marks"
    old = _sandbox(team, guardrail, {"text": "x" * 51, "stage": "input", "version": 1})
    assert old["decision"] == "block" and old["version"] == 1
    missing = team.keys[Role.DEVELOPER].post(
        f"{BASE}{guardrail.id}/test/", {"text": "a", "version": 9}, format="json"
    )
    assert missing.status_code == 400 and "version" in missing.json()
    bad_stage = team.keys[Role.DEVELOPER].post(
        f"{BASE}{guardrail.id}/test/", {"text": "a", "stage": "both"}, format="json"
    )
    assert bad_stage.status_code == 400 and "stage" in bad_stage.json()


# --- the matches feed -----------------------------------------------------------------------


def _match(workspace, guardrail, key=None, **fields):
    values = {
        "workspace": workspace,
        "guardrail": guardrail,
        "guardrail_name": guardrail.name,
        "version": 1,
        "api_key": key,
        "request_id": "req_1",
        "endpoint": "chat.completions",
        "stage": "input",
        "action": "mask",
        "rule_index": 0,
        "rule_type": "pii",
        "entity": "email",
        "detail": "email",
        "created_at": datetime.now(UTC),
        **fields,
    }
    return GuardrailMatch.objects.create(**values)


def test_the_matches_feed_filters_and_pages(team):
    shield = make(team.acme)
    cap = make(team.acme, name="cap", rules=CAP)
    key, _ = services.create_api_key(team.acme, name="feed-key")
    now = datetime.now(UTC)
    _match(team.acme, shield, key, created_at=now - timedelta(hours=2), raw_text="jo@ex.com")
    _match(team.acme, shield, None, request_id="req_2", stage="output", entity="credit_card")
    _match(team.acme, cap, key, request_id="req_3", rule_type="max_chars", action="block",
           entity="", detail="51 > 50")  # fmt: skip
    feed = f"{BASE}matches/"
    viewer = team.keys[Role.VIEWER]
    everything = viewer.get(feed).json()
    assert [m["request_id"] for m in everything["results"]] == ["req_3", "req_2", "req_1"]
    first = everything["results"][2]
    assert first["key"] == {"id": key.id, "name": "feed-key", "prefix": key.prefix}
    assert first["guardrail"] == {"id": shield.id, "name": "shield", "version": 1}
    assert first["text"] == "jo@ex.com" and everything["results"][1]["text"] is None

    def ids(query: str) -> list[str]:
        response = viewer.get(feed + "?" + query)
        assert response.status_code == 200, response.json()
        return [m["request_id"] for m in response.json()["results"]]

    assert ids(f"guardrail={cap.id}") == ["req_3"]
    assert ids(f"key={key.id}") == ["req_3", "req_1"]
    assert ids("stage=output") == ["req_2"]
    assert ids("action=block") == ["req_3"]
    assert ids("rule_type=pii") == ["req_2", "req_1"]
    assert ids("entity=credit_card") == ["req_2"]
    assert ids("request_id=req_1") == ["req_1"]
    since = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"since={since}") == ["req_3", "req_2"]
    assert ids(f"until={since}") == ["req_1"]
    page = viewer.get(feed + "?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = viewer.get(page["next"]).json()
    assert [m["request_id"] for m in rest["results"]] == ["req_1"]


@pytest.mark.parametrize(
    "query",
    [
        "guardrail=abc",
        "key=-1",
        "stage=both",
        "action=allow",
        "rule_type=vibes",
        "since=yesterday",
        "until=2020-01-01T00:00:00Z&since=2021-01-01T00:00:00Z",
        "request_id=" + "x" * 65,
        "page_size=0",
        "cursor=garbage",
    ],
)
def test_a_bad_matches_filter_is_400_naming_it(team, query):
    response = team.keys[Role.VIEWER].get(f"{BASE}matches/?{query}")
    name = query.split("=")[0] if "&" not in query else "until"
    assert response.status_code == 400 and name in response.json(), response.json()
