"""Web search through the OpenAI dialects: a Responses web_search tool as canonical
web_search_options (+ x_orca_search), the searches and citations rendered back as
web_search_call items and flat url_citation annotations (the SDK parses them), the Responses
upstream's web_search tool, the search count of an OpenAI-kind chat answer, and `:online`."""

import json
import typing

import httpx2
import openai
import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from routing.proxy.pipeline.plan import _split_variant
from routing.wire.canonical import EXTENSION_FIELDS, strip_extensions
from routing.wire.openai_chat import (
    OpenAIStreamDecoder,
    StreamMeter,
    count_searches,
    usage_from_object,
)
from routing.wire.responses import (
    ResponsesStreamEncoder,
    chat_to_responses_request,
    chat_to_responses_response,
    responses_to_chat,
    validate_responses_request,
)
from routing.wire.sse import EventSplitter, data_lines
from routing.wire.tools import DROPPED, FORCED, dropped_tools

RESPONSE_ID = "resp_search"
CREATED = 1_700_000_000
TEXT = "Orcas are dolphins, says Example."
CITATION = {
    "type": "url_citation",
    "url_citation": {
        "url": "https://example.com/orcas",
        "title": "Example",
        "start_index": 26,
        "end_index": 33,
    },
}
FLAT = {
    "type": "url_citation",
    "url": "https://example.com/orcas",
    "title": "Example",
    "start_index": 26,
    "end_index": 33,
}
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
EVENT_TYPES = {
    typing.get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in typing.get_args(typing.get_args(ResponseStreamEvent)[0])
}


def canonical(body):
    validate_responses_request(body)
    return responses_to_chat(body)


def searched(n, extra=None):
    return {**USAGE, "x_orca_tool_calls": {"web_search": n, **(extra or {})}}


def completion(message, usage):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": json.loads(json.dumps(usage)),  # a copy: count_searches() writes into it
    }


def chunk(delta=None, finish=None, usage=None):
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    body["choices"] = (
        [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    )
    if usage is not None:
        body["usage"] = usage
    return body


def events_of(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for event in EventSplitter().feed(raw):
        name = event.split(b"\n", 1)[0].removeprefix(b"event: ").decode()
        (payload,) = list(data_lines(event))
        events.append((name, orjson.loads(payload)))
    return events


# --- Responses client -> canonical -----------------------------------------------------------


def test_a_web_search_tool_becomes_web_search_options_and_x_orca_search():
    tool = {
        "type": "web_search",
        "filters": {"allowed_domains": ["example.com", "orca.dev"]},
        "user_location": {"type": "approximate", "country": "GB", "city": "London"},
        "search_context_size": "high",
    }
    chat = canonical({"model": "m", "input": "search orcas", "tools": [tool]})
    assert chat["web_search_options"] == {
        "search_context_size": "high",
        "user_location": {
            "type": "approximate",
            "approximate": {"country": "GB", "city": "London"},
        },
    }
    assert chat["x_orca_search"] == {"allowed_domains": ["example.com", "orca.dev"]}
    assert "tools" not in chat and DROPPED not in chat and FORCED not in chat
    assert dropped_tools(chat) == ([], None)


@pytest.mark.parametrize(
    "kind",
    ["web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"],
)
def test_every_web_search_tool_name_asks_for_a_search(kind):
    chat = canonical({"model": "m", "input": "x", "tools": [{"type": kind}]})
    assert chat["web_search_options"] == {} and "x_orca_search" not in chat


def test_forcing_the_search_keeps_it_and_is_no_refusal():
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    body = {
        "model": "m",
        "input": "x",
        "tools": [weather, {"type": "web_search"}, {"type": "file_search"}],
        "tool_choice": {"type": "web_search"},
    }
    chat = canonical(body)
    assert chat["web_search_options"] == {}
    assert dropped_tools(chat) == (["file_search"], None)
    assert "tool_choice" not in chat and [t["function"]["name"] for t in chat["tools"]] == [
        "get_weather"
    ]


def test_tool_choice_none_or_an_allowed_list_without_it_turns_the_search_off():
    tools = [
        {"type": "function", "name": "f", "parameters": {"type": "object"}},
        {"type": "web_search"},
    ]
    off = canonical({"model": "m", "input": "x", "tools": tools, "tool_choice": "none"})
    assert "web_search_options" not in off
    allowed = {
        "type": "allowed_tools",
        "mode": "auto",
        "tools": [{"type": "function", "name": "f"}],
    }
    off = canonical({"model": "m", "input": "x", "tools": tools, "tool_choice": allowed})
    assert "web_search_options" not in off
    allowed["tools"].append({"type": "web_search"})
    on = canonical({"model": "m", "input": "x", "tools": tools, "tool_choice": allowed})
    assert on["web_search_options"] == {} and FORCED not in on


def test_x_orca_search_is_an_extension_stripped_for_openai_upstreams():
    assert "x_orca_search" in EXTENSION_FIELDS
    chat = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "web_search_options": {"search_context_size": "low"},
        "x_orca_search": {"max_uses": 2, "blocked_domains": ["bad.example"]},
    }
    stripped = strip_extensions(chat)
    assert "x_orca_search" not in stripped
    assert stripped["web_search_options"] == {"search_context_size": "low"}  # chat's own field


# --- canonical -> Responses upstream ---------------------------------------------------------


def test_the_responses_upstream_gets_the_web_search_tool_with_its_knobs():
    chat = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "web_search_options": {
            "search_context_size": "low",
            "user_location": {"type": "approximate", "approximate": {"country": "FR"}},
        },
        "x_orca_search": {"allowed_domains": ["example.com"], "blocked_domains": ["b.example"]},
    }
    body = chat_to_responses_request(chat, "up")
    assert body["tools"] == [
        {
            "type": "web_search",
            "search_context_size": "low",
            "user_location": {"type": "approximate", "country": "FR"},
            "filters": {"allowed_domains": ["example.com"]},
        }
    ]
    assert "x_orca_search" not in json.dumps(body)


