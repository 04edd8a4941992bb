"""Canonical chat <-> a Responses-kind upstream (routing/wire/responses/upstream*.py).

Requests are checked three ways: exact bodies for representative cases, the official openai
SDK's ResponseCreateParams types (validated with pydantic) and the fake OpenAI upstream's
Responses validator (as strict as the real API), and round trips back through the client
surface's responses_to_chat(). Answers are fed as the fake upstream writes them (its Response
objects and its event sequence), as the reference sequence of wire-formats.md §2.4, and as
Orca's own ResponsesStreamEncoder writes them."""

import functools
import hashlib

import orjson
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from openai.types.responses import Response, response_create_params

from routing.wire import untranslatable
from routing.wire.canonical import EXTENSION_FIELDS, ChunkAccumulator, InvalidRequest, StreamError
from routing.wire.openai_chat import OpenAIStreamDecoder
from routing.wire.responses import (
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
    chat_to_responses_request,
    chat_to_responses_response,
    responses_to_chat,
    responses_to_chat_response,
    validate_responses_request,
)
from routing.wire.responses.upstream import HOSTED_TOOLS_KEY
from routing.wire.sse import EventSplitter
from tests.fakes import openai_responses as fake
from tests.routing.wire import strategies as ws

UP = "o3-pro"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FLAT_WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": WEATHER["function"]["parameters"],
    "strict": False,
}


def user(text):
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


# --- validity: the SDK's types and the fake upstream ---------------------------------------


@functools.cache
def _adapter(stream: bool) -> pydantic.TypeAdapter:
    kind = (
        response_create_params.ResponseCreateParamsStreaming
        if stream
        else response_create_params.ResponseCreateParamsNonStreaming
    )
    return pydantic.TypeAdapter(kind)


def assert_valid(body: dict) -> None:
    """Accepted by the openai SDK's types (keys and values), the fake upstream's strict
    validator, and Orca's own Responses surface validator."""
    kind = response_create_params.ResponseCreateParamsStreaming
    known = kind.__required_keys__ | kind.__optional_keys__
    assert set(body) <= known, set(body) - known
    _adapter(body.get("stream") is True).validate_python(body)
    fake.validate_request(body, fake.ResponsesStore())
    validate_responses_request(body)


# --- request: exact bodies -----------------------------------------------------------------


def test_text_conversation_exact_body():
    chat = {
        "model": "client/model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "Hi", "name": "ann"},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "system", "content": "Now English."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "And "}, {"type": "text", "text": "now?"}],
            },
        ],
        "max_tokens": 256,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "u-1",
        "metadata": {"k": "v"},
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    body = chat_to_responses_request(chat, UP)
    assert body == {
        "model": UP,
        "instructions": "Be brief.\n\nUse French.",
        "input": [
            user("Hi"),
            {"type": "message", "role": "assistant", "content": "Bonjour"},
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Now English."}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "And "},
                    {"type": "input_text", "text": "now?"},
                ],
            },
        ],
        "max_output_tokens": 256,
        "temperature": 0.5,
        "top_p": 0.9,
        "user": "u-1",
        "metadata": {"k": "v"},
        "store": False,
        "stream": True,
    }
    assert_valid(body)


def test_tools_history_and_structured_output_exact_body():
    chat = {
        "model": "client/model",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "two cities",
                "thinking_blocks": [{"type": "thinking", "thinking": "x", "signature": "s"}],
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        "extra_content": {"google": {"thought_signature": "sig"}},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "rain"}],
            },
        ],
        "tools": [
            WEATHER,
            {**WEATHER, "function": {**WEATHER["function"], "name": "s", "strict": True}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "report", "schema": {"type": "object"}, "strict": True},
        },
        "reasoning_effort": "high",
        "max_completion_tokens": 4000,
        "seed": 7,
        "top_k": 40,
        "n": 1,
        "store": True,
        "verbosity": "low",
    }
    body = chat_to_responses_request(chat, UP)
    assert body == {
        "model": UP,
        "input": [
            user("Weather in Paris and Rome?"),
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {
                "type": "function_call",
                "call_id": "call_2",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": "rain"},
        ],
        "tools": [
            FLAT_WEATHER,
            {**FLAT_WEATHER, "name": "s", "strict": True},
        ],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
        "text": {
            "format": {
                "type": "json_schema",
                "name": "report",
                "schema": {"type": "object"},
                "strict": True,
            },
            "verbosity": "low",
        },
        "max_output_tokens": 4000,
        "reasoning": {"effort": "high"},
        "store": False,
    }
    assert_valid(body)


def test_user_media_parts_and_tool_output_with_an_image():
    png = "data:image/png;base64,iVBORw0KGgo="
    pdf = "data:application/pdf;base64,JVBERi0x"
    chat = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": png, "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                    {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
                    {"type": "file", "file": {"file_id": "file-123"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "shot", "arguments": "{}"}}
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "c",
                "content": [
                    {"type": "text", "text": "here"},
                    {"type": "image_url", "image_url": {"url": png}},
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "shot"}}],
    }
    body = chat_to_responses_request(chat, UP)
    assert body["input"][0]["content"] == [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "image_url": png, "detail": "high"},
        {"type": "input_image", "image_url": "https://x.test/a.jpg", "detail": "auto"},
        {"type": "input_file", "file_data": pdf, "filename": "a.pdf"},
        {"type": "input_file", "file_id": "file-123"},
    ]
    assert body["input"][2] == {
        "type": "function_call_output",
        "call_id": "c",
        "output": [
            {"type": "input_text", "text": "here"},
            {"type": "input_image", "image_url": png, "detail": "auto"},
        ],
    }
    assert body["tools"] == [
        {
            "type": "function",
            "name": "shot",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        }
    ]
    assert_valid(body)


