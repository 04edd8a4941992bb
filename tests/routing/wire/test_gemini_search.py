"""Web search on the Gemini dialect (routing/wire/gemini/grounding.py): googleSearch <->
web_search_options, groundingMetadata <-> url_citation annotations (UTF-8 byte offsets <->
character offsets), and the searches counted into usage, both ways, whole and streamed."""

import json

import orjson
import pytest
from google.genai import types

from routing.wire import gemini
from tests.fakes import gemini_upstream as fake

URI_A = "https://a.example/page"
URI_B = "https://b.example/other"


def _sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _events(raw: bytes) -> list[dict]:
    return [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


def _citation(url: str, start: int, end: int, title: str = "") -> dict:
    return {
        "type": "url_citation",
        "url_citation": {"url": url, "title": title, "start_index": start, "end_index": end},
    }


# --- requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tool",
    [
        {"googleSearch": {}},
        {"google_search": {}},
        {"googleSearchRetrieval": {"dynamicRetrievalConfig": {"mode": "MODE_DYNAMIC"}}},
        {"google_search_retrieval": {}},
    ],
)
def test_a_search_tool_asks_for_web_search(tool):
    body = {"contents": [{"role": "user", "parts": [{"text": "search it"}]}], "tools": [tool]}
    gemini.validate_generate_request(body)
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    assert chat["web_search_options"] == {}
    assert "x_orca_search" not in chat


def test_exclude_domains_become_blocked_domains():
    body = {
        "contents": [{"parts": [{"text": "q"}]}],
        "tools": [{"googleSearch": {"excludeDomains": ["spam.example", "ads.example"]}}],
    }
    gemini.validate_generate_request(body)
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    assert chat["web_search_options"] == {}
    assert chat["x_orca_search"] == {"blocked_domains": ["spam.example", "ads.example"]}


def test_no_search_tool_no_web_search_options():
    body = {"contents": [{"parts": [{"text": "q"}]}], "tools": [{"codeExecution": {}}]}
    assert "web_search_options" not in gemini.generate_to_chat(body, model="m", stream=False)


@pytest.mark.parametrize(
    "tool, param",
    [
        ({"googleSearch": []}, "tools[0].googleSearch"),
        ({"google_search": {"exclude_domains": "x.example"}}, "tools[0].google_search"),
    ],
)
def test_a_malformed_search_tool_is_refused(tool, param):
    body = {"contents": [{"parts": [{"text": "q"}]}], "tools": [tool]}
    with pytest.raises(gemini.validation.InvalidRequest) as info:
        gemini.validate_generate_request(body)
    assert info.value.param.startswith(param)


def test_web_search_options_become_the_google_search_tool():
    chat = {
        "model": "m",
        "messages": [{"role": "user", "content": "search"}],
        "web_search_options": {"search_context_size": "high"},
        "x_orca_search": {"max_uses": 2, "blocked_domains": ["x.example"]},
    }
    body = gemini.chat_to_gemini_request(chat)
    # excludeDomains is Vertex-only ("not supported in Gemini API"): the knobs are dropped.
    assert body["tools"] == [{"googleSearch": {}}]
    assert "toolConfig" not in body and "x_orca_search" not in json.dumps(body)


