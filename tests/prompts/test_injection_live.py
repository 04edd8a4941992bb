"""Registry prompts put into calls by a live server, through the official SDKs, on every
client surface against every provider kind: a key's binding, a request's own reference
(which wins), variables, the X-Orca-Prompt header, label moves seen within a second, and
nothing injected from a disabled or trashed prompt. What the fake upstream received proves
where the text went; each fake is strict about its own API.

The prompts live in a workspace of their own ("prompted"), so no other test is touched."""

import time
from decimal import Decimal

import openai
import pytest

from billing.services import grant_credits
from prompts import services as prompts
from prompts.services import Draft
from tests.guardrails.live_clients import KIND_MODELS, SURFACES, ask
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.models import ApiKey

V1 = "You are Orca support (v1) for {{customer}}."
V2 = "You are Orca support (v2) for {{customer}}."
COMBOS = [
    (surface, kind)
    for surface in SURFACES
    for kind in KIND_MODELS
    if not (kind == "responses" and surface not in ("responses", "chat"))
]
VARIABLES = [{"name": "customer", "type": "string", "default": "ACME Corp"}]


def _fake_for(upstreams, kind: str):
    return upstreams["openai" if kind == "responses" else kind]


def _received(upstreams, kind: str) -> str:
    fake = _fake_for(upstreams, kind)
    assert fake.requests, f"the {kind} upstream received nothing"
    return fake.requests[-1].body.decode()


@pytest.fixture(scope="module")
def prompted(live, django_db_blocker):
    with django_db_blocker.unblock():
        workspace, _ = services.get_or_create_workspace("prompted")
        grant_credits(workspace.id, Decimal(100), note="prompt tests")
        support = prompts.create_prompt(
            workspace,
            name="support",
            version=Draft(system=V1, variables=VARIABLES, labels=["production"]),
        )
        prompts.create_version(support, Draft(system=V2, variables=VARIABLES))  # v2, unlabelled
        other = prompts.create_prompt(
            workspace,
            name="sales",
            version=Draft(
                system="Sell {{item}} politely.",
                variables=[{"name": "item", "type": "string", "required": True}],
                messages=[
                    {"role": "user", "content": "What do you sell?"},
                    {"role": "assistant", "content": "Good things."},
                ],
                labels=["production"],
            ),
        )
        off = prompts.create_prompt(
            workspace, name="retired", version=Draft(system="RETIRED-TEXT", labels=["production"])
        )
        prompts.update_prompt(off, enabled=False)
        keys = {}
        for name, bound in (("bound", support), ("plain", None), ("retired", off)):
            key, raw = services.create_api_key(workspace, name=name)
            if bound is not None:
                ApiKey.objects.filter(pk=key.pk).update(prompt=bound, prompt_label="production")
            keys[name] = raw
    yield {
        "workspace": workspace,
        "keys": keys,
        "support": support,
        "sales": other,
        "base": live.server.base_url,
    }


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("surface", "kind"), COMBOS)
def test_a_bound_key_gets_the_prompts_system_text(
    prompted, upstreams, django_db_blocker, surface, kind, stream
):
    reply = ask(
        prompted["base"], prompted["keys"]["bound"], surface, KIND_MODELS[kind], "Say hi", stream
    )
    assert reply.error is None, reply
    assert "You are Orca support (v1) for ACME Corp." in _received(upstreams, kind)
    if surface != "generate" or not stream:
        assert reply.headers.get("x-orca-prompt") == "support@production:v1"
    request_id = reply.headers.get("x-orca-request-id")
    if request_id:
        record = wait_for_usage(django_db_blocker, request_id)
        assert (record.prompt, record.prompt_version) == ("support", 1)


@pytest.mark.parametrize(("surface", "kind"), COMBOS)
def test_a_requests_prompt_ref_wins_and_its_variables_are_checked(
    prompted, upstreams, surface, kind
):
    base, key = prompted["base"], prompted["keys"]["bound"]
    model = KIND_MODELS[kind]
    if surface in ("chat", "responses"):
        client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)
        extra = {"prompt_ref": "sales@production", "prompt_variables": {"item": "kites"}}
        if surface == "chat":
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": "Hi"}], extra_body=extra
            )
        else:
            raw = client.responses.with_raw_response.create(
                model=model, input="Hi", extra_body=extra
            )
        assert raw.headers["x-orca-prompt"] == "sales@production:v1"
        received = _received(upstreams, kind)
        assert "Sell kites politely." in received and "Good things." in received
        assert "Orca support" not in received and "prompt_ref" not in received
        with pytest.raises(openai.BadRequestError) as missing:
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Hi"}],
                extra_body={"prompt_ref": "sales"},
            )
        assert missing.value.body["param"] == "prompt_variables.item"
        with pytest.raises(openai.BadRequestError) as unknown:
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "Hi"}],
                extra_body={
                    "prompt_ref": "sales",
                    "prompt_variables": {"item": "x", "colour": "red"},
                },
            )
        assert unknown.value.body["param"] == "prompt_variables.colour"
    else:
        # The header does the same on every dialect.
        reply = ask(
            base, key, surface, model, "Hi", False, headers={"X-Orca-Prompt-Ref": "support@v2"}
        )
        assert reply.error is None, reply
        assert "You are Orca support (v2) for ACME Corp." in _received(upstreams, kind)


def test_a_responses_prompt_object_names_a_registry_prompt(prompted, upstreams):
    client = openai.OpenAI(
        base_url=prompted["base"] + "/v1", api_key=prompted["keys"]["plain"], max_retries=0
    )
    raw = client.responses.with_raw_response.create(
        model="fake/responder",
        input="Hi",
        prompt={"id": "support", "version": "2", "variables": {"customer": "Globex"}},
    )
    assert raw.headers["x-orca-prompt"] == "support@v2:v2"
    received = upstreams["openai"].requests[-1].json
    assert received["instructions"] == "You are Orca support (v2) for Globex."
    assert "prompt" not in received


def test_moving_a_label_changes_the_next_call_within_a_second(
    prompted, upstreams, django_db_blocker
):
    key = prompted["keys"]["bound"]
    with django_db_blocker.unblock():
        prompts.move_label(prompted["support"], "production", 2)
    moved = time.monotonic()
    try:
        while True:
            reply = ask(prompted["base"], key, "chat", "fake/chat", "Say hi", False)
            if "(v2)" in _received(upstreams, "openai"):
                break
            assert time.monotonic() - moved < 1.0, "the label move was not seen within 1 s"
            time.sleep(0.05)
        assert reply.headers["x-orca-prompt"] == "support@production:v2"
    finally:
        with django_db_blocker.unblock():
            prompts.move_label(prompted["support"], "production", 1)


def test_a_disabled_or_trashed_prompt_injects_nothing_and_is_a_400_when_named(prompted, upstreams):
    base = prompted["base"]
    reply = ask(base, prompted["keys"]["retired"], "chat", "fake/chat", "Say hi", False)
    assert reply.error is None and "x-orca-prompt" not in reply.headers
    assert "RETIRED-TEXT" not in _received(upstreams, "openai")
    client = openai.OpenAI(base_url=base + "/v1", api_key=prompted["keys"]["plain"], max_retries=0)
    for ref in ("retired", "no-such-prompt", "support@staging", "support@v9"):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(
                model="fake/chat",
                messages=[{"role": "user", "content": "x"}],
                extra_body={"prompt_ref": ref},
            )
        assert refused.value.body["param"] == "prompt_ref", ref
        assert refused.value.body["code"] == "invalid_prompt_ref"
