"""Web search through a live server on the Gemini dialect, with the official SDKs: google-genai's
google_search tool to a Gemini model (pass-through: the upstream's grounding reaches the client)
and to an OpenAI-kind model (the canonical web_search_options goes up), and an OpenAI chat
client's web_search_options to a Gemini model (the grounding comes back as url_citation
annotations)."""

import pytest
from google import genai
from google.genai import types

from tests.fakes import gemini_upstream as fake
from tests.fakes import openai_upstream as openai_fake

SEARCH_TOOL = types.Tool(google_search=types.GoogleSearch())
PROMPT = "Please search: how fast do orcas swim?"


@pytest.fixture
def gemini_client(live):
    return genai.Client(
        api_key=live.key,
        http_options=types.HttpOptions(base_url=live.server.base_url, timeout=20_000),
    )


def _sent_search_tool(upstreams) -> dict:
    seen = upstreams["gemini"].requests[-1]
    assert "/models/gemini-fake:" in seen.path
    return seen.json["tools"]


def _assert_fake_grounding(grounding: types.GroundingMetadata) -> None:
    want = fake.SEARCH_GROUNDING
    assert grounding.web_search_queries == want["webSearchQueries"]
    (chunk,) = grounding.grounding_chunks
    assert chunk.web.uri == fake.SEARCH_URI and chunk.web.title == fake.SEARCH_TITLE
    (support,) = grounding.grounding_supports
    segment = want["groundingSupports"][0]["segment"]
    assert support.segment.text == fake.SEARCH_SEGMENT
    assert (support.segment.start_index, support.segment.end_index) == (
        segment["startIndex"],
        segment["endIndex"],
    )
    assert support.grounding_chunk_indices == [0]


def test_genai_google_search_to_a_gemini_model(gemini_client, upstreams):
    config = types.GenerateContentConfig(tools=[SEARCH_TOOL])
    response = gemini_client.models.generate_content(
        model="gemini-fake/flash", contents=PROMPT, config=config
    )
    assert response.text == fake.SEARCH_TEXT
    _assert_fake_grounding(response.candidates[0].grounding_metadata)
    assert _sent_search_tool(upstreams) == [{"googleSearch": {}}]


def test_genai_google_search_stream_to_a_gemini_model(gemini_client, upstreams):
    config = types.GenerateContentConfig(tools=[SEARCH_TOOL])
    chunks = list(
        gemini_client.models.generate_content_stream(
            model="gemini-fake/flash", contents=PROMPT, config=config
        )
    )
    assert "".join(c.text or "" for c in chunks) == fake.SEARCH_TEXT
    grounded = [c for c in chunks if c.candidates and c.candidates[0].grounding_metadata]
    assert grounded and grounded[-1] is chunks[-1]
    _assert_fake_grounding(chunks[-1].candidates[0].grounding_metadata)
    assert _sent_search_tool(upstreams) == [{"googleSearch": {}}]


@pytest.mark.parametrize("stream", [False, True])
def test_genai_google_search_to_an_openai_model(gemini_client, upstreams, stream):
    config = types.GenerateContentConfig(tools=[SEARCH_TOOL])
    if stream:
        chunks = list(
            gemini_client.models.generate_content_stream(
                model="fake/chat", contents=PROMPT, config=config
            )
        )
    else:
        chunks = [
            gemini_client.models.generate_content(model="fake/chat", contents=PROMPT, config=config)
        ]
    seen = upstreams["openai"].requests[-1]
    assert seen.json["web_search_options"] == {}
    assert "x_orca_search" not in seen.json
    text = "".join(c.text or "" for c in chunks)
    if text != getattr(openai_fake, "SEARCH_REPLY", None):
        return  # an OpenAI fake that does not answer searches: the request is what counts
    # The OpenAI fake's url_citation comes back as Gemini grounding, in UTF-8 byte offsets.
    citation = openai_fake.search_citation()["url_citation"]
    grounding = chunks[-1].candidates[0].grounding_metadata
    (chunk,) = grounding.grounding_chunks
    assert (chunk.web.uri, chunk.web.title) == (citation["url"], citation["title"])
    (support,) = grounding.grounding_supports
    segment = support.segment
    assert segment.text == text[citation["start_index"] : citation["end_index"]]
    assert text.encode()[segment.start_index : segment.end_index].decode() == segment.text
    assert support.grounding_chunk_indices == [0]


def test_openai_chat_web_search_to_a_gemini_model(sdk, upstreams):
    messages = [{"role": "user", "content": PROMPT}]
    completion = sdk.chat.completions.create(
        model="gemini-fake/flash", messages=messages, web_search_options={}
    )
    message = completion.choices[0].message
    assert message.content == fake.SEARCH_TEXT
    (annotation,) = message.annotations
    assert annotation.type == "url_citation"
    citation = annotation.url_citation
    assert citation.url == fake.SEARCH_URI and citation.title == fake.SEARCH_TITLE
    assert message.content[citation.start_index : citation.end_index] == fake.SEARCH_SEGMENT
    assert _sent_search_tool(upstreams) == [{"googleSearch": {}}]


def test_openai_chat_web_search_stream_to_a_gemini_model(sdk, upstreams):
    messages = [{"role": "user", "content": PROMPT}]
    chunks = list(
        sdk.chat.completions.create(
            model="gemini-fake/flash",
            messages=messages,
            web_search_options={},
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    content = "".join(d.content or "" for d in deltas)
    assert content == fake.SEARCH_TEXT
    annotations = [a for d in deltas for a in (d.model_extra or {}).get("annotations") or []]
    (annotation,) = annotations
    citation = annotation["url_citation"]
    assert citation["url"] == fake.SEARCH_URI
    assert content[citation["start_index"] : citation["end_index"]] == fake.SEARCH_SEGMENT
    assert _sent_search_tool(upstreams) == [{"googleSearch": {}}]


@pytest.mark.parametrize("stream", [False, True])
def test_online_on_a_gemini_pass_through_sends_google_search(
    live, upstreams, django_db_blocker, stream
):
    """`model:online` from google-genai to a Gemini model: the body sent is the client's own
    plus googleSearch in its tools; the grounding comes back and the search is billed once."""
    import httpx

    from tests.usage import wait_for_usage

    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"maxOutputTokens": 200},
    }
    response = httpx.post(
        f"{live.server.base_url}/v1beta/models/gemini-fake/flash:online:{action}",
        json=body,
        headers={"x-goog-api-key": live.key},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert "groundingMetadata" in response.text and fake.SEARCH_URI in response.text
    assert _sent_search_tool(upstreams) == [{"googleSearch": {}}]
    assert upstreams["gemini"].requests[-1].json["generationConfig"] == {"maxOutputTokens": 200}
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    per_token = (
        (record.prompt_tokens - record.cached_tokens) * 3
        + record.cached_tokens * 0.3
        + record.completion_tokens * 15
    )
    assert record.cost_pico - int(per_token * 10**12 // 1_000_000) == 10**10  # one search


def test_online_keeps_the_genai_clients_own_search_tool(gemini_client, upstreams):
    config = types.GenerateContentConfig(tools=[SEARCH_TOOL])
    gemini_client.models.generate_content(
        model="gemini-fake/flash:online", contents=PROMPT, config=config
    )
    assert _sent_search_tool(upstreams) == [{"googleSearch": {}}]
