"""Web search through a live server on the Anthropic dialect, with the official SDKs: the
anthropic SDK's web_search tool to an Anthropic model (pass-through: the upstream's search
blocks, citations and search count reach the client), and an OpenAI chat client's
web_search_options to an Anthropic model (the server tool goes up, the citations come back
as url_citation annotations)."""

import anthropic
import pytest

from tests.fakes import anthropic_upstream as fake

SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
PROMPT = "Please search: what is Orca?"
ANSWER = fake.SEARCH_PREAMBLE + fake.SEARCH_CITED + fake.SEARCH_TAIL


@pytest.fixture
def claude(live):
    return anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)


def _sent_tools(upstreams) -> list[dict]:
    fake_upstream = upstreams["anthropic"]
    assert fake_upstream.rejections == []
    seen = fake_upstream.requests[-1]
    assert seen.json["model"] == "claude-fake"
    return seen.json["tools"]


def _assert_search_message(message: anthropic.types.Message) -> None:
    kinds = [b.type for b in message.content]
    assert kinds == ["text", "server_tool_use", "web_search_tool_result", "text", "text"]
    assert message.content[1].name == "web_search"
    assert message.content[2].content[0].url == fake.SEARCH_URL
    cited = message.content[3]
    assert cited.text == fake.SEARCH_CITED
    assert [(c.url, c.cited_text) for c in cited.citations] == [
        (fake.SEARCH_URL, fake.SEARCH_CITED)
    ]
    assert message.usage.server_tool_use.web_search_requests == 1


def test_anthropic_sdk_web_search_to_an_anthropic_model(claude, upstreams):
    message = claude.messages.create(
        model="anthropic-fake/claude",
        max_tokens=256,
        tools=[SEARCH_TOOL],
        messages=[{"role": "user", "content": PROMPT}],
    )
    _assert_search_message(message)
    assert _sent_tools(upstreams) == [SEARCH_TOOL]


def test_anthropic_sdk_web_search_stream_to_an_anthropic_model(claude, upstreams):
    with claude.messages.stream(
        model="anthropic-fake/claude",
        max_tokens=256,
        tools=[SEARCH_TOOL],
        messages=[{"role": "user", "content": PROMPT}],
    ) as stream:
        message = stream.get_final_message()
    _assert_search_message(message)
    assert _sent_tools(upstreams) == [SEARCH_TOOL]


def _assert_annotations(content: str, annotations: list) -> None:
    assert content == ANSWER
    (annotation,) = annotations
    assert annotation.type == "url_citation"
    citation = annotation.url_citation
    assert (citation.url, citation.title) == (fake.SEARCH_URL, fake.SEARCH_TITLE)
    assert content[citation.start_index : citation.end_index] == fake.SEARCH_CITED


WEB_SEARCH_OPTIONS = {
    "search_context_size": "low",
    "user_location": {"type": "approximate", "approximate": {"city": "Paris", "country": "FR"}},
}
SENT_SEARCH_TOOL = {
    "type": "web_search_20250305",
    "name": "web_search",
    "max_uses": 1,
    "user_location": {"type": "approximate", "city": "Paris", "country": "FR"},
}


def test_openai_chat_web_search_options_to_an_anthropic_model(sdk, upstreams):
    completion = sdk.chat.completions.create(
        model="anthropic-fake/claude",
        messages=[{"role": "user", "content": PROMPT}],
        web_search_options=WEB_SEARCH_OPTIONS,
    )
    message = completion.choices[0].message
    _assert_annotations(message.content, message.annotations)
    assert completion.choices[0].finish_reason == "stop"
    assert _sent_tools(upstreams) == [SENT_SEARCH_TOOL]


def test_openai_chat_web_search_options_stream_to_an_anthropic_model(sdk, upstreams):
    stream = sdk.chat.completions.create(
        model="anthropic-fake/claude",
        messages=[{"role": "user", "content": PROMPT}],
        web_search_options=WEB_SEARCH_OPTIONS,
        stream=True,
        stream_options={"include_usage": True},
    )
    content, annotations = "", []
    for chunk in stream:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            annotations += getattr(choice.delta, "annotations", None) or []
    annotations = [anthropic_annotation(a) for a in annotations]
    _assert_annotations(content, annotations)
    assert _sent_tools(upstreams) == [SENT_SEARCH_TOOL]


