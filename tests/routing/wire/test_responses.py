"""OpenAI Responses <-> canonical chat: request translation, Response objects and the event
stream, proven against the official openai SDK (its Responses stream accumulator is strict)."""

import json
import re
import typing

import httpx2
import openai
import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from routing.wire.canonical import strip_extensions
from routing.wire.openai_chat import InvalidRequest
from routing.wire.responses import (
    ResponsesStreamEncoder,
    chat_to_responses_response,
    history_after,
    responses_to_chat,
    validate_responses_request,
)
from routing.wire.sse import EventSplitter, data_lines
from routing.wire.tools import DROPPED, FORCED, dropped_tools

RESPONSE_ID = "resp_abc"
CREATED = 1_700_000_000

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}

USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 31,
    "total_tokens": 151,
    "prompt_tokens_details": {"cached_tokens": 20},
    "completion_tokens_details": {"reasoning_tokens": 5},
}


# --- canonical chunk builders ---------------------------------------------------------------


def chunk(delta=None, finish=None, usage=None):
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    body["choices"] = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    )
    if usage is not None:
        body["usage"] = usage
    return body


def tool_start(index, call_id, name):
    return chunk(
        {
            "tool_calls": [
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
            ]
        }
    )


def tool_args(index, fragment):
    return chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})


TEXT_THEN_CALL = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Checking "}),
    chunk({"content": "the weather."}),
    tool_start(0, "call_a", "get_weather"),
    tool_args(0, '{"city":'),
    tool_args(0, '"Paris"}'),
    chunk({}, finish="tool_calls"),
    chunk(usage=USAGE),
]


def encode(chunks, *, request=None, error=None):
    encoder = ResponsesStreamEncoder(
        response_id=RESPONSE_ID, model="fake/chat", request=request or {}, created_at=CREATED
    )
    out = encoder.start()
    for piece in chunks:
        out += encoder.feed(piece)
    out += encoder.error(*error) if error else encoder.finish()
    return encoder, out


def events_of(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for event in EventSplitter().feed(raw):
        name = event.split(b"\n", 1)[0].removeprefix(b"event: ").decode()
        (payload,) = list(data_lines(event))
        events.append((name, orjson.loads(payload)))
    return events


# --- the official SDK over an in-memory transport --------------------------------------------


class FakeServer:
    """Answers /v1/responses the way Orca does: validate, translate to canonical chat, and
    render a scripted canonical answer back (stream or not)."""

    def __init__(self, chunks=None, completion=None, error=None):
        self.chunks = chunks
        self.completion = completion
        self.error = error
        self.chat_requests: list[dict] = []
        self.raw = b""

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        validate_responses_request(body)
        self.chat_requests.append(responses_to_chat(body))
        if body.get("stream"):
            _, self.raw = encode(self.chunks, request=body, error=self.error)
            return httpx2.Response(
                200, headers={"content-type": "text/event-stream"}, content=self.raw
            )
        response = chat_to_responses_response(
            self.completion,
            response_id=RESPONSE_ID,
            model=body["model"],
            request=body,
            created_at=CREATED,
        )
        return httpx2.Response(200, json=response)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url="http://test/v1",
            api_key="x",
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(self)),
        )


def test_sdk_stream_helper_accumulates_text_and_a_function_call():
    server = FakeServer(chunks=TEXT_THEN_CALL)
    client = server.client()
    with client.responses.stream(
        model="fake/chat", input="Weather in Paris?", tools=[WEATHER_TOOL]
    ) as stream:
        seen = [event.type for event in stream]
        final = stream.get_final_response()

    assert final.id == RESPONSE_ID
    assert final.status == "completed"
    assert final.output_text == "Checking the weather."
    message, call = final.output
    assert message.type == "message" and message.status == "completed"
    assert call.type == "function_call"
    assert (call.name, call.call_id, call.status) == ("get_weather", "call_a", "completed")
    assert call.id.startswith("fc_")
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.parsed_arguments == {"city": "Paris"}  # strict tool: the SDK parsed it
    usage = final.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (120, 31, 151)
    assert usage.input_tokens_details.cached_tokens == 20
    assert usage.output_tokens_details.reasoning_tokens == 5
    assert seen == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    # the translated request asked the upstream for usage
    (chat,) = server.chat_requests
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


def test_stream_wire_shape_matches_the_reference_sequence():
    _, raw = encode(TEXT_THEN_CALL)
    events = events_of(raw)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    for name, data in events:
        assert name == data["type"]
    created = events[0][1]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    assert created["usage"] is None and created["id"] == RESPONSE_ID
    added = events[2][1]
    assert added["output_index"] == 0
    assert added["item"] == {
        "id": "msg_abc_0",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    call_added = events[9][1]
    assert call_added["output_index"] == 1
    assert call_added["item"]["arguments"] == "" and call_added["item"]["call_id"] == "call_a"
    args_done = events[12][1]
    assert args_done["name"] == "get_weather" and args_done["arguments"] == '{"city":"Paris"}'
    completed = events[-1][1]["response"]
    assert [item["type"] for item in completed["output"]] == ["message", "function_call"]
    assert completed["usage"]["input_tokens_details"] == {
        "cached_tokens": 20,
        "cache_write_tokens": 0,
    }
    assert completed["tool_choice"] == "auto" and completed["parallel_tool_calls"] is True


# every stream event class in the SDK (generated from the OpenAPI spec), by its `type`
EVENT_TYPES = {
    typing.get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in typing.get_args(typing.get_args(ResponseStreamEvent)[0])
}


@pytest.mark.parametrize(
    "chunks",
    [
        TEXT_THEN_CALL,
        [
            chunk({"reasoning_content": "hmm"}),
            chunk({"refusal": "I can't"}),
            chunk({}, finish="length"),
            chunk(usage=USAGE),
        ],
    ],
)
def test_every_event_and_the_final_response_validate_against_sdk_types(chunks):
    request = {
        "model": "m",
        "input": "x",
        "tools": [WEATHER_TOOL],
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {}}},
    }
    encoder, raw = encode(chunks, request=request)
    for name, data in events_of(raw):
        EVENT_TYPES[name].model_validate(data)  # validating, not the SDK's lenient construct
    Response.model_validate(encoder.final_response)
    _, raw = encode(chunks[:2], request=request, error=("boom", None))
    for name, data in events_of(raw):
        EVENT_TYPES[name].model_validate(data)


