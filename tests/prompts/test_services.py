"""Registry writes: numbering under a lock, validated versions, labels that move, the trash
and its purge, refs, and render (what a call would send)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from prompts import services
from prompts.models import Prompt, PromptLabel, PromptVersion
from prompts.refs import Ref, RefError, parse_ref, pick
from prompts.services import Draft, Refused
from workspaces import services as workspace_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return workspace_services.get_or_create_workspace("pr-acme")[0]


def refused(call, *args, **kwargs) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)
    return caught.value


def support(workspace, **version) -> Prompt:
    draft = Draft.of({"system": "You help {{customer}}.", **version})
    return services.create_prompt(workspace, name="support", version=draft)


def test_versions_are_numbered_and_latest_moves(acme):
    prompt = support(acme)
    assert prompt.latest_version == 1
    v2 = services.create_version(prompt, Draft.of({"system": "v2", "labels": ["production"]}))
    prompt.refresh_from_db()
    assert (v2.number, prompt.latest_version) == (2, 2)
    assert PromptLabel.objects.get(prompt=prompt, name="production").version == v2
    assert list(prompt.versions.values_list("number", flat=True)) == [2, 1]


def test_a_name_is_unique_among_live_prompts_only(acme):
    prompt = support(acme)
    assert refused(services.create_prompt, acme, name="support").field == "name"
    services.trash_prompt(prompt)
    again = services.create_prompt(acme, name="support")  # the trash may hold the old one
    assert again.pk != prompt.pk
    error = refused(services.restore_prompt, prompt)
    assert (error.field, error.status) == ("name", 409)
    services.trash_prompt(again)
    assert services.restore_prompt(prompt).deleted_at is None


@pytest.mark.parametrize("name", ["", "a b", "x" * 129, "a@b", "..", "ü"])
def test_bad_names_are_refused(acme, name):
    assert refused(services.create_prompt, acme, name=name).field == "name"


@pytest.mark.parametrize(
    ("version", "field"),
    [
        ({"system": "x" * 100_001}, "version.system"),
        ({"messages": {"role": "user"}}, "version.messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "version.messages[0].role"),
        ({"messages": [{"role": "user", "content": 3}]}, "version.messages[0].content"),
        ({"messages": [{"role": "user", "content": "x", "name": "a"}]}, "version.messages[0].name"),
        ({"variables": [{"name": "a", "type": "date"}]}, "version.variables[0].type"),
        ({"parameters": {"temperature": 3}}, "version.parameters.temperature"),
        ({"parameters": {"temperature": "0.5"}}, "version.parameters.temperature"),
        ({"parameters": {"top_p": 1.5}}, "version.parameters.top_p"),
        ({"parameters": {"max_tokens": 0}}, "version.parameters.max_tokens"),
        ({"parameters": {"max_tokens": True}}, "version.parameters.max_tokens"),
        (
            {"parameters": {"response_format": {"type": "xml"}}},
            "version.parameters.response_format.type",
        ),
        (
            {"parameters": {"response_format": {"type": "json_schema"}}},
            "version.parameters.response_format.json_schema",
        ),
        ({"parameters": {"stop": ["x"]}}, "version.parameters.stop"),
        ({"parameters": [1]}, "version.parameters"),
        ({"model": 5}, "version.model"),
        ({"commit_message": "x" * 501}, "version.commit_message"),
        ({"labels": ["latest"]}, "version.labels[0]"),
        ({"labels": ["v2"]}, "version.labels[0]"),
    ],
)
def test_a_bad_version_is_refused_naming_the_field(acme, version, field):
    assert refused(services.create_prompt, acme, name="p", version=Draft.of(version)).field == field
    assert not Prompt.objects.filter(workspace=acme).exists()  # nothing half-written


def test_a_version_is_stored_normalised(acme):
    prompt = support(
        acme,
        messages=[{"role": "user", "content": "hi"}],
        variables=[{"name": "customer", "required": True}, {"name": "tone", "default": "calm"}],
        model=" fake/chat ",
        parameters={"temperature": 0.2, "max_tokens": 64, "response_format": {"type": "text"}},
        commit_message=" first ",
    )
    version = prompt.versions.get()
    assert version.variables == [
        {"name": "customer", "type": "string", "required": True},
        {"name": "tone", "type": "string", "required": False, "default": "calm"},
    ]
    assert (version.model, version.commit_message) == ("fake/chat", "first")
    assert version.parameters["max_tokens"] == 64


def test_labels_move_and_latest_is_reserved(acme):
    prompt = support(acme)
    services.create_version(prompt, Draft.of({"system": "two"}))
    label, created = services.move_label(prompt, "production", 2)
    assert created and label.version.number == 2
    label, created = services.move_label(prompt, "production", 1)  # rollback
    assert not created and label.version.number == 1
    assert refused(services.move_label, prompt, "latest", 1).field == "label"
    assert refused(services.move_label, prompt, "v1", 1).field == "label"
    assert refused(services.move_label, prompt, "bad label", 1).field == "label"
    assert refused(services.move_label, prompt, "staging", 3).field == "version"
    assert refused(services.move_label, prompt, "staging", "1").field == "version"
    services.delete_label(prompt, "production")
    assert refused(services.delete_label, prompt, "production").status == 404
    services.trash_prompt(prompt)
    assert refused(services.move_label, prompt, "production", 1).status == 409


def test_purge_deletes_only_old_trash_and_unbinds_keys(acme):
    old, young, _live = (services.create_prompt(acme, name=n) for n in ("old", "young", "live"))
    for prompt in (old, young):
        services.create_version(prompt, Draft.of({"system": "x", "labels": ["production"]}))
        services.trash_prompt(prompt)
    Prompt.objects.filter(pk=old.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    key, _ = workspace_services.create_api_key(acme, name="bound")
    key.prompt = old
    key.prompt_label = "production"
    key.save()
    out = StringIO()
    call_command("purge_prompt_trash", stdout=out)
    assert out.getvalue().strip() == "purged 1 prompt"
    assert set(Prompt.objects.values_list("name", flat=True)) == {"young", "live"}
    assert not PromptVersion.objects.filter(prompt_id=old.pk).exists()
    key.refresh_from_db()
    assert (key.prompt_id, key.prompt_label) == (None, "")
    assert services.purge_trash() == 0
    from prompts.tasks import purge_prompt_trash

    assert purge_prompt_trash() == 0


# --- refs and render ---------------------------------------------------------------------------


def test_parse_ref():
    assert parse_ref("support") == Ref("support")
    assert parse_ref("support@staging") == Ref("support", label="staging")
    assert parse_ref("support@v3") == Ref("support", version=3)
    assert parse_ref("support@latest") == Ref("support", label="latest")
    for bad in ("", "a b", "a@b@c", "support@", "support@v0", "support@bad label"):
        if bad == "support@":
            assert parse_ref(bad) == Ref("support")
            continue
        with pytest.raises(RefError):
            parse_ref(bad)


def test_pick_defaults_to_production_then_latest():
    assert pick(Ref("p"), {"production": 2}, 5) == (2, "production")
    assert pick(Ref("p"), {}, 5) == (5, "latest")
    assert pick(Ref("p", label="latest"), {"production": 2}, 5) == (5, "latest")
    assert pick(Ref("p", version=4), {}, 5) == (4, None)
    for ref, latest in ((Ref("p", version=6), 5), (Ref("p", label="staging"), 5), (Ref("p"), 0)):
        with pytest.raises(RefError):
            pick(ref, {"production": 2}, latest)


def test_render_resolves_the_ref_and_fills_variables(acme):
    prompt = support(
        acme,
        messages=[{"role": "user", "content": "Example for {{customer}}"}],
        variables=[{"name": "customer", "required": True}],
        model="fake/chat",
        parameters={"temperature": 0.1},
    )
    services.create_version(prompt, Draft.of({"system": "Two: {{who}}", "labels": ["staging"]}))
    services.move_label(prompt, "production", 1)
    out = services.render(prompt, "@production", {"customer": "Acme"})
    assert (out.prompt, out.version, out.label, out.model) == (
        "support",
        1,
        "production",
        "fake/chat",
    )
    assert out.messages == [
        {"role": "system", "content": "You help Acme."},
        {"role": "user", "content": "Example for Acme"},
    ]
    assert out.parameters == {"temperature": 0.1}
    assert services.render(prompt, None, {"customer": "A"}).version == 1  # production
    assert services.render(prompt, "staging", {"who": "x"}).version == 2
    assert services.render(prompt, "support@v2", {"who": "x"}).label is None
    assert services.render(prompt, "@latest", {"who": "x"}).messages == [
        {"role": "system", "content": "Two: x"}
    ]
    error = refused(services.render, prompt, "@production", {})
    assert (error.field, error.message) == (
        "variables.customer",
        "support@production needs variable customer",
    )
    error = refused(services.render, prompt, "@v1", {"customer": "A", "extra": 1})
    assert (error.field, error.message) == (
        "variables.extra",
        "extra is not a variable of support@v1",
    )
    assert refused(services.render, prompt, "@v1", {"customer": 5}).field == "variables.customer"
    assert refused(services.render, prompt, "@nope", {}).field == "ref"
    assert refused(services.render, prompt, "@v9", {}).field == "ref"
    assert refused(services.render, prompt, "other@v1", {}).field == "ref"
