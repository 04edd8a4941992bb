"""Guardrails enforced by a live server, through the official SDKs, on every client surface
against every provider kind: input block and mask, output block, mask and flag, streams
included; what the fake upstream received, what was charged, and the matches feed.

Each policy belongs to a workspace of its own ("guarded"), so the rest of the suite, on the
session's workspaces, is never screened."""

import json
import time
from decimal import Decimal

import openai
import pytest

from billing.selectors import balance_pico
from billing.services import grant_credits
from guardrails.models import Guardrail, GuardrailMatch, GuardrailVersion
from routing.models import Model, Provider
from tests.guardrails.live_clients import KIND_MODELS, SURFACES, ask
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.models import ApiKey

CARD = "4111 1111 1111 1111"  # Luhn-valid; the fakes stream it word by word: four chunks
EMAIL = "jane.doe@example.com"

INPUT_RULES = [
    {"type": "keyword", "stage": "input", "action": "block", "keywords": ["project-x"]},
    {"type": "pii", "stage": "input", "action": "mask", "entities": ["email", "credit_card"]},
    {"type": "keyword", "stage": "input", "action": "flag", "keywords": ["watchword"]},
]
OUTPUT_RULES = [
    {"type": "pii", "stage": "output", "action": "mask", "entities": ["email", "credit_card"]},
    {"type": "regex", "stage": "output", "action": "block", "pattern": "(?i)top secret"},
    {"type": "keyword", "stage": "output", "action": "flag", "keywords": ["noteworthy"]},
]
DEFAULT_RULES = [{"type": "keyword", "stage": "both", "action": "block", "keywords": ["forbidden"]}]
COMBOS = [
    (surface, kind)
    for surface in SURFACES
    for kind in KIND_MODELS
    # the native-Responses model is a Responses provider; Gemini's SDK reaches it translated
    if not (kind == "responses" and surface not in ("responses", "chat"))
]


def _guardrail(workspace, name: str, rules: list[dict], **fields) -> Guardrail:
    guardrail = Guardrail.objects.create(workspace=workspace, name=name, version=1, **fields)
    GuardrailVersion.objects.create(guardrail=guardrail, number=1, rules=rules)
    return guardrail


@pytest.fixture(scope="module")
def guarded(live, django_db_blocker):
    """A workspace with keys bound to an input policy, an output policy, a disabled policy,
    and one on the workspace default (a flag-only policy)."""
    with django_db_blocker.unblock():
        workspace, _ = services.get_or_create_workspace("guarded")
        grant_credits(workspace.id, Decimal(100), note="guardrail tests")
        policies = {
            "input": _guardrail(workspace, "input-shield", INPUT_RULES),
            "output": _guardrail(workspace, "output-shield", OUTPUT_RULES, log_raw=True),
            "off": _guardrail(workspace, "switched-off", INPUT_RULES, enabled=False),
            "default": _guardrail(
                workspace,
                "house-default",
                DEFAULT_RULES,
                is_default=True,
            ),
        }
        keys = {}
        for name in ("input", "output", "off", "default"):
            key, raw = services.create_api_key(workspace, name=name)
            if name != "default":
                ApiKey.objects.filter(pk=key.pk).update(guardrail=policies[name])
            keys[name] = raw
    yield {"workspace": workspace, "keys": keys, "policies": policies, "base": live.server.base_url}


def _call(guarded, key: str, surface: str, kind: str, text: str, stream: bool):
    return ask(guarded["base"], guarded["keys"][key], surface, KIND_MODELS[kind], text, stream)


def _fake_for(upstreams, kind: str):
    return upstreams["openai" if kind == "responses" else kind]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("surface", "kind"), COMBOS)
