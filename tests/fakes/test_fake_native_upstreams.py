"""Proves the fake Anthropic and Gemini upstreams speak the real wire formats.

The official SDKs (anthropic, google-genai) are pointed straight at the fakes, without Orca, and
raw HTTP checks cover what the SDKs hide (exact SSE framing, strict request validation).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from .anthropic_upstream import FakeAnthropicUpstream
from .gemini_upstream import FakeGeminiUpstream

HI = [{"role": "user", "content": "Hi"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
THINKING = {"type": "enabled", "budget_tokens": 1024}


# ================================================================================== Anthropic


@pytest.fixture(scope="module")
def claude_fake() -> Iterator[FakeAnthropicUpstream]:
    with FakeAnthropicUpstream() as upstream:
        yield upstream


@pytest.fixture
def claude(claude_fake: FakeAnthropicUpstream) -> anthropic.Anthropic:
    claude_fake.reset()
    # No retries: 429/529 would otherwise be retried (after retry-after: 7 for the 429).
    return anthropic.Anthropic(
        base_url=claude_fake.base_url, api_key=claude_fake.api_key, max_retries=0
    )


def _claude_post(
    fake: FakeAnthropicUpstream, body: Any, *, path: str = "/v1/messages", **headers: str
) -> httpx.Response:
    sent = {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01", **headers}
    return httpx.post(fake.base_url + path, json=body, headers=sent, timeout=10)


def _sse_events(raw: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, data) pairs of an SSE body."""
    out = []
    for block in raw.strip().split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        assert data is not None, block
        out.append((name, data))
    return out


def test_claude_text_message_and_recording(
    claude_fake: FakeAnthropicUpstream, claude: anthropic.Anthropic
) -> None:
    message = claude.messages.create(model="claude-fake", max_tokens=256, messages=HI)

    assert message.id.startswith("msg_fake")
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-fake-20250101"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello from the fake Anthropic upstream."  # type: ignore[union-attr]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (12, 8)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (4, 2)

    recorded = claude_fake.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/messages")
    assert recorded.headers["anthropic-version"]
    # anthropic-python >= 2 sends api_key= as a bearer token; the fake takes it or x-api-key.
    assert recorded.headers["authorization"] == f"Bearer {claude_fake.api_key}"
    assert recorded.json == {"model": "claude-fake", "max_tokens": 256, "messages": HI}
    assert claude_fake.rejections == []


def test_claude_tool_use_blocks(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-fake", max_tokens=256, messages=HI, tools=[WEATHER_TOOL]
    )

    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert [(c.id, c.name, c.input) for c in calls] == [
        ("toolu_fake_0", "get_weather", {"city": "Paris"}),
        ("toolu_fake_1", "get_weather", {"city": "Tokyo"}),
    ]


def test_claude_tool_choice_none_gives_text(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-fake",
        max_tokens=256,
        messages=HI,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.stop_reason == "end_turn"


def test_claude_thinking_block_comes_first_with_signature(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-fake", max_tokens=2048, messages=HI, thinking=THINKING
    )

    first, second = message.content
    assert first.type == "thinking"
    assert (first.thinking, first.signature) == ("Let me think about this.", "sig-fake-123")
    assert second.type == "text"


def test_claude_stop_sequence_and_structured_output(claude: anthropic.Anthropic) -> None:
    stopped = claude.messages.create(
        model="claude-fake", max_tokens=256, messages=HI, stop_sequences=["###", "END"]
    )
    assert stopped.stop_reason == "stop_sequence"
    assert stopped.stop_sequence == "###"
    assert stopped.content[0].text == "Hello from the fake"  # type: ignore[union-attr]

    structured = claude.messages.create(
        model="claude-fake",
        max_tokens=256,
        messages=HI,
        output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
    )
    assert json.loads(structured.content[0].text) == {"answer": "fake"}  # type: ignore[union-attr]


def test_claude_stream_text_and_usage(
    claude_fake: FakeAnthropicUpstream, claude: anthropic.Anthropic
) -> None:
    with claude.messages.stream(model="claude-fake", max_tokens=256, messages=HI) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert len(pieces) >= 3
    assert "".join(pieces) == "Hello from the fake Anthropic upstream."
    assert final.content[0].text == "Hello from the fake Anthropic upstream."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 8)
    assert final.usage.cache_read_input_tokens == 4
    assert claude_fake.wait_for_event("stream_completed", model="claude-fake")
    assert claude_fake.requests[-1].json["stream"] is True


