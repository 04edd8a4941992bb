"""Errors speak the client's dialect on every surface, before and after a stream began."""

from decimal import Decimal

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from routing.wire import tokens
from tests.usage import wait_for_usage
from workspaces.models import Workspace

HELLO = [{"role": "user", "content": "hi"}]


def post(live, path, body, headers=None) -> httpx.Response:
    return httpx.post(f"{live.server.base_url}{path}", json=body, headers=headers or {}, timeout=10)


def test_messages_auth_by_x_api_key_or_bearer_and_anthropic_envelope(live, upstreams):
    body = {"model": "anthropic-fake/claude", "max_tokens": 20, "messages": HELLO}
    assert post(live, "/v1/messages", body, {"x-api-key": live.key}).status_code == 200
    assert (
        post(live, "/v1/messages", body, {"Authorization": f"Bearer {live.key}"}).status_code == 200
    )
    missing = post(live, "/v1/messages", body)
    assert missing.status_code == 401
    assert missing.json()["type"] == "error"
    assert missing.json()["error"]["type"] == "authentication_error"
    assert missing.headers["x-orca-request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("body", "param_hint"),
    [
        ({"model": "anthropic-fake/claude", "messages": HELLO}, "max_tokens"),
        ({"model": "anthropic-fake/claude", "max_tokens": 0, "messages": HELLO}, "max_tokens"),
        ({"model": "anthropic-fake/claude", "max_tokens": 9, "messages": []}, "messages"),
        (
            {
                "model": "anthropic-fake/claude",
                "max_tokens": 9,
                "messages": [{"role": "bot", "content": "x"}],
            },
            "role",
        ),
        (
            {
                "model": "anthropic-fake/claude",
                "max_tokens": 9,
                "messages": HELLO,
                "temperature": 1.5,
            },
            "temperature",
        ),
    ],
)
def test_messages_bad_input_is_an_anthropic_400_before_any_upstream_call(
    live, upstreams, body, param_hint
):
    response = post(live, "/v1/messages", body, {"x-api-key": live.key})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert param_hint in error["message"]
    assert all(not fake.requests for fake in upstreams.values())


def test_request_that_cannot_be_served_faithfully_is_a_400_naming_the_field(sdk, upstreams):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="anthropic-fake/claude", messages=HELLO, n=2)
    assert caught.value.body["param"] == "n"
    assert all(not fake.requests for fake in upstreams.values())


