"""Anthropic Messages <-> canonical chat translation (pure; no Django, no database)."""

import json

import httpx
import orjson
import pytest

from routing.wire import anthropic as wire
from routing.wire.canonical import InvalidRequest, StreamError
from routing.wire.sse import EventSplitter, data_lines

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def base_body(**extra):
    return {
        "model": "anthropic/claude-sonnet-4.6",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello"}],
        **extra,
    }


def round_trip(body, **options):
    """Anthropic request -> canonical chat -> Anthropic request."""
    wire.validate_messages_request(body)
    chat = wire.messages_to_chat(body)
    options.setdefault("default_max_tokens", 4096)
    return chat, wire.chat_to_anthropic_request(chat, upstream_model="claude-up", **options)


def events_of(raw: bytes) -> list[tuple[str, dict]]:
    """Split encoder output into (event name, data) pairs, checking the framing."""
    splitter = EventSplitter()
    out = []
    for event in splitter.feed(raw):
        lines = event.rstrip(b"\n").split(b"\n")
        assert len(lines) == 2 and lines[0].startswith(b"event: "), event
        name = lines[0][len(b"event: ") :].decode()
        data = orjson.loads(next(data_lines(event)))
        assert data["type"] == name
        out.append((name, data))
    assert splitter.remainder() == b""
    return out


# --- validation ------------------------------------------------------------------------------


def test_a_complete_request_is_valid():
    wire.validate_messages_request(
        base_body(
            system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            temperature=0.5,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END"],
            stream=True,
            tools=[WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "tool", "name": "get_weather"},
            thinking={"type": "enabled", "budget_tokens": 1024},
            max_tokens=2048,
            metadata={"user_id": "u-1"},
        )
    )


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": None}, "model"),
        ({"model": "  "}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "5"}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "system"}]}, "messages[0].content"),
        ({"messages": [{"role": "user"}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content[0]"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "messages[0].content[0].text",
        ),
        ({"system": 5}, "system"),
        ({"system": [{"type": "image"}]}, "system[0]"),
        ({"temperature": 1.5}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stream": "yes"}, "stream"),
        ({"tools": {}}, "tools"),
        ({"tools": [{"input_schema": {"type": "object"}}]}, "tools[0].name"),
        ({"tools": [{"name": "f"}]}, "tools[0].input_schema"),
        ({"tools": [{"type": "custom", "name": "f", "input_schema": []}]}, "tools[0].input_schema"),
        ({"tool_choice": {"type": "required"}}, "tool_choice.type"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"thinking": {"type": 5}}, "thinking.type"),
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking.budget_tokens"),
        ({"metadata": {"user_id": 7}}, "metadata.user_id"),
    ],
)
def test_validation_names_the_bad_field(change, param):
    body = base_body()
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    with pytest.raises(InvalidRequest) as info:
        wire.validate_messages_request(body)
    assert info.value.param == param


def test_validation_rejects_a_non_object_body():
    with pytest.raises(InvalidRequest) as info:
        wire.validate_messages_request([])
    assert info.value.param is None


def test_server_tools_pass_validation_but_cannot_be_translated():
    body = base_body(tools=[{"type": "code_execution_20250522", "name": "code_execution"}])
    wire.validate_messages_request(body)
    chat = wire.messages_to_chat(body)  # the canonical form leaves the tool out...
    assert "tools" not in chat
    with pytest.raises(InvalidRequest) as info:  # ...and a translation refuses it
        wire.chat_to_anthropic_request(chat, upstream_model="claude-up", default_max_tokens=64)
    assert info.value.param == "tools[0]"


# --- requests: Anthropic -> canonical -> Anthropic --------------------------------------------


def test_system_round_trip():
    chat, back = round_trip(base_body(system="Be brief."))
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["model"] == "anthropic/claude-sonnet-4.6"
    assert back["model"] == "claude-up"
    assert back["system"] == [{"type": "text", "text": "Be brief."}]
    assert back["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    assert back["max_tokens"] == 1024

    blocks = [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]
    chat, back = round_trip(base_body(system=blocks))
    assert chat["messages"][0] == {"role": "system", "content": "One.\n\nTwo."}
    assert back["system"] == [{"type": "text", "text": "One.\n\nTwo."}]


def test_images_round_trip():
    content = [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    chat, back = round_trip(base_body(messages=[{"role": "user", "content": content}]))
    assert chat["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare these."},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }
    ]
    assert back["messages"] == [{"role": "user", "content": content}]