def test_claude_stream_thinking_and_tools(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="claude-fake", max_tokens=2048, messages=HI, tools=[WEATHER_TOOL], thinking=THINKING
    ) as stream:
        final = stream.get_final_message()

    assert [block.type for block in final.content] == ["thinking", "tool_use", "tool_use"]
    thinking = final.content[0]
    assert thinking.signature == "sig-fake-123"  # type: ignore[union-attr]
    assert thinking.thinking == "Let me think about this."  # type: ignore[union-attr]
    assert [block.input for block in final.content[1:]] == [  # type: ignore[union-attr]
        {"city": "Paris"},
        {"city": "Tokyo"},
    ]
    assert final.stop_reason == "tool_use"


def test_claude_raw_stream_framing(claude_fake: FakeAnthropicUpstream) -> None:
    body = {
        "model": "claude-fake",
        "max_tokens": 2048,
        "messages": HI,
        "tools": [WEATHER_TOOL],
        "thinking": THINKING,
        "stream": True,
    }
    response = _claude_post(claude_fake, body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(response.text)

    assert all(name == data["type"] for name, data in events)  # event: line == data.type
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["output_tokens"] == 1 and start["usage"]["input_tokens"] == 12
    # Deltas per block index: thinking pieces then one signature; tool input in >=3 fragments.
    deltas: dict[int, list[dict[str, Any]]] = {}
    for name, data in events:
        if name == "content_block_delta":
            deltas.setdefault(data["index"], []).append(data["delta"])
    assert [d["type"] for d in deltas[0]][-1] == "signature_delta"
    assert {d["type"] for d in deltas[0][:-1]} == {"thinking_delta"}
    for index in (1, 2):
        fragments = [d["partial_json"] for d in deltas[index] if d["partial_json"]]
        assert len(fragments) >= 3
        assert {d["type"] for d in deltas[index]} == {"input_json_delta"}
    assert json.loads("".join(d["partial_json"] for d in deltas[2])) == {"city": "Tokyo"}
    message_delta = events[-2][1]
    assert message_delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert message_delta["usage"]["output_tokens"] == 8


def test_claude_count_tokens(
    claude_fake: FakeAnthropicUpstream, claude: anthropic.Anthropic
) -> None:
    counted = claude.messages.count_tokens(
        model="claude-fake",
        system="Be brief.",
        messages=[{"role": "user", "content": "How is the weather today?"}],
    )
    assert counted.input_tokens == 2 + 5 + 3
    assert claude_fake.requests[-1].path == "/v1/messages/count_tokens"


def test_claude_errors_map_to_sdk_exceptions(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as rate_limited:
        claude.messages.create(model="claude-error-429", max_tokens=16, messages=HI)
    assert rate_limited.value.response.headers["retry-after"] == "7"
    assert rate_limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]

    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model="claude-error-529", max_tokens=16, messages=HI)
    with pytest.raises(anthropic.InternalServerError) as server_error:
        claude.messages.create(model="claude-error-500", max_tokens=16, messages=HI)
    assert server_error.value.status_code == 500
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: upstream says no"):
        claude.messages.create(model="claude-error-400", max_tokens=16, messages=HI)


def test_claude_midstream_error_raises(
    claude_fake: FakeAnthropicUpstream, claude: anthropic.Anthropic
) -> None:
    seen: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        claude.messages.stream(
            model="claude-midstream-error", max_tokens=256, messages=HI
        ) as stream,
    ):
        seen.extend(stream.text_stream)
    assert seen  # some text arrived before the error event
    assert claude_fake.wait_for_event("stream_errored", model="claude-midstream-error")