def test_assistant_refusal_and_text_parts_are_sent_as_text():
    chat = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": None, "refusal": "I can't."},
            {"role": "user", "content": "b"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}],
            },
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "c"},
        ]
    }
    body = chat_to_responses_request(chat, UP)
    assert body["input"] == [
        user("a"),
        {"type": "message", "role": "assistant", "content": "I can't."},
        user("b"),
        {"type": "message", "role": "assistant", "content": "xy"},
        user("c"),
    ]
    assert_valid(body)


TOOL_CHOICES = [
    ("auto", "auto"),
    ("none", "none"),
    ("required", "required"),
    (
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "function", "name": "get_weather"},
    ),
    (
        {
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "required",
                "tools": [{"type": "function", "function": {"name": "get_weather"}}],
            },
        },
        {
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_weather"}],
        },
    ),
]


@pytest.mark.parametrize(("choice", "expected"), TOOL_CHOICES)
def test_tool_choice(choice, expected):
    chat = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [WEATHER],
        "tool_choice": choice,
    }
    body = chat_to_responses_request(chat, UP)
    assert body["tool_choice"] == expected
    assert_valid(body)


def test_tool_choice_and_parallel_calls_need_tools():
    chat = {
        "messages": [{"role": "user", "content": "hi"}],
        "tool_choice": "none",
        "parallel_tool_calls": True,
    }
    body = chat_to_responses_request(chat, UP)
    assert "tool_choice" not in body and "parallel_tool_calls" not in body and "tools" not in body


def test_custom_tools_become_functions_and_hosted_ones_are_left_out():
    chat = {
        "messages": [
            {"role": "user", "content": "patch it"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "custom",
                        "custom": {"name": "apply_patch", "input": "*** x"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "tools": [
            {"type": "custom", "custom": {"name": "apply_patch", "description": "Patch files"}},
            {"type": "web_search"},
        ],
        "tool_choice": {"type": "custom", "custom": {"name": "apply_patch"}},
    }
    body = chat_to_responses_request(chat, UP)
    assert [tool["name"] for tool in body["tools"]] == ["apply_patch"]
    assert body["tools"][0]["parameters"]["required"] == ["input"]
    assert body["tool_choice"] == {"type": "function", "name": "apply_patch"}
    assert body["input"][1] == {
        "type": "function_call",
        "call_id": "c1",
        "name": "apply_patch",
        "arguments": '{"input":"*** x"}',
    }
    assert_valid(body)


def test_web_search_options_become_the_hosted_web_search_tool():
    chat = {
        "messages": [{"role": "user", "content": "search the news"}],
        "web_search_options": {
            "search_context_size": "low",
            "user_location": {
                "type": "approximate",
                "approximate": {"city": "Paris", "country": "FR"},
            },
        },
    }
    body = chat_to_responses_request(chat, UP)
    assert body["tools"] == [
        {
            "type": "web_search",
            "search_context_size": "low",
            "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
        }
    ]
    assert_valid(body)


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "json_object"}),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "r", "description": "d", "schema": {"type": "object"}},
            },
            {"type": "json_schema", "name": "r", "schema": {"type": "object"}, "description": "d"},
        ),
    ],
)
def test_response_format(response_format, expected):
    chat = {
        "messages": [{"role": "user", "content": "answer in json"}],
        "response_format": response_format,
    }
    body = chat_to_responses_request(chat, UP)
    assert (body.get("text") or {}).get("format") == expected
    assert_valid(body)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reasoning_effort": "low"}, {"effort": "low"}),
        ({"reasoning_effort": "minimal"}, {"effort": "minimal"}),
        # an Anthropic/Gemini client's exact budget wins and asks for visible thinking
        (
            {"reasoning_effort": "low", "reasoning_budget_tokens": 10_000},
            {"effort": "high", "summary": "auto"},
        ),
        ({"reasoning_budget_tokens": 2048}, {"effort": "medium", "summary": "auto"}),
        ({"reasoning_budget_tokens": 0, "reasoning_effort": "minimal"}, {"effort": "minimal"}),
        ({}, None),
    ],
)
def test_reasoning(fields, expected):
    chat = {"messages": [{"role": "user", "content": "think"}], **fields}
    body = chat_to_responses_request(chat, UP)
    assert body.get("reasoning") == expected
    assert_valid(body)