def test_the_sdk_helper_really_is_strict():
    """Guard for the tests above: an item delta before its item is rejected by the SDK."""
    _, raw = encode(TEXT_THEN_CALL)
    broken = b"".join(
        event
        for event in EventSplitter().feed(raw)
        if not event.startswith(b"event: response.output_item.added")
    )

    def handler(request):
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=broken)

    client = openai.OpenAI(
        base_url="http://test/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with (
        pytest.raises(RuntimeError, match="before receiving its output item"),
        client.responses.stream(model="m", input="x") as stream,
    ):
        list(stream)


def test_sdk_stream_with_reasoning_first_and_parallel_calls():
    chunks = [
        chunk({"role": "assistant", "reasoning_content": "Two cities, "}),
        chunk({"reasoning_content": "two calls."}),
        tool_start(0, "call_p", "get_weather"),
        tool_args(0, '{"city":"Paris"}'),
        tool_start(1, "call_r", "get_weather"),
        tool_args(1, '{"city":"Rome"}'),
        tool_start(2, "call_t", "get_time"),  # a call without parameters
        chunk({}, finish="tool_calls"),
        chunk(usage=USAGE),
    ]
    server = FakeServer(chunks=chunks)
    with server.client().responses.stream(model="fake/chat", input="Paris and Rome?") as stream:
        final = stream.get_final_response()
    reasoning, *calls = final.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "Two cities, two calls."
    assert [(c.call_id, json.loads(c.arguments)) for c in calls] == [
        ("call_p", {"city": "Paris"}),
        ("call_r", {"city": "Rome"}),
        ("call_t", {}),
    ]
    assert len({c.id for c in calls}) == 3
    assert final.output_text == ""


def test_sdk_raw_stream_events_parse_as_sdk_types():
    server = FakeServer(chunks=TEXT_THEN_CALL)
    events = list(server.client().responses.create(model="fake/chat", input="hi", stream=True))
    assert [type(e).__name__ for e in events][:2] == [
        "ResponseCreatedEvent",
        "ResponseInProgressEvent",
    ]
    assert type(events[-1]).__name__ == "ResponseCompletedEvent"
    assert events[-1].response.output_text == "Checking the weather."
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_stream_cut_by_max_output_tokens_ends_incomplete():
    chunks = [chunk({"content": "Once upon"}), chunk({}, finish="length"), chunk(usage=USAGE)]
    server = FakeServer(chunks=chunks)
    with server.client().responses.stream(
        model="fake/chat", input="story", max_output_tokens=3
    ) as stream:
        events = list(stream)
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.status == "incomplete"
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert last.response.output[0].status == "incomplete"
    assert last.response.output_text == "Once upon"
    assert last.response.max_output_tokens == 3


def test_stream_error_sends_error_then_response_failed():
    chunks = [chunk({"content": "partial"})]
    server = FakeServer(chunks=chunks, error=("upstream went away", "upstream_stream_error"))
    with server.client().responses.stream(model="fake/chat", input="hi") as stream:
        events = list(stream)
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2].message == "upstream went away"
    assert events[-2].code == "upstream_stream_error"  # free-form on the error event
    failed = events[-1].response
    assert failed.status == "failed" and failed.error.message == "upstream went away"
    assert failed.error.code == "server_error"  # an enum on Response.error
    assert failed.output[0].content[0].text == "partial"


def test_encoder_ignores_empty_deltas_and_late_calls_after_the_end():
    encoder, raw = encode([chunk({"role": "assistant", "content": ""}), chunk(usage=USAGE)])
    types = [name for name, _ in events_of(raw)]
    assert types == ["response.created", "response.in_progress", "response.completed"]
    assert encoder.final_response["output"] == []
    assert encoder.final_response["usage"]["total_tokens"] == 151
    assert encoder.feed(chunk({"content": "late"})) == b""
    assert encoder.finish() == b""


def test_encoder_interleaved_kinds_get_their_own_items():
    encoder, raw = encode(
        [
            chunk({"reasoning_content": "think"}),
            chunk({"content": "a"}),
            chunk({"reasoning_content": "more"}),
            chunk({"content": "b"}),
            chunk({}, finish="stop"),
        ]
    )
    output = encoder.final_response["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "reasoning", "message"]
    assert len({item["id"] for item in output}) == 4
    added = [d["output_index"] for n, d in events_of(raw) if n == "response.output_item.added"]
    assert added == [0, 1, 2, 3]
    assert encoder.final_response["usage"]["total_tokens"] == 0  # no usage reported: zeros


# --- non-stream Response object --------------------------------------------------------------


def completion(message, finish="stop", usage=USAGE):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def test_sdk_non_stream_response():
    message = {
        "role": "assistant",
        "content": "Checking the weather.",
        "reasoning_content": "need a tool",
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    server = FakeServer(completion=completion(message, "tool_calls"))
    response = server.client().responses.create(
        model="fake/chat",
        input="Weather in Paris?",
        instructions="Be brief.",
        tools=[WEATHER_TOOL],
        temperature=0.5,
    )
    assert response.status == "completed" and response.object == "response"
    assert response.output_text == "Checking the weather."
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    assert response.output[0].summary[0].text == "need a tool"
    call = response.output[2]
    assert (call.call_id, call.name, json.loads(call.arguments)) == (
        "call_a",
        "get_weather",
        {"city": "Paris"},
    )
    assert response.usage.input_tokens == 120 and response.usage.total_tokens == 151
    assert response.instructions == "Be brief." and response.temperature == 0.5
    assert response.tools[0].name == "get_weather"
    assert response.error is None and response.incomplete_details is None


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_non_stream_incomplete(finish, reason):
    response = chat_to_responses_response(
        completion({"role": "assistant", "content": "cut"}, finish),
        response_id=RESPONSE_ID,
        model="m",
        request={},
        created_at=CREATED,
    )
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][0]["status"] == "incomplete"


def test_long_and_repeated_call_ids_are_shortened_and_history_matches():
    long_id = "functions.lookup:" + "x" * 80
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": long_id, "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": long_id, "type": "function", "function": {"name": "f", "arguments": ""}},
        ],
    }
    chat = completion(message, "tool_calls")
    response = chat_to_responses_response(
        chat, response_id=RESPONSE_ID, model="m", request={}, created_at=CREATED
    )
    ids = [item["call_id"] for item in response["output"]]
    assert len(set(ids)) == 2 and all(len(i) <= 64 for i in ids)
    assert response["output"][1]["arguments"] == "{}"
    history = history_after({"messages": [{"role": "user", "content": "go"}]}, chat)
    assert [c["id"] for c in history[-1]["tool_calls"]] == ids
    # the client answers with the ids it was shown; the next turn joins up
    body = {
        "model": "m",
        "input": [
            {"type": "function_call_output", "call_id": ids[0], "output": "1"},
            {"type": "function_call_output", "call_id": ids[1], "output": "2"},
        ],
    }
    validate_responses_request(body)
    messages = responses_to_chat(body, history=history)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]


