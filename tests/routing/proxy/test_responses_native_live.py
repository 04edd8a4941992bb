"""The native Responses upstream through a live server, with the official SDKs as clients:
Responses clients pass through to a model whose catalog lists "responses" (only the model
is swapped), chat-family clients reach a Responses-only model translated, hosted tool calls
are billed per call, and a translated call leaves out or refuses what it cannot serve."""

import json
from decimal import Decimal

import anthropic
import httpx
import openai
import pytest

from billing.services import grant_credits
from tests.conftest import UPSTREAM_CREDENTIAL
from tests.fakes.openai_responses import REPLY_TEXT, TOOL_RESULT_PREFIX
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.models import Workspace

PICO = 10**12
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
NAMESPACE = {
    "type": "namespace",
    "name": "mcp__calendar__",
    "description": "Calendar tools",
    "tools": [
        {
            "type": "function",
            "name": "create_event",
            "description": "Create an event",
            "parameters": {"type": "object", "properties": {"title": {"type": "string"}}},
        }
    ],
}


def responses_calls(upstream) -> list:
    return [r for r in upstream.requests if r.path == "/v1/responses"]


def cost_of(prompt: int, cached: int, completion: int, searches: int = 0) -> int:
    """fake/responder's prices: $2 / $0.5 cached / $8 per million tokens, $0.01 a search."""
    per_token = (prompt - cached) * 2 + cached * 0.5 + completion * 8
    return int(per_token * PICO // 1_000_000) + searches * PICO // 100


def test_a_responses_client_passes_through_untouched(live, sdk, upstream, django_db_blocker):
    body = {
        "input": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "low", "summary": "auto"},
        "prompt_cache_key": "session-1",
        "tools": [WEATHER, NAMESPACE],
        "tool_choice": "none",
    }
    raw = sdk.responses.with_raw_response.create(model="fake/responder", **body)
    response = raw.parse()

    (seen,) = responses_calls(upstream)
    assert seen.json == {**body, "model": "fake-responder"}  # only the model swapped
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_CREDENTIAL}"
    assert response.output_text == REPLY_TEXT
    reasoning = [item for item in response.output if item.type == "reasoning"]
    assert reasoning and reasoning[0].encrypted_content  # the upstream's own, relayed
    assert response.id.startswith("resp_")
    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert (record.endpoint, record.model, record.status_code) == (
        "responses",
        "fake/responder",
        200,
    )
    assert (record.prompt_tokens, record.cached_tokens, record.completion_tokens) == (12, 4, 9)
    assert record.reasoning_tokens == 2 and record.usage_reported
    assert record.cost_pico == cost_of(12, 4, 9)


def test_a_streamed_pass_through_is_relayed_event_by_event_and_metered(
    live, sdk, upstream, django_db_blocker
):
    with sdk.responses.with_streaming_response.create(
        model="fake/responder", input="Hello", stream=True
    ) as raw:
        events = list(raw.parse())
        request_id = raw.headers["x-orca-request-id"]
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))  # untouched
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == REPLY_TEXT
    (seen,) = responses_calls(upstream)
    assert seen.json == {"model": "fake-responder", "input": "Hello", "stream": True}
    record = wait_for_usage(django_db_blocker, request_id)
    assert record.streamed and record.status_code == 200
    assert (record.prompt_tokens, record.completion_tokens) == (12, 9)


def test_the_upstreams_own_previous_response_id_continues_a_tool_loop(sdk, upstream):
    first = sdk.responses.create(model="fake/responder", input="Weather in Paris?", tools=[WEATHER])
    (call,) = [item for item in first.output if item.type == "function_call"]
    second = sdk.responses.create(
        model="fake/responder",
        previous_response_id=first.id,  # the upstream's id: Orca stores nothing here
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
    )
    assert second.output_text == TOOL_RESULT_PREFIX + "sunny"
    assert responses_calls(upstream)[1].json["previous_response_id"] == first.id


def test_hosted_web_search_is_billed_per_call(live, sdk, upstream, django_db_blocker):
    raw = sdk.responses.with_raw_response.create(
        model="fake/responder", input="search the web for orcas", tools=[{"type": "web_search"}]
    )
    response = raw.parse()
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert response.output[1].content[0].annotations[0].type == "url_citation"
    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert record.cost_pico == cost_of(12, 4, 9, searches=1)