def test_claude_slow_stream_records_abort(
    claude_fake: FakeAnthropicUpstream, claude: anthropic.Anthropic
) -> None:
    with claude.messages.stream(model="claude-slow-stream", max_tokens=256, messages=HI) as stream:
        for i, _ in enumerate(stream.text_stream):
            if i == 2:
                break
    assert claude_fake.wait_for_event("stream_aborted", timeout=5, model="claude-slow-stream")
    assert ("stream_completed", "claude-slow-stream") not in claude_fake.events


def test_claude_accepts_a_valid_tool_loop(claude_fake: FakeAnthropicUpstream) -> None:
    body = {
        "model": "claude-fake",
        "max_tokens": 2048,
        "system": [{"type": "text", "text": "Be brief."}],
        "thinking": THINKING,
        "temperature": 1,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "auto"},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "Sunny"},
                    {"type": "text", "text": "Thanks"},
                ],
            },
        ],
    }
    response = _claude_post(claude_fake, body)
    assert response.status_code == 200, response.text
    assert claude_fake.rejections == []


def _tool_loop(result_id: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": result_id}]},
    ]


_BASE = {"model": "claude-fake", "max_tokens": 2048, "messages": HI}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"model": "claude-fake", "messages": HI}, "max_tokens"),
        (
            {**_BASE, "messages": [{"role": "assistant", "content": "Hi"}, *HI]},
            "first message",
        ),
        ({**_BASE, "messages": [*HI, *HI]}, "alternate"),
        ({**_BASE, "messages": [{"role": "system", "content": "Be brief."}, *HI]}, "system"),
        ({**_BASE, "messages": [{"role": "user", "content": "Hi", "name": "bob"}]}, "name"),
        (
            {**_BASE, "tools": [WEATHER_TOOL], "messages": _tool_loop("call_2")},
            "tool_use_id",
        ),
        ({**_BASE, "messages": _tool_loop("call_1")}, "must define tools"),
        (
            {
                **_BASE,
                "tools": [WEATHER_TOOL],
                "messages": [*_tool_loop("call_1")[:2], {"role": "user", "content": "Hm"}],
            },
            "without `tool_result`",
        ),
        ({**_BASE, "temperature": 1.5}, "temperature"),
        ({**_BASE, "thinking": {"type": "enabled", "budget_tokens": 512}}, "budget_tokens"),
        ({**_BASE, "thinking": {"type": "enabled", "budget_tokens": 2048}}, "max_tokens"),
        ({**_BASE, "thinking": THINKING, "temperature": 0.5}, "temperature"),
        ({**_BASE, "thinking": THINKING, "top_k": 5}, "top_k"),
        (
            {
                **_BASE,
                "thinking": THINKING,
                "tools": [WEATHER_TOOL],
                "messages": _tool_loop("call_1"),
            },
            "thinking",
        ),
        ({**_BASE, "n": 1}, "n:"),
        ({**_BASE, "response_format": {"type": "json_object"}}, "response_format"),
        ({**_BASE, "stream_options": {"include_usage": True}}, "stream_options"),
        ({**_BASE, "frequency_penalty": 0.1}, "frequency_penalty"),
        ({**_BASE, "presence_penalty": 0.1}, "presence_penalty"),
        ({**_BASE, "seed": 1}, "seed"),
        ({**_BASE, "max_completion_tokens": 10}, "max_completion_tokens"),
        ({**_BASE, "tools": [WEATHER_TOOL], "tool_choice": "auto"}, "tool_choice"),
        (
            {
                **_BASE,
                "tools": [{"type": "function", "function": {"name": "get_weather"}}],
            },
            "function",
        ),
        (
            {**_BASE, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "image_url",
        ),
        (
            {**_BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
            "non-empty",
        ),
    ],
)
def test_claude_refuses_invalid_requests(
    claude_fake: FakeAnthropicUpstream, body: dict[str, Any], problem: str
) -> None:
    claude_fake.reset()
    response = _claude_post(claude_fake, body)

    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert problem in error["error"]["message"]
    assert claude_fake.rejections == [error["error"]["message"]]
    assert claude_fake.events == [("invalid_request", "claude-fake")]
    assert claude_fake.requests[-1].json == body  # refused requests are recorded too


