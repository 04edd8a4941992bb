"""Web search in the Anthropic dialect (routing/wire/anthropic/search.py), both ways: the
server tool <-> web_search_options, citations <-> annotations, the search count <-> usage
x_orca_tool_calls, in answers and streams (pure; no Django, no database)."""

import anthropic
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from routing.wire import anthropic as wire
from routing.wire.anthropic.search import cited_text_blocks
from routing.wire.canonical import InvalidRequest
from routing.wire.sse import EventSplitter, data_lines
from tests.fakes import anthropic_upstream as fake

WEATHER_TOOL = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
SEARCH_TOOL = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 3,
    "allowed_domains": ["example.com"],
    "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
}


def body(**extra):
    return {
        "model": "m",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "search the web for Orca"}],
        **extra,
    }


def to_chat(request):
    wire.validate_messages_request(request)
    return wire.messages_to_chat(request)


def to_anthropic(chat):
    return wire.chat_to_anthropic_request(chat, upstream_model="claude-x", default_max_tokens=99)


# --- 1. Anthropic client -> canonical ----------------------------------------------------------


def test_search_tool_becomes_web_search_options():
    chat = to_chat(body(tools=[SEARCH_TOOL]))
    assert chat["web_search_options"] == {
        "user_location": {"type": "approximate", "approximate": {"city": "Paris", "country": "FR"}}
    }
    assert chat["x_orca_search"] == {"max_uses": 3, "allowed_domains": ["example.com"]}
    assert "untranslatable" not in chat
    assert "tools" not in chat


@pytest.mark.parametrize("kind", ["web_search_20250305", "web_search_20260209"])
def test_dated_variants_are_search_tools(kind):
    chat = to_chat(body(tools=[{"type": kind, "name": "web_search"}]))
    assert chat["web_search_options"] == {}
    assert "x_orca_search" not in chat
    assert "untranslatable" not in chat


def test_tool_choice_forcing_the_search_keeps_it_and_the_functions():
    chat = to_chat(
        body(
            tools=[WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "tool", "name": "web_search"},
        )
    )
    assert chat["web_search_options"] == {}
    assert [t["function"]["name"] for t in chat["tools"]] == ["get_weather"]
    assert "tool_choice" not in chat
    # the same choice naming a function is still a function choice
    chat = to_chat(
        body(
            tools=[WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search"}],
            tool_choice={"type": "tool", "name": "get_weather"},
        )
    )
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_history_search_blocks_are_no_content():
    history = [
        {"role": "user", "content": "search for Orca"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking."},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": " Found.", "citations": [fake.SEARCH_CITATION]},
            ],
        },
        {"role": "user", "content": "thanks"},
    ]
    chat = to_chat(body(messages=history))
    assert "untranslatable" not in chat
    assert chat["messages"][1] == {"role": "assistant", "content": "Looking. Found."}


def test_other_server_tools_stay_untranslatable():
    chat = to_chat(body(tools=[{"type": "code_execution_20250522", "name": "code_execution"}]))
    assert "web_search_options" not in chat
    assert chat["untranslatable"]["param"] == "tools[0]"


def test_search_tool_fields_are_checked():
    bad = [
        {**SEARCH_TOOL, "max_uses": 0},
        {**SEARCH_TOOL, "max_uses": "3"},
        {**SEARCH_TOOL, "allowed_domains": "example.com"},
        {**SEARCH_TOOL, "blocked_domains": ["x.com"]},  # with allowed_domains
        {**SEARCH_TOOL, "user_location": "Paris"},
    ]
    for tool in bad:
        with pytest.raises(InvalidRequest) as caught:
            wire.validate_messages_request(body(tools=[tool]))
        assert caught.value.param.startswith("tools[0]")


# --- 2. canonical -> Anthropic upstream --------------------------------------------------------


def test_web_search_options_become_the_server_tool():
    chat = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "web_search_options": {
            "search_context_size": "high",
            "user_location": {
                "type": "approximate",
                "approximate": {"city": "Paris", "country": "FR", "timezone": "Europe/Paris"},
            },
        },
    }
    request = to_anthropic(chat)
    assert request["tools"][0]["name"] == "f"
    assert request["tools"][1] == {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 10,
        "user_location": {
            "type": "approximate",
            "city": "Paris",
            "country": "FR",
            "timezone": "Europe/Paris",
        },
    }


def test_x_orca_search_fields():
    chat = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "web_search_options": {"search_context_size": "low"},
        "x_orca_search": {"max_uses": 3, "allowed_domains": ["a.com"], "blocked_domains": ["b"]},
    }
    request = to_anthropic(chat)
    assert request["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "max_uses": 3,  # x_orca_search wins over search_context_size
            "allowed_domains": ["a.com"],  # Anthropic takes one list: allowed is stricter
        }
    ]
    fake.validate_request(request)
    chat["x_orca_search"] = {"blocked_domains": ["b.com"]}
    assert to_anthropic(chat)["tools"][0]["blocked_domains"] == ["b.com"]