def test_web_search_options_beside_functions_and_the_reserved_name():
    chat = {
        "messages": [{"role": "user", "content": "q"}],
        "tools": [
            {"type": "function", "function": {"name": "f"}},
            {"type": "function", "function": {"name": "googleSearch"}},
        ],
        "tool_choice": "auto",
        "web_search_options": {},
    }
    body = gemini.chat_to_gemini_request(chat)
    assert body["tools"] == [{"functionDeclarations": [{"name": "f"}]}, {"googleSearch": {}}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_a_gemini_client_s_search_goes_back_to_gemini_once():
    body = {"contents": [{"parts": [{"text": "search"}]}], "tools": [{"googleSearch": {}}]}
    sent = gemini.chat_to_gemini_request(gemini.generate_to_chat(body, model="m", stream=False))
    assert sent["tools"] == [{"googleSearch": {}}]


# --- Gemini answers -> canonical -------------------------------------------------------------


def test_grounding_becomes_annotations_with_character_offsets():
    response = fake._response("m", [{"text": fake.SEARCH_TEXT}], thinking=False)
    chat = gemini.gemini_to_chat_response(response, model="m")
    message = chat["choices"][0]["message"]
    assert message["content"] == fake.SEARCH_TEXT
    (annotation,) = message["annotations"]
    citation = annotation["url_citation"]
    assert annotation["type"] == "url_citation"
    assert citation["url"] == fake.SEARCH_URI and citation["title"] == fake.SEARCH_TITLE
    # "é" is two bytes: the byte offsets Gemini sends are one past the character offsets.
    segment = fake.SEARCH_GROUNDING["groundingSupports"][0]["segment"]
    assert citation["start_index"] == segment["startIndex"] - 1
    assert fake.SEARCH_TEXT[citation["start_index"] : citation["end_index"]] == fake.SEARCH_SEGMENT
    assert chat["usage"]["x_orca_tool_calls"] == {"web_search": 1}


def test_one_annotation_per_support_and_chunk_with_parts_and_thoughts():
    text_a, text_b = "Zürich is big. ", "Bern is 🐻 small."
    grounding = {
        "webSearchQueries": ["zurich size", "bern size"],
        "groundingChunks": [
            {"web": {"uri": URI_A, "title": "a.example"}},
            {"web": {"uri": URI_B, "title": "b.example"}},
            {"retrievedContext": {"uri": "gs://x"}},
        ],
        "groundingSupports": [
            {
                "segment": {"startIndex": 0, "endIndex": 15, "text": "Zürich is big."},
                "groundingChunkIndices": [0, 1],
                "confidenceScores": [0.9, 0.8],
            },
            {  # partIndex 2: offsets inside that part (part 0 is a thought)
                "segment": {
                    "partIndex": 2,
                    "startIndex": 0,
                    "endIndex": len(text_b.encode()),
                    "text": text_b,
                },
                "groundingChunkIndices": [1, 2, 7],
            },
        ],
    }
    response = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "hmm", "thought": True}, {"text": text_a}, {"text": text_b}],
                },
                "finishReason": "STOP",
                "groundingMetadata": grounding,
            }
        ],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2},
    }
    chat = gemini.gemini_to_chat_response(response, model="m")
    message = chat["choices"][0]["message"]
    content = message["content"]
    spans = [
        (a["url_citation"]["url"], a["url_citation"]["start_index"], a["url_citation"]["end_index"])
        for a in message["annotations"]
    ]
    first = (0, len("Zürich is big."))
    second = (len(text_a), len(text_a) + len(text_b))
    assert spans == [(URI_A, *first), (URI_B, *first), (URI_B, *second)]
    assert content[slice(*first)] == "Zürich is big."
    assert content[slice(*second)] == text_b
    assert chat["usage"]["x_orca_tool_calls"] == {"web_search": 2}


def test_offsets_that_miss_the_segment_text_are_found_by_the_text():
    grounding = {
        "groundingChunks": [{"web": {"uri": URI_A}}],
        "groundingSupports": [
            {
                "segment": {"startIndex": 3, "endIndex": 9, "text": "target"},
                "groundingChunkIndices": [0],
            }
        ],
    }
    response = {
        "candidates": [
            {"content": {"parts": [{"text": "the target is here"}]}, "groundingMetadata": grounding}
        ]
    }
    message = gemini.gemini_to_chat_response(response, model="m")["choices"][0]["message"]
    citation = message["annotations"][0]["url_citation"]
    assert (citation["start_index"], citation["end_index"]) == (4, 10)
    assert citation["title"] == ""


def test_no_grounding_no_annotations_no_search_count():
    response = fake._response("m", [{"text": fake.REPLY_TEXT}], thinking=False)
    chat = gemini.gemini_to_chat_response(response, model="m")
    assert "annotations" not in chat["choices"][0]["message"]
    assert "x_orca_tool_calls" not in chat["usage"]


def test_streamed_grounding_arrives_as_delta_annotations_and_counts_once():
    decoder = gemini.GeminiStreamDecoder(model="m")
    chunks = fake._stream_chunks("m", [{"text": fake.SEARCH_TEXT}], thinking=False)
    # The API may repeat the metadata: a later chunk repeating it adds nothing.
    chunks.append({**chunks[-1], "candidates": [{**chunks[-1]["candidates"][0], "content": {}}]})
    out = []
    for chunk in chunks:
        out += decoder.feed(_sse(chunk))
    out += decoder.finish()
    deltas = [c["choices"][0]["delta"] for c in out if c["choices"]]
    content = "".join(d.get("content") or "" for d in deltas)
    assert content == fake.SEARCH_TEXT
    annotations = [a for d in deltas for a in d.get("annotations") or []]
    (annotation,) = annotations
    citation = annotation["url_citation"]
    assert content[citation["start_index"] : citation["end_index"]] == fake.SEARCH_SEGMENT
    # the annotations come before the finish
    positions = [i for i, d in enumerate(deltas) if "annotations" in d]
    finishes = [i for i, c in enumerate(out) if c["choices"] and c["choices"][0]["finish_reason"]]
    assert positions[0] < finishes[0]
    assert out[-1]["usage"]["x_orca_tool_calls"] == {"web_search": 1}


def test_streamed_answer_without_grounding_counts_nothing():
    decoder = gemini.GeminiStreamDecoder(model="m")
    out = []
    for chunk in fake._stream_chunks("m", [{"text": fake.REPLY_TEXT}], thinking=False):
        out += decoder.feed(_sse(chunk))
    out += decoder.finish()
    assert "x_orca_tool_calls" not in out[-1]["usage"]
    assert not any(c["choices"] and "annotations" in c["choices"][0]["delta"] for c in out)


# --- canonical answers -> a Gemini client ----------------------------------------------------