def test_extensions_and_fields_without_an_equivalent_are_dropped():
    chat = {
        "model": "client/model",
        "messages": [{"role": "user", "content": "hi"}],
        **dict.fromkeys(EXTENSION_FIELDS, 5),
        "seed": 1,
        "store": True,
        "n": 1,
        "stop": [],
        "frequency_penalty": 0,
        "presence_penalty": 0.0,
        "logprobs": False,
        "modalities": ["text"],
        "stream": False,
        "stream_options": {"include_usage": True},
        "safety_identifier": "sid",
        "prompt_cache_key": "pck",
        "service_tier": "flex",
    }
    body = chat_to_responses_request(chat, UP)
    assert body == {
        "model": UP,
        "input": [user("hi")],
        "reasoning": {"effort": "low", "summary": "auto"},  # reasoning_budget_tokens 5
        "safety_identifier": "sid",
        "prompt_cache_key": "pck",
        "service_tier": "flex",
        "store": False,
    }
    assert_valid(body)


def test_stream_options_keep_obfuscation_only():
    chat = {
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
    }
    body = chat_to_responses_request(chat, UP)
    assert body["stream_options"] == {"include_obfuscation": False}
    assert_valid(body)


REFUSED = [
    ({"n": 2}, "n"),
    ({"stop": "END"}, "stop"),
    ({"stop": ["a", "b"]}, "stop"),
    ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"presence_penalty": -1}, "presence_penalty"),
    ({"logit_bias": {"50256": -100}}, "logit_bias"),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"max_tokens": 10}, "max_tokens"),
    ({"max_completion_tokens": 15}, "max_completion_tokens"),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
        "response_format.json_schema.schema",
    ),
    ({"response_format": {"type": "grammar"}}, "response_format"),
    (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
                    ],
                }
            ]
        },
        "messages[0].content[0]",
    ),
    (
        {
            "messages": [
                {
                    "role": "system",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x"}}],
                },
                {"role": "user", "content": "x"},
            ]
        },
        "messages[0].content[0]",
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "function", "name": "f", "content": "1"},
            ]
        },
        "messages[1].role",
    ),
    ({"messages": [{"role": "system", "content": "only instructions"}]}, "messages"),
    (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "messages[0].content[0].image_url",
    ),
    (
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {"filename": "a"}}]}]},
        "messages[0].content[0]",
    ),
]


@pytest.mark.parametrize(("fields", "param"), REFUSED)
def test_what_cannot_be_sent_faithfully_is_refused_naming_the_param(fields, param):
    chat = {"messages": [{"role": "user", "content": "hi"}], **fields}
    with pytest.raises(InvalidRequest) as raised:
        chat_to_responses_request(chat, UP)
    assert raised.value.param == param


def test_a_part_the_client_surface_could_not_translate_is_refused():
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    untranslatable.record(
        chat, InvalidRequest("no search_result blocks", param="messages[0].content[1]")
    )
    with pytest.raises(InvalidRequest) as raised:
        chat_to_responses_request(chat, UP)
    assert raised.value.param == "messages[0].content[1]"


def test_long_call_ids_are_shortened_the_same_for_the_call_and_its_output():
    long_id = "toolu_" + "x" * 90
    chat = {
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": long_id,
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": long_id, "content": "ok"},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
    }
    body = chat_to_responses_request(chat, UP)
    call, output = body["input"][1], body["input"][2]
    assert call["call_id"] == output["call_id"]
    assert len(call["call_id"]) == 64
    assert call["call_id"] == long_id[:47] + "_" + hashlib.sha256(long_id.encode()).hexdigest()[:16]
    assert_valid(body)


def test_the_request_is_not_changed():
    chat = {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "custom", "custom": {"name": "c"}}],
        "top_k": 3,
    }
    before = orjson.dumps(chat)
    chat_to_responses_request(chat, UP)
    assert orjson.dumps(chat) == before


# --- request: round trips through the client surface ---------------------------------------


def _canonical_form(chat: dict) -> dict:
    """A canonical request as responses_to_chat() writes it back: leading system prompts as
    one, a lone text part as a string, max_tokens, strict said, and nothing Responses lacks."""
    out = {
        k: v
        for k, v in chat.items()
        if k not in ("model", "stream_options", "n", "top_k", "max_completion_tokens")
    }
    if chat.get("max_completion_tokens") is not None:
        out["max_tokens"] = chat["max_completion_tokens"]
    messages = list(chat["messages"])
    leading = []
    while messages and messages[0]["role"] in ("system", "developer"):
        leading.append(messages.pop(0)["content"])
    normal = [{"role": "system", "content": "\n\n".join(leading)}] if leading else []
    for message in messages:
        content = message.get("content")
        if message["role"] == "user" and isinstance(content, list) and len(content) == 1:
            message = {**message, "content": content[0]["text"]}
        normal.append(message)
    out["messages"] = normal
    if "tools" in out:
        out["tools"] = [
            {
                "type": "function",
                "function": {**t["function"], "strict": t["function"].get("strict", False)},
            }
            for t in out["tools"]
        ]
    return out


def _round_trip(chat: dict) -> dict:
    body = chat_to_responses_request(chat, UP)
    assert_valid(body)
    back = responses_to_chat(body)
    assert back["model"] == UP
    return {k: v for k, v in back.items() if k not in ("model", "stream_options")}