# --- canonical -> Responses client -----------------------------------------------------------


def test_a_searched_answer_has_web_search_call_items_first_and_flat_citations():
    request = {
        "model": "m",
        "input": "What are orcas? search please",
        "tools": [{"type": "web_search"}],
    }
    chat = completion(
        {"role": "assistant", "content": TEXT, "annotations": [CITATION]}, searched(2)
    )
    response = chat_to_responses_response(
        chat, response_id=RESPONSE_ID, model="m", request=request, created_at=CREATED
    )
    parsed = Response.model_validate(response)
    assert [item.type for item in parsed.output] == ["web_search_call"] * 2 + ["message"]
    first = parsed.output[0]
    assert first.status == "completed" and first.action.type == "search"
    assert first.action.query == "What are orcas? search please"
    assert first.id != parsed.output[1].id
    (annotation,) = parsed.output[2].content[0].annotations
    assert annotation.model_dump() == FLAT
    assert parsed.output_text == TEXT


def test_an_uncounted_citation_still_shows_one_search_and_no_search_shows_none():
    request = {
        "model": "m",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
    }
    cited = completion({"role": "assistant", "content": TEXT, "annotations": [CITATION]}, USAGE)
    response = chat_to_responses_response(
        cited, response_id=RESPONSE_ID, model="m", request=request, created_at=CREATED
    )
    assert [item["type"] for item in response["output"]] == ["web_search_call", "message"]
    assert response["output"][0]["action"]["query"] == "hi"
    plain = completion({"role": "assistant", "content": TEXT}, USAGE)
    response = chat_to_responses_response(
        plain, response_id=RESPONSE_ID, model="m", request=request, created_at=CREATED
    )
    assert [item["type"] for item in response["output"]] == ["message"]
    assert response["output"][0]["content"][0]["annotations"] == []


def test_the_query_shown_is_the_last_user_text_cut_short():
    request = {"model": "m", "input": "y" * 500}
    chat = completion({"role": "assistant", "content": TEXT}, searched(1))
    response = chat_to_responses_response(
        chat, response_id=RESPONSE_ID, model="m", request=request, created_at=CREATED
    )
    assert response["output"][0]["action"]["query"] == "y" * 200


SEARCH_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Orcas are dolphins, "}),
    chunk({"content": "says Example."}),
    chunk({"annotations": [CITATION]}),
    chunk({}, finish="stop"),
    chunk(usage=searched(1)),
]


def encode(chunks, request):
    encoder = ResponsesStreamEncoder(
        response_id=RESPONSE_ID, model="m", request=request, created_at=CREATED
    )
    out = encoder.start()
    for piece in chunks:
        out += encoder.feed(piece)
    return encoder, out + encoder.finish()