def _completion(content: str, annotations: list[dict]) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "annotations": annotations},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def test_annotations_become_grounding_metadata_google_genai_reads():
    content = "Café one. Two 🐻 here."
    first = (0, len("Café one."))
    second = (content.index("Two"), len(content))
    annotations = [
        _citation(URI_A, *first, title="A"),
        _citation(URI_B, *first, title="B"),
        _citation(URI_A, *second, title="A"),
    ]
    body = gemini.chat_to_generate_response(_completion(content, annotations), model="m")
    meta = body["candidates"][0]["groundingMetadata"]
    assert meta["groundingChunks"] == [
        {"web": {"uri": URI_A, "title": "A"}},
        {"web": {"uri": URI_B, "title": "B"}},
    ]
    support_a, support_b = meta["groundingSupports"]
    assert support_a["groundingChunkIndices"] == [0, 1]
    assert support_b["groundingChunkIndices"] == [0]
    raw = content.encode()
    for support, (start, end) in ((support_a, first), (support_b, second)):
        segment = support["segment"]
        assert segment["text"] == content[start:end]
        assert raw[segment["startIndex"] : segment["endIndex"]].decode() == segment["text"]
    assert "webSearchQueries" not in meta
    parsed = types.GenerateContentResponse.model_validate(body)
    grounding = parsed.candidates[0].grounding_metadata
    assert grounding.grounding_chunks[1].web.uri == URI_B
    assert grounding.grounding_supports[1].segment.text == "Two 🐻 here."
    # Round trip: back through the upstream reader, the same character offsets.
    again = gemini.gemini_to_chat_response(body, model="m")["choices"][0]["message"]
    assert again["annotations"] == annotations


def test_no_annotations_no_grounding_metadata():
    body = gemini.chat_to_generate_response(_completion("plain", []), model="m")
    assert "groundingMetadata" not in body["candidates"][0]


def test_streamed_annotations_become_grounding_on_the_last_event():
    encoder = gemini.GenerateStreamEncoder(model="m")
    base = {"id": "c1", "object": "chat.completion.chunk", "model": "m"}
    pieces = ["Per the ", "café guide, ", "orcas swim fast."]
    raw = encoder.start()
    for i, piece in enumerate(pieces):
        delta = {"content": piece, **({"role": "assistant"} if i == 0 else {})}
        raw += encoder.feed({**base, "choices": [{"index": 0, "delta": delta}]})
    start = len("".join(pieces[:2]))
    annotation = _citation(fake.SEARCH_URI, start, start + len(pieces[2]), fake.SEARCH_TITLE)
    raw += encoder.feed({**base, "choices": [{"index": 0, "delta": {"annotations": [annotation]}}]})
    raw += encoder.feed({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    raw += encoder.feed({**base, "choices": [], "usage": {"prompt_tokens": 1}})
    raw += encoder.finish()
    events = _events(raw)
    assert all("groundingMetadata" not in e["candidates"][0] for e in events[:-1])
    meta = events[-1]["candidates"][0]["groundingMetadata"]
    assert (
        meta["groundingSupports"][0]["segment"]
        == (fake.SEARCH_GROUNDING["groundingSupports"][0]["segment"])
    )
    assert meta["groundingChunks"] == fake.SEARCH_GROUNDING["groundingChunks"]
    parsed = types.GenerateContentResponse.model_validate(events[-1])
    assert parsed.candidates[0].grounding_metadata.grounding_chunks[0].web.title == "orcas.example"


def test_a_gemini_stream_through_canonical_keeps_its_grounding():
    decoder = gemini.GeminiStreamDecoder(model="m")
    encoder = gemini.GenerateStreamEncoder(model="m")
    raw = b""
    for chunk in fake._stream_chunks("m", [{"text": fake.SEARCH_TEXT}], thinking=False):
        for canonical in decoder.feed(_sse(chunk)):
            raw += encoder.feed(canonical)
    for canonical in decoder.finish():
        raw += encoder.feed(canonical)
    raw += encoder.finish()
    meta = _events(raw)[-1]["candidates"][0]["groundingMetadata"]
    want = fake.SEARCH_GROUNDING
    assert meta["groundingSupports"][0]["segment"] == want["groundingSupports"][0]["segment"]
    assert meta["groundingChunks"] == want["groundingChunks"]


# --- the fake upstream ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tools, text, grounded",
    [
        ([{"googleSearch": {}}], "Please search the web", True),
        ([{"google_search": {}}], "SEARCH please", True),
        ([{"googleSearch": {}}], "Say hello", False),
        ([], "search", False),
    ],
)
def test_the_fake_grounds_only_searches(tools, text, grounded):
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}], "tools": tools}
    fake.validate_request(body)
    parts = fake._plan_parts(body)
    assert (fake._grounding(parts) is not None) is grounded


@pytest.mark.parametrize(
    "tool", [{"googleSearch": {"excludeDomains": ["x.example"]}}, {"googleSearch": []}]
)
def test_the_fake_refuses_what_the_gemini_api_refuses(tool):
    body = {"contents": [{"role": "user", "parts": [{"text": "search"}]}], "tools": [tool]}
    with pytest.raises(fake.RequestInvalid):
        fake.validate_request(body)
