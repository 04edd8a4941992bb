"""/v1/chat/completions through a live server, with the official openai SDK as the sdk."""

import json

import httpx
import openai
import pytest

from tests.conftest import UPSTREAM_CREDENTIAL
from tests.usage import wait_for_usage

MESSAGES = [{"role": "user", "content": "Say hello"}]


def only_request(upstream):
    assert len(upstream.requests) == 1, upstream.requests
    return upstream.requests[0]


def test_non_stream_completion_relays_the_upstream_answer(live, sdk, upstream, django_db_blocker):
    raw = sdk.chat.completions.with_raw_response.create(model="fake/chat", messages=MESSAGES)
    completion = raw.parse()

    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "fake-chat-2024-01-01"  # the upstream's own model name
    assert completion.usage.prompt_tokens == 11
    assert completion.usage.completion_tokens == 7
    request_id = raw.headers["x-orca-request-id"]
    assert request_id.startswith("req_")

    seen = only_request(upstream)
    assert seen.json["model"] == "fake-chat"
    assert seen.json["messages"] == MESSAGES

    record = wait_for_usage(django_db_blocker, request_id)
    assert record.workspace_id == live.workspace.id
    assert record.model == "fake/chat"
    assert record.upstream_model == "fake-chat"
    assert (record.prompt_tokens, record.completion_tokens) == (11, 7)
    assert (record.cached_tokens, record.reasoning_tokens) == (3, 2)
    assert record.status_code == 200
    assert record.streamed is False
    assert record.ttft_ms is not None and record.latency_ms >= record.ttft_ms


def test_upstream_gets_the_provider_credential_never_the_client_key(live, sdk, upstream):
    sdk.chat.completions.create(model="fake/chat", messages=MESSAGES)
    sdk.chat.completions.create(model="fake/chat", messages=MESSAGES, stream=True).close()

    assert len(upstream.requests) == 2
    for seen in upstream.requests:
        assert seen.headers["authorization"] == f"Bearer {UPSTREAM_CREDENTIAL}"
        everything = json.dumps(seen.headers) + seen.body.decode()
        assert "sk-orca" not in everything
        assert live.key not in everything


def test_fields_orca_does_not_own_arrive_unchanged(sdk, upstream):
    extra = {
        "custom_vendor_field": {"nested": [1, 2.5, "x", None, True]},
        "top_k": 40,
        "metadata": {"team": "search"},
        "reasoning_effort": "low",
    }
    sdk.chat.completions.create(
        model="fake/chat", messages=MESSAGES, temperature=0.3, seed=7, user="u-1", extra_body=extra
    )
    seen = only_request(upstream).json
    for name, value in extra.items():
        assert seen[name] == value
    assert (seen["temperature"], seen["seed"], seen["user"]) == (0.3, 7, "u-1")


def test_stream_is_reassembled_by_the_sdk_with_usage(live, sdk, upstream, django_db_blocker):
    stream = sdk.chat.completions.create(
        model="fake/chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake upstream."
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 7
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert only_request(upstream).json["stream_options"] == {"include_usage": True}


def test_stream_without_include_usage_hides_the_usage_chunk_but_meters_it(
    live, upstream, django_db_blocker
):
    with httpx.stream(
        "POST",
        f"{live.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {live.key}"},
        json={"model": "fake/chat", "messages": MESSAGES, "stream": True},
        timeout=10,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        request_id = response.headers["x-orca-request-id"]
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e[6:]) for e in events[:-1]]
    assert all(p["choices"] for p in payloads), "the usage-only chunk must not reach this client"
    # Orca asked the upstream for usage anyway, to meter the call.
    assert only_request(upstream).json["stream_options"] == {"include_usage": True}

    record = wait_for_usage(django_db_blocker, request_id)
    assert (record.prompt_tokens, record.completion_tokens, record.streamed) == (11, 7, True)
    assert record.usage_reported is True


def test_streamed_tool_call_deltas_are_reassembled(sdk, upstream):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    with sdk.chat.completions.stream(model="fake/chat", messages=MESSAGES, tools=tools) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.id for c in calls] == ["call_fake_0", "call_fake_1"]
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris"},
        {"city": "Tokyo"},
    ]
    assert only_request(upstream).json["tools"] == tools


def test_n_choices_non_stream_and_stream(sdk, upstream):
    completion = sdk.chat.completions.create(model="fake/chat", messages=MESSAGES, n=2)
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.choices[1].message.content == "Hello again from choice 1."

    texts = {0: "", 1: ""}
    for chunk in sdk.chat.completions.create(
        model="fake/chat", messages=MESSAGES, n=2, stream=True
    ):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: "Hello from the fake upstream.", 1: "Hello again from choice 1."}
    assert [r.json["n"] for r in upstream.requests] == [2, 2]


def test_response_format_json_schema_is_forwarded(sdk, upstream):
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
                "additionalProperties": False,
            },
        },
    }
    completion = sdk.chat.completions.create(
        model="fake/chat", messages=MESSAGES, response_format=response_format
    )
    assert json.loads(completion.choices[0].message.content) == {"answer": "fake"}
    assert only_request(upstream).json["response_format"] == response_format


def test_bare_model_name_resolves_when_unambiguous(sdk, upstream):
    sdk.chat.completions.create(model="solo", messages=MESSAGES)
    assert only_request(upstream).json["model"] == "fake-chat"