@pytest.mark.parametrize(
    ("choice", "chat_choice", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "any"}, "required", None),
        ({"type": "none"}, "none", None),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
            None,
        ),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
        ({"type": "any", "disable_parallel_tool_use": True}, "required", False),
    ],
)
def test_tools_and_tool_choice_round_trip(choice, chat_choice, parallel):
    chat, back = round_trip(base_body(tools=[WEATHER_TOOL], tool_choice=choice))
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": WEATHER_TOOL["input_schema"],
            },
        }
    ]
    assert chat["tool_choice"] == chat_choice
    assert chat.get("parallel_tool_calls") == parallel
    assert back["tools"] == [WEATHER_TOOL]
    assert back["tool_choice"] == choice


def test_tool_use_and_tool_result_turns_round_trip():
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_b",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C, sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_b",
                    "content": [{"type": "text", "text": "22C, clear"}],
                },
                {"type": "text", "text": "Thanks, and keep it short."},
            ],
        },
    ]
    chat, back = round_trip(base_body(messages=messages, tools=[WEATHER_TOOL]))
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant", "tool", "tool", "user"]
    assistant = chat["messages"][1]
    assert assistant["content"] == "Checking both."
    assert [call["id"] for call in assistant["tool_calls"]] == ["toolu_a", "toolu_b"]
    assert assistant["tool_calls"][0]["type"] == "function"
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"city": "Rome"}
    assert chat["messages"][2] == {
        "role": "tool",
        "tool_call_id": "toolu_a",
        "content": "18C, sunny",
    }
    assert chat["messages"][3]["content"] == "22C, clear"
    assert chat["messages"][4] == {"role": "user", "content": "Thanks, and keep it short."}

    assert [turn["role"] for turn in back["messages"]] == ["user", "assistant", "user"]
    assert back["messages"][1] == messages[1]
    assert back["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C, sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "22C, clear"},
        {"type": "text", "text": "Thanks, and keep it short."},
    ]


def test_tool_result_errors_and_images_keep_chat_rules():
    messages = [
        {"role": "user", "content": "Screenshot please"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "partial"},
                        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                    ],
                }
            ],
        },
    ]
    chat = wire.messages_to_chat(base_body(messages=messages))
    assert chat["messages"][1]["content"] is None
    assert chat["messages"][1]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert chat["messages"][2] == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "Error: partial",
    }
    assert chat["messages"][3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}],
    }


def test_thinking_with_signatures_round_trip():
    thinking = [
        {"type": "thinking", "thinking": "The user wants Paris.", "signature": "sig-abc=="},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
    ]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                *thinking,
                {
                    "type": "tool_use",
                    "id": "toolu_a",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"}],
        },
    ]
    body = base_body(
        messages=messages,
        tools=[WEATHER_TOOL],
        max_tokens=8000,
        thinking={"type": "enabled", "budget_tokens": 3000},
    )
    chat, back = round_trip(body)
    assert chat["reasoning_budget_tokens"] == 3000
    assert chat["reasoning_effort"] == "medium"
    assistant = chat["messages"][1]
    assert assistant["thinking_blocks"] == thinking
    assert assistant["reasoning_content"] == "The user wants Paris."

    assert back["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert back["max_tokens"] == 8000
    assert back["messages"][1]["content"][:2] == thinking
    assert back["messages"][1]["content"][2]["type"] == "tool_use"


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "low"), (2048, "medium"), (8192, "medium"), (8193, "high")]
)
def test_thinking_budget_maps_to_an_effort(budget, effort):
    chat = wire.messages_to_chat(
        base_body(max_tokens=32000, thinking={"type": "enabled", "budget_tokens": budget})
    )
    assert chat["reasoning_effort"] == effort


