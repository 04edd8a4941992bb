"""Every client surface against every provider kind, through a live server, with the official
SDKs as clients: what each SDK assembles must equal what the fake upstream produced, and each
fake (strict about its own API) must have received a valid request."""

import json
from dataclasses import dataclass

import anthropic
import pytest
from google import genai
from google.genai import types

from tests.conftest import ANTHROPIC_CREDENTIAL, GEMINI_CREDENTIAL, UPSTREAM_CREDENTIAL


@dataclass(frozen=True)
class Expected:
    """What a fake upstream answers, in canonical terms."""

    model: str  # public id in Orca's catalog
    upstream: str  # name the fake sees
    text: str
    prompt: int  # all input tokens, cache reads and writes included
    completion: int
    cached: int
    cache_write: int = 0


UPSTREAMS = {
    "openai": Expected("fake/chat", "fake-chat", "Hello from the fake upstream.", 11, 7, 3),
    "anthropic": Expected(
        "anthropic-fake/claude",
        "claude-fake",
        "Hello from the fake Anthropic upstream.",
        18,
        8,
        4,
        2,
    ),
    "gemini": Expected(
        "gemini-fake/flash", "gemini-fake", "Hello from the fake Gemini upstream.", 9, 6, 3
    ),
}
KINDS = list(UPSTREAMS)
CITIES = [{"city": "Paris"}, {"city": "Tokyo"}]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def last_request(upstreams, kind):
    fake = upstreams[kind]
    assert fake.requests, f"the {kind} upstream received nothing"
    seen = fake.requests[-1]
    if kind == "openai":
        assert seen.headers["authorization"] == f"Bearer {UPSTREAM_CREDENTIAL}"
        assert seen.json["model"] == UPSTREAMS[kind].upstream
    elif kind == "anthropic":
        assert seen.headers["x-api-key"] == ANTHROPIC_CREDENTIAL
        assert seen.json["model"] == UPSTREAMS[kind].upstream
    else:
        assert seen.headers["x-goog-api-key"] == GEMINI_CREDENTIAL
        assert f"/models/{UPSTREAMS[kind].upstream}:" in seen.path
    assert "sk-orca" not in json.dumps(seen.headers)
    return seen


# --- clients -------------------------------------------------------------------------------


@pytest.fixture
def claude(live):
    return anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)


@pytest.fixture
def gemini_client(live):
    return genai.Client(
        api_key=live.key,
        http_options=types.HttpOptions(base_url=live.server.base_url, timeout=20_000),
    )


# --- Anthropic SDK -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_anthropic_sdk_messages_create(claude, upstreams, kind):
    want = UPSTREAMS[kind]
    message = claude.messages.create(
        model=want.model,
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == want.text
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == want.completion
    assert message.usage.cache_read_input_tokens == want.cached
    assert (
        message.usage.input_tokens
        + message.usage.cache_read_input_tokens
        + (message.usage.cache_creation_input_tokens or 0)
        == want.prompt
    )
    last_request(upstreams, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_anthropic_sdk_messages_stream(claude, upstreams, kind):
    want = UPSTREAMS[kind]
    with claude.messages.stream(
        model=want.model, max_tokens=256, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == want.text
    assert final.content[0].text == want.text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == want.completion
    assert final.usage.cache_read_input_tokens == want.cached
    last_request(upstreams, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_anthropic_sdk_tool_use_round_trip(claude, upstreams, kind):
    want = UPSTREAMS[kind]
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    messages = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    with claude.messages.stream(
        model=want.model, max_tokens=256, tools=tools, messages=messages
    ) as s:
        first = s.get_final_message()
    calls = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use"
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert [c.input for c in calls] == CITIES
    assert len({c.id for c in calls}) == 2

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": c.id,
                    "content": f"Sunny in {c.input['city']}",
                }
                for c in calls
            ],
        },
    ]
    second = claude.messages.create(
        model=want.model, max_tokens=256, tools=tools, messages=messages
    )
    assert second.stop_reason == "tool_use"  # the fakes call tools whenever tools are offered
    sent = json.dumps(last_request(upstreams, kind).json)
    assert "Sunny in Paris" in sent and "Sunny in Tokyo" in sent