def test_claude_authentication(claude_fake: FakeAnthropicUpstream) -> None:
    wrong = _claude_post(claude_fake, _BASE, **{"x-api-key": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {
        "type": "authentication_error",
        "message": "invalid x-api-key",
    }
    no_version = httpx.post(
        claude_fake.base_url + "/v1/messages",
        json=_BASE,
        headers={"x-api-key": claude_fake.api_key},
    )
    assert no_version.status_code == 400
    assert "anthropic-version" in no_version.json()["error"]["message"]
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(
            base_url=claude_fake.base_url, api_key="wrong", max_retries=0
        ).messages.create(model="claude-fake", max_tokens=16, messages=HI)


# ================================================================================== Gemini


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGeminiUpstream]:
    with FakeGeminiUpstream() as upstream:
        yield upstream


@pytest.fixture
def gemini(gemini_fake: FakeGeminiUpstream) -> genai.Client:
    gemini_fake.reset()
    return genai.Client(
        api_key=gemini_fake.api_key, http_options=types.HttpOptions(base_url=gemini_fake.base_url)
    )


WEATHER_DECLARATION = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters=types.Schema(
        type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
    ),
)
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


def _tools_config(**extra: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER_DECLARATION])],
        automatic_function_calling=NO_AFC,
        **extra,
    )


def test_gemini_text_and_recording(gemini_fake: FakeGeminiUpstream, gemini: genai.Client) -> None:
    response = gemini.models.generate_content(model="gemini-fake", contents="Hi")

    assert response.text == "Hello from the fake Gemini upstream."
    assert response.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert response.model_version == "gemini-fake"
    assert response.response_id
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count) == (9, 6)
    assert (usage.cached_content_token_count, usage.total_token_count) == (3, 15)
    assert usage.thoughts_token_count is None

    recorded = gemini_fake.requests[-1]
    # google-genai 3.x defaults to the v1 API; /v1beta is served the same way.
    assert recorded.path == "/v1/models/gemini-fake:generateContent"
    assert recorded.headers["x-goog-api-key"] == gemini_fake.api_key
    assert recorded.json == {"contents": [{"parts": [{"text": "Hi"}], "role": "user"}]}
    assert gemini_fake.rejections == []


def test_gemini_v1beta_path(gemini_fake: FakeGeminiUpstream) -> None:
    client = genai.Client(
        api_key=gemini_fake.api_key,
        http_options=types.HttpOptions(base_url=gemini_fake.base_url, api_version="v1beta"),
    )
    assert client.models.generate_content(model="gemini-fake", contents="Hi").text
    assert gemini_fake.requests[-1].path == "/v1beta/models/gemini-fake:generateContent"


def test_gemini_function_calls_and_thoughts(gemini: genai.Client) -> None:
    response = gemini.models.generate_content(
        model="gemini-fake",
        contents="Weather?",
        config=_tools_config(thinking_config=types.ThinkingConfig(include_thoughts=True)),
    )

    calls = response.function_calls or []
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Tokyo"}),
    ]
    parts = response.candidates[0].content.parts  # type: ignore[index,union-attr]
    assert parts[0].thought is True and parts[0].text == "Thinking it over."  # type: ignore[index]
    assert all(p.thought_signature == b"sig-fake" for p in parts[1:])  # type: ignore[index]
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.thoughts_token_count, usage.total_token_count) == (2, 17)