# --- request translation ---------------------------------------------------------------------


def test_string_input_with_options():
    body = {
        "model": "fake/chat",
        "input": "hello",
        "max_output_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "parallel_tool_calls": False,
        "metadata": {"k": "v"},
        "user": "u1",
        "reasoning": {"effort": "low", "summary": "auto"},
        "store": False,
    }
    validate_responses_request(body)
    assert responses_to_chat(body) == {
        "model": "fake/chat",
        "messages": [{"role": "user", "content": "hello"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "metadata": {"k": "v"},
        "user": "u1",
        "max_tokens": 50,
        "reasoning_effort": "low",
    }


def test_tool_choice_and_parallel_calls_need_tools_in_chat():
    body = {"model": "m", "input": "x", "tool_choice": "auto", "parallel_tool_calls": True}
    chat = responses_to_chat(body)
    assert "tool_choice" not in chat and "parallel_tool_calls" not in chat
    body["tools"] = [WEATHER_TOOL]
    chat = responses_to_chat(body)
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True


def test_outputs_join_the_latest_call_when_an_upstream_reuses_call_ids():
    def call(arguments):
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "f", "arguments": arguments},
                }
            ],
        }

    history = [
        {"role": "user", "content": "a"},
        call('{"n":1}'),
        {"role": "tool", "tool_call_id": "call_0", "content": "one"},
        {"role": "user", "content": "b"},
        call('{"n":2}'),
    ]
    body = {
        "model": "m",
        "input": [{"type": "function_call_output", "call_id": "call_0", "output": "two"}],
    }
    messages = responses_to_chat(body, history=history)["messages"]
    assert messages[-2:] == [
        history[-1],
        {"role": "tool", "tool_call_id": "call_0", "content": "two"},
    ]
    assert messages[2] == {"role": "tool", "tool_call_id": "call_0", "content": "one"}


def test_instructions_then_history_then_input():
    history = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "one"},
    ]
    body = {"model": "m", "instructions": "Be terse.", "input": "second"}
    chat = responses_to_chat(body, history=history)
    assert chat["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second"},
    ]


def test_items_with_a_function_call_round():
    body = {
        "model": "m",
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "input": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {
                "type": "function_call",
                "call_id": "call_p",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {
                "type": "function_call",
                "call_id": "call_r",
                "name": "get_weather",
                "arguments": '{"city":"Rome"}',
            },
            # a user note and the outputs arrive out of order: outputs move up to the call
            {"role": "user", "content": [{"type": "input_text", "text": "thanks"}]},
            {"type": "function_call_output", "call_id": "call_r", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_p", "output": "rain"},
        ],
    }
    validate_responses_request(body)
    chat = responses_to_chat(body)
    assert chat["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_p",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_r",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_p", "content": "rain"},
        {"role": "tool", "tool_call_id": "call_r", "content": "sunny"},
        {"role": "user", "content": "thanks"},
    ]
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER_TOOL["parameters"],
                "strict": True,
            },
        }
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_images_and_tool_output_images():
    body = {
        "model": "m",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AAAA",
                        "detail": "low",
                    },
                ],
            },
            {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": ""},
            {
                "type": "function_call_output",
                "call_id": "c1",
                "output": [
                    {"type": "input_text", "text": "screenshot:"},
                    {"type": "input_image", "image_url": "https://x/y.png"},
                ],
            },
        ],
    }
    validate_responses_request(body)
    messages = responses_to_chat(body)["messages"]
    assert messages[0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == "{}"
    assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "screenshot:"}
    assert messages[3] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
    }


def test_text_format_json_schema_and_json_object():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {
        "model": "m",
        "input": "x",
        "stream": True,
        "text": {
            "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True},
            "verbosity": "low",
        },
    }
    validate_responses_request(body)
    chat = responses_to_chat(body)
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema, "strict": True},
    }
    assert chat["verbosity"] == "low"
    assert chat["stream_options"] == {"include_usage": True}
    body["text"] = {"format": {"type": "json_object"}}
    assert responses_to_chat(body)["response_format"] == {"type": "json_object"}
    body["text"] = {"format": {"type": "text"}}
    assert "response_format" not in responses_to_chat(body)