def test_the_stream_sends_annotation_and_web_search_call_events_the_sdk_validates():
    request = {"model": "m", "input": "search orcas", "tools": [{"type": "web_search"}]}
    encoder, raw = encode(SEARCH_STREAM, request)
    events = events_of(raw)
    for name, data in events:
        EVENT_TYPES[name].model_validate(data)
    names = [name for name, _ in events]
    added = names.index("response.output_text.annotation.added")
    assert (
        names.index("response.output_text.delta") < added < names.index("response.output_text.done")
    )
    _, annotation_event = events[added]
    assert annotation_event["annotation"] == FLAT and annotation_event["annotation_index"] == 0
    assert names[-6:] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
        "response.completed",
    ]
    final = Response.model_validate(encoder.final_response)
    assert [item.type for item in final.output] == ["message", "web_search_call"]
    assert final.output[0].content[0].annotations[0].url == "https://example.com/orcas"
    assert final.output[1].status == "completed"


def test_citations_before_any_text_wait_for_it():
    chunks = [chunk({"annotations": [CITATION]}), chunk({"content": TEXT}), chunk({}, "stop")]
    encoder, _ = encode(chunks, {"model": "m", "input": "x"})
    final = encoder.final_response
    assert final["output"][0]["content"][0]["annotations"] == [FLAT]
    # cited without a count: one search all the same
    assert [item["type"] for item in final["output"]] == ["message", "web_search_call"]


def test_the_sdk_stream_helper_accumulates_the_search():
    def serve(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        validate_responses_request(body)
        _, raw = encode(SEARCH_STREAM, body)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = openai.OpenAI(
        base_url="http://test/v1",
        api_key="x",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(serve)),
    )
    with client.responses.stream(
        model="m", input="search orcas", tools=[{"type": "web_search"}]
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.web_search_call.completed" in types
    assert final.output_text == TEXT
    assert final.output[0].content[0].annotations[0].title == "Example"
    assert final.output[1].type == "web_search_call"


# --- OpenAI-kind chat upstream: the search count ---------------------------------------------


def test_a_chat_answer_citing_the_web_counts_one_search_priced_per_unit():
    cited = completion({"role": "assistant", "content": TEXT, "annotations": [CITATION]}, USAGE)
    count_searches(cited)
    assert cited["usage"]["x_orca_tool_calls"] == {"web_search": 1}
    assert usage_from_object(cited["usage"]).units == {"web_search": 1}
    counted = completion(
        {"role": "assistant", "content": TEXT, "annotations": [CITATION]}, searched(3)
    )
    assert count_searches(counted)["usage"]["x_orca_tool_calls"] == {"web_search": 3}
    plain = completion({"role": "assistant", "content": TEXT}, dict(USAGE))
    assert "x_orca_tool_calls" not in count_searches(plain)["usage"]


def _sse(body) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"


def test_translated_and_pass_through_streams_count_the_cited_search():
    events = [_sse(c) for c in SEARCH_STREAM[:-1]] + [
        _sse(chunk(usage=dict(USAGE))),
        b"data: [DONE]\n\n",
    ]
    decoder = OpenAIStreamDecoder()
    chunks = [c for event in events for c in decoder.feed(event)]
    assert chunks[-1]["usage"]["x_orca_tool_calls"] == {"web_search": 1}
    meter = StreamMeter()
    for event in events:
        meter.observe(event)
    assert meter.final_usage().units == {"web_search": 1}
    plain = StreamMeter()
    plain.observe(_sse(chunk({"content": "hi"})))
    plain.observe(_sse(chunk(usage=dict(USAGE))))
    assert not plain.final_usage().units


# --- `:online` -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "base", "variant"),
    [
        ("fake/chat:online", "fake/chat", None),
        ("fake/chat:online:floor", "fake/chat", "price"),
        ("fake/chat:nitro:online", "fake/chat", "throughput"),
    ],
)
def test_online_asks_for_a_search_on_the_base_model(name, base, variant):
    request: dict = {"model": name, "messages": []}
    assert _split_variant(name, request) == (base, variant)
    assert request["web_search_options"] == {}


def test_online_keeps_the_clients_own_search_options_and_plain_names_add_none():
    request: dict = {"web_search_options": {"search_context_size": "high"}}
    _split_variant("fake/chat:online", request)
    assert request["web_search_options"] == {"search_context_size": "high"}
    plain: dict = {}
    assert _split_variant("fake/chat:floor", plain) == ("fake/chat", "price")
    assert _split_variant("fake/chat", plain) == ("fake/chat", None)
    assert "web_search_options" not in plain


@pytest.mark.parametrize(
    ("model", "online"),
    [
        ("fake/chat:online", True),
        ("fake/chat:online:floor", True),
        ("fake/chat:nitro:online", True),
        ("fake/chat", False),
        ("fake/chat:floor", False),
        ("online/chat", False),
        ("a:online/chat", False),
    ],
)
def test_asks_online_reads_only_the_model_names_own_suffixes(model, online):
    from routing.proxy.surfaces.chat import asks_online

    assert asks_online(model) is online