@pytest.mark.parametrize(
    "chat",
    [
        {
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
            "temperature": 0.2,
            "max_completion_tokens": 64,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
            ],
            "tools": [WEATHER],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
            },
            "reasoning_effort": "high",
            "metadata": {"a": "b"},
            "user": "u",
        },
    ],
)
def test_round_trip_through_the_client_surface(chat):
    assert _round_trip(chat) == _canonical_form(chat)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(convo=ws.conversations())
def test_any_conversation_round_trips_or_is_refused_naming_why(convo):
    chat = ws.as_chat(convo)
    small = [k for k in ("max_completion_tokens", "max_tokens") if (chat.get(k) or 16) < 16]
    refused = [
        *(["n"] if (chat.get("n") or 1) > 1 else []),
        *(["stop"] if chat.get("stop") else []),
        *small,
    ]
    why = refused[0] if refused else None
    if why is not None:
        with pytest.raises(InvalidRequest) as raised:
            chat_to_responses_request(chat, UP)
        assert raised.value.param == why
        chat = {k: v for k, v in chat.items() if k not in refused}  # and the rest goes through
    assert _round_trip(chat) == _canonical_form(chat)


# --- non-stream answers ----------------------------------------------------------------------


def fake_answer(request: dict, **overrides) -> dict:
    """The fake upstream's Response to a Responses body, checked against the SDK's type."""
    body = {"model": UP, "store": False, **request}
    items = fake.normalized_input(body)
    response = fake.response_object(body, fake.plan_output(body, items), **overrides)
    Response.model_validate(response)
    return response


def test_text_answer():
    response = fake_answer({"input": "hi"})
    completion = responses_to_chat_response(response, "client/model")
    assert completion == {
        "id": response["id"],
        "object": "chat.completion",
        "created": response["created_at"],
        "model": "client/model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": fake.REPLY_TEXT},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 9,
            "total_tokens": 21,
            "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }


def test_tool_call_answer():
    response = fake_answer({"input": "weather?", "tools": [FLAT_WEATHER]})
    (call,) = response["output"]
    message = responses_to_chat_response(response, "m")["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call["call_id"],
                "type": "function",
                "function": {"name": "get_weather", "arguments": fake.TOOL_ARGUMENTS},
            }
        ],
    }


def test_reasoning_summary_answer():
    response = fake_answer({"input": "hi", "reasoning": {"effort": "high", "summary": "auto"}})
    message = responses_to_chat_response(response, "m")["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": fake.REPLY_TEXT,
        "reasoning_content": fake.REASONING_SUMMARY,
    }


def test_reasoning_parts_and_items_are_paragraphs_and_raw_text_stands_in_for_no_summary():
    output = [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [
                {"type": "summary_text", "text": "First."},
                {"type": "summary_text", "text": "Second."},
            ],
        },
        {
            "type": "reasoning",
            "id": "rs_2",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "Raw."}],
        },
        {
            "type": "message",
            "id": "m",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "ok", "annotations": []}],
        },
    ]
    message = responses_to_chat_response({"status": "completed", "output": output}, "m")["choices"][
        0
    ]["message"]
    assert message["reasoning_content"] == "First.\n\nSecond.\n\nRaw."


def test_web_search_answer_has_annotations_and_counts_the_hosted_call():
    request = {"input": "please search this", "tools": [{"type": "web_search"}]}
    response = fake_answer(request)
    completion = responses_to_chat_response(response, "m")
    message = completion["choices"][0]["message"]
    start = fake.SEARCH_REPLY.index(fake.SEARCH_TITLE)
    assert message == {
        "role": "assistant",
        "content": fake.SEARCH_REPLY,
        "annotations": [
            {
                "type": "url_citation",
                "url_citation": {
                    "url": fake.SEARCH_URL,
                    "title": fake.SEARCH_TITLE,
                    "start_index": start,
                    "end_index": start + len(fake.SEARCH_TITLE),
                },
            }
        ],
    }
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"][HOSTED_TOOLS_KEY] == {"web_search": 1}
    assert HOSTED_TOOLS_KEY in EXTENSION_FIELDS


def test_annotation_indexes_follow_the_joined_text_and_other_kinds_are_left_out():
    def part(text, *annotations):
        return {"type": "output_text", "text": text, "annotations": list(annotations)}

    cite = {
        "type": "url_citation",
        "url": "https://a",
        "title": "A",
        "start_index": 0,
        "end_index": 3,
    }
    output = [
        {
            "type": "message",
            "id": "m1",
            "role": "assistant",
            "status": "completed",
            "content": [
                part("Hello "),
                part("abc", cite, {"type": "file_citation", "file_id": "f", "index": 0}),
            ],
        },
        {
            "type": "message",
            "id": "m2",
            "role": "assistant",
            "status": "completed",
            "content": [part(" def", {**cite, "start_index": 1, "end_index": 4})],
        },
    ]
    message = responses_to_chat_response({"status": "completed", "output": output}, "m")["choices"][
        0
    ]["message"]
    assert message["content"] == "Hello abc def"
    spans = [
        (a["url_citation"]["start_index"], a["url_citation"]["end_index"])
        for a in message["annotations"]
    ]
    assert spans == [(6, 9), (10, 13)]
    assert [message["content"][s:e] for s, e in spans] == ["abc", "def"]