def test_gemini_auth_forms_and_gemini_envelope(live, upstreams):
    path = "/v1beta/models/gemini-fake/flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert post(live, path, body, {"x-goog-api-key": live.key}).status_code == 200
    assert post(live, f"{path}?key={live.key}", body).status_code == 200
    assert post(live, path, body, {"Authorization": f"Bearer {live.key}"}).status_code == 200
    missing = post(live, path, body)
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
    assert missing.json()["error"]["code"] == 401
    unknown = post(
        live, "/v1beta/models/nope/nope:generateContent", body, {"x-goog-api-key": live.key}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND"
    bad = post(live, path, {"contents": []}, {"x-goog-api-key": live.key})
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_upstream_errors_arrive_in_each_clients_dialect(live, sdk, upstreams):
    claude = anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model="fake/error-429", max_tokens=9, messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "7"

    client = genai.Client(
        api_key=live.key, http_options=types.HttpOptions(base_url=live.server.base_url)
    )
    with pytest.raises(genai_errors.ServerError) as server_error:
        client.models.generate_content(model="anthropic-fake/error-529", contents="hi")
    assert server_error.value.code == 503

    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(model="gemini-fake/error-400", messages=HELLO)
    assert "temperature: upstream says no" in bad.value.body["message"]


def test_failures_after_the_stream_began_are_in_stream_errors(
    live, sdk, upstreams, django_db_blocker
):
    # OpenAI client, Anthropic upstream that errors mid-stream.
    with pytest.raises(openai.APIError):
        for _ in sdk.chat.completions.create(
            model="anthropic-fake/midstream", messages=HELLO, stream=True
        ):
            pass
    # Anthropic client, OpenAI upstream that drops the connection mid-stream.
    claude = anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(model="fake/drop", max_tokens=9, messages=HELLO) as s,
    ):
        for _ in s:
            pass
    # Anthropic client, Anthropic upstream (pass-through) that errors mid-stream.
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(model="anthropic-fake/midstream", max_tokens=9, messages=HELLO) as s,
    ):
        for _ in s:
            pass
    # Gemini client, Gemini upstream (pass-through) and OpenAI upstream.
    client = genai.Client(
        api_key=live.key, http_options=types.HttpOptions(base_url=live.server.base_url)
    )
    for model in ("gemini-fake/midstream", "fake/drop"):
        with pytest.raises(genai_errors.APIError):
            list(client.models.generate_content_stream(model=model, contents="hi"))
    # Responses client, Gemini upstream: the SDK surfaces it as `error` + `response.failed`
    # events, as OpenAI's own API does.
    events = list(sdk.responses.create(model="gemini-fake/midstream", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created"
    assert "error" in kinds
    assert kinds[-1] == "response.failed"
    assert events[-1].response.status == "failed"


def test_midstream_error_is_recorded_as_a_failure(live, upstreams, django_db_blocker):
    with httpx.stream(
        "POST",
        f"{live.server.base_url}/v1/messages",
        json={"model": "fake/drop", "max_tokens": 9, "messages": HELLO, "stream": True},
        headers={"x-api-key": live.key},
        timeout=10,
    ) as response:
        request_id = response.headers["x-orca-request-id"]
        text = response.read().decode()
    assert "event: error" in text
    record = wait_for_usage(django_db_blocker, request_id)
    assert record.status_code == 502 and record.streamed


def test_count_tokens(live, upstreams):
    claude = anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)
    native = claude.messages.count_tokens(model="anthropic-fake/claude", messages=HELLO)
    assert native.input_tokens == 4  # the fake counts words ("hi") plus 3
    assert upstreams["anthropic"].requests[-1].json["model"] == "claude-fake"
    assert upstreams["anthropic"].requests[-1].path == "/v1/messages/count_tokens"
    estimated = claude.messages.count_tokens(
        model="fake/chat", messages=[{"role": "user", "content": "x" * 400}]
    )
    one_message = {"messages": [{"role": "user", "content": "x" * 400}]}
    assert estimated.input_tokens == tokens.estimate_chat_prompt(one_message, "fake-chat") == 57
    assert not upstreams["openai"].requests


def test_previous_response_id_needs_history_and_then_continues(live, sdk, upstreams, db_access):
    first = sdk.responses.create(model="fake/chat", input="Hello")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="fake/chat", input="Again", previous_response_id=first.id)
    assert caught.value.body["code"] == "response_history_disabled"
    assert caught.value.body["param"] == "previous_response_id"

    keeper = Workspace.objects.create(slug="keeper", name="Keeper", keep_response_history=True)
    from billing.services import grant_credits
    from workspaces import services

    grant_credits(keeper.id, Decimal(10))

    _, raw = services.create_api_key(keeper)
    client = openai.OpenAI(base_url=live.base_url, api_key=raw, max_retries=0)
    one = client.responses.create(model="anthropic-fake/claude", input="My name is Ada.")
    two = client.responses.create(
        model="anthropic-fake/claude", input="What is my name?", previous_response_id=one.id
    )
    assert two.output_text == "Hello from the fake Anthropic upstream."
    sent = upstreams["anthropic"].requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "My name is Ada." in str(sent[0]) and "What is my name?" in str(sent[2])

    # Another workspace cannot continue it; an unknown id is named.
    with pytest.raises(openai.BadRequestError) as foreign:
        sdk.responses.create(model="fake/chat", input="x", previous_response_id=one.id)
    assert foreign.value.body["code"] == "response_history_disabled"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.create(model="fake/chat", input="x", previous_response_id="resp_nope")
    assert unknown.value.body["code"] == "previous_response_not_found"