@pytest.mark.parametrize("kind", KINDS)
def test_anthropic_sdk_thinking(claude, upstreams, kind):
    want = UPSTREAMS[kind]
    message = claude.messages.create(
        model=want.model,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "Think, then say hello"}],
    )
    seen = last_request(upstreams, kind).json
    types_ = [b.type for b in message.content]
    assert types_[-1] == "text" and message.content[-1].text == want.text
    if kind == "anthropic":
        assert seen["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert types_ == ["thinking", "text"]
        thinking = message.content[0]
        assert (thinking.thinking, thinking.signature) == (
            "Let me think about this.",
            "sig-fake-123",
        )
        # The signature survives the next turn unchanged.
        claude.messages.create(
            model=want.model,
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 2048},
            messages=[
                {"role": "user", "content": "Think, then say hello"},
                {"role": "assistant", "content": [b.model_dump() for b in message.content]},
                {"role": "user", "content": "Again"},
            ],
        )
        replayed = last_request(upstreams, kind).json["messages"][1]["content"][0]
        assert replayed["signature"] == "sig-fake-123"
    elif kind == "gemini":
        config = seen["generationConfig"]["thinkingConfig"]
        assert config["thinkingBudget"] == 2048 and config["includeThoughts"] is True
        assert types_ == ["thinking", "text"]
        assert message.content[0].thinking == "Thinking it over."
    else:
        assert seen["reasoning_effort"] in {"low", "medium"}
        assert "thinking" not in seen


# --- google-genai SDK ----------------------------------------------------------------------


def weather_tool() -> types.Tool:
    return types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Weather",
                parameters=types.Schema(
                    type="OBJECT",
                    properties={"city": types.Schema(type="STRING")},
                    required=["city"],
                ),
            )
        ]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_genai_generate_content(gemini_client, upstreams, kind):
    want = UPSTREAMS[kind]
    response = gemini_client.models.generate_content(
        model=want.model,
        contents="Say hello",
        config=types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.5),
    )
    assert response.text == want.text
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.prompt_token_count == want.prompt
    assert usage.cached_content_token_count == want.cached
    reasoning = usage.thoughts_token_count or 0
    assert usage.candidates_token_count + reasoning == want.completion
    last_request(upstreams, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_genai_generate_content_stream(gemini_client, upstreams, kind):
    want = UPSTREAMS[kind]
    chunks = list(
        gemini_client.models.generate_content_stream(model=want.model, contents="Say hello")
    )
    assert "".join(c.text or "" for c in chunks) == want.text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    usage = chunks[-1].usage_metadata
    assert usage.prompt_token_count == want.prompt
    assert usage.candidates_token_count + (usage.thoughts_token_count or 0) == want.completion
    last_request(upstreams, kind)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [False, True])
def test_genai_function_calling_round_trip(gemini_client, upstreams, kind, stream):
    want = UPSTREAMS[kind]
    config = types.GenerateContentConfig(
        tools=[weather_tool()],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents = [types.Content(role="user", parts=[types.Part(text="Weather in Paris and Tokyo?")])]
    if stream:
        chunks = list(
            gemini_client.models.generate_content_stream(
                model=want.model, contents=contents, config=config
            )
        )
        calls = [c for chunk in chunks for c in (chunk.function_calls or [])]
        model_parts = [p for chunk in chunks for p in chunk.candidates[0].content.parts or []]
    else:
        response = gemini_client.models.generate_content(
            model=want.model, contents=contents, config=config
        )
        calls = response.function_calls
        model_parts = response.candidates[0].content.parts
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert [c.args for c in calls] == CITIES

    contents += [
        types.Content(role="model", parts=[p for p in model_parts if p.function_call]),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(
                    name="get_weather", response={"forecast": f"Sunny in {c.args['city']}"}
                )
                for c in calls
            ],
        ),
    ]
    gemini_client.models.generate_content(model=want.model, contents=contents, config=config)
    sent = json.dumps(last_request(upstreams, kind).json)
    assert "Sunny in Paris" in sent and "Sunny in Tokyo" in sent