def test_hosted_calls_of_every_kind_are_counted_and_function_calls_are_not():
    output = [
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "web_search_call", "id": "ws_2", "status": "completed"},
        {"type": "file_search_call", "id": "fs", "status": "completed", "queries": []},
        {"type": "code_interpreter_call", "id": "ci", "status": "completed"},
        {"type": "image_generation_call", "id": "ig", "status": "completed", "result": None},
        {"type": "mcp_call", "id": "mcp", "name": "x", "server_label": "s", "arguments": "{}"},
        {"type": "mcp_list_tools", "id": "l", "server_label": "s", "tools": []},
        {"type": "local_shell_call", "id": "ls", "call_id": "c1", "status": "completed"},
        {"type": "shell_call", "id": "sh", "call_id": "c2", "status": "completed"},
        {"type": "apply_patch_call", "id": "ap", "call_id": "c3", "status": "completed"},
        {"type": "computer_call", "id": "cu", "call_id": "c4", "status": "completed"},
        {"type": "custom_tool_call", "id": "ct", "call_id": "c5", "name": "x", "input": ""},
        {"type": "function_call", "id": "fc", "call_id": "c", "name": "f", "arguments": "{}"},
    ]
    completion = responses_to_chat_response({"status": "completed", "output": output}, "m")
    assert completion["usage"][HOSTED_TOOLS_KEY] == {
        "web_search": 2,
        "file_search": 1,
        "code_interpreter": 1,
        "image_generation": 1,
        "mcp": 1,
    }
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        HOSTED_TOOLS_KEY
        not in responses_to_chat_response(fake_answer({"input": "hi"}), "m")["usage"]
    )


@pytest.mark.parametrize(
    ("details", "finish"),
    [
        ({"reason": "max_output_tokens"}, "length"),
        ({"reason": "max_tokens"}, "length"),
        ({"reason": "content_filter"}, "content_filter"),
        (None, "length"),
    ],
)
def test_incomplete_answer(details, finish):
    response = {
        **fake_answer({"input": "hi"}),
        "status": "incomplete",
        "incomplete_details": details,
    }
    assert responses_to_chat_response(response, "m")["choices"][0]["finish_reason"] == finish


def test_incomplete_while_calling_a_tool_is_length():
    response = fake_answer({"input": "weather?", "tools": [FLAT_WEATHER]})
    response = {
        **response,
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
    }
    assert responses_to_chat_response(response, "m")["choices"][0]["finish_reason"] == "length"


def test_refusal_answer():
    output = [
        {
            "type": "message",
            "id": "m",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "refusal", "refusal": "No."}],
        }
    ]
    message = responses_to_chat_response({"status": "completed", "output": output}, "m")["choices"][
        0
    ]["message"]
    assert message == {"role": "assistant", "content": None, "refusal": "No."}


def test_missing_usage_is_zeros_and_the_upstream_model_is_the_fallback():
    completion = responses_to_chat_response({"output": [], "model": "o3-pro-2025"}, "")
    assert completion["model"] == "o3-pro-2025"
    assert completion["usage"]["total_tokens"] == 0
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": ""}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({"status": "completed"}, "no `output` list"),
        ({"status": "completed", "output": {}}, "no `output` list"),
        ({"status": "completed", "output": ["x"]}, "not an object"),
        (
            {
                "status": "failed",
                "error": {"code": "server_error", "message": "boom"},
                "output": [],
            },
            "boom",
        ),
        ({"status": "failed", "error": None, "output": []}, "failed"),
        ({"status": "in_progress", "output": []}, "not finished"),
        ({"status": "queued", "output": []}, "not finished"),
    ],
)
def test_malformed_or_failed_answers_raise_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        responses_to_chat_response(data, "m")


def test_a_canonical_answer_survives_the_client_renderer_and_back():
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "reasoning_content": "need weather",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 31,
            "total_tokens": 151,
            "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 5},
        },
    }
    response = chat_to_responses_response(
        completion, response_id="resp_1", model="m", request={}, created_at=5
    )
    back = responses_to_chat_response(response, "m")
    assert back["choices"][0]["message"] == completion["choices"][0]["message"]
    assert back["choices"][0]["finish_reason"] == "tool_calls"
    assert back["usage"] == completion["usage"]


# --- streams ----------------------------------------------------------------------------------


def sse(event: dict) -> bytes:
    return f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n"


def decode(events, model: str = "") -> tuple[list[dict], ResponsesStreamDecoder]:
    decoder = ResponsesStreamDecoder(model)
    chunks = []
    for event in events:
        chunks += decoder.feed(event if isinstance(event, bytes) else sse(event))
    chunks += decoder.finish()
    return chunks, decoder


def accumulated(chunks: list[dict]) -> dict:
    collected = ChunkAccumulator()
    for chunk in chunks:
        collected.feed(chunk)
    return collected.completion()


def deltas(chunks):
    return [
        (c["choices"][0]["delta"], c["choices"][0]["finish_reason"])
        if c["choices"]
        else ("usage", c["usage"])
        for c in chunks
    ]