def test_input_block_answers_400_in_the_dialect_before_any_upstream_call(
    guarded, upstreams, django_db_blocker, surface, kind, stream
):
    workspace = guarded["workspace"]
    with django_db_blocker.unblock():
        before = balance_pico(workspace.id)
    reply = _call(guarded, "input", surface, kind, "Tell me about Project-X today", stream)
    assert reply.error is not None, reply
    assert reply.error["status"] == 400
    assert reply.error["message"] == (
        'request blocked by guardrail "input-shield": keyword(matched 1 keyword(s))'
    )
    if surface in ("chat", "responses"):
        assert reply.error["code"] == "guardrail_blocked"
        assert reply.error["type"] == "orcarouter_api_error"
    if surface != "generate":
        assert reply.headers["x-orca-guardrail"] == "input-shield:v1"
    assert not _fake_for(upstreams, kind).requests  # nothing reached any upstream
    request_id = reply.headers.get("x-orca-request-id")
    if request_id:
        record = wait_for_usage(django_db_blocker, request_id)
        assert (record.status_code, record.error_code) == (400, "guardrail_blocked")
        assert (record.cost_pico, record.guardrail, record.guardrail_action) == (
            0,
            "input-shield:v1",
            "block",
        )
    with django_db_blocker.unblock():
        assert balance_pico(workspace.id) == before


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("surface", "kind"), COMBOS)
def test_input_mask_rewrites_what_the_upstream_receives(guarded, upstreams, surface, kind, stream):
    text = f"My card is {CARD} and my mail {EMAIL}, watchword."
    reply = _call(guarded, "input", surface, kind, text, stream)
    assert reply.error is None, reply
    assert reply.text
    received = _fake_for(upstreams, kind).requests[-1].body.decode()
    assert CARD not in received and EMAIL not in received
    assert "[CREDIT_CARD]" in received and "[EMAIL]" in received
    assert "watchword" in received  # a flag changes nothing


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("surface", "kind"), COMBOS)
def test_output_mask_catches_a_card_split_across_stream_chunks(
    guarded, upstreams, django_db_blocker, surface, kind, stream
):
    reply = _call(
        guarded, "output", surface, kind, f"orca-say:Your card {CARD} and {EMAIL} noted.", stream
    )
    assert reply.error is None and not reply.stream_error, reply
    assert reply.text == "Your card [CREDIT_CARD] and [EMAIL] noted."
    request_id = reply.headers.get("x-orca-request-id")
    if request_id:
        assert reply.headers["x-orca-guardrail"] == "output-shield:v1"
        record = wait_for_usage(django_db_blocker, request_id)
        assert (record.guardrail, record.guardrail_action) == ("output-shield:v1", "mask")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("surface", "kind"), COMBOS)
def test_output_block_is_an_error_in_the_dialect_and_never_charged(
    guarded, upstreams, django_db_blocker, surface, kind, stream
):
    workspace = guarded["workspace"]
    with django_db_blocker.unblock():
        before = balance_pico(workspace.id)
    reply = _call(guarded, "output", surface, kind, "orca-say:This is TOP secret stuff", stream)
    message = 'response blocked by guardrail "output-shield": regex(pattern 1)'
    if stream:
        assert reply.error is None and message in reply.stream_error, reply
        assert "secret" not in reply.text.lower()
    else:
        assert reply.error is not None and reply.error["status"] == 400, reply
        assert reply.error["message"] == message
    request_id = reply.headers.get("x-orca-request-id")
    if request_id:
        record = wait_for_usage(django_db_blocker, request_id)
        assert (record.error_code, record.cost_pico, record.guardrail_action) == (
            "guardrail_blocked",
            0,
            "block",
        )
        with django_db_blocker.unblock():
            assert balance_pico(workspace.id) == before


def test_flag_records_a_match_and_changes_nothing(guarded, upstreams, django_db_blocker):
    reply = _call(guarded, "output", "chat", "openai", "orca-say:A noteworthy answer", True)
    assert reply.text == "A noteworthy answer"
    request_id = reply.headers["x-orca-request-id"]
    record = wait_for_usage(django_db_blocker, request_id)
    assert record.guardrail_action == "flag"
    match = _wait_for_match(django_db_blocker, request_id)
    assert (match.stage, match.action, match.rule_type) == ("output", "flag", "keyword")
    assert match.raw_text == "noteworthy"  # this guardrail logs raw text
    assert (match.guardrail_name, match.version) == ("output-shield", 1)


def test_matches_keep_no_text_unless_log_raw_is_on(guarded, upstreams, django_db_blocker):
    reply = _call(guarded, "input", "chat", "openai", f"mail {EMAIL}", False)
    match = _wait_for_match(django_db_blocker, reply.headers["x-orca-request-id"])
    assert (match.entity, match.action, match.stage) == ("email", "mask", "input")
    assert match.raw_text == ""
    assert EMAIL not in match.detail


def test_a_key_bound_to_a_disabled_guardrail_is_not_screened_by_the_default(guarded, upstreams):
    reply = _call(guarded, "off", "chat", "openai", "forbidden Project-X", False)
    assert reply.error is None and "x-orca-guardrail" not in reply.headers
    assert "forbidden Project-X" in upstreams["openai"].requests[-1].body.decode()


def test_an_unbound_key_gets_the_workspace_default(guarded, upstreams):
    reply = _call(guarded, "default", "chat", "openai", "something forbidden", False)
    assert reply.error is not None
    assert reply.error["message"].startswith('request blocked by guardrail "house-default"')


def test_embeddings_input_is_screened(guarded, upstreams):
    client = openai.OpenAI(
        base_url=guarded["base"] + "/v1", api_key=guarded["keys"]["input"], max_retries=0
    )
    with pytest.raises(openai.BadRequestError) as refused:
        client.embeddings.create(model="fake/embed", input=["fine", "about project-x"])
    assert refused.value.body["code"] == "guardrail_blocked"
    client.embeddings.create(model="fake/embed", input=[f"mail {EMAIL}"])
    received = upstreams["openai"].requests[-1].json
    assert received["input"] == ["mail [EMAIL]"]