def test_other_request_fields_map_to_canonical():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    chat = wire.messages_to_chat(
        base_body(
            temperature=0.3,
            top_k=5,
            stop_sequences=["END"],
            metadata={"user_id": "user-42"},
            stream=True,
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
    )
    assert chat["temperature"] == 0.3
    assert chat["top_k"] == 5
    assert chat["stop"] == ["END"]
    assert chat["user"] == "user-42"
    assert chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    assert chat["max_tokens"] == 1024
    assert chat["response_format"]["type"] == "json_schema"
    assert chat["response_format"]["json_schema"]["schema"] == schema
    assert chat["response_format"]["json_schema"]["name"]
    legacy = wire.messages_to_chat(
        base_body(output_format={"type": "json_schema", "schema": schema})
    )
    assert legacy["response_format"]["json_schema"]["schema"] == schema


# --- requests: canonical -> Anthropic ---------------------------------------------------------


def chat_request(**extra):
    return {"model": "m", "messages": [{"role": "user", "content": "Hi"}], **extra}


def to_anthropic(chat, default_max_tokens=4096):
    return wire.chat_to_anthropic_request(
        chat, upstream_model="claude-up", default_max_tokens=default_max_tokens
    )


def test_n_greater_than_one_is_refused():
    with pytest.raises(InvalidRequest) as info:
        to_anthropic(chat_request(n=2))
    assert info.value.param == "n"
    assert to_anthropic(chat_request(n=1))["messages"]


def test_unsupported_chat_fields_are_dropped_and_sampling_is_adapted():
    body = to_anthropic(
        chat_request(
            temperature=1.5,
            top_p=0.9,
            stop="END",
            presence_penalty=0.5,
            frequency_penalty=0.5,
            seed=7,
            logprobs=True,
            n=1,
            stream=True,
            stream_options={"include_usage": True},
            user="user-42",
            max_completion_tokens=300,
            service_tier="auto",
        )
    )
    assert body == {
        "model": "claude-up",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "temperature": 1,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "stream": True,
    }
    assert to_anthropic(chat_request())["max_tokens"] == 4096
    assert "metadata" not in to_anthropic(chat_request(user="someone@example.com"))


def test_system_messages_are_hoisted_and_same_role_turns_merged():
    body = to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Rule one."},
                {"role": "user", "content": "a"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "b"}, {"type": "text", "text": ""}],
                },
                {"role": "developer", "content": [{"type": "text", "text": "Rule two."}]},
                {"role": "assistant", "content": "ok"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "c"},
            ],
        }
    )
    assert body["system"] == [
        {"type": "text", "text": "Rule one."},
        {"type": "text", "text": "Rule two."},
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": "c"}]},
    ]


def test_tool_results_come_first_and_odd_ids_stay_paired():
    body = to_anthropic(
        {
            "model": "m",
            "tools": [{"type": "function", "function": {"name": "bash"}}],
            "messages": [
                {"role": "user", "content": "run it"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "functions.Bash:0",
                            "type": "function",
                            "function": {"name": "bash", "arguments": "not json"},
                        }
                    ],
                },
                {"role": "user", "content": "also this"},
                {"role": "tool", "tool_call_id": "functions.Bash:0", "content": "done"},
            ],
        }
    )
    assert body["tools"] == [{"name": "bash", "input_schema": {"type": "object", "properties": {}}}]
    tool_use = body["messages"][1]["content"][0]
    assert tool_use["type"] == "tool_use"
    assert tool_use["input"] == {}
    assert tool_use["id"] != "functions.Bash:0"
    assert all(c.isalnum() or c in "_-" for c in tool_use["id"])
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": tool_use["id"], "content": "done"},
        {"type": "text", "text": "also this"},
    ]


def test_history_tool_calls_without_tools_get_declarations():
    body = to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r"},
            ],
        }
    )
    assert [tool["name"] for tool in body["tools"]] == ["f"]
    assert body["tool_choice"] == {"type": "none"}


