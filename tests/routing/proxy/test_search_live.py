"""Web search through a live server with the official openai SDK: a Responses client's
web_search tool goes up a chat upstream as web_search_options and comes back as a
web_search_call item and url_citation annotations; on a native Responses upstream it passes
through; a Chat client's web_search_options get chat's annotations; `model:online` asks for a
search; a cited chat stream is billed one search at the model's price."""

from tests.fakes.openai_responses import SEARCH_URL as RESPONSES_SEARCH_URL
from tests.fakes.openai_upstream import SEARCH_REPLY, SEARCH_TITLE, SEARCH_URL
from tests.usage import wait_for_usage

PICO = 10**12


def chat_calls(upstream) -> list:
    return [r for r in upstream.requests if r.path == "/v1/chat/completions"]


def responder_cost(prompt: int, cached: int, completion: int, searches: int = 0) -> int:
    """fake/responder's prices: $2 / $0.5 cached / $8 per million tokens, $0.01 a search."""
    per_token = (prompt - cached) * 2 + cached * 0.5 + completion * 8
    return int(per_token * PICO // 1_000_000) + searches * PICO // 100


def test_a_responses_web_search_reaches_a_chat_upstream_as_web_search_options(sdk, upstream):
    tool = {
        "type": "web_search",
        "filters": {"allowed_domains": ["example.com"]},
        "user_location": {"type": "approximate", "country": "GB"},
    }
    raw = sdk.responses.with_raw_response.create(
        model="fake/chat", input="search the web for orcas", tools=[tool]
    )
    response = raw.parse()
    assert "x-orca-dropped-tools" not in raw.headers
    (seen,) = chat_calls(upstream)
    assert seen.json["web_search_options"] == {
        "user_location": {"type": "approximate", "approximate": {"country": "GB"}}
    }
    assert "x_orca_search" not in seen.json and "tools" not in seen.json
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    search = response.output[0]
    assert search.status == "completed" and search.action.query == "search the web for orcas"
    (annotation,) = response.output[1].content[0].annotations
    assert (annotation.type, annotation.url, annotation.title) == (
        "url_citation",
        SEARCH_URL,
        SEARCH_TITLE,
    )
    assert SEARCH_REPLY[annotation.start_index : annotation.end_index] == SEARCH_TITLE
    assert response.output_text == SEARCH_REPLY


def test_a_streamed_responses_search_through_a_chat_upstream(sdk, upstream):
    with sdk.responses.stream(
        model="fake/chat", input="search orcas", tools=[{"type": "web_search_preview"}]
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.output_text.annotation.added" in types
    assert "response.web_search_call.completed" in types
    assert final.output_text == SEARCH_REPLY
    assert final.output[0].content[0].annotations[0].url == SEARCH_URL
    assert [item.type for item in final.output] == ["message", "web_search_call"]
    (seen,) = chat_calls(upstream)
    assert seen.json["web_search_options"] == {} and seen.json["stream"] is True


def test_forcing_the_search_on_a_translated_call_is_served(sdk, upstream):
    response = sdk.responses.create(
        model="fake/chat",
        input="search orcas",
        tools=[{"type": "web_search"}],
        tool_choice={"type": "web_search"},
    )
    assert response.output[0].type == "web_search_call"
    (seen,) = chat_calls(upstream)
    assert "tool_choice" not in seen.json


def test_a_responses_search_on_a_native_upstream_passes_through(
    live, sdk, upstream, django_db_blocker
):
    tool = {"type": "web_search", "filters": {"allowed_domains": ["example.com"]}}
    raw = sdk.responses.with_raw_response.create(
        model="fake/responder", input="search the web for orcas", tools=[tool]
    )
    response = raw.parse()
    (seen,) = [r for r in upstream.requests if r.path == "/v1/responses"]
    assert seen.json["tools"] == [tool]  # the client's own body
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert response.output[1].content[0].annotations[0].url == RESPONSES_SEARCH_URL


def test_a_chat_client_gets_the_upstreams_annotations(sdk, upstream):
    completion = sdk.chat.completions.create(
        model="fake/chat",
        messages=[{"role": "user", "content": "search: what are orcas?"}],
        web_search_options={"search_context_size": "low"},
    )
    message = completion.choices[0].message
    assert message.content == SEARCH_REPLY
    (annotation,) = message.annotations
    assert annotation.type == "url_citation" and annotation.url_citation.url == SEARCH_URL
    assert not hasattr(completion.usage, "x_orca_tool_calls")
    (seen,) = chat_calls(upstream)
    assert seen.json["web_search_options"] == {"search_context_size": "low"}

    plain = sdk.chat.completions.create(
        model="fake/chat", messages=[{"role": "user", "content": "search: orcas?"}]
    )
    assert not plain.choices[0].message.annotations  # no search asked for


def test_a_cited_chat_stream_is_billed_one_search(live, sdk, upstream, django_db_blocker):
    raw = sdk.chat.completions.with_raw_response.create(
        model="fake/responder",
        messages=[{"role": "user", "content": "search orcas"}],
        web_search_options={},
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    # the SDK's ChoiceDelta has no `annotations` field: they arrive as an extra
    deltas = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
    annotations = [a for delta in deltas for a in delta.get("annotations") or ()]
    assert annotations and annotations[0]["url_citation"]["url"] == SEARCH_URL
    assert "x_orca_tool_calls" not in (chunks[-1].usage.model_extra or {})
    assert chat_calls(upstream)  # the chat upstream, pass-through
    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert record.cost_pico == responder_cost(11, 3, 7, searches=1)


def test_online_asks_the_base_model_for_a_search(sdk, upstream):
    completion = sdk.chat.completions.create(
        model="fake/chat:online", messages=[{"role": "user", "content": "search orcas"}]
    )
    assert completion.choices[0].message.annotations[0].url_citation.url == SEARCH_URL
    (seen,) = chat_calls(upstream)
    assert seen.json["model"] == "fake-chat" and seen.json["web_search_options"] == {}

    response = sdk.responses.create(model="fake/chat:online", input="search orcas")
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert chat_calls(upstream)[1].json["web_search_options"] == {}


def test_online_on_a_native_responses_upstream_sends_the_web_search_tool(sdk, upstream):
    response = sdk.responses.create(model="fake/responder:online", input="search the web")
    (seen,) = [r for r in upstream.requests if r.path == "/v1/responses"]
    assert seen.json["model"] == "fake-responder"
    assert seen.json["tools"] == [{"type": "web_search"}]
    assert response.output[0].type == "web_search_call"


def test_x_orca_search_never_reaches_an_openai_upstream(sdk, upstream):
    completion = sdk.chat.completions.create(
        model="fake/chat",  # pass-through: the client's body, less Orca's extension
        messages=[{"role": "user", "content": "search orcas"}],
        web_search_options={},
        extra_body={"x_orca_search": {"max_uses": 2, "allowed_domains": ["example.com"]}},
    )
    assert completion.choices[0].message.annotations[0].url_citation.url == SEARCH_URL
    (seen,) = chat_calls(upstream)
    assert "x_orca_search" not in seen.json and seen.json["web_search_options"] == {}
    assert "x_orca_search" not in completion.model_dump_json()


def test_online_on_a_chat_stream(sdk, upstream):
    stream = sdk.chat.completions.create(
        model="fake/chat:online",
        messages=[{"role": "user", "content": "search orcas"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == SEARCH_REPLY
    (seen,) = chat_calls(upstream)
    assert seen.json["web_search_options"] == {} and seen.json["model"] == "fake-chat"


def test_a_non_stream_cited_chat_answer_is_billed_one_search(
    live, sdk, upstream, django_db_blocker
):
    raw = sdk.chat.completions.with_raw_response.create(
        model="fake/responder",  # priced $0.01 a search (tests/conftest.py)
        messages=[{"role": "user", "content": "search the web for orcas"}],
        web_search_options={},
    )
    completion = raw.parse()
    assert completion.choices[0].message.annotations
    assert "x_orca_tool_calls" not in raw.text  # metered, never shown
    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    tokens = ((11 - 3) * 2 + 3 * 0.5 + 7 * 8) * 10**12 // 1_000_000  # the fake's usage
    assert record.cost_pico == tokens + 10**12 // 100  # plus one search at $0.01