def test_a_policy_edit_is_seen_by_the_next_call_within_a_second(
    guarded, upstreams, django_db_blocker
):
    policy = guarded["policies"]["default"]
    assert _call(guarded, "default", "chat", "openai", "say plums", False).error is None
    with django_db_blocker.unblock():
        rules = [{"type": "keyword", "stage": "input", "action": "block", "keywords": ["plums"]}]
        GuardrailVersion.objects.create(guardrail=policy, number=2, rules=rules)
        Guardrail.objects.filter(pk=policy.pk).update(version=2)
    edited = time.monotonic()
    while True:
        reply = _call(guarded, "default", "chat", "openai", "say plums", False)
        if reply.error is not None:
            break
        assert time.monotonic() - edited < 1.0, "the edit was not seen within 1 s"
        time.sleep(0.05)
    assert reply.headers["x-orca-guardrail"] == "house-default:v2"
    with django_db_blocker.unblock():
        GuardrailVersion.objects.create(guardrail=policy, number=3, rules=DEFAULT_RULES)
        Guardrail.objects.filter(pk=policy.pk).update(version=3)


def _wait_for_match(django_db_blocker, request_id: str, timeout: float = 5.0) -> GuardrailMatch:
    deadline = time.monotonic() + timeout
    while True:
        with django_db_blocker.unblock():
            match = GuardrailMatch.objects.filter(request_id=request_id).first()
            if match is not None:
                return match
        if time.monotonic() > deadline:
            raise AssertionError(f"no guardrail match for {request_id}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def judged(guarded, django_db_blocker):
    """A key bound to a policy whose moderation rule asks the fake's /v1/moderations."""
    with django_db_blocker.unblock():
        provider = Provider.objects.get(slug="fake")
        Model.objects.get_or_create(
            public_id="fake/moderation",
            defaults={
                "provider": provider,
                "upstream_name": "omni-moderation-latest",
                "endpoint_types": ["moderation"],
                "input_price": Decimal(0),
                "output_price": Decimal(0),
            },
        )
        rules = [
            {"type": "moderation", "stage": "input", "action": "block", "model": "fake/moderation"}
        ]
        policy = _guardrail(guarded["workspace"], "judged", rules)
        key, raw = services.create_api_key(guarded["workspace"], name="judged")
        ApiKey.objects.filter(pk=key.pk).update(guardrail=policy)
    # The judge's model is new to the catalog: wait for the server to see it.
    deadline = time.monotonic() + 5
    models = openai.OpenAI(base_url=guarded["base"] + "/v1", api_key=raw, max_retries=0).models
    while "fake/moderation" not in {m.id for m in models.list()}:
        assert time.monotonic() < deadline, "the server never listed fake/moderation"
        time.sleep(0.05)
    yield raw
    with django_db_blocker.unblock():  # the session's catalog is shared with other modules
        Model.objects.filter(public_id="fake/moderation").delete()


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("surface", SURFACES)
def test_moderation_blocks_before_any_byte_reaches_the_client(
    guarded, judged, upstreams, django_db_blocker, surface, stream
):
    upstreams["openai"].moderation_delay = 0.3  # the upstream answers first: the answer waits
    reply = ask(guarded["base"], judged, surface, "fake/chat", "please orca-harm them", stream)
    assert reply.error is not None and reply.error["status"] == 400, reply
    assert reply.error["message"] == (
        'request blocked by guardrail "judged": moderation(flagged: violence)'
    )
    judged_texts = [
        r.json["input"] for r in upstreams["openai"].requests if "moderations" in r.path
    ]
    assert judged_texts and "orca-harm" in judged_texts[-1]
    request_id = reply.headers.get("x-orca-request-id")
    if request_id:
        record = wait_for_usage(django_db_blocker, request_id)
        assert (record.error_code, record.cost_pico) == ("guardrail_blocked", 0)


def test_moderation_pass_lets_the_answer_through(guarded, judged, upstreams):
    reply = ask(guarded["base"], judged, "chat", "fake/chat", "a kind question", True)
    assert reply.error is None and reply.text == "Hello from the fake upstream."
    paths = [r.path for r in upstreams["openai"].requests]
    assert "/v1/moderations" in paths and "/v1/chat/completions" in paths


TOOL = {
    "type": "function",
    "function": {
        "name": "note",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_tool_call_arguments_are_screened_like_text(guarded, upstreams, stream):
    client = openai.OpenAI(
        base_url=guarded["base"] + "/v1", api_key=guarded["keys"]["output"], max_retries=0
    )
    prompt = [{"role": "user", "content": f"orca-say:card {CARD} for {EMAIL}"}]
    if stream:
        arguments = ""
        for chunk in client.chat.completions.create(
            model="fake/chat", messages=prompt, tools=[TOOL], stream=True
        ):
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                arguments += call.function.arguments or ""
    else:
        answer = client.chat.completions.create(model="fake/chat", messages=prompt, tools=[TOOL])
        arguments = answer.choices[0].message.tool_calls[0].function.arguments
    assert json.loads(arguments) == {"text": "card [CREDIT_CARD] for [EMAIL]"}