def test_gemini_mode_none_and_json_output(gemini: genai.Client) -> None:
    none_mode = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.NONE
        )
    )
    response = gemini.models.generate_content(
        model="gemini-fake", contents="Hi", config=_tools_config(tool_config=none_mode)
    )
    assert response.function_calls is None
    assert response.text == "Hello from the fake Gemini upstream."

    structured = gemini.models.generate_content(
        model="gemini-fake",
        contents="Hi",
        config=types.GenerateContentConfig(
            response_mime_type="application/json",
            response_schema={"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}},
        ),
    )
    assert json.loads(structured.text or "") == {"answer": "fake"}


def test_gemini_stream_text(gemini_fake: FakeGeminiUpstream, gemini: genai.Client) -> None:
    chunks = list(gemini.models.generate_content_stream(model="gemini-fake", contents="Hi"))

    assert len(chunks) >= 3
    assert "".join(c.text or "" for c in chunks) == "Hello from the fake Gemini upstream."
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])  # type: ignore[index]
    assert chunks[-1].usage_metadata.total_token_count == 15  # type: ignore[union-attr]
    assert len({c.response_id for c in chunks}) == 1
    recorded = gemini_fake.requests[-1]
    assert recorded.path == "/v1/models/gemini-fake:streamGenerateContent"
    assert recorded.query == {"alt": "sse"}
    assert gemini_fake.wait_for_event("stream_completed", model="gemini-fake")


def test_gemini_stream_function_calls(gemini: genai.Client) -> None:
    chunks = list(
        gemini.models.generate_content_stream(
            model="gemini-fake", contents="Weather?", config=_tools_config()
        )
    )

    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Tokyo"}),
    ]
    assert all(len(chunk.function_calls or []) == 1 for chunk in chunks)  # each whole, alone
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]


