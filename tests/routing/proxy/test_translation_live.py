"""Parameters, structured output, images, reasoning and signatures across dialects, as each
fake upstream (strict about its own API) received them."""

import base64
import json

import anthropic
import pytest
from google import genai
from google.genai import types

HELLO = [{"role": "user", "content": "Say hello"}]
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def test_sampling_parameters_are_mapped_and_unsupported_ones_dropped(sdk, upstreams):
    options = {
        "temperature": 0.4,
        "top_p": 0.9,
        "max_tokens": 123,
        "stop": ["END"],
        "presence_penalty": 0.5,  # Anthropic has no such parameter: dropped, not a 400
        "seed": 7,
    }
    sdk.chat.completions.create(model="anthropic-fake/claude", messages=HELLO, **options)
    sent = upstreams["anthropic"].requests[-1].json
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"]) == (0.4, 0.9, 123)
    assert sent["stop_sequences"] == ["END"]
    assert "presence_penalty" not in sent and "seed" not in sent

    sdk.chat.completions.create(model="gemini-fake/flash", messages=HELLO, **options)
    config = upstreams["gemini"].requests[-1].json["generationConfig"]
    assert config["temperature"] == 0.4 and config["topP"] == 0.9
    assert config["maxOutputTokens"] == 123 and config["stopSequences"] == ["END"]


def test_stop_sequence_and_length_finish_reasons(sdk, upstreams):
    completion = sdk.chat.completions.create(
        model="anthropic-fake/claude", messages=HELLO, stop=["fake"]
    )
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("kind", ["anthropic", "gemini"])
def test_json_schema_reaches_each_native_structured_output(sdk, upstreams, kind):
    model = {"anthropic": "anthropic-fake/claude", "gemini": "gemini-fake/flash"}[kind]
    completion = sdk.chat.completions.create(
        model=model,
        messages=HELLO,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
    )
    assert json.loads(completion.choices[0].message.content) == {"answer": "fake"}
    sent = upstreams[kind].requests[-1].json
    if kind == "anthropic":
        assert sent["output_config"]["format"] == {"type": "json_schema", "schema": SCHEMA}
    else:
        config = sent["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"] == SCHEMA


def test_images_by_url_and_base64_reach_each_native_form(sdk, upstreams):
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    sdk.chat.completions.create(
        model="anthropic-fake/claude", messages=[{"role": "user", "content": content}]
    )
    blocks = upstreams["anthropic"].requests[-1].json["messages"][0]["content"]
    assert {"type": "url", "url": "https://example.com/cat.png"} in [
        b.get("source") for b in blocks
    ]
    assert {"type": "base64", "media_type": "image/png", "data": PNG} in [
        b.get("source") for b in blocks
    ]

    sdk.chat.completions.create(
        model="gemini-fake/flash", messages=[{"role": "user", "content": content}]
    )
    parts = upstreams["gemini"].requests[-1].json["contents"][0]["parts"]
    assert {"mimeType": "image/png", "data": PNG} in [p.get("inlineData") for p in parts]
    assert "https://example.com/cat.png" in [
        (p.get("fileData") or {}).get("fileUri") for p in parts
    ]


def test_chat_client_sees_anthropic_reasoning_and_keeps_its_signature(sdk, upstreams):
    first = sdk.chat.completions.create(
        model="anthropic-fake/claude", messages=HELLO, reasoning_effort="high", max_tokens=8000
    )
    message = first.model_dump()["choices"][0]["message"]
    assert message["reasoning_content"] == "Let me think about this."
    assert message["thinking_blocks"][0]["signature"] == "sig-fake-123"
    assert upstreams["anthropic"].requests[-1].json["thinking"]["type"] == "enabled"

    sdk.chat.completions.create(
        model="anthropic-fake/claude",
        messages=[
            *HELLO,
            {k: v for k, v in message.items() if v is not None},
            {"role": "user", "content": "More"},
        ],
        reasoning_effort="high",
        max_tokens=8000,
    )
    replayed = upstreams["anthropic"].requests[-1].json["messages"][1]["content"][0]
    assert replayed == {
        "type": "thinking",
        "thinking": "Let me think about this.",
        "signature": "sig-fake-123",
    }


def test_gemini_thought_signatures_survive_a_chat_client_round_trip(sdk, upstreams):
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    first = sdk.chat.completions.create(model="gemini-fake/flash", messages=HELLO, tools=tools)
    message = first.choices[0].message.model_dump(exclude_none=True)
    assert (
        message["tool_calls"][0]["extra_content"]["google"]["thought_signature"] == "c2lnLWZha2U="
    )
    follow = [
        *HELLO,
        message,
        *[
            {"role": "tool", "tool_call_id": c["id"], "content": '{"forecast": "sun"}'}
            for c in message["tool_calls"]
        ],
    ]
    sdk.chat.completions.create(model="gemini-fake/flash", messages=follow, tools=tools)
    model_turn = upstreams["gemini"].requests[-1].json["contents"][1]
    assert [p.get("thoughtSignature") for p in model_turn["parts"]] == ["c2lnLWZha2U="] * 2