def test_allowed_tools_narrows_the_tool_list():
    other = {**WEATHER_TOOL, "name": "get_time"}
    body = {
        "model": "m",
        "input": "x",
        "tools": [WEATHER_TOOL, other],
        "tool_choice": {
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "function", "name": "get_time"}],
        },
    }
    validate_responses_request(body)
    chat = responses_to_chat(body)
    assert [t["function"]["name"] for t in chat["tools"]] == ["get_time"]
    assert chat["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "model": "m",
                "input": [{"type": "function_call_output", "call_id": "nope", "output": "1"}],
            },
            "input[0].call_id",
        ),
        (
            {
                "model": "m",
                "input": [
                    {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
                ],
            },
            "input",
        ),
        (
            {
                "model": "m",
                "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}],
            },
            "input[0].content[0].file_id",
        ),
        ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation"),
    ],
)
def test_requests_that_cannot_be_served_are_rejected(body, param):
    validate_responses_request(body)
    with pytest.raises(InvalidRequest) as caught:
        responses_to_chat(body)
    assert caught.value.param == param


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"input": "x"}, "model"),
        ({"model": "  ", "input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": 3}, "input"),
        ({"model": "m", "input": ["x"]}, "input[0]"),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"model": "m", "input": [{"role": "user"}]}, "input[0].content"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "video"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            "input[0].content[0].text",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]},
            "input[0].name",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "call_id": "c", "name": "f"}]},
            "input[0].arguments",
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]},
            "input[0].output",
        ),
        ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"model": "m", "input": [{"type": "bogus_call"}]}, "input[0].type"),
        ({"model": "m", "input": "x", "instructions": 3}, "instructions"),
        ({"model": "m", "input": "x", "temperature": 2.5}, "temperature"),
        ({"model": "m", "input": "x", "top_p": -0.1}, "top_p"),
        ({"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "x", "max_output_tokens": True}, "max_output_tokens"),
        ({"model": "m", "input": "x", "tools": {}}, "tools"),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
        ({"model": "m", "input": "x", "tool_choice": "any"}, "tool_choice"),
        ({"model": "m", "input": "x", "tool_choice": {"type": "function"}}, "tool_choice.name"),
        ({"model": "m", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"model": "m", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "m", "input": "x", "store": 1}, "store"),
        ({"model": "m", "input": "x", "previous_response_id": 5}, "previous_response_id"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}},
            "text.format.schema",
        ),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}},
            "text.format.name",
        ),
        ({"model": "m", "input": "x", "stream_options": {}}, "stream_options"),
    ],
)
def test_validation_names_the_first_bad_field(body, param):
    with pytest.raises(InvalidRequest) as caught:
        validate_responses_request(body)
    assert caught.value.param == param


def test_validation_accepts_the_documented_shapes():
    validate_responses_request(
        {
            "model": "m",
            "input": [
                {"role": "developer", "content": "rules"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "q"}],
                },
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "t"}],
                },
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": "r"},
            ],
            "tools": [WEATHER_TOOL, {"type": "web_search"}],
            "tool_choice": "required",
            "reasoning": {"effort": "xhigh"},
            "text": {"format": {"type": "json_schema", "name": "n", "schema": {}}},
            "stream": True,
            "stream_options": {"include_obfuscation": False},
            "store": True,
            "previous_response_id": "resp_1",
            "include": ["reasoning.encrypted_content"],
        }
    )
    validate_responses_request({"model": "m", "input": "x", "reasoning": {"effort": "none"}})


# --- stored history --------------------------------------------------------------------------


def test_history_after_drops_system_and_reasoning_and_keeps_the_answer():
    request = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": "Weather?"},
        ]
    }
    message = {
        "role": "assistant",
        "content": None,
        "reasoning_content": "hmm",
        "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "s"}],
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                "extra_content": {"google": {"thought_signature": "sig"}},
            }
        ],
    }
    history = history_after(request, completion(message, "tool_calls"))
    assert history == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    "extra_content": {"google": {"thought_signature": "sig"}},
                }
            ],
        },
    ]
    plain = history_after(request, completion({"role": "assistant", "content": "hi"}))
    assert plain[-1] == {"role": "assistant", "content": "hi"}


# --- tools beyond functions: namespace, custom, local_shell, shell, apply_patch, hosted ------

# What Codex CLI sends (codex-rs/tools: ResponsesApiNamespace, FreeformTool, local_shell, and
# its hosted web_search / image_generation / tool_search), plus an MCP server and a shell.
GRAMMAR = 'start: "*** Begin Patch" /(.|\\n)*/ "*** End Patch"'
CODEX_TOOLS = [
    {
        "type": "function",
        "name": "exec_command",
        "description": "Run a command",
        "strict": False,
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
    },
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files",
        "format": {"type": "grammar", "syntax": "lark", "definition": GRAMMAR},
    },
    {"type": "web_search", "external_web_access": True},
    {
        "type": "namespace",
        "name": "mcp__calendar__",
        "description": "Tools in the mcp__calendar__ namespace.",
        "tools": [
            {
                "type": "function",
                "name": "create_event",
                "description": "Create an event",
                "strict": False,
                "parameters": {"type": "object", "properties": {"title": {"type": "string"}}},
            },
            {"type": "custom", "name": "__raw_query"},
        ],
    },
    {"type": "image_generation", "output_format": "png"},
    {"type": "local_shell"},
    {"type": "shell"},
    {"type": "apply_patch"},
    {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.deepwiki.com/mcp"},
]
FLAT_NAMES = [
    "exec_command",
    "apply_patch",
    "mcp__calendar__create_event",
    "mcp__calendar__raw_query",
    "local_shell",
    "shell",
    "apply_patch_2",  # the built-in apply_patch: the client's own custom tool has the name
]


def codex_body(**extra):
    return {"model": "m", "input": "Fix the bug", "tools": CODEX_TOOLS, **extra}


def canonical(body):
    validate_responses_request(body)
    return responses_to_chat(body)