def anthropic_annotation(raw):
    """A streamed annotation (an untyped extra field on the SDK's delta) as the typed one."""
    from openai.types.chat.chat_completion_message import Annotation

    return Annotation.model_validate(raw if isinstance(raw, dict) else raw.model_dump())


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_web_search_to_a_gemini_model(claude, upstreams, stream):
    """The web_search tool crosses to Gemini's googleSearch; the grounding comes back as a
    cited text block after a server_tool_use + web_search_tool_result pair, and the next turn,
    which replays those blocks, still translates."""
    from tests.fakes import gemini_upstream as gemini_fake

    request = {
        "model": "gemini-fake/flash",
        "max_tokens": 256,
        "tools": [SEARCH_TOOL],
        "messages": [{"role": "user", "content": "Please search: how fast do orcas swim?"}],
    }
    if stream:
        with claude.messages.stream(**request) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(**request)
    texts = [b for b in message.content if b.type == "text"]
    assert "".join(b.text for b in texts) == gemini_fake.SEARCH_TEXT
    citations = [c for b in texts for c in b.citations or ()]
    assert [(c.url, c.cited_text) for c in citations] == [
        (gemini_fake.SEARCH_URI, gemini_fake.SEARCH_SEGMENT)
    ]
    kinds = [b.type for b in message.content]
    assert "server_tool_use" in kinds and "web_search_tool_result" in kinds
    assert message.usage.server_tool_use.web_search_requests == 1
    sent = upstreams["gemini"].requests[-1].json
    assert sent["tools"] == [{"googleSearch": {}}]

    history = [
        *request["messages"],
        {
            "role": "assistant",
            "content": [b.model_dump(exclude_none=True) for b in message.content],
        },
        {"role": "user", "content": "Thanks"},
    ]
    again = claude.messages.create(**{**request, "messages": history})
    assert again.content[0].type == "text"
    assert upstreams["gemini"].rejections == []


def _search_cost(record) -> int:
    """What the native fakes charge beyond the tokens ($3 / $0.3 cached / $15 per million):
    $0.01 a search, so a call that searched once is dearer than its tokens by 10**10 pico."""
    per_token = (
        (record.prompt_tokens - record.cached_tokens) * 3
        + record.cached_tokens * 0.3
        + record.completion_tokens * 15
    )
    return record.cost_pico - int(per_token * 10**12 // 1_000_000)


@pytest.mark.parametrize("stream", [False, True])
def test_online_on_an_anthropic_pass_through_sends_the_search_tool(
    claude, upstreams, django_db_blocker, stream
):
    """`model:online` from an Anthropic client to an Anthropic model: the body sent is the
    client's own plus the web_search server tool, and the search is billed once."""
    from tests.usage import wait_for_usage

    request = {
        "model": "anthropic-fake/claude:online",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if stream:
        with claude.messages.with_streaming_response.create(**request, stream=True) as raw:
            request_id = raw.headers["x-orca-request-id"]
            events = list(raw.parse())
        stop = next(e for e in events if e.type == "message_delta")
        assert stop.usage.server_tool_use.web_search_requests == 1
    else:
        raw = claude.messages.with_raw_response.create(**request)
        request_id = raw.headers["x-orca-request-id"]
        _assert_search_message(raw.parse())
    assert _sent_tools(upstreams) == [{"type": "web_search_20250305", "name": "web_search"}]
    assert _search_cost(wait_for_usage(django_db_blocker, request_id)) == 10**10


def test_online_keeps_the_anthropic_clients_own_search_tool(claude, upstreams):
    claude.messages.create(
        model="anthropic-fake/claude:online",
        max_tokens=256,
        tools=[SEARCH_TOOL],
        messages=[{"role": "user", "content": PROMPT}],
    )
    assert _sent_tools(upstreams) == [SEARCH_TOOL]