@pytest.mark.parametrize(
    ("extra", "budget", "max_tokens"),
    [
        ({"reasoning_effort": "low"}, 1280, 4096),
        ({"reasoning_effort": "medium"}, 2048, 4096),
        ({"reasoning_effort": "high", "max_tokens": 1000}, 4096, 5096),
        ({"reasoning_effort": "low", "reasoning_budget_tokens": 500}, 1024, 4096),
        ({"reasoning_effort": "low", "reasoning_budget_tokens": 6000}, 6000, 10096),
        ({"reasoning_effort": "minimal"}, None, 4096),
        ({}, None, 4096),
    ],
)
def test_reasoning_becomes_a_thinking_budget(extra, budget, max_tokens):
    body = to_anthropic(chat_request(temperature=0.2, top_p=0.5, top_k=3, **extra))
    assert body["max_tokens"] == max_tokens
    if budget is None:
        assert "thinking" not in body
        assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.5, 3)
    else:
        assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
        assert body["max_tokens"] > budget
        assert not {"temperature", "top_p", "top_k"} & body.keys()


def test_forced_tool_choice_turns_thinking_off():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = to_anthropic(chat_request(tools=tools, tool_choice="required", reasoning_effort="high"))
    assert body["tool_choice"] == {"type": "any"}
    assert "thinking" not in body
    body = to_anthropic(
        chat_request(tools=tools, reasoning_effort="high", parallel_tool_calls=False)
    )
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert body["thinking"]["budget_tokens"] == 4096


def test_response_formats():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = to_anthropic(
        chat_request(
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
        )
    )
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    body = to_anthropic(chat_request(response_format={"type": "json_object"}))
    assert "JSON" in body["system"][-1]["text"]
    assert "output_config" not in body


def test_images_and_unsupported_parts():
    def user(part):
        return chat_request(messages=[{"role": "user", "content": [part]}])

    body = to_anthropic(
        user({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}})
    )
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}
    ]
    for part in (
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "mp3"}},
        {"type": "file", "file": {"file_id": "file-123"}},
    ):
        with pytest.raises(InvalidRequest) as info:
            to_anthropic(user(part))
        assert info.value.param.startswith("messages[0].content[0]")


# --- responses --------------------------------------------------------------------------------


def chat_completion(**message):
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 20},
            "completion_tokens_details": {"reasoning_tokens": 10},
        },
    }


def test_chat_response_as_an_anthropic_message():
    chat = chat_completion(
        content="Let me check.",
        reasoning_content="Need the weather.",
        tool_calls=[
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}},
        ],
    )
    chat["choices"][0]["finish_reason"] = "tool_calls"
    message = wire.chat_to_messages_response(chat, model="client-model")
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == (
        "message",
        "assistant",
        "client-model",
    )
    assert message["content"] == [
        {"type": "thinking", "thinking": "Need the weather.", "signature": ""},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "now", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["stop_sequence"] is None
    usage = message["usage"]
    assert usage == {
        "input_tokens": 50,
        "output_tokens": 50,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 20,
    }
    assert (
        usage["input_tokens"]
        + usage["cache_read_input_tokens"]
        + usage["cache_creation_input_tokens"]
        == chat["usage"]["prompt_tokens"]
    )


@pytest.mark.parametrize(
    ("finish", "stop_sequence", "stop_reason"),
    [
        ("stop", None, "end_turn"),
        ("stop", "END", "stop_sequence"),
        ("length", None, "max_tokens"),
        ("content_filter", None, "refusal"),
    ],
)
def test_finish_reasons_become_stop_reasons(finish, stop_sequence, stop_reason):
    chat = chat_completion(content="x")
    chat["choices"][0]["finish_reason"] = finish
    if stop_sequence:
        chat["choices"][0]["stop_sequence"] = stop_sequence
    message = wire.chat_to_messages_response(chat, model="m")
    assert message["stop_reason"] == stop_reason
    assert message["stop_sequence"] == stop_sequence


def anthropic_message():
    return {
        "id": "msg_01abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Paris it is.", "signature": "sig=="},
            {"type": "text", "text": "Checking the weather."},
            {
                "type": "tool_use",
                "id": "toolu_a",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 7,
            "cache_read_input_tokens": 5,
            "cache_creation_input_tokens": 3,
        },
    }