def test_tools_flatten_to_functions_and_hosted_ones_are_listed_as_dropped():
    chat = canonical(codex_body(tool_choice="auto", parallel_tool_calls=False))
    functions = {t["function"]["name"]: t["function"] for t in chat["tools"]}
    assert [t["type"] for t in chat["tools"]] == ["function"] * 7
    assert list(functions) == FLAT_NAMES
    # web search is not left out: it is canonical web_search_options (test_search_openai.py)
    assert chat[DROPPED] == ["image_generation", "mcp:deepwiki"]
    assert dropped_tools(chat) == (["image_generation", "mcp:deepwiki"], None)
    assert "web_search_options" in chat
    assert chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is False
    # a custom tool: one string argument, its grammar in the argument's description
    patch = functions["apply_patch"]
    assert patch["parameters"]["required"] == ["input"]
    assert patch["parameters"]["properties"]["input"]["type"] == "string"
    assert GRAMMAR in patch["parameters"]["properties"]["input"]["description"]
    assert patch["description"] == "Edit files"
    # namespaced: the member's own description, the namespace's when it has none
    assert functions["mcp__calendar__create_event"]["description"] == "Create an event"
    assert functions["mcp__calendar__raw_query"]["description"].startswith("Tools in the")
    assert functions["local_shell"]["parameters"]["properties"]["command"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert functions["shell"]["parameters"]["required"] == ["commands"]
    assert functions["apply_patch_2"]["parameters"]["required"] == ["operation", "path"]
    # the extension never reaches an OpenAI-kind upstream
    assert DROPPED not in strip_extensions(chat)


def test_only_hosted_tools_leave_no_tools_and_no_tool_choice():
    chat = canonical(
        {
            "model": "m",
            "input": "x",
            "tools": [{"type": "web_search_preview"}, {"type": "file_search"}],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        }
    )
    assert "tools" not in chat and "tool_choice" not in chat
    assert "parallel_tool_calls" not in chat
    assert dropped_tools(chat) == (["file_search"], None)
    assert chat["web_search_options"] == {}
    assert dropped_tools(canonical({"model": "m", "input": "x"})) == ([], None)


def test_made_up_names_are_safe_unique_and_short():
    long_tool = {"type": "function", "name": "x" * 70}
    body = {
        "model": "m",
        "input": "x",
        "tools": [
            {"type": "function", "name": "collab__send"},
            {"type": "namespace", "name": "extension/", "description": "", "tools": [long_tool]},
            {
                "type": "namespace",
                "name": "collab",
                "description": "",
                "tools": [{"type": "function", "name": "send"}],
            },
        ],
    }
    names = [t["function"]["name"] for t in canonical(body)["tools"]]
    assert names[0] == "collab__send"  # the client's own name is never renamed
    assert len(names[1]) == 64 and names[1].startswith("extension___xxx")
    assert names[2] == "collab__send_2"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name) for name in names)


@pytest.mark.parametrize(
    ("tool_choice", "expected", "forced"),
    [
        ({"type": "custom", "name": "apply_patch"}, "apply_patch", None),
        ({"type": "function", "name": "create_event"}, "mcp__calendar__create_event", None),
        ({"type": "function", "name": "exec_command"}, "exec_command", None),
        ({"type": "shell"}, "shell", None),
        ({"type": "apply_patch"}, "apply_patch_2", None),
        ({"type": "web_search"}, None, None),  # the search stays on (web_search_options)
        ({"type": "image_generation"}, None, "image_generation"),
        ({"type": "mcp", "server_label": "deepwiki", "name": "ask"}, None, "mcp:deepwiki"),
        ({"type": "file_search"}, None, "file_search"),  # not even declared
    ],
)
def test_tool_choice_names_the_canonical_function_or_forces_a_dropped_tool(
    tool_choice, expected, forced
):
    chat = canonical(codex_body(tool_choice=tool_choice))
    if expected is None:
        assert "tool_choice" not in chat
    else:
        assert chat["tool_choice"] == {"type": "function", "function": {"name": expected}}
    assert chat.get(FORCED) == forced
    assert dropped_tools(chat)[1] == forced
    assert len(chat["tools"]) == 7  # the tools are offered all the same


def test_allowed_tools_with_namespaces_custom_and_left_out_tools():
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [
            {"type": "namespace", "name": "mcp__calendar__"},
            {"type": "custom", "name": "apply_patch"},
            {"type": "web_search"},
        ],
    }
    chat = canonical(codex_body(tool_choice=choice))
    assert [t["function"]["name"] for t in chat["tools"]] == [
        "apply_patch",
        "mcp__calendar__create_event",
        "mcp__calendar__raw_query",
    ]
    assert chat["tool_choice"] == "required" and FORCED not in chat
    # only left-out tools allowed: required forces one, auto just offers no tools
    only_hosted = {**choice, "tools": [{"type": "mcp", "server_label": "deepwiki"}]}
    chat = canonical(codex_body(tool_choice=only_hosted))
    assert "tools" not in chat and "tool_choice" not in chat
    assert chat[FORCED] == "mcp:deepwiki"
    chat = canonical(codex_body(tool_choice={**only_hosted, "mode": "auto"}))
    assert "tools" not in chat and FORCED not in chat
    # "required" with nothing but hosted tools forces the first of them
    chat = canonical(
        {"model": "m", "input": "x", "tools": [{"type": "file_search"}], "tool_choice": "required"}
    )
    assert dropped_tools(chat) == (["file_search"], "file_search")
    # ... but a web search is not left out: the search is on
    chat = canonical(
        {"model": "m", "input": "x", "tools": [{"type": "web_search"}], "tool_choice": "required"}
    )
    assert dropped_tools(chat) == ([], None) and chat["web_search_options"] == {}


def test_a_shell_in_a_hosted_container_is_left_out():
    container = {"type": "shell", "environment": {"type": "container_auto"}}
    chat = canonical(
        {"model": "m", "input": "x", "tools": [container], "tool_choice": {"type": "shell"}}
    )
    assert "tools" not in chat and chat[DROPPED] == ["shell"] and chat[FORCED] == "shell"
    local = {"type": "shell", "environment": {"type": "local"}}
    chat = canonical({"model": "m", "input": "x", "tools": [local]})
    assert [t["function"]["name"] for t in chat["tools"]] == ["shell"]