def _reference_events() -> list[dict]:
    """wire-formats.md §2.4, event for event."""
    opening = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "in_progress",
        "model": "m",
        "output": [],
        "usage": None,
    }
    msg = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Checking the weather.", "annotations": []}],
    }
    fc = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_a",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
        "status": "completed",
    }
    at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": opening},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**msg, "status": "in_progress", "content": []},
        },
        {
            "type": "response.content_part.added",
            **at,
            "part": {"type": "output_text", "text": "", "annotations": []},
        },
        {
            "type": "response.output_text.delta",
            **at,
            "delta": "Checking the weather.",
            "logprobs": [],
        },
        {
            "type": "response.output_text.done",
            **at,
            "text": "Checking the weather.",
            "logprobs": [],
        },
        {"type": "response.content_part.done", **at, "part": msg["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": msg},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {**fc, "arguments": "", "status": "in_progress"},
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 1,
            "delta": '{"city":',
        },
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc_1",
            "output_index": 1,
            "delta": '"Paris"}',
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "output_index": 1,
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "response.output_item.done", "output_index": 1, "item": fc},
        {
            "type": "response.completed",
            "response": {
                **opening,
                "status": "completed",
                "output": [msg, fc],
                "usage": {
                    "input_tokens": 120,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 31,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": 151,
                },
            },
        },
    ]
    return fake.numbered(events)


def test_reference_stream_exact_chunks():
    chunks, decoder = decode(_reference_events())
    assert decoder.done
    for c in chunks:
        assert (c["id"], c["object"], c["created"], c["model"]) == (
            "resp_1",
            "chat.completion.chunk",
            1,
            "m",
        )
    assert deltas(chunks) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Checking the weather."}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, None),
        ({}, "tool_calls"),
        (
            "usage",
            {
                "prompt_tokens": 120,
                "completion_tokens": 31,
                "total_tokens": 151,
                "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        ),
    ]
    assert HOSTED_TOOLS_KEY not in chunks[-1]["usage"]


def test_the_model_given_wins_over_the_upstreams():
    chunks, _ = decode(_reference_events(), model="client/model")
    assert {c["model"] for c in chunks} == {"client/model"}


FAKE_REQUESTS = {
    "text": {"input": "hi"},
    "function call": {"input": "weather?", "tools": [FLAT_WEATHER]},
    "reasoning then text": {"input": "hi", "reasoning": {"effort": "high", "summary": "auto"}},
    "web search with a citation": {"input": "please search", "tools": [{"type": "web_search"}]},
    "reasoning then a call": {
        "input": "x",
        "tools": [FLAT_WEATHER],
        "reasoning": {"summary": "detailed"},
    },
}


@pytest.mark.parametrize("name", sorted(FAKE_REQUESTS))
def test_a_stream_says_what_its_final_response_says(name):
    response = fake_answer(FAKE_REQUESTS[name])
    events = fake.encoded(fake.stream_events(response))
    chunks, decoder = decode(events)
    assert decoder.done
    streamed = accumulated(chunks)
    whole = responses_to_chat_response(response, "")
    annotations = [
        a for c in chunks if c["choices"] for a in c["choices"][0]["delta"].get("annotations", ())
    ]
    assert annotations == whole["choices"][0]["message"].pop("annotations", [])
    assert streamed["choices"][0]["message"] == whole["choices"][0]["message"]
    assert streamed["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert streamed["usage"] == whole["usage"]
    assert (streamed["id"], streamed["created"], streamed["model"]) == (
        whole["id"],
        whole["created"],
        whole["model"],
    )
    assert chunks[-1]["usage"].get(HOSTED_TOOLS_KEY) == whole["usage"].get(HOSTED_TOOLS_KEY)
    tool_starts = [
        c
        for c in chunks
        if c["choices"] and "id" in (c["choices"][0]["delta"].get("tool_calls") or [{}])[0]
    ]
    assert [t["choices"][0]["delta"]["tool_calls"][0]["index"] for t in tool_starts] == list(
        range(len(tool_starts))
    )


def test_parallel_calls_keep_their_index_when_their_deltas_interleave():
    def call(n):
        return {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": f"call_{n}",
            "name": f"f{n}",
            "arguments": "",
            "status": "in_progress",
        }

    def args(n, text):
        return {
            "type": "response.function_call_arguments.delta",
            "item_id": f"fc_{n}",
            "output_index": n + 1,
            "delta": text,
        }

    events = [
        {"type": "response.created", "response": {"id": "r", "created_at": 1, "model": "m"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs", "summary": []},
        },
        {"type": "response.output_item.added", "output_index": 1, "item": call(0)},
        {"type": "response.output_item.added", "output_index": 2, "item": call(1)},
        args(1, '{"b":'),
        args(0, '{"a":'),
        args(1, "2}"),
        args(0, "1}"),
        {"type": "response.completed", "response": {"status": "completed"}},
    ]
    chunks, _ = decode(events)
    message = accumulated(chunks)["choices"][0]["message"]
    assert [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]
    ] == [
        ("call_0", "f0", '{"a":1}'),
        ("call_1", "f1", '{"b":2}'),
    ]


def test_done_events_stand_in_for_deltas_that_never_came():
    events = [
        {"type": "response.created", "response": {"id": "r", "created_at": 1, "model": "m"}},
        {
            "type": "response.reasoning_summary_text.done",
            "item_id": "rs",
            "output_index": 0,
            "summary_index": 0,
            "text": "Plan.",
        },
        {
            "type": "response.output_text.done",
            "item_id": "m1",
            "output_index": 1,
            "content_index": 0,
            "text": "Hi.",
        },
        {
            "type": "response.output_item.done",
            "output_index": 2,
            "item": {
                "type": "function_call",
                "id": "fc",
                "call_id": "c",
                "name": "f",
                "arguments": '{"x":1}',
                "status": "completed",
            },
        },
        {
            "type": "response.output_item.added",
            "output_index": 3,
            "item": {
                "type": "function_call",
                "id": "fc2",
                "call_id": "c2",
                "name": "g",
                "arguments": "",
            },
        },
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc2",
            "output_index": 3,
            "arguments": '{"y":2}',
        },
        {
            "type": "response.output_item.done",
            "output_index": 3,
            "item": {
                "type": "function_call",
                "id": "fc2",
                "call_id": "c2",
                "name": "g",
                "arguments": '{"y":2}',
            },
        },
        {
            "type": "response.output_item.added",
            "output_index": 4,
            "item": {
                "type": "function_call",
                "id": "fc3",
                "call_id": "c3",
                "name": "h",
                "arguments": "",
            },
        },
        {
            "type": "response.output_item.done",
            "output_index": 4,
            "item": {
                "type": "function_call",
                "id": "fc3",
                "call_id": "c3",
                "name": "h",
                "arguments": "",
            },
        },
        {"type": "response.completed", "response": {"status": "completed"}},
    ]
    message = accumulated(decode(events)[0])["choices"][0]["message"]
    assert message["content"] == "Hi."
    assert message["reasoning_content"] == "Plan."
    assert [c["function"]["arguments"] for c in message["tool_calls"]] == [
        '{"x":1}',
        '{"y":2}',
        "{}",
    ]


def test_a_delta_and_its_done_event_are_not_doubled():
    at = {"item_id": "m1", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.output_text.delta", **at, "delta": "Hel"},
        {"type": "response.output_text.delta", **at, "delta": "lo"},
        {"type": "response.output_text.done", **at, "text": "Hello"},
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs",
            "summary_index": 0,
            "delta": "A",
        },
        {
            "type": "response.reasoning_summary_text.done",
            "item_id": "rs",
            "summary_index": 0,
            "text": "A",
        },
        {
            "type": "response.reasoning_summary_text.delta",
            "item_id": "rs",
            "summary_index": 1,
            "delta": "B",
        },
        {
            "type": "response.reasoning_text.delta",
            "item_id": "rs",
            "content_index": 0,
            "delta": "raw, left out",
        },
        {
            "type": "response.reasoning_text.delta",
            "item_id": "rs2",
            "content_index": 0,
            "delta": "C",
        },
        {"type": "response.completed", "response": {"status": "completed"}},
    ]
    chunks, _ = decode(events)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}  # made up
    message = accumulated(chunks)["choices"][0]["message"]
    assert message["content"] == "Hello"
    assert message["reasoning_content"] == "A\n\nB\n\nC"