def test_a_chat_client_reaches_a_responses_only_model_translated(
    live, sdk, upstream, django_db_blocker
):
    raw = sdk.chat.completions.with_raw_response.create(
        model="fake/responses-only",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_tokens=100,
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == REPLY_TEXT
    assert completion.usage.prompt_tokens == 12 and completion.usage.completion_tokens == 9
    assert not upstream.requests or all(r.path == "/v1/responses" for r in upstream.requests)
    (seen,) = responses_calls(upstream)
    assert seen.json["model"] == "fake-pro" and seen.json["store"] is False
    assert seen.json["instructions"] == "Be brief."
    assert seen.json["max_output_tokens"] == 100

    stream = sdk.chat.completions.create(
        model="fake/responses-only",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY_TEXT
    assert chunks[-1].usage.completion_tokens == 9
    assert not hasattr(chunks[-1].usage, "x_orca_tool_calls")


def test_a_chat_client_gets_tool_calls_from_a_responses_only_model(sdk, upstream):
    tool = {"type": "function", "function": {k: WEATHER[k] for k in ("name", "parameters")}}
    completion = sdk.chat.completions.create(
        model="fake/responses-only", messages=[{"role": "user", "content": "Paris?"}], tools=[tool]
    )
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)
    assert completion.choices[0].finish_reason == "tool_calls"
    assert responses_calls(upstream)[0].json["tools"][0]["name"] == "get_weather"


def test_an_anthropic_client_reaches_a_responses_only_model(live, upstream):
    claude = anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)
    message = claude.messages.create(
        model="fake/responses-only",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert message.content[0].text == REPLY_TEXT
    assert message.usage.output_tokens == 9
    assert len(responses_calls(upstream)) == 1


def test_a_translated_responses_call_names_the_tools_it_left_out(live, sdk, upstream):
    raw = sdk.responses.with_raw_response.create(
        model="fake/chat",  # a chat-only model: the Responses request is translated
        input="Weather in Paris?",
        tools=[WEATHER, {"type": "file_search", "vector_store_ids": ["vs_1"]}, NAMESPACE],
    )
    assert raw.headers["x-orca-dropped-tools"] == "file_search"
    (seen,) = upstream.requests
    assert seen.path == "/v1/chat/completions"
    names = [t["function"]["name"] for t in seen.json["tools"]]
    assert names == ["get_weather", "mcp__calendar__create_event"]  # the namespace flattened


def test_forcing_a_tool_a_translated_call_cannot_run_is_a_400(live, sdk, upstream):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(
            model="fake/chat",
            input="search the files",
            tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}],
            tool_choice={"type": "file_search"},
        )
    assert caught.value.code == "unsupported_tool" and "file_search" in caught.value.message
    assert not upstream.requests
    # The same request on the native upstream is the upstream's to serve.
    served = sdk.responses.create(
        model="fake/responder",
        input="search the web",
        tools=[{"type": "web_search"}],
        tool_choice={"type": "web_search"},
    )
    assert served.output[0].type == "web_search_call"


def test_orcas_own_stored_response_is_continued_by_translation(live, upstream, db_access):
    keeper = Workspace.objects.create(
        slug="native-keeper", name="Native keeper", keep_response_history=True
    )
    grant_credits(keeper.id, Decimal(10))
    _, raw = services.create_api_key(keeper)
    client = openai.OpenAI(base_url=live.base_url, api_key=raw, max_retries=0)
    first = client.responses.create(model="fake/chat", input="Remember: 42")  # Orca stores it
    assert first.id.startswith("resp_") and not responses_calls(upstream)
    second = client.responses.create(
        model="fake/responder", previous_response_id=first.id, input="What number?"
    )
    assert second.output_text == REPLY_TEXT
    (seen,) = responses_calls(upstream)
    # Orca's id means nothing upstream: the stored turns are sent instead, and nothing stored.
    assert "previous_response_id" not in seen.json and seen.json["store"] is False
    assert "Remember: 42" in json.dumps(seen.json["input"])