def test_gemini_stream_without_alt_is_a_json_array(gemini_fake: FakeGeminiUpstream) -> None:
    response = httpx.post(
        f"{gemini_fake.base_url}/v1beta/models/gemini-fake:streamGenerateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
        headers={"x-goog-api-key": gemini_fake.api_key},
    )
    chunks = response.json()
    assert isinstance(chunks, list) and len(chunks) >= 3
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "Hello from the fake Gemini upstream."
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_raw_sse_framing(gemini_fake: FakeGeminiUpstream) -> None:
    response = httpx.post(
        f"{gemini_fake.base_url}/v1beta/models/gemini-fake:streamGenerateContent?alt=sse",
        json={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
        headers={"x-goog-api-key": gemini_fake.api_key},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = response.text.split("\n\n")
    assert blocks[-1] == ""  # every event ends with a blank line
    assert all(block.startswith("data: {") and "\n" not in block for block in blocks[:-1])
    assert "[DONE]" not in response.text and "event:" not in response.text


def test_gemini_count_tokens(gemini_fake: FakeGeminiUpstream, gemini: genai.Client) -> None:
    counted = gemini.models.count_tokens(model="gemini-fake", contents="How is the weather?")
    assert counted.total_tokens == 4 + 3
    assert gemini_fake.requests[-1].path == "/v1/models/gemini-fake:countTokens"


def test_gemini_errors_map_to_sdk_exceptions(gemini: genai.Client) -> None:
    with pytest.raises(genai_errors.ClientError) as bad:
        gemini.models.generate_content(model="gemini-error-400", contents="Hi")
    assert bad.value.code == 400 and bad.value.status == "INVALID_ARGUMENT"
    assert bad.value.message == "temperature: upstream says no"

    with pytest.raises(genai_errors.ClientError) as limited:
        gemini.models.generate_content(model="gemini-error-429", contents="Hi")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    assert limited.value.response.headers["retry-after"] == "7"  # type: ignore[union-attr]

    with pytest.raises(genai_errors.ServerError) as internal:
        gemini.models.generate_content(model="gemini-error-500", contents="Hi")
    assert internal.value.code == 500 and internal.value.status == "INTERNAL"

    with pytest.raises(genai_errors.ClientError) as streamed:
        list(gemini.models.generate_content_stream(model="gemini-error-400", contents="Hi"))
    assert streamed.value.code == 400


def test_gemini_bad_key(gemini_fake: FakeGeminiUpstream) -> None:
    client = genai.Client(
        api_key="wrong", http_options=types.HttpOptions(base_url=gemini_fake.base_url)
    )
    with pytest.raises(genai_errors.ClientError) as bad:
        client.models.generate_content(model="gemini-fake", contents="Hi")
    assert bad.value.code == 400 and bad.value.status == "INVALID_ARGUMENT"
    assert bad.value.message == "API key not valid. Please pass a valid API key."


def test_gemini_midstream_error_raises(
    gemini_fake: FakeGeminiUpstream, gemini: genai.Client
) -> None:
    seen: list[str] = []
    with pytest.raises(genai_errors.ServerError) as overloaded:
        for chunk in gemini.models.generate_content_stream(
            model="gemini-midstream-error", contents="Hi"
        ):
            seen.append(chunk.text or "")
    assert seen == ["Hello", " from"]
    assert overloaded.value.code == 503 and overloaded.value.status == "UNAVAILABLE"
    assert gemini_fake.wait_for_event("stream_errored", model="gemini-midstream-error")


def test_gemini_slow_stream_records_abort(
    gemini_fake: FakeGeminiUpstream, gemini: genai.Client
) -> None:
    stream = gemini.models.generate_content_stream(model="gemini-slow-stream", contents="Hi")
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    assert gemini_fake.wait_for_event("stream_aborted", timeout=5, model="gemini-slow-stream")
    assert ("stream_completed", "gemini-slow-stream") not in gemini_fake.events


def test_gemini_accepts_a_valid_function_loop(gemini_fake: FakeGeminiUpstream) -> None:
    body = {
        "system_instruction": {"parts": [{"text": "Be brief."}]},  # snake_case is fine too
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris and Tokyo?"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"t": 20}}},
                    {"functionResponse": {"name": "get_weather", "response": {"t": 25}}},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "parametersJsonSchema": {
                            "type": "object",
                            "properties": {"city": {"type": ["string", "null"]}},
                            "additionalProperties": False,
                        },
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"temperature": 0.2, "max_output_tokens": 100},
    }
    response = httpx.post(
        f"{gemini_fake.base_url}/v1beta/models/gemini-fake:generateContent",
        json=body,
        headers={"x-goog-api-key": gemini_fake.api_key},
    )
    assert response.status_code == 200, response.text


_USER = {"role": "user", "parts": [{"text": "Hi"}]}
_CALL = {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]}
_RESULT = {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {}}}]}
_DECLARATION = {
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "additionalProperties": False,
    },
}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "contents is not specified"),
        ({"contents": []}, "contents is not specified"),
        ({"contents": [{"role": "user"}]}, "parts must not be empty"),
        ({"contents": [{"role": "user", "parts": []}]}, "parts must not be empty"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "Hi"}]}]}, "valid role"),
        ({"contents": [{"parts": [{"text": "Hi"}]}]}, "valid role"),
        ({"contents": [_USER, _CALL, _RESULT]}, "lookup"),
        ({"contents": [_USER, _RESULT]}, "function response turn"),
        ({"contents": [_USER, _CALL, _USER]}, "number of function response parts"),
        ({"contents": [_USER], "messages": []}, '"messages"'),
        ({"contents": [_USER], "generationConfig": {"max_tokens": 5}}, '"max_tokens"'),
        (
            {"contents": [_USER], "tools": [{"functionDeclarations": [_DECLARATION]}]},
            "additionalProperties",
        ),
        ({"contents": [_USER], "tools": [{"type": "function"}]}, '"type"'),
        ({"contents": [_USER], "systemInstruction": "Be brief."}, "system_instruction"),
        ({"contents": [{"role": "user", "parts": [{}]}]}, "oneof field 'data'"),
        (
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": "data:x,AA"}}],
                    }
                ]
            },
            "Base64",
        ),
        (
            {
                "contents": [_USER],
                "generationConfig": {
                    "thinkingConfig": {"thinkingBudget": 0, "thinkingLevel": "LOW"}
                },
            },
            "thinking budget and thinking level",
        ),
    ],
)
def test_gemini_refuses_invalid_requests(
    gemini_fake: FakeGeminiUpstream, body: dict[str, Any], problem: str
) -> None:
    gemini_fake.reset()
    response = httpx.post(
        f"{gemini_fake.base_url}/v1beta/models/gemini-fake:generateContent",
        json=body,
        headers={"x-goog-api-key": gemini_fake.api_key},
    )

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert problem in error["message"]
    assert gemini_fake.rejections == [error["message"]]
    assert gemini_fake.events == [("invalid_request", "gemini-fake")]
    assert gemini_fake.requests[-1].json == body