# --- OpenAI SDK: chat completions and responses -----------------------------------------------


CHAT_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
    }
]


@pytest.mark.parametrize("kind", KINDS)
def test_openai_chat_create_and_stream(sdk, upstreams, kind):
    want = UPSTREAMS[kind]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ]
    completion = sdk.chat.completions.create(model=want.model, messages=messages, max_tokens=256)
    assert completion.choices[0].message.content == want.text
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == want.prompt
    assert completion.usage.completion_tokens == want.completion
    assert completion.usage.prompt_tokens_details.cached_tokens == want.cached
    last_request(upstreams, kind)

    chunks = list(
        sdk.chat.completions.create(
            model=want.model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == want.text
    assert chunks[-1].usage.completion_tokens == want.completion
    assert chunks[-1].usage.prompt_tokens == want.prompt


@pytest.mark.parametrize("kind", KINDS)
def test_openai_chat_function_calling_round_trip(sdk, upstreams, kind):
    want = UPSTREAMS[kind]
    messages = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    with sdk.chat.completions.stream(model=want.model, messages=messages, tools=CHAT_TOOLS) as s:
        first = s.get_final_completion()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.function.arguments) for c in calls] == CITIES

    messages.append(choice.message.model_dump(exclude_none=True))
    messages += [
        {
            "role": "tool",
            "tool_call_id": c.id,
            "content": f"Sunny in {json.loads(c.function.arguments)['city']}",
        }
        for c in calls
    ]
    second = sdk.chat.completions.create(model=want.model, messages=messages, tools=CHAT_TOOLS)
    assert second.choices[0].finish_reason == "tool_calls"
    sent = json.dumps(last_request(upstreams, kind).json)
    assert "Sunny in Paris" in sent and "Sunny in Tokyo" in sent


@pytest.mark.parametrize("kind", KINDS)
def test_openai_responses_create_and_stream(sdk, upstreams, kind):
    want = UPSTREAMS[kind]
    response = sdk.responses.create(model=want.model, instructions="Be brief.", input="Say hello")
    assert response.output_text == want.text
    assert response.status == "completed"
    assert response.usage.input_tokens == want.prompt
    assert response.usage.output_tokens == want.completion
    assert response.usage.input_tokens_details.cached_tokens == want.cached
    last_request(upstreams, kind)

    with sdk.responses.stream(model=want.model, input="Say hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == want.text
    assert final.output_text == want.text
    assert final.usage.output_tokens == want.completion


@pytest.mark.parametrize("kind", KINDS)
def test_openai_responses_function_calling_round_trip(sdk, upstreams, kind):
    want = UPSTREAMS[kind]
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": WEATHER_SCHEMA,
        }
    ]
    with sdk.responses.stream(
        model=want.model, input="Weather in Paris and Tokyo?", tools=tools
    ) as s:
        first = s.get_final_response()
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.arguments) for c in calls] == CITIES

    follow_up = [
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        *[c.model_dump(exclude_none=True) for c in calls],
        *[
            {
                "type": "function_call_output",
                "call_id": c.call_id,
                "output": f"Sunny in {json.loads(c.arguments)['city']}",
            }
            for c in calls
        ],
    ]
    second = sdk.responses.create(model=want.model, input=follow_up, tools=tools)
    assert [i.type for i in second.output].count("function_call") == 2
    sent = json.dumps(last_request(upstreams, kind).json)
    assert "Sunny in Paris" in sent and "Sunny in Tokyo" in sent