def test_tool_call_items_and_their_outputs_become_calls_and_results():
    body = codex_body(
        input=[
            {"role": "user", "content": "go"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "e"},
            {
                "type": "function_call",
                "call_id": "c_ns",
                "name": "create_event",
                "namespace": "mcp__calendar__",
                "arguments": '{"title":"x"}',
            },
            {
                "type": "custom_tool_call",
                "call_id": "c_patch",
                "name": "apply_patch",
                "input": '*** Begin Patch\n"q"\n*** End Patch',
            },
            {
                "type": "local_shell_call",
                "call_id": "c_ls",
                "status": "completed",
                "action": {
                    "type": "exec",
                    "command": ["ls", "-la"],
                    "working_directory": "/repo",
                    "timeout_ms": 1000,
                    "env": {},
                },
            },
            {
                "type": "shell_call",
                "call_id": "c_sh",
                "action": {"commands": ["pwd"], "timeout_ms": None},
            },
            {
                "type": "apply_patch_call",
                "call_id": "c_ap",
                "status": "completed",
                "operation": {"type": "delete_file", "path": "old.txt"},
            },
            {
                "type": "web_search_call",
                "id": "ws_1",
                "status": "completed",
                "action": {"type": "search", "query": "bug"},
            },
            {"type": "function_call_output", "call_id": "c_ns", "output": "created"},
            {
                "type": "custom_tool_call_output",
                "call_id": "c_patch",
                "output": [{"type": "input_text", "text": "Done!"}],
            },
            {"type": "local_shell_call_output", "id": "c_ls", "output": '{"output":"a b"}'},
            {
                "type": "shell_call_output",
                "call_id": "c_sh",
                "output": [
                    {"stdout": "/repo\n", "stderr": "", "outcome": {"type": "exit", "exit_code": 0}}
                ],
            },
            {
                "type": "apply_patch_call_output",
                "call_id": "c_ap",
                "status": "failed",
                "output": "no such file",
            },
        ]
    )
    chat = canonical(body)
    user, assistant, *results = chat["messages"]
    assert user == {"role": "user", "content": "go"}
    calls = [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in assistant["tool_calls"]
    ]
    assert calls == [
        ("c_ns", "mcp__calendar__create_event", {"title": "x"}),
        ("c_patch", "apply_patch", {"input": '*** Begin Patch\n"q"\n*** End Patch'}),
        ("c_ls", "local_shell", {"command": ["ls", "-la"], "workdir": "/repo", "timeout_ms": 1000}),
        ("c_sh", "shell", {"commands": ["pwd"]}),
        ("c_ap", "apply_patch_2", {"operation": "delete_file", "path": "old.txt"}),
    ]
    assert [(m["role"], m["tool_call_id"]) for m in results] == [
        ("tool", "c_ns"),
        ("tool", "c_patch"),
        ("tool", "c_ls"),
        ("tool", "c_sh"),
        ("tool", "c_ap"),
    ]
    assert [m["content"] for m in results[:3]] == ["created", "Done!", '{"output":"a b"}']
    assert json.loads(results[3]["content"])[0]["stdout"] == "/repo\n"
    assert results[4]["content"] == "failed: no such file"


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "custom_tool_call", "call_id": "c", "name": "f"}, "input[0].input"),
        ({"type": "custom_tool_call", "name": "f", "input": "x"}, "input[0].call_id"),
        ({"type": "custom_tool_call_output", "call_id": "c"}, "input[0].output"),
        (
            {"type": "local_shell_call", "call_id": "c", "action": {"command": "ls"}},
            "input[0].action.command",
        ),
        ({"type": "local_shell_call_output", "output": "x"}, "input[0].id"),
        ({"type": "shell_call", "call_id": "c", "action": {}}, "input[0].action.commands"),
        ({"type": "shell_call_output", "call_id": "c", "output": "x"}, "input[0].output"),
        (
            {"type": "apply_patch_call", "call_id": "c", "operation": {"type": "move_file"}},
            "input[0].operation.type",
        ),
        ({"type": "apply_patch_call_output", "call_id": "c", "status": "ok"}, "input[0].status"),
        (
            {
                "type": "function_call",
                "call_id": "c",
                "name": "f",
                "arguments": "{}",
                "namespace": 3,
            },
            "input[0].namespace",
        ),
    ],
)
def test_tool_call_items_are_validated(item, param):
    with pytest.raises(InvalidRequest) as caught:
        validate_responses_request({"model": "m", "input": [item]})
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ([{"type": "custom"}], "tools[0].name"),
        ([{"type": "custom", "name": "c", "format": {"type": "xml"}}], "tools[0]"),
        (
            [{"type": "custom", "name": "c", "format": {"type": "grammar", "syntax": "lark"}}],
            "tools[0].format.definition",
        ),
        ([{"type": "namespace", "name": "n", "description": "d"}], "tools[0].tools"),
        ([{"type": "namespace", "name": "n", "description": "d", "tools": []}], "tools[0].tools"),
        (
            [
                {
                    "type": "namespace",
                    "name": "n",
                    "description": "d",
                    "tools": [{"type": "web_search"}],
                }
            ],
            "tools[0].tools[0].type",
        ),
        (
            [
                {
                    "type": "namespace",
                    "name": "n",
                    "description": "d",
                    "tools": [{"type": "function"}],
                }
            ],
            "tools[0].tools[0].name",
        ),
    ],
)
def test_tool_definitions_are_validated(tools, param):
    with pytest.raises(InvalidRequest) as caught:
        validate_responses_request({"model": "m", "input": "x", "tools": tools})
    assert caught.value.param == param


def test_every_tool_type_the_api_knows_passes_validation():
    hosted = [
        {"type": t}
        for t in (
            "file_search",
            "computer",
            "computer_use_preview",
            "web_search",
            "web_search_preview",
            "code_interpreter",
            "image_generation",
            "tool_search",
            "some_future_tool",
        )
    ]
    body = codex_body(tools=[*CODEX_TOOLS, *hosted], tool_choice={"type": "computer"})
    chat = canonical(body)
    # the web searches (codex's and the two here) are kept as web_search_options
    assert chat[FORCED] == "computer" and len(chat[DROPPED]) == 3 + len(hosted) - 3
    for choice, param in (
        ({"type": "custom"}, "tool_choice.name"),
        ({"type": "mcp"}, "tool_choice.server_label"),
        ({"type": "allowed_tools", "mode": "any", "tools": []}, "tool_choice.mode"),
        ({"type": "allowed_tools", "mode": "auto"}, "tool_choice.tools"),
    ):
        with pytest.raises(InvalidRequest) as caught:
            validate_responses_request(codex_body(tool_choice=choice))
        assert caught.value.param == param


