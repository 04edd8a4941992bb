"""The scripted upstream's own dialects, checked with the official SDKs (no agent needed): the
two-turn plan in Chat Completions and Gemini (streamed and not), and the refusals that make a
gateway's translation errors show up."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.agents.scripted_upstream import (
    DONE_MARKER,
    PLAIN_TEXT,
    SEEN_MARKER,
    TOOL_COMMAND,
    TOOL_OUTPUT,
    ScriptedUpstream,
)

KEY = "scripted-test-key"
BASH = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "Run a command",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}
EXEC = {
    "type": "function",
    "function": {
        "name": "exec_command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
    },
}


@pytest.fixture
def up() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(api_key=KEY) as upstream:
        yield upstream


def _openai(up: ScriptedUpstream):
    import openai

    return openai.OpenAI(base_url=up.base_url + "/v1", api_key=KEY, max_retries=0)


def _turn2(call_id: str, name: str = "Bash") -> list[dict]:
    return [
        {"role": "user", "content": "run it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps({"command": "x"})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": f"{TOOL_OUTPUT}\n"},
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_chat_two_turns(up: ScriptedUpstream, stream: bool):
    client = _openai(up)
    messages: list[dict] = [{"role": "user", "content": "run it"}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="m",
                messages=messages,
                tools=[BASH],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 19
        calls = [c for ch in chunks if ch.choices for c in ch.choices[0].delta.tool_calls or []]
        assert calls[0].function.name == "Bash" and calls[0].id
        arguments = "".join(c.function.arguments or "" for c in calls)
        call_id = calls[0].id
        assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"
    else:
        reply = client.chat.completions.create(model="m", messages=messages, tools=[BASH])
        call = reply.choices[0].message.tool_calls[0]
        assert reply.choices[0].finish_reason == "tool_calls" and call.function.name == "Bash"
        arguments, call_id = call.function.arguments, call.id
    assert json.loads(arguments)["command"] == TOOL_COMMAND

    final = client.chat.completions.create(model="m", messages=_turn2(call_id), tools=[BASH])
    assert final.choices[0].message.content == f"{DONE_MARKER} {SEEN_MARKER}"
    assert [r["dialect"] for r in up.model_requests()] == ["chat", "chat"]
    assert up.rejections == []


def test_chat_codex_tool_and_plain_text(up: ScriptedUpstream):
    client = _openai(up)
    reply = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "go"}], tools=[EXEC]
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "exec_command"
    assert json.loads(call.function.arguments) == {"cmd": TOOL_COMMAND}
    plain = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert plain.choices[0].message.content == PLAIN_TEXT


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"messages": [{"role": "user", "content": "x"}], "thinking": {}}, "thinking"),
        ({"messages": [{"role": "tool", "tool_call_id": "a", "content": "x"}]}, "preceeding"),
        ({"messages": _turn2("call_1")[:2]}, "did not have response messages: call_1"),
        (
            {
                "messages": [
                    *_turn2("call_1")[:2],
                    {"role": "user", "content": "next"},
                ]
            },
            "must be followed by tool messages",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}],
                    }
                ]
            },
            "arguments",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]},
            "input_text",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"}, "tool_choice"),
        (
            {"messages": [{"role": "user", "content": "x"}], "stream_options": {}},
            "stream_options",
        ),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "max_tokens": 10,
                "reasoning_effort": "high",
            },
            "max_completion_tokens",
        ),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "has space"}}],
            },
            "pattern",
        ),
        ({"messages": [{"role": "system", "content": "x", "cache_control": {}}]}, "cache"),
    ],
)
def test_chat_refuses_what_openai_refuses(up: ScriptedUpstream, body: dict, needle: str):
    reply = httpx.post(
        up.base_url + "/v1/chat/completions",
        json={"model": "m", **body},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert needle in error["message"] and error["type"] == "invalid_request_error"
    assert len(up.rejections) == 1 and up.model_requests()[0]["answer"]["status"] == 400


def test_credentials_are_checked_per_dialect(up: ScriptedUpstream):
    chat = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert httpx.post(up.base_url + "/v1/chat/completions", json=chat).status_code == 401
    gemini = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    url = up.base_url + "/v1beta/models/g:generateContent"
    assert httpx.post(url, json=gemini, headers={"x-goog-api-key": "no"}).status_code == 400
    assert httpx.post(url, json=gemini, params={"key": KEY}).status_code == 200
    messages = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    headers = {"x-api-key": KEY}
    assert httpx.post(up.base_url + "/v1/messages", json=messages, headers=headers).status_code == (
        400  # anthropic-version is required
    )
    headers["anthropic-version"] = "2023-06-01"
    assert httpx.post(up.base_url + "/v1/messages", json=messages, headers=headers).status_code == (
        200
    )
    assert len(up.rejections) == 3


def _genai(up: ScriptedUpstream):
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key=KEY,
        http_options=types.HttpOptions(base_url=up.base_url, api_version="v1beta"),
    )


BASH_DECLARATION = {
    "name": "Bash",
    "description": "Run a command",
    "parametersJsonSchema": {"type": "object", "properties": {"command": {"type": "string"}}},
}


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_two_turns(up: ScriptedUpstream, stream: bool):
    from google.genai import types

    client = _genai(up)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(**BASH_DECLARATION)])]
    )
    first = [types.Content(role="user", parts=[types.Part(text="run it")])]
    if stream:
        chunks = list(
            client.models.generate_content_stream(model="g", contents=first, config=config)
        )
        parts = [p for c in chunks for p in c.candidates[0].content.parts]
        assert chunks[-1].candidates[0].finish_reason == "STOP"
        assert up.model_requests()[0]["query"] == "alt=sse"
    else:
        reply = client.models.generate_content(model="g", contents=first, config=config)
        parts = reply.candidates[0].content.parts
    call = parts[0]
    assert call.function_call.name == "Bash"
    assert call.function_call.args["command"] == TOOL_COMMAND
    assert call.thought_signature  # bytes, as the SDK decodes it

    second = [
        *first,
        types.Content(role="model", parts=[call]),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="Bash", response={"output": TOOL_OUTPUT})
            ],
        ),
    ]
    final = client.models.generate_content(model="g", contents=second, config=config)
    assert final.text == f"{DONE_MARKER} {SEEN_MARKER}"
    assert [r["dialect"] for r in up.model_requests()] == ["gemini", "gemini"]
    assert up.rejections == []


def test_gemini_array_stream_without_alt(up: ScriptedUpstream):
    reply = httpx.post(
        up.base_url + "/v1beta/models/g:streamGenerateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": KEY},
    )
    assert reply.status_code == 200
    chunks = reply.json()
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == PLAIN_TEXT


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "Bash",
                                "parameters": {"type": "object", "additionalProperties": False},
                            }
                        ]
                    }
                ],
            },
            "additionalProperties",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "x"}]},
                    {
                        "role": "user",
                        "parts": [{"functionResponse": {"name": "Bash", "response": {}}}],
                    },
                ]
            },
            "function response turn",
        ),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role"),
        ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
    ],
)
def test_gemini_refuses_what_gemini_refuses(up: ScriptedUpstream, body: dict, needle: str):
    reply = httpx.post(
        up.base_url + "/v1beta/models/g:streamGenerateContent",
        params={"alt": "sse"},
        json=body,
        headers={"x-goog-api-key": KEY},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert needle in error["message"] and error["status"] == "INVALID_ARGUMENT"
    assert len(up.rejections) == 1


def test_anthropic_thinking_block_first_and_required_back(up: ScriptedUpstream):
    import anthropic

    client = anthropic.Anthropic(base_url=up.base_url, api_key=KEY, max_retries=0)
    tools = [{"name": "Bash", "input_schema": {"type": "object"}}]
    thinking = {"type": "enabled", "budget_tokens": 1024}
    first = [{"role": "user", "content": "run it"}]
    reply = client.messages.create(
        model="m", max_tokens=2048, thinking=thinking, tools=tools, messages=first
    )
    assert [b.type for b in reply.content] == ["thinking", "tool_use"]
    use = reply.content[1]
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": use.id, "content": TOOL_OUTPUT}],
    }
    without = [
        *first,
        {"role": "assistant", "content": [use.model_dump(exclude_none=True)]},
        result,
    ]
    with pytest.raises(anthropic.BadRequestError, match="thinking"):
        client.messages.create(
            model="m", max_tokens=2048, thinking=thinking, tools=tools, messages=without
        )
    blocks = [b.model_dump(exclude_none=True) for b in reply.content]
    with_it = [*first, {"role": "assistant", "content": blocks}, result]
    with client.messages.stream(
        model="m", max_tokens=2048, thinking=thinking, tools=tools, messages=with_it
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[1].text == f"{DONE_MARKER} {SEEN_MARKER}"