def test_an_unknown_previous_response_id_is_the_upstreams_to_refuse(sdk, upstream):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="fake/responder", previous_response_id="resp_nope", input="x")
    assert "resp_nope" in caught.value.message
    assert len(responses_calls(upstream)) == 1
    # On a translated call Orca says it holds no such response, before any upstream call.
    upstream.reset()
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="fake/chat", previous_response_id="resp_nope", input="x")
    assert caught.value.code == "response_history_disabled"
    assert not upstream.requests


def test_a_midstream_upstream_error_ends_the_stream_in_the_responses_dialect(
    live, upstream, django_db_blocker
):
    response = httpx.post(
        f"{live.base_url}/responses",
        json={"model": "fake/responder-midstream", "input": "Hello", "stream": True},
        headers={"Authorization": f"Bearer {live.key}"},
        timeout=10,
    )
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    assert blocks[-1].startswith("event: error")
    error = json.loads(blocks[-1].split("data: ", 1)[1])
    assert error["type"] == "error" and error["code"] == "upstream_stream_error"
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    assert record.status_code == 502 and record.streamed


def test_upstream_errors_keep_their_status_and_never_the_credential(live, upstream):
    leaky = httpx.post(
        f"{live.base_url}/responses",
        json={"model": "fake/responder-leaky", "input": "Hello"},
        headers={"Authorization": f"Bearer {live.key}"},
    )
    assert leaky.status_code == 502 and leaky.json()["error"]["code"] == "upstream_auth_failed"
    assert UPSTREAM_CREDENTIAL not in leaky.text and live.key not in leaky.text
    failing = httpx.post(
        f"{live.base_url}/responses",
        json={"model": "fake/responder-500", "input": "Hello", "stream": True},
        headers={"Authorization": f"Bearer {live.key}"},
    )
    assert failing.status_code == 500


def test_models_list_the_responses_endpoint_type(sdk):
    listed = {m.id: m for m in sdk.models.list()}
    assert "responses" in str(listed["fake/responder"].supported_endpoint_types)
    assert "responses" in str(listed["fake/responses-only"].supported_endpoint_types)


def test_a_chat_clients_custom_tool_comes_back_as_a_custom_call(sdk, upstreams):
    tool = {"type": "custom", "custom": {"name": "run_sql", "description": "Run a SQL query"}}
    completion = sdk.chat.completions.create(
        model="anthropic-fake/claude",  # translated: Anthropic has no custom tools
        messages=[{"role": "user", "content": "Count the users"}],
        tools=[tool],
    )
    calls = completion.choices[0].message.tool_calls
    assert calls and {c.type for c in calls} == {"custom"}
    assert calls[0].custom.name == "run_sql" and isinstance(calls[0].custom.input, str)
    sent = upstreams["anthropic"].requests[-1].json["tools"]
    assert sent[0]["name"] == "run_sql"
    assert sent[0]["input_schema"]["properties"]["input"]["type"] == "string"


@pytest.mark.parametrize("model", ["anthropic-fake/claude", "gemini-fake/flash"])
def test_a_streamed_custom_tool_call_comes_back_as_a_custom_call(sdk, upstreams, model):
    """The stream matches the non-stream answer: custom tool call deltas (the first with the
    id, type "custom" and name; then the input), never function deltas."""
    tool = {"type": "custom", "custom": {"name": "run_sql", "description": "Run a SQL query"}}
    request = {"model": model, "messages": [{"role": "user", "content": "Count"}], "tools": [tool]}
    whole = sdk.chat.completions.create(**request).choices[0].message.tool_calls
    deltas = []
    for chunk in sdk.chat.completions.create(**request, stream=True):
        for choice in chunk.choices:
            deltas += [d.model_dump(exclude_none=True) for d in choice.delta.tool_calls or ()]
    assert deltas and all("function" not in d for d in deltas)
    first = deltas[0]
    assert first["type"] == "custom" and first["custom"] == {"name": "run_sql", "input": ""}
    assert isinstance(first.get("id"), str) and first["id"]
    streamed: dict[int, str] = {}
    for delta in deltas:
        streamed[delta["index"]] = streamed.get(delta["index"], "") + delta["custom"]["input"]
    assert [streamed[i] for i in sorted(streamed)] == [c.custom.input for c in whole]