def call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


CODEX_CALLS = [
    call("call_ns", "mcp__calendar__create_event", '{"title":"Standup"}'),
    call("call_patch", "apply_patch", json.dumps({"input": "*** Begin Patch\n+é\n*** End Patch"})),
    call("call_ls", "local_shell", '{"command":["ls","-la"],"workdir":"/repo","timeout_ms":5}'),
    call("call_sh", "shell", '{"commands":["pwd","ls"],"max_output_length":100}'),
    call("call_ap", "apply_patch_2", '{"operation":"create_file","path":"a.txt","diff":"+hi"}'),
    call("call_fn", "exec_command", '{"cmd":"make"}'),
]


def expected_items(status="completed"):
    return [
        {
            "type": "function_call",
            "call_id": "call_ns",
            "name": "create_event",
            "namespace": "mcp__calendar__",
            "arguments": '{"title":"Standup"}',
            "status": status,
        },
        {
            "type": "custom_tool_call",
            "call_id": "call_patch",
            "name": "apply_patch",
            "input": "*** Begin Patch\n+é\n*** End Patch",
            "status": status,
        },
        {
            "type": "local_shell_call",
            "call_id": "call_ls",
            "status": status,
            "action": {
                "type": "exec",
                "command": ["ls", "-la"],
                "env": {},
                "timeout_ms": 5,
                "working_directory": "/repo",
                "user": None,
            },
        },
        {
            "type": "shell_call",
            "call_id": "call_sh",
            "status": status,
            "environment": None,
            "action": {"commands": ["pwd", "ls"], "timeout_ms": None, "max_output_length": 100},
        },
        {
            "type": "apply_patch_call",
            "call_id": "call_ap",
            "status": status,
            "operation": {"type": "create_file", "path": "a.txt", "diff": "+hi"},
        },
        {
            "type": "function_call",
            "call_id": "call_fn",
            "name": "exec_command",
            "arguments": '{"cmd":"make"}',
            "status": status,
        },
    ]


def without_ids(items):
    return [{k: v for k, v in item.items() if k != "id"} for item in items]


def test_calls_render_as_the_items_of_the_tools_the_client_declared():
    body = codex_body()
    response = chat_to_responses_response(
        completion({"role": "assistant", "content": None, "tool_calls": CODEX_CALLS}, "tool_calls"),
        response_id=RESPONSE_ID,
        model="m",
        request=body,
        created_at=CREATED,
    )
    assert without_ids(response["output"]) == expected_items()
    assert [item["id"] for item in response["output"]] == [
        "fc_abc_0",
        "ctc_abc_1",
        "lsh_abc_2",
        "sh_abc_3",
        "apc_abc_4",
        "fc_abc_5",
    ]
    parsed = Response.model_validate(response)
    kinds = [type(item).__name__ for item in parsed.output]
    assert kinds == [
        "ResponseFunctionToolCall",
        "ResponseCustomToolCall",
        "LocalShellCall",
        "ResponseFunctionShellToolCall",
        "ResponseApplyPatchToolCall",
        "ResponseFunctionToolCall",
    ]
    assert [type(tool).__name__ for tool in parsed.tools][:4] == [
        "FunctionTool",
        "CustomTool",
        "WebSearchTool",
        "NamespaceTool",
    ]
    # the stored history keeps the canonical names, for the next turn's outputs to join
    history = history_after(
        responses_to_chat(body),
        completion({"role": "assistant", "content": None, "tool_calls": CODEX_CALLS}, "tool_calls"),
    )
    assert [c["function"]["name"] for c in history[-1]["tool_calls"]] == [
        c["function"]["name"] for c in CODEX_CALLS
    ]


def test_a_cut_off_call_keeps_a_status_its_item_allows():
    body = codex_body()
    for calls, status in (([CODEX_CALLS[4]], "in_progress"), ([CODEX_CALLS[1]], "incomplete")):
        response = chat_to_responses_response(
            completion({"role": "assistant", "content": None, "tool_calls": calls}, "length"),
            response_id=RESPONSE_ID,
            model="m",
            request=body,
            created_at=CREATED,
        )
        assert response["output"][0]["status"] == status
        Response.model_validate(response)


def test_sdk_parses_the_non_stream_items():
    server = FakeServer(
        completion=completion(
            {"role": "assistant", "content": None, "tool_calls": CODEX_CALLS}, "tool_calls"
        )
    )
    response = server.client().responses.create(model="m", input="x", tools=CODEX_TOOLS)
    ns_call, custom, shell_call = response.output[0], response.output[1], response.output[2]
    assert (ns_call.name, ns_call.namespace) == ("create_event", "mcp__calendar__")
    assert (custom.type, custom.input) == ("custom_tool_call", "*** Begin Patch\n+é\n*** End Patch")
    assert shell_call.action.command == ["ls", "-la"]
    (chat,) = server.chat_requests
    assert [t["function"]["name"] for t in chat["tools"]] == FLAT_NAMES