def test_same_format_calls_pass_through_untranslated(live, upstreams):
    claude = anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)
    body = {
        "max_tokens": 50,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "metadata": {"user_id": "u-42"},
    }
    claude.messages.create(model="anthropic-fake/claude", **body, extra_body={"top_k": 5})
    sent = upstreams["anthropic"].requests[-1].json
    assert sent == {**body, "top_k": 5, "model": "claude-fake"}

    client = genai.Client(
        api_key=live.key, http_options=types.HttpOptions(base_url=live.server.base_url)
    )
    client.models.generate_content(
        model="gemini-fake/flash",
        contents="hi",
        config=types.GenerateContentConfig(temperature=0.3, top_k=7, seed=11),
    )
    config = upstreams["gemini"].requests[-1].json["generationConfig"]
    assert config["temperature"] == 0.3 and config["seed"] == 11


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        ("anthropic-fake/opus-4.7", {"type": "adaptive"}),  # refuses the legacy form
        ("anthropic-fake/sonnet-4.5", {"type": "enabled", "budget_tokens": 4096}),
    ],
)
def test_a_reasoning_effort_reaches_anthropic_in_the_form_the_model_takes(
    sdk, upstreams, model, thinking
):
    completion = sdk.chat.completions.create(
        model=model, messages=HELLO, reasoning_effort="high", max_tokens=8000
    )
    assert completion.choices[0].message.content
    seen = upstreams["anthropic"].requests[-1].json
    assert seen["thinking"] == thinking
    if thinking["type"] == "adaptive":
        assert seen["output_config"] == {"effort": "high"}
    else:
        assert "output_config" not in seen


# --- Gemini thought signatures through clients that keep only the call id -----------------

GEMINI_3 = "gemini-fake/gemini-3"  # the fake refuses a current-turn call with no signature
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def _sent_model_turn(upstreams) -> list[dict]:
    from tests.fakes.gemini_upstream import THOUGHT_SIGNATURE

    contents = upstreams["gemini"].requests[-1].json["contents"]
    (model_turn,) = [c for c in contents if c["role"] == "model"]
    calls = [p for p in model_turn["parts"] if "functionCall" in p]
    assert calls[0]["thoughtSignature"] == THOUGHT_SIGNATURE  # Gemini's own, not a dummy
    return calls


@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_3_signature_comes_back_through_an_anthropic_client(live, upstreams, stream):
    """Claude Code's loop on a Gemini 3 model: the tool_use ids it replays carry the
    signatures Gemini gave its calls, so the next turn sends them back."""
    claude = anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    request = {"model": GEMINI_3, "max_tokens": 512, "tools": [WEATHER_TOOL], "messages": ask}
    if stream:
        with claude.messages.stream(**request) as events:
            first = events.get_final_message()
    else:
        first = claude.messages.create(**request)
    uses = [b for b in first.content if b.type == "tool_use"]
    assert uses and all("=" not in b.id for b in uses)  # Anthropic's id pattern
    turn = [
        *ask,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": b.id, "content": "sunny"} for b in uses
            ],
        },
    ]
    second = claude.messages.create(**{**request, "messages": turn})
    assert second.content  # the fake found every current-turn call signed
    _sent_model_turn(upstreams)


@pytest.mark.parametrize("stream", [False, True])
def test_a_gemini_3_signature_comes_back_through_a_chat_client_that_keeps_only_ids(
    sdk, upstreams, stream
):
    tools = [{"type": "function", "function": {**WEATHER_TOOL, "parameters": {"type": "object"}}}]
    for tool in tools:
        del tool["function"]["input_schema"]
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        calls: dict[int, dict] = {}
        for chunk in sdk.chat.completions.create(
            model=GEMINI_3, messages=ask, tools=tools, stream=True
        ):
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or ():
                    call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] += delta.id or ""
                    call["name"] += (delta.function and delta.function.name) or ""
                    call["arguments"] += (delta.function and delta.function.arguments) or ""
        kept = [calls[i] for i in sorted(calls)]
    else:
        message = sdk.chat.completions.create(model=GEMINI_3, messages=ask, tools=tools)
        kept = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in message.choices[0].message.tool_calls
        ]
    assert kept and len(kept[0]["id"]) < 200
    replay = [  # an agent that keeps id, name and arguments, and no extra_content
        *ask,
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in kept
            ],
        },
        *[{"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in kept],
    ]
    sdk.chat.completions.create(model=GEMINI_3, messages=replay, tools=tools)
    _sent_model_turn(upstreams)