def test_incomplete_stream_ends_with_length_and_usage():
    response = {
        **fake_answer({"input": "hi"}),
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
    }
    chunks, decoder = decode(
        fake.encoded(
            [
                *fake.stream_events(response)[:-1],
                {"type": "response.incomplete", "response": response},
            ]
        )
    )
    assert decoder.done
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9


def test_streamed_annotations_and_hosted_calls_without_a_final_output_list():
    at = {"item_id": "m1", "output_index": 1, "content_index": 0}
    cite = {
        "type": "url_citation",
        "url": "https://a",
        "title": "A",
        "start_index": 0,
        "end_index": 3,
    }
    events = [
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "web_search_call", "id": "ws", "status": "in_progress"},
        },
        {"type": "response.web_search_call.searching", "item_id": "ws", "output_index": 0},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "web_search_call", "id": "ws", "status": "completed"},
        },
        {
            "type": "response.output_text.delta",
            "item_id": "m0",
            "output_index": 1,
            "content_index": 0,
            "delta": "Hi. ",
        },
        {"type": "response.output_text.delta", **at, "delta": "abc"},
        {
            "type": "response.output_text.annotation.added",
            **at,
            "annotation_index": 0,
            "annotation": cite,
        },
        {
            "type": "response.output_text.annotation.added",
            **at,
            "annotation_index": 1,
            "annotation": {"type": "file_path", "file_id": "f", "index": 0},
        },
        {"type": "response.completed", "response": {"status": "completed", "usage": None}},
    ]
    chunks, _ = decode(events)
    annotations = [
        a for c in chunks if c["choices"] for a in c["choices"][0]["delta"].get("annotations", ())
    ]
    assert annotations == [
        {
            "type": "url_citation",
            "url_citation": {"url": "https://a", "title": "A", "start_index": 4, "end_index": 7},
        }
    ]
    assert chunks[-1]["usage"][HOSTED_TOOLS_KEY] == {"web_search": 1}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_error_event_raises_stream_error_with_message_and_type():
    decoder = ResponsesStreamDecoder()
    decoder.feed(sse({"type": "response.created", "response": {"id": "r"}}))
    with pytest.raises(StreamError) as raised:
        decoder.feed(
            sse(
                {
                    "type": "error",
                    "code": "rate_limit_exceeded",
                    "message": "slow down",
                    "param": None,
                    "sequence_number": 1,
                }
            )
        )
    assert (raised.value.message, raised.value.type, raised.value.malformed) == (
        "slow down",
        "rate_limit_exceeded",
        False,
    )
    assert not decoder.done