def test_search_tool_round_trip():
    request = to_anthropic(to_chat(body(tools=[SEARCH_TOOL])))
    assert request["tools"] == [{**SEARCH_TOOL}]
    blocked = {"type": "web_search_20250305", "name": "web_search", "blocked_domains": ["x.com"]}
    assert to_anthropic(to_chat(body(tools=[blocked])))["tools"] == [blocked]
    fake.validate_request(request)


def test_no_search_without_web_search_options():
    request = to_anthropic({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert "tools" not in request


# --- 3. Anthropic upstream -> canonical --------------------------------------------------------


def search_plan():
    return fake._Plan(fake._search_blocks("search for Orca"), "end_turn", searches=1)


def test_answer_citations_become_annotations():
    chat = wire.anthropic_to_chat_response(fake._message("claude-fake", search_plan()))
    message = chat["choices"][0]["message"]
    content = fake.SEARCH_PREAMBLE + fake.SEARCH_CITED + fake.SEARCH_TAIL
    assert message["content"] == content
    start = len(fake.SEARCH_PREAMBLE)
    assert message["annotations"] == [
        {
            "type": "url_citation",
            "url_citation": {
                "url": fake.SEARCH_URL,
                "title": fake.SEARCH_TITLE,
                "start_index": start,
                "end_index": start + len(fake.SEARCH_CITED),
            },
        }
    ]
    span = message["annotations"][0]["url_citation"]
    assert content[span["start_index"] : span["end_index"]] == fake.SEARCH_CITED
    assert "tool_calls" not in message
    assert chat["usage"]["x_orca_tool_calls"] == {"web_search": 1}


def test_search_count_falls_back_to_the_server_tool_use_blocks():
    answer = fake._message("claude-fake", search_plan())
    del answer["usage"]["server_tool_use"]
    assert wire.anthropic_to_chat_response(answer)["usage"]["x_orca_tool_calls"] == {
        "web_search": 1
    }
    answer["usage"]["server_tool_use"] = {"web_search_requests": 2}
    assert wire.anthropic_to_chat_response(answer)["usage"]["x_orca_tool_calls"] == {
        "web_search": 2
    }


def test_no_searches_no_tool_calls_extension():
    chat = wire.anthropic_to_chat_response(fake._message("claude-fake", fake._plan(body())))
    assert "x_orca_tool_calls" not in chat["usage"]
    assert "annotations" not in chat["choices"][0]["message"]


def decode(raw: bytes):
    decoder = wire.AnthropicStreamDecoder()
    chunks = []
    for event in EventSplitter().feed(raw):
        chunks.extend(decoder.feed(event))
    return decoder, chunks


def test_stream_citations_become_annotations():
    raw = b"".join(fake._stream_events("claude-fake", search_plan()))
    decoder, chunks = decode(raw)
    assert decoder.done
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    text = "".join(d.get("content") or "" for d in deltas)
    assert text == fake.SEARCH_PREAMBLE + fake.SEARCH_CITED + fake.SEARCH_TAIL
    annotations = [a for d in deltas for a in d.get("annotations") or ()]
    assert len(annotations) == 1
    span = annotations[0]["url_citation"]
    assert text[span["start_index"] : span["end_index"]] == fake.SEARCH_CITED
    assert span["url"] == fake.SEARCH_URL
    assert not any("tool_calls" in d for d in deltas)
    assert chunks[-1]["usage"]["x_orca_tool_calls"] == {"web_search": 1}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


def test_stream_search_count_falls_back_to_blocks():
    raw = b"".join(fake._stream_events("claude-fake", search_plan()))
    raw = raw.replace(b',"server_tool_use":{"web_search_requests":1}', b"")
    assert b"web_search_requests" not in raw
    _, chunks = decode(raw)
    assert chunks[-1]["usage"]["x_orca_tool_calls"] == {"web_search": 1}


# --- 4. canonical -> Anthropic client ----------------------------------------------------------

CONTENT = "Intro. Orca is a gateway. Outro."
CITED = "Orca is a gateway."
START = CONTENT.index(CITED)
ANNOTATION = {
    "type": "url_citation",
    "url_citation": {
        "url": "https://example.com/a",
        "title": "A",
        "start_index": START,
        "end_index": START + len(CITED),
    },
}


def completion(**usage_extra):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": CONTENT, "annotations": [ANNOTATION]},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12, **usage_extra},
    }


def test_answer_renders_citations_and_search_blocks():
    message = wire.chat_to_messages_response(
        completion(x_orca_tool_calls={"web_search": 2}), model="client-model"
    )
    kinds = [b["type"] for b in message["content"]]
    assert kinds == ["server_tool_use", "web_search_tool_result", "text", "text", "text"]
    call, result, intro, cited, outro = message["content"]
    assert result["tool_use_id"] == call["id"]
    assert call["name"] == "web_search"
    assert [r["url"] for r in result["content"]] == ["https://example.com/a"]
    assert intro == {"type": "text", "text": "Intro. "}
    assert cited["text"] == CITED
    assert cited["citations"] == [
        {
            "type": "web_search_result_location",
            "url": "https://example.com/a",
            "title": "A",
            "encrypted_index": "",
            "cited_text": CITED,
        }
    ]
    assert outro == {"type": "text", "text": " Outro."}
    assert "".join(b["text"] for b in message["content"][2:]) == CONTENT
    assert message["usage"]["server_tool_use"] == {
        "web_search_requests": 2,
        "web_fetch_requests": 0,
    }
    parsed = anthropic.types.Message.model_validate(message)
    assert parsed.usage.server_tool_use.web_search_requests == 2
    assert parsed.content[3].citations[0].url == "https://example.com/a"


def test_answer_without_searches_has_no_search_blocks():
    message = wire.chat_to_messages_response(completion(), model="m")
    assert [b["type"] for b in message["content"]] == ["text", "text", "text"]
    assert "server_tool_use" not in message["usage"]
    anthropic.types.Message.model_validate(message)


def test_overlapping_and_bad_annotations():
    overlapping = {
        "type": "url_citation",
        "url_citation": {"url": "https://b", "title": "B", "start_index": 0, "end_index": 10},
    }
    bad = {"type": "url_citation", "url_citation": {"url": "https://c", "start_index": 99}}
    blocks = cited_text_blocks(CONTENT, [overlapping, ANNOTATION, bad])
    assert "".join(b["text"] for b in blocks) == CONTENT
    urls = [c["url"] for b in blocks for c in b.get("citations", ())]
    assert sorted(urls) == ["https://b", "https://c", "https://example.com/a"]


def sdk_message(raw: bytes):
    snapshot = None
    for event in EventSplitter().feed(raw):
        payload = b"\n".join(data_lines(event))
        snapshot = accumulate_event(
            event=orjson.loads(payload), current_snapshot=snapshot, json_bufs={}
        )
    assert snapshot is not None
    return anthropic.types.Message.model_validate(snapshot.model_dump())


def stream_chunks(annotation_late: bool):
    def chunk(delta=None, finish=None, usage=None):
        out = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": []}
        if delta is not None:
            out["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        if usage is not None:
            out["usage"] = usage
        return out

    chunks = [chunk({"role": "assistant", "content": ""}), chunk({"content": CONTENT})]
    if not annotation_late:
        chunks.append(chunk({"annotations": [ANNOTATION]}))
    chunks.append(chunk({}, "stop"))
    if annotation_late:
        chunks.append(chunk({"annotations": [ANNOTATION]}))
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "x_orca_tool_calls": {"web_search": 1}}
    chunks.append(chunk(usage=usage))
    return chunks


@pytest.mark.parametrize("late", [False, True])
def test_stream_renders_citations_and_search_blocks(late):
    encoder = wire.MessagesStreamEncoder(model="client-model")
    raw = encoder.start() + b"".join(encoder.feed(c) for c in stream_chunks(late))
    raw += encoder.finish()
    message = sdk_message(raw)
    texts = [b for b in message.content if b.type == "text"]
    assert "".join(b.text for b in texts) == CONTENT
    citations = [c for b in texts for c in b.citations or ()]
    assert [(c.url, c.cited_text) for c in citations] == [("https://example.com/a", CITED)]
    kinds = [b.type for b in message.content]
    assert kinds[-2:] == ["server_tool_use", "web_search_tool_result"]
    assert message.content[-1].content[0].url == "https://example.com/a"
    assert message.usage.server_tool_use.web_search_requests == 1
    assert message.stop_reason == "end_turn"


def test_stream_round_trip_through_the_fake():
    """An Anthropic upstream's search stream, decoded and encoded again for an Anthropic
    client, still parses in the SDK with its citation and search count."""
    _, chunks = decode(b"".join(fake._stream_events("claude-fake", search_plan())))
    encoder = wire.MessagesStreamEncoder(model="client-model")
    raw = encoder.start() + b"".join(encoder.feed(c) for c in chunks) + encoder.finish()
    message = sdk_message(raw)
    citations = [c for b in message.content if b.type == "text" for c in b.citations or ()]
    assert [(c.url, c.cited_text) for c in citations] == [(fake.SEARCH_URL, fake.SEARCH_CITED)]
    assert message.usage.server_tool_use.web_search_requests == 1