def test_client_dropping_a_stream_closes_the_upstream_connection(live, upstream, django_db_blocker):
    with httpx.stream(
        "POST",
        f"{live.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {live.key}"},
        json={"model": "fake/slow", "messages": MESSAGES, "stream": True},
        timeout=10,
    ) as response:
        request_id = response.headers["x-orca-request-id"]
        lines = response.iter_lines()
        received = [next(lines) for _ in range(6)]
    assert any(line.startswith("data: ") for line in received)
    # 200 chunks 50 ms apart would take 10 s; the upstream must see us leave long before.
    assert upstream.wait_for_event("stream_aborted", timeout=3, model="fake-slow-stream")
    assert ("stream_completed", "fake-slow-stream") not in upstream.events

    record = wait_for_usage(django_db_blocker, request_id)
    assert record.status_code == 499
    assert record.error_code == "client_closed"
    assert record.streamed is True


def test_demo_model_answers_streams_and_calls_tools(sdk):
    completion = sdk.chat.completions.create(model="orca/demo", messages=MESSAGES)
    assert (
        completion.choices[0].message.content == "Hello from Orca's demo model. You said: Say hello"
    )

    text = "".join(
        c.choices[0].delta.content or ""
        for c in sdk.chat.completions.create(model="orca/demo", messages=MESSAGES, stream=True)
        if c.choices
    )
    assert text == completion.choices[0].message.content

    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}, "limit": {"type": "integer"}},
                    "required": ["q", "limit"],
                },
            },
        }
    ]
    with sdk.chat.completions.stream(model="orca/demo", messages=MESSAGES, tools=tools) as s:
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"q": "demo", "limit": 1}


@pytest.mark.parametrize(
    ("model", "status", "exception"),
    [
        ("fake/error-500", 500, openai.InternalServerError),
        ("fake/error-429", 429, openai.RateLimitError),
        ("fake/error-400", 400, openai.BadRequestError),
    ],
)
def test_upstream_errors_keep_status_and_message(sdk, upstream, model, status, exception):
    with pytest.raises(exception) as caught:
        sdk.chat.completions.create(model=model, messages=MESSAGES)
    error = caught.value
    assert error.status_code == status
    assert error.response.headers["x-orca-request-id"].startswith("req_")
    upstream_message = {
        500: "The fake upstream had an internal server error while processing your request.",
        429: "rate",
        400: "Invalid value for temperature: upstream says no",
    }[status]
    assert upstream_message.lower() in error.body["message"].lower()
    if status == 429:
        assert error.response.headers["retry-after"] == "7"
    if status == 400:
        assert error.body["param"] == "temperature"
        assert error.body["code"] == "invalid_value"


def test_upstream_error_before_a_stream_keeps_its_status(sdk, upstream):
    with pytest.raises(openai.InternalServerError):
        sdk.chat.completions.create(model="fake/error-500", messages=MESSAGES, stream=True)


def test_credential_echoed_by_an_upstream_is_scrubbed(live, sdk, upstream):
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="fake/leaky", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_auth_failed"
    text = caught.value.response.text
    assert "Incorrect API key provided" in text
    assert UPSTREAM_CREDENTIAL not in text
    assert UPSTREAM_CREDENTIAL[:12] not in text


def test_malformed_upstream_json_is_a_502(sdk, upstream):
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="fake/malformed", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_invalid_response"
    assert caught.value.body["type"] == "orcarouter_api_error"


def test_first_byte_timeout_is_a_504_and_closes_the_upstream(
    live, sdk, upstream, django_db_blocker
):
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="fake/hang", messages=MESSAGES)
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "upstream_timeout"
    assert "first byte" in caught.value.body["message"]
    assert upstream.wait_for_event("request_aborted", timeout=3, model="fake-hang")
    record = wait_for_usage(django_db_blocker, caught.value.response.headers["x-orca-request-id"])
    assert (record.status_code, record.error_code) == (504, "upstream_timeout")


@pytest.mark.parametrize(
    ("model", "expected_code"),
    [("fake/stall", "upstream_timeout"), ("fake/drop", "upstream_error")],
)
def test_failure_after_the_stream_began_is_an_in_stream_error(live, upstream, model, expected_code):
    with httpx.stream(
        "POST",
        f"{live.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {live.key}"},
        json={"model": model, "messages": MESSAGES, "stream": True},
        timeout=10,
    ) as response:
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2][6:])["error"]
    assert error["code"] == expected_code
    assert error["type"] == "orcarouter_api_error"
    assert len(events) >= 4  # the chunks that did arrive were forwarded first


def test_sdk_raises_on_an_in_stream_error(sdk, upstream):
    with pytest.raises(openai.APIError):
        for _ in sdk.chat.completions.create(model="fake/drop", messages=MESSAGES, stream=True):
            pass


def test_each_workspace_key_is_billed_to_its_own_workspace(live, upstream, django_db_blocker):
    other = openai.OpenAI(base_url=live.base_url, api_key=live.other_key, max_retries=0)
    raw = other.chat.completions.with_raw_response.create(model="fake/chat", messages=MESSAGES)
    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert record.workspace_id == live.other_workspace.id != live.workspace.id
    with django_db_blocker.unblock():
        assert record.api_key.workspace_id == live.other_workspace.id