def stream_calls(calls, pieces=3):
    """Canonical chunks streaming each call's arguments in `pieces` fragments."""
    chunks = [chunk({"role": "assistant", "content": None})]
    for index, c in enumerate(calls):
        chunks.append(tool_start(index, c["id"], c["function"]["name"]))
        arguments = c["function"]["arguments"]
        size = -(-len(arguments) // pieces)
        chunks += [
            tool_args(index, arguments[i : i + size]) for i in range(0, len(arguments), size)
        ]
    return [*chunks, chunk({}, finish="tool_calls"), chunk(usage=USAGE)]


def test_stream_renders_each_kind_of_call_with_its_events():
    encoder, raw = encode(stream_calls(CODEX_CALLS), request=codex_body())
    events = events_of(raw)
    for name, data in events:
        EVENT_TYPES[name].model_validate(data)
    final = encoder.final_response
    Response.model_validate(final)
    assert without_ids(final["output"]) == expected_items()
    names = [name for name, _ in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    per_item: dict[int, list[str]] = {}
    for name, data in events[2:-1]:
        per_item.setdefault(data["output_index"], []).append(name.removeprefix("response."))
    assert per_item[0][0] == "output_item.added" and per_item[0][-2:] == [
        "function_call_arguments.done",
        "output_item.done",
    ]
    assert per_item[1][0] == "output_item.added" and per_item[1][-2:] == [
        "custom_tool_call_input.done",
        "output_item.done",
    ]
    assert set(per_item[1][1:-2]) == {"custom_tool_call_input.delta"}
    assert per_item[2] == ["output_item.added", "output_item.done"]  # sent whole
    assert per_item[3] == ["output_item.added"] + [
        f"shell_call_command.{step}" for step in ("added", "delta", "done")
    ] * 2 + ["output_item.done"]
    assert per_item[4] == ["output_item.added", "output_item.done"]
    # the custom tool's text streams decoded, and adds up to its input
    deltas = [d["delta"] for n, d in events if n == "response.custom_tool_call_input.delta"]
    done = next(d for n, d in events if n == "response.custom_tool_call_input.done")
    assert "".join(deltas) == done["input"] == "*** Begin Patch\n+é\n*** End Patch"
    assert len(deltas) > 1
    added = {d["output_index"]: d["item"] for n, d in events if n.endswith("item.added")}
    assert added[1]["input"] == "" and added[1]["status"] == "in_progress"
    assert added[0]["arguments"] == "" and added[0]["namespace"] == "mcp__calendar__"
    assert added[2]["action"]["command"] == ["ls", "-la"]
    assert added[3]["action"]["commands"] == []
    commands = [d["command"] for n, d in events if n == "response.shell_call_command.done"]
    assert commands == ["pwd", "ls"]


def test_sdk_stream_helper_accumulates_every_kind_of_call():
    server = FakeServer(chunks=stream_calls(CODEX_CALLS, pieces=4))
    with server.client().responses.stream(model="m", input="x", tools=CODEX_TOOLS) as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == [
        "function_call",
        "custom_tool_call",
        "local_shell_call",
        "shell_call",
        "apply_patch_call",
        "function_call",
    ]
    assert final.output[1].input == "*** Begin Patch\n+é\n*** End Patch"
    assert final.output[0].namespace == "mcp__calendar__"
    assert final.output[3].action.commands == ["pwd", "ls"]


def test_stream_custom_input_in_another_shape_still_arrives_whole():
    chunks = [
        tool_start(0, "call_c", "apply_patch"),
        tool_args(0, '{"text": "abc'),
        tool_args(0, '"}'),
        chunk({}, finish="tool_calls"),
    ]
    encoder, raw = encode(chunks, request=codex_body())
    events = events_of(raw)
    deltas = [d["delta"] for n, d in events if n == "response.custom_tool_call_input.delta"]
    assert deltas == ["abc"]
    assert encoder.final_response["output"][0]["input"] == "abc"


def test_stream_failure_and_a_late_fragment_settle_the_tool_items():
    chunks = [tool_start(0, "call_ls", "local_shell"), tool_args(0, '{"command":["ls"')]
    encoder = ResponsesStreamEncoder(
        response_id=RESPONSE_ID, model="m", request=codex_body(), created_at=CREATED
    )
    out = encoder.start() + b"".join(encoder.feed(c) for c in chunks) + encoder.error("boom")
    failed = events_of(out)[-1][1]["response"]
    assert failed["output"][0]["type"] == "local_shell_call"
    assert failed["output"][0]["status"] == "incomplete"
    for name, data in events_of(out):
        EVENT_TYPES[name].model_validate(data)
    # a fragment that arrives for a call already closed still reaches the final output
    chunks = [
        tool_start(0, "call_a", "apply_patch"),
        tool_args(0, '{"input":"a'),
        tool_start(1, "call_b", "local_shell"),
        tool_args(1, '{"command":["ls"]}'),
        tool_args(0, 'b"}'),
        chunk({}, finish="tool_calls"),
    ]
    encoder, _ = encode(chunks, request=codex_body())
    first, second = encoder.final_response["output"]
    assert (first["input"], first["status"]) == ("ab", "completed")
    assert second["action"]["command"] == ["ls"]


def test_tools_added_by_input_items_join_the_request_tools_once():
    """Codex's "code mode" sends no `tools` but an additional_tools item (CAPTURE.md)."""
    exec_tool = {"type": "custom", "name": "exec", "description": "Run JS"}
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "go"},
            {
                "type": "additional_tools",
                "role": "developer",
                "tools": [
                    {
                        "type": "namespace",
                        "name": "functions",
                        "description": "",
                        "tools": [exec_tool],
                    }
                ],
            },
            {
                "type": "tool_search_output",
                "call_id": None,
                "execution": "client",
                "tools": [WEATHER_TOOL, WEATHER_TOOL],
            },
        ],
        "tools": [WEATHER_TOOL],
    }
    chat = canonical(body)
    assert [t["function"]["name"] for t in chat["tools"]] == ["get_weather", "functions__exec"]
    assert chat["messages"] == [{"role": "user", "content": "go"}]
    answer = completion(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [call("c1", "functions__exec", '{"input":"1+1"}')],
        },
        "tool_calls",
    )
    response = chat_to_responses_response(
        answer, response_id=RESPONSE_ID, model="m", request=body, created_at=CREATED
    )
    (item,) = response["output"]
    assert (item["type"], item["namespace"], item["name"], item["input"]) == (
        "custom_tool_call",
        "functions",
        "exec",
        "1+1",
    )
    with pytest.raises(InvalidRequest) as caught:
        validate_responses_request(
            {"model": "m", "input": [{"type": "additional_tools", "role": "developer"}]}
        )
    assert caught.value.param == "input[0].tools"
