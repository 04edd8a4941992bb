"""Proves the fake upstream speaks the real Chat Completions format, using the official SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import OpenAI

from .openai_upstream import FakeOpenAIUpstream

MESSAGES = [{"role": "user", "content": "Hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIUpstream]:
    upstream = FakeOpenAIUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def client(fake: FakeOpenAIUpstream) -> OpenAI:
    fake.reset()
    # No retries: the 429 case would otherwise honour Retry-After: 7.
    return OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)


def test_non_stream_completion_and_recording(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    completion = client.chat.completions.create(model="fake-chat", messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-fake")
    assert completion.model == "fake-chat-2024-01-01"
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 18
    assert completion.usage.prompt_tokens_details.cached_tokens == 3  # type: ignore[union-attr]

    recorded = fake.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["authorization"] == f"Bearer {fake.api_key}"
    assert recorded.json == {"model": "fake-chat", "messages": MESSAGES}


def test_stream_with_include_usage(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="fake-chat",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake upstream."
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 18
    assert len({c.id for c in chunks}) == 1


def test_streamed_parallel_tool_calls_reassemble(client: OpenAI) -> None:
    with client.chat.completions.stream(
        model="fake-chat", messages=MESSAGES, tools=[WEATHER_TOOL]
    ) as stream:
        for _ in stream:
            pass
        completion = stream.get_final_completion()

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [c.id for c in calls] == ["call_fake_0", "call_fake_1"]
    assert {c.function.name for c in calls} == {"get_weather"}
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris"},
        {"city": "Tokyo"},
    ]


def test_non_stream_tool_calls_and_json_schema(client: OpenAI) -> None:
    tools = client.chat.completions.create(
        model="fake-chat", messages=MESSAGES, tools=[WEATHER_TOOL]
    )
    assert tools.choices[0].finish_reason == "tool_calls"
    assert len(tools.choices[0].message.tool_calls or []) == 2

    schema = client.chat.completions.create(
        model="fake-chat",
        messages=MESSAGES,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
    )
    assert json.loads(schema.choices[0].message.content or "") == {"answer": "fake"}


def test_n_equals_two(client: OpenAI) -> None:
    completion = client.chat.completions.create(model="fake-chat", messages=MESSAGES, n=2)
    assert [c.message.content for c in completion.choices] == [
        "Hello from the fake upstream.",
        "Hello again from choice 1.",
    ]

    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in client.chat.completions.create(
        model="fake-chat", messages=MESSAGES, n=2, stream=True
    ):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: "Hello from the fake upstream.", 1: "Hello again from choice 1."}
    assert finishes == {0: "stop", 1: "stop"}


def test_errors_map_to_sdk_exceptions(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as rate_limited:
        client.chat.completions.create(model="fake-error-429", messages=MESSAGES)
    assert rate_limited.value.response.headers["retry-after"] == "7"

    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="fake-error-400", messages=MESSAGES)
    assert bad.value.code == "invalid_value" and bad.value.param == "temperature"

    wrong_key = OpenAI(base_url=fake.base_url, api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong_key.chat.completions.create(model="fake-chat", messages=MESSAGES)
    assert fake.requests[-1].headers["authorization"] == "Bearer nope"  # still recorded


def test_models_list(client: OpenAI) -> None:
    assert "fake-chat" in {m.id for m in client.models.list()}


def test_slow_stream_records_client_disconnect(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="fake-slow-stream", messages=MESSAGES, stream=True
    )
    for _, _chunk in zip(range(3), stream, strict=False):
        pass
    stream.close()
    assert fake.wait_for_event("stream_aborted", model="fake-slow-stream")
    assert ("stream_completed", "fake-slow-stream") not in fake.events


def test_drop_midstream_aborts_connection(fake: FakeOpenAIUpstream) -> None:
    request = {"model": "fake-drop-midstream", "messages": MESSAGES, "stream": True}
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    with (
        pytest.raises(httpx.TransportError),
        httpx.stream(
            "POST", f"{fake.base_url}/chat/completions", json=request, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        for _ in response.iter_bytes():
            pass
    assert fake.wait_for_event("stream_dropped")