def test_anthropic_response_as_a_chat_completion():
    chat = wire.anthropic_to_chat_response(anthropic_message())
    assert chat["id"] == "msg_01abc"
    assert chat["object"] == "chat.completion"
    assert chat["model"] == "claude-sonnet-4-5"
    assert isinstance(chat["created"], int)
    choice = chat["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Checking the weather."
    assert message["reasoning_content"] == "Paris it is."
    assert message["thinking_blocks"] == [anthropic_message()["content"][0]]
    assert message["tool_calls"] == [
        {
            "id": "toolu_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    usage = chat["usage"]
    assert usage["prompt_tokens"] == 18
    assert usage["completion_tokens"] == 7
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] == 25
    assert usage["prompt_tokens_details"] == {"cached_tokens": 5, "cache_write_tokens": 3}

    openai = pytest.importorskip("openai")
    parsed = openai.types.chat.ChatCompletion.model_validate(chat)
    assert parsed.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_response_round_trip_keeps_blocks_stop_and_usage():
    original = anthropic_message()
    back = wire.chat_to_messages_response(
        wire.anthropic_to_chat_response(original), model=original["model"]
    )
    assert back == original

    stopped = {**original, "content": [{"type": "text", "text": "1 2 3"}]}
    stopped.update(stop_reason="stop_sequence", stop_sequence="4")
    chat = wire.anthropic_to_chat_response(stopped)
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert chat["choices"][0]["stop_sequence"] == "4"
    assert wire.chat_to_messages_response(chat, model="m")["stop_reason"] == "stop_sequence"


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_stop_reasons_become_finish_reasons(stop_reason, finish):
    chat = wire.anthropic_to_chat_response({**anthropic_message(), "stop_reason": stop_reason})
    assert chat["choices"][0]["finish_reason"] == finish


def test_usage_to_canonical_handles_missing_fields():
    usage = wire.usage_to_canonical({"input_tokens": 4, "output_tokens": 2})
    assert usage["prompt_tokens"] == 4
    assert usage["total_tokens"] == 6
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}


@pytest.mark.parametrize(
    ("status", "type_"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (409, "invalid_request_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_envelope(status, type_):
    assert wire.error_envelope(status, "boom") == {
        "type": "error",
        "error": {"type": type_, "message": "boom"},
    }


# --- stream: canonical chunks -> Anthropic events ----------------------------------------------


def chunk(delta=None, finish_reason=None, usage=None):
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt"}
    body["choices"] = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    if usage is not None:
        body["usage"] = usage
    return body


def call(index, fragment, id_=None, name=None):
    tool = {"index": index, "function": {"arguments": fragment}}
    if id_:
        tool.update(id=id_, type="function")
        tool["function"]["name"] = name
    return chunk({"tool_calls": [tool]})


REALISTIC_CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "The user wants "}),
    chunk({"reasoning_content": "weather and time."}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    call(0, "", "call_1", "get_weather"),
    call(0, '{"ci'),
    call(0, 'ty": "Pa'),
    call(0, 'ris"}'),
    call(1, '{"tz":', "call_2", "get_time"),
    call(1, ' "CET"}'),
    chunk({}, "tool_calls"),
    chunk(
        usage={
            "prompt_tokens": 120,
            "completion_tokens": 40,
            "total_tokens": 160,
            "prompt_tokens_details": {"cached_tokens": 20},
        }
    ),
]


def encode(chunks, **options):
    encoder = wire.MessagesStreamEncoder(model="client-model", **options)
    raw = encoder.start() + b"".join(encoder.feed(c) for c in chunks) + encoder.finish()
    return raw


def test_encoder_produces_a_valid_event_sequence():
    events = events_of(encode(REALISTIC_CHUNKS, message_id="msg_test"))
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",  # 0 thinking
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 1 text
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 2 tool_use call_1
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 3 tool_use call_2
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert (start["id"], start["model"], start["content"]) == ("msg_test", "client-model", [])

    # Block lifecycle: indexes 0,1,2,... across types; deltas only into the open block.
    delta_type_for = {
        "thinking": "thinking_delta",
        "text": "text_delta",
        "tool_use": "input_json_delta",
    }
    open_block, next_index, blocks = None, 0, []
    for name, data in events:
        if name == "content_block_start":
            assert open_block is None and data["index"] == next_index
            open_block = (data["index"], data["content_block"])
            blocks.append({"block": data["content_block"], "deltas": []})
            next_index += 1
        elif name == "content_block_delta":
            assert open_block is not None and data["index"] == open_block[0]
            assert data["delta"]["type"] == delta_type_for[open_block[1]["type"]]
            blocks[-1]["deltas"].append(data["delta"])
        elif name == "content_block_stop":
            assert open_block is not None and data["index"] == open_block[0]
            open_block = None
    assert [b["block"]["type"] for b in blocks] == ["thinking", "text", "tool_use", "tool_use"]
    assert blocks[0]["block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert "".join(d["thinking"] for d in blocks[0]["deltas"]) == "The user wants weather and time."
    assert "".join(d["text"] for d in blocks[1]["deltas"]) == "Let me check."
    assert blocks[2]["block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "get_weather",
        "input": {},
    }
    assert blocks[3]["block"]["id"] == "call_2"
    inputs = [json.loads("".join(d["partial_json"] for d in b["deltas"])) for b in blocks[2:]]
    assert inputs == [{"city": "Paris"}, {"tz": "CET"}]

    message_delta = events[-2][1]
    assert message_delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert message_delta["usage"] == {
        "input_tokens": 100,
        "output_tokens": 40,
        "cache_read_input_tokens": 20,
        "cache_creation_input_tokens": 0,
    }


def test_encoder_output_is_accepted_by_the_anthropic_sdk():
    anthropic = pytest.importorskip("anthropic")
    httpx2 = pytest.importorskip("httpx2")  # the transport this SDK is built on
    raw = encode(REALISTIC_CHUNKS)

    def handler(request):
        return httpx2.Response(200, content=raw, headers={"content-type": "text/event-stream"})

    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://orca.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(
        model="client-model", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[1].text == "Let me check."
    assert message.content[2].input == {"city": "Paris"}
    assert message.content[3].input == {"tz": "CET"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (100, 40)
    assert message.usage.cache_read_input_tokens == 20


def test_encoder_signatures_stop_sequences_and_missing_usage():
    events = events_of(
        encode(
            [
                chunk({"role": "assistant", "content": ""}),
                chunk({"reasoning_content": "hmm"}),
                chunk({"thinking_signature": "sig=="}),
                chunk({"content": "1 2 3"}),
                {
                    **chunk({}, "stop"),
                    "choices": [
                        {"index": 0, "delta": {}, "finish_reason": "stop", "stop_sequence": "4"}
                    ],
                },
            ]
        )
    )
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert deltas == [
        {"type": "thinking_delta", "thinking": "hmm"},
        {"type": "signature_delta", "signature": "sig=="},
        {"type": "text_delta", "text": "1 2 3"},
    ]
    message_delta = events[-2][1]
    assert message_delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "4"}
    assert set(message_delta["usage"]) == {"output_tokens"}  # nothing reported upstream


def test_encoder_empty_tool_arguments_and_error_event():
    events = events_of(encode([call(0, "", "call_9", "now"), chunk({}, "tool_calls")]))
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    encoder = wire.MessagesStreamEncoder(model="m")
    encoder.start()
    ((name, data),) = events_of(encoder.error("upstream broke", "overloaded_error"))
    assert name == "error"
    assert data == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "upstream broke"},
    }
    assert encoder.finish() == b""


# --- stream: Anthropic events -> canonical chunks ----------------------------------------------

# wire-formats.md §3.4, verbatim.
REFERENCE_STREAM = (
    "\n\n".join(
        [
            "event: message_start\n"
            'data: {"type":"message_start","message":{"id":"msg_1","type":"message",'
            '"role":"assistant","model":"m","content":[],"stop_reason":null,'
            '"stop_sequence":null,"usage":{"input_tokens":120,"cache_creation_input_tokens":0,'
            '"cache_read_input_tokens":0,"output_tokens":1}}}',
            "event: content_block_start\n"
            'data: {"type":"content_block_start","index":0,'
            '"content_block":{"type":"text","text":""}}',
            'event: ping\ndata: {"type":"ping"}',
            "event: content_block_delta\n"
            'data: {"type":"content_block_delta","index":0,'
            '"delta":{"type":"text_delta","text":"Checking the weather."}}',
            'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}',
            "event: content_block_start\n"
            'data: {"type":"content_block_start","index":1,"content_block":'
            '{"type":"tool_use","id":"toolu_a","name":"get_weather","input":{}}}',
            "event: content_block_delta\n"
            'data: {"type":"content_block_delta","index":1,'
            '"delta":{"type":"input_json_delta","partial_json":""}}',
            "event: content_block_delta\n"
            'data: {"type":"content_block_delta","index":1,'
            '"delta":{"type":"input_json_delta","partial_json":"{\\"city\\": \\"Paris\\"}"}}',
            'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}',
            "event: message_delta\n"
            'data: {"type":"message_delta","delta":{"stop_reason":"tool_use",'
            '"stop_sequence":null},"usage":{"output_tokens":31}}',
            'event: message_stop\ndata: {"type":"message_stop"}',
        ]
    ).encode()
    + b"\n\n"
)


def decode(raw: bytes) -> tuple[wire.AnthropicStreamDecoder, list[dict]]:
    decoder = wire.AnthropicStreamDecoder()
    chunks = []
    for event in EventSplitter().feed(raw):
        chunks.extend(decoder.feed(event))
    return decoder, chunks


def test_decoder_reads_the_reference_stream():
    decoder, chunks = decode(REFERENCE_STREAM)
    assert decoder.done
    for c in chunks:
        assert (c["id"], c["object"], c["model"]) == ("msg_1", "chat.completion.chunk", "m")
        assert isinstance(c["created"], int)
    assert [c["choices"][0]["delta"] if c["choices"] else None for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Checking the weather."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "toolu_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]},
        {},
        None,
    ]
    assert [c["choices"][0]["finish_reason"] if c["choices"] else None for c in chunks] == [
        None,
        None,
        None,
        None,
        "tool_calls",
        None,
    ]
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == []
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        120,
        31,
        151,
    )
    assert decoder.feed(b"event: ping\ndata: {}\n\n") == []