def test_error_event_in_the_nested_form():
    event = {
        "type": "error",
        "error": {"type": "invalid_request_error", "code": "x", "message": "bad"},
    }
    with pytest.raises(StreamError) as raised:
        ResponsesStreamDecoder().feed(sse(event))
    assert (raised.value.message, raised.value.type) == ("bad", "invalid_request_error")


def test_response_failed_raises_stream_error():
    response = fake_answer(
        {"input": "hi"},
        status="failed",
        error={"code": "server_error", "message": "upstream broke"},
    )
    with pytest.raises(StreamError) as raised:
        ResponsesStreamDecoder().feed(sse({"type": "response.failed", "response": response}))
    assert (raised.value.message, raised.value.type) == ("upstream broke", "server_error")
    with pytest.raises(StreamError) as raised:
        ResponsesStreamDecoder().feed(sse({"type": "response.failed", "response": {"error": None}}))
    assert (raised.value.message, raised.value.type) == ("upstream stream error", "server_error")


@pytest.mark.parametrize(
    "event",
    [
        b"event: response.output_text.delta\ndata: {not json\n\n",
        b"data: [1, 2]\n\n",
        b'data: "text"\n\n',
    ],
)
def test_undecodable_events_are_malformed(event):
    with pytest.raises(StreamError) as raised:
        ResponsesStreamDecoder().feed(event)
    assert raised.value.malformed


def test_keep_alives_unknown_events_and_done_are_ignored():
    decoder = ResponsesStreamDecoder()
    assert decoder.feed(b": keep-alive\n\n") == []
    assert decoder.feed(b"data: [DONE]\n\n") == []
    assert decoder.feed(sse({"type": "response.brand_new_thing", "x": 1})) == []
    assert decoder.feed(sse({"type": "response.content_part.added", "item_id": "m"})) == []
    assert (
        decoder.feed(b'event: response.created\ndata: {"response": {"id": "r9"}}\n\n')[0]["id"]
        == "r9"
    )
    assert not decoder.done and decoder.finish() == []


def test_nothing_after_the_terminal_event_and_no_made_up_end():
    events = _reference_events()
    chunks, decoder = decode(events[:-1])
    assert not decoder.done and chunks[-1]["choices"]  # cut off: no finish, no usage
    decoder.feed(sse(events[-1]))
    assert decoder.done
    assert decoder.feed(sse(events[4])) == []
    assert decoder.feed(sse({"type": "error", "message": "late"})) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=ws.answers())
def test_any_canonical_stream_survives_the_client_encoder_and_this_decoder(answer):
    """canonical chunks -> Orca's Responses client encoder -> Responses events -> decoder."""
    upstream = OpenAIStreamDecoder()
    canonical = [
        c for event in EventSplitter().feed(ws.openai_stream(answer)) for c in upstream.feed(event)
    ]
    encoder = ResponsesStreamEncoder(response_id="resp_x", model="m", request={}, created_at=3)
    raw = encoder.start() + b"".join(encoder.feed(c) for c in canonical) + encoder.finish()
    chunks, decoder = decode(EventSplitter().feed(raw))
    assert decoder.done
    got, sent = accumulated(chunks), accumulated(canonical)
    assert got["choices"][0]["message"] == sent["choices"][0]["message"]
    assert got["choices"][0]["finish_reason"] == sent["choices"][0]["finish_reason"]
    assert got["usage"]["prompt_tokens"] == answer.input_tokens
    assert got["usage"]["completion_tokens"] == answer.output_tokens
    assert got["usage"]["prompt_tokens_details"]["cached_tokens"] == answer.cached_tokens
    assert got["usage"]["completion_tokens_details"]["reasoning_tokens"] == answer.reasoning_tokens
    assert (
        responses_to_chat_response(encoder.final_response, "")["choices"][0]["message"]
        == got["choices"][0]["message"]
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"messages": [{"role": "user", "content": "hi"}]},  # a chat body
        {"input": "hi", "tools": [WEATHER]},  # a chat-shaped tool
        {"input": "hi", "max_output_tokens": 10},
        {"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]},
    ],
)
def test_the_validity_check_is_strict(bad):
    with pytest.raises(
        (AssertionError, pydantic.ValidationError, fake.RequestInvalid, InvalidRequest)
    ):
        assert_valid({"model": UP, **bad})