def test_decoder_chunks_satisfy_the_openai_stream_accumulator():
    openai = pytest.importorskip("openai")
    _, chunks = decode(REFERENCE_STREAM)
    raw = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"

    def handler(request):
        return httpx.Response(200, content=raw, headers={"content-type": "text/event-stream"})

    client = openai.OpenAI(
        api_key="test",
        base_url="http://orca.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with client.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        completion = stream.get_final_completion()
    message = completion.choices[0].message
    assert message.content == "Checking the weather."
    assert message.tool_calls[0].id == "toolu_a"
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert completion.usage.total_tokens == 151


def sse(type_, **data):
    return (
        b"event: " + type_.encode() + b"\ndata: " + orjson.dumps({"type": type_, **data}) + b"\n\n"
    )


def test_decoder_thinking_empty_tool_input_and_usage_maximum():
    stream = [
        sse(
            "message_start",
            message={
                "id": "msg_2",
                "model": "m",
                "usage": {"input_tokens": 50, "cache_read_input_tokens": 10, "output_tokens": 1},
            },
        ),
        sse(
            "content_block_start",
            index=0,
            content_block={"type": "thinking", "thinking": "", "signature": ""},
        ),
        sse("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "Hmm."}),
        sse(
            "content_block_delta", index=0, delta={"type": "signature_delta", "signature": "sig=="}
        ),
        sse("content_block_stop", index=0),
        sse(
            "content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": "toolu_x", "name": "now", "input": {}},
        ),
        sse("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
        sse("content_block_stop", index=1),
        sse(
            "message_delta",
            delta={"stop_reason": "tool_use", "stop_sequence": None},
            usage={"input_tokens": 50, "cache_creation_input_tokens": 4, "output_tokens": 12},
        ),
        sse("message_stop"),
    ]
    _, chunks = decode(b"".join(stream))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert {"reasoning_content": "Hmm."} in deltas
    assert {"thinking_signature": "sig=="} in deltas
    fragments = [call["function"]["arguments"] for d in deltas for call in d.get("tool_calls", ())]
    assert "".join(fragments) == "{}"
    usage = chunks[-1]["usage"]
    assert usage["prompt_tokens"] == 50 + 10 + 4
    assert usage["completion_tokens"] == 12
    assert usage["prompt_tokens_details"] == {"cached_tokens": 10, "cache_write_tokens": 4}
    assert usage["total_tokens"] == 76


def test_decoder_raises_on_error_events_and_waits_for_the_end():
    decoder = wire.AnthropicStreamDecoder()
    decoder.feed(sse("message_start", message={"id": "msg_3", "model": "m", "usage": {}}))
    assert decoder.finish() == []
    assert not decoder.done
    with pytest.raises(StreamError) as info:
        decoder.feed(sse("error", error={"type": "overloaded_error", "message": "Overloaded"}))
    assert (info.value.message, info.value.type) == ("Overloaded", "overloaded_error")


def test_a_long_metadata_user_id_becomes_a_bounded_stable_user():
    from routing.wire.anthropic.client_request import USER_LIMIT, messages_to_chat

    def user_of(user_id: str) -> str:
        body = {
            "model": "m",
            "max_tokens": 8,
            "metadata": {"user_id": user_id},
            "messages": [{"role": "user", "content": "Hi"}],
        }
        return messages_to_chat(body)["user"]

    long_id = "user_" + "f" * 64 + "_account__session_" + "9" * 36
    assert user_of(long_id) == user_of(long_id) != user_of(long_id + "x")
    assert len(user_of(long_id)) <= USER_LIMIT and long_id[:20] not in user_of(long_id)
    assert user_of("x" * USER_LIMIT) == "x" * USER_LIMIT  # at the limit: as given


@pytest.mark.parametrize(
    ("model", "adaptive"),
    [
        ("claude-opus-4-7", True),
        ("claude-opus-5-5", True),
        ("claude-sonnet-4-6", True),
        ("anthropic.claude-opus-4-6-v1", True),
        ("claude-sonnet-4-5-20250929", False),
        ("claude-opus-4-20250514", False),
        ("claude-3-7-sonnet-20250219", False),
        ("claude-fake", False),
    ],
)
def test_which_claude_models_think_adaptively(model, adaptive):
    assert wire.takes_adaptive_thinking(model) is adaptive
    assert wire.takes_adaptive_thinking(model, ("tools", "adaptive_thinking")) is True


@pytest.mark.parametrize(
    ("extra", "effort"),
    [
        ({"reasoning_effort": "minimal"}, "low"),
        ({"reasoning_effort": "medium"}, "medium"),
        ({"reasoning_effort": "xhigh"}, "xhigh"),
        ({"reasoning_effort": "max"}, "max"),
        ({"reasoning_effort": "low", "reasoning_budget_tokens": 20000}, "high"),
        ({"reasoning_effort": "high", "reasoning_budget_tokens": 0}, None),
        ({}, None),
    ],
)
def test_an_adaptive_model_gets_adaptive_thinking_and_an_effort(extra, effort):
    from tests.fakes import anthropic_validation as fake

    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    chat = chat_request(temperature=0.2, response_format=schema, **extra)
    body = wire.chat_to_anthropic_request(
        chat, upstream_model="claude-opus-4-7", default_max_tokens=4096, adaptive_thinking=True
    )
    fake.validate_request(body)  # what Opus 4.7 takes
    if effort is None:
        assert "thinking" not in body and body["temperature"] == 0.2
        assert body["output_config"] == {
            "format": {"type": "json_schema", "schema": {"type": "object"}}
        }
    else:
        assert body["thinking"] == {"type": "adaptive"} and "temperature" not in body
        assert body["output_config"]["effort"] == effort
        assert body["output_config"]["format"]["type"] == "json_schema"
        assert body["max_tokens"] == 4096  # no budget to make room for


def test_the_fake_anthropic_takes_only_the_thinking_form_of_the_models_generation():
    from tests.fakes import anthropic_validation as fake

    def body(model, **extra):
        hello = [{"role": "user", "content": "Hi"}]
        return {"model": model, "max_tokens": 4096, "messages": hello, **extra}

    legacy = {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    adaptive = {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}
    with pytest.raises(fake.RequestInvalid, match=r"thinking\.type\.enabled"):
        fake.validate_request(body("claude-opus-4-7", **legacy))
    with pytest.raises(fake.RequestInvalid, match="adaptive thinking is not supported"):
        fake.validate_request(body("claude-sonnet-4-5-20250929", **adaptive))
    fake.validate_request(body("claude-opus-4-7", **adaptive))
    fake.validate_request(body("claude-sonnet-4-6", **legacy))  # deprecated there, still taken
    fake.validate_request(body("claude-sonnet-4-5-20250929", **legacy))
