"""Proves the fake upstream's ``POST /v1/responses`` speaks the real Responses API: the official
SDK parses every answer shape (non-stream, ``stream=True`` and the ``responses.stream`` helper),
and invalid requests get the real API's errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import BaseModel

from . import faults
from .openai_responses import (
    INCLUDABLE,
    JSON_REPLY,
    REASONING_SUMMARY,
    REPLY_TEXT,
    SEARCH_REPLY,
    SEARCH_TITLE,
    SEARCH_URL,
    TOOL_ARGUMENTS,
    TOOL_TYPES,
    USAGE,
    encrypted_content,
)
from .openai_upstream import FakeOpenAIUpstream

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * len(REPLY_TEXT.split(" ")),
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


class Answer(BaseModel):
    answer: str


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIUpstream]:
    upstream = FakeOpenAIUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def client(fake: FakeOpenAIUpstream) -> OpenAI:
    fake.reset()
    return OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)


def _post(fake: FakeOpenAIUpstream, body: Any, timeout: float = 10) -> httpx.Response:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    return httpx.post(f"{fake.base_url}/responses", json=body, headers=headers, timeout=timeout)


def _events(raw: str) -> list[dict[str, Any]]:
    """Parse an SSE body, checking the framing: ``event:`` = ``data.type``, no ``[DONE]``."""
    events = []
    for block in raw.strip("\n").split("\n\n"):
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line[len("data: ") :])
        assert data["type"] == name_line[len("event: ") :]
        events.append(data)
    return events


def _message(raised: pytest.ExceptionInfo[openai.APIStatusError]) -> str:
    """The error envelope's message (the SDK's own ``message`` adds "Error code: N - ")."""
    body = raised.value.body
    assert isinstance(body, dict)
    return str(body["message"])


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def _stream(fake: FakeOpenAIUpstream, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = _post(fake, {**body, "stream": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" not in response.text
    events = _events(response.text)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


# ---------------------------------------------------------------------------------- text


def test_text_answer_echoes_the_request(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    response = client.responses.create(
        model="gpt-fake",
        input="Hi",
        instructions="Be brief.",
        temperature=0.5,
        top_p=0.9,
        max_output_tokens=64,
        metadata={"team": "orca"},
        parallel_tool_calls=False,
    )

    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed" and response.error is None
    assert response.model == "gpt-fake-2024-01-01"
    assert response.output_text == REPLY_TEXT
    message = response.output[0]
    assert message.type == "message" and message.id.startswith("msg_")
    assert message.role == "assistant" and message.status == "completed"
    assert message.content[0].annotations == []
    assert response.usage is not None
    assert response.usage.model_dump(exclude_none=True) == USAGE
    assert (response.instructions, response.temperature, response.top_p) == ("Be brief.", 0.5, 0.9)
    assert (response.max_output_tokens, response.metadata) == (64, {"team": "orca"})
    assert response.parallel_tool_calls is False and response.store is True
    assert response.tool_choice == "auto" and response.tools == []
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "text"
    assert response.previous_response_id is None

    recorded = fake.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/responses")
    assert recorded.headers["authorization"] == f"Bearer {fake.api_key}"
    assert recorded.json is not None and recorded.json["input"] == "Hi"
    assert fake.rejections == []


def test_text_stream_event_sequence(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    events = _stream(fake, {"model": "gpt-fake", "input": "Hi"})

    assert _types(events) == TEXT_EVENTS
    created, in_progress, completed = events[0], events[1], events[-1]
    assert created["response"]["status"] == "in_progress" and created["response"]["usage"] is None
    assert in_progress["response"]["id"] == created["response"]["id"] == completed["response"]["id"]
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(d["delta"] for d in deltas) == REPLY_TEXT
    assert all(d["obfuscation"] and d["logprobs"] == [] for d in deltas)
    item_id = events[2]["item"]["id"]
    assert all(e["item_id"] == item_id for e in events[3:-2])
    assert events[2]["item"]["status"] == "in_progress" and events[2]["item"]["content"] == []
    assert completed["response"]["usage"] == USAGE
    assert completed["response"]["output"][0]["content"][0]["text"] == REPLY_TEXT
    assert fake.wait_for_event("stream_completed", model="gpt-fake")

    quiet = _stream(
        fake,
        {"model": "gpt-fake", "input": "Hi", "stream_options": {"include_obfuscation": False}},
    )
    assert all("obfuscation" not in e for e in quiet)

    # The SDK's raw stream parses every event into its type.
    sdk_events = list(client.responses.create(model="gpt-fake", input="Hi", stream=True))
    assert [e.type for e in sdk_events] == TEXT_EVENTS
    assert [e.sequence_number for e in sdk_events] == list(range(len(TEXT_EVENTS)))


def test_stream_helper_assembles_the_text(client: OpenAI) -> None:
    with client.responses.stream(model="gpt-fake", input="Hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == REPLY_TEXT == final.output_text
    assert final.usage is not None and final.usage.total_tokens == 21


# ---------------------------------------------------------------------------------- tools


def test_function_call_and_its_result(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    first = client.responses.create(model="gpt-fake", input="Weather in Paris?", tools=[WEATHER])
    call = first.output[0]
    assert call.type == "function_call" and call.status == "completed"
    assert call.name == "get_weather" and call.arguments == TOOL_ARGUMENTS
    assert call.id.startswith("fc_") and call.call_id.startswith("call_")
    again = client.responses.create(model="gpt-fake", input="Weather in Paris?", tools=[WEATHER])
    assert again.output[0].call_id != call.call_id  # unique per response
    assert first.tools[0].name == "get_weather"  # echoed

    # Stateless: the call and its output in the input.
    stateless = client.responses.create(
        model="gpt-fake",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 C"},
        ],
    )
    assert stateless.output_text == "The tool returned: Sunny, 21 C"

    # Stateful: previous_response_id supplies the call.
    chained = client.responses.create(
        model="gpt-fake",
        tools=[WEATHER],
        previous_response_id=first.id,
        input=[
            {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": [{"type": "input_text", "text": "Rainy"}],
            }
        ],
    )
    assert chained.output_text == "The tool returned: Rainy"
    assert chained.previous_response_id == first.id
    assert fake.rejections == []


def test_tool_choice_decides_the_call(client: OpenAI) -> None:
    other = {**WEATHER, "name": "get_time"}
    none = client.responses.create(
        model="gpt-fake", input="Hi", tools=[WEATHER, other], tool_choice="none"
    )
    assert none.output_text == REPLY_TEXT
    named = client.responses.create(
        model="gpt-fake",
        input="Hi",
        tools=[WEATHER, other],
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert named.output[0].name == "get_time"
    allowed = client.responses.create(
        model="gpt-fake",
        input="Hi",
        tools=[WEATHER, other],
        tool_choice={
            "type": "allowed_tools",
            "mode": "auto",
            "tools": [{"type": "function", "name": "get_time"}],
        },
    )
    assert allowed.output[0].name == "get_time"


def test_streamed_function_call(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    events = _stream(fake, {"model": "gpt-fake", "input": "Weather?", "tools": [WEATHER]})
    assert _types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2]["item"]
    assert added["arguments"] == "" and added["status"] == "in_progress"
    arguments = "".join(e["delta"] for e in events[3:6])
    assert arguments == TOOL_ARGUMENTS == events[6]["arguments"]
    assert events[6]["name"] == "get_weather"

    with client.responses.stream(model="gpt-fake", input="Weather?", tools=[WEATHER]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    call = final.output[0]
    assert call.type == "function_call"
    assert call.parsed_arguments == {"city": "Paris"}  # strict tool: the SDK parses it


def test_codex_request_with_namespace_tools(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    """What Codex CLI sends: namespaces for MCP tools, a freeform custom tool, built-ins,
    stateless history with reasoning blobs and id-less items, client_metadata."""
    namespace = {
        "type": "namespace",
        "name": "mcp__docs__",
        "description": "Tools in the mcp__docs__ namespace.",
        "tools": [
            {
                "type": "function",
                "name": "search_docs",
                "description": "Search the docs.",
                "strict": False,
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
    }
    apply_patch = {
        "type": "custom",
        "name": "apply_patch",
        "description": "Apply a patch.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"},
    }
    body = {
        "model": "gpt-5-codex",
        "instructions": "You are Codex.",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "<permissions>"}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]},
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "List files."}],
                "content": None,
                "encrypted_content": "gAAAAABsome-other-org-blob",
            },
            {
                "type": "function_call",
                "name": "search_docs",
                "namespace": "mcp__docs__",
                "arguments": '{"q": "ls"}',
                "call_id": "call_a",
            },
            {"type": "function_call_output", "call_id": "call_a", "output": "README.md"},
            {
                "type": "custom_tool_call",
                "status": "completed",
                "call_id": "call_b",
                "name": "apply_patch",
                "input": "*** Begin Patch",
            },
            {"type": "custom_tool_call_output", "call_id": "call_b", "output": "Done"},
            {
                "type": "web_search_call",
                "status": "completed",
                "action": {"type": "search", "query": "orca"},
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Done."}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ok"}]},
        ],
        "tools": [
            apply_patch,
            namespace,
            {"type": "web_search", "external_web_access": True, "index_gated_web_access": False},
            {"type": "image_generation", "output_format": "png"},
            {"type": "local_shell"},
            {"type": "shell"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "conversation-1",
        "text": {"verbosity": "low"},
        "client_metadata": {"x-codex-installation-id": "test"},
    }
    events = _stream(fake, body)
    completed = events[-1]["response"]
    reasoning, call = completed["output"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["encrypted_content"] == encrypted_content(reasoning["id"])
    assert call["type"] == "function_call"
    assert (call["namespace"], call["name"]) == ("mcp__docs__", "search_docs")
    assert completed["store"] is False and completed["text"]["verbosity"] == "low"
    assert fake.responses_store.responses == {}  # store: false keeps nothing
    assert fake.rejections == []

    # The SDK reads the namespace back.
    response = client.responses.create(model="gpt-5-codex", input="ls", tools=[namespace])
    assert response.output[0].namespace == "mcp__docs__"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------- web search


def test_web_search_with_citation(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    response = client.responses.create(
        model="gpt-fake",
        input="Please search the web for orca facts",
        tools=[{"type": "web_search"}],
        include=["web_search_call.action.sources"],
    )
    search, message = response.output
    assert search.type == "web_search_call" and search.status == "completed"
    assert search.id.startswith("ws_")
    assert search.action.type == "search"
    assert search.action.query == "Please search the web for orca facts"
    assert search.action.sources is not None and search.action.sources[0].url == SEARCH_URL
    assert response.output_text == SEARCH_REPLY
    citation = message.content[0].annotations[0]
    assert citation.type == "url_citation"
    assert (citation.url, citation.title) == (SEARCH_URL, SEARCH_TITLE)
    assert SEARCH_REPLY[citation.start_index : citation.end_index] == SEARCH_TITLE

    # Without "search" in the question, or with the legacy tool and no sources asked for.
    plain = client.responses.create(model="gpt-fake", input="Hi", tools=[{"type": "web_search"}])
    assert plain.output_text == REPLY_TEXT
    legacy = client.responses.create(
        model="gpt-fake", input="search it", tools=[{"type": "web_search_preview"}]
    )
    assert legacy.output[0].action.sources is None  # type: ignore[union-attr]

    events = _stream(
        fake, {"model": "gpt-fake", "input": "search orcas", "tools": [{"type": "web_search"}]}
    )
    types = _types(events)
    assert types[2:7] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    assert (
        types.index("response.output_text.annotation.added")
        == types.index("response.output_text.done") - 1
    )
    annotation = next(e for e in events if e["type"] == "response.output_text.annotation.added")
    assert annotation["output_index"] == 1 and annotation["annotation_index"] == 0
    assert annotation["annotation"]["url"] == SEARCH_URL

    with client.responses.stream(
        model="gpt-fake", input="search orcas", tools=[{"type": "web_search"}]
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == SEARCH_REPLY
    assert final.output[1].content[0].annotations[0].url == SEARCH_URL  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------- reasoning


def test_reasoning_summary(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    response = client.responses.create(
        model="gpt-fake", input="Hi", reasoning={"effort": "low", "summary": "auto"}
    )
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert [s.text for s in reasoning.summary] == [REASONING_SUMMARY]
    assert reasoning.encrypted_content is None  # not asked for
    assert message.type == "message" and response.output_text == REPLY_TEXT
    assert response.reasoning is not None
    assert (response.reasoning.effort, response.reasoning.summary) == ("low", "auto")

    events = _stream(
        fake,
        {
            "model": "gpt-fake",
            "input": "Hi",
            "reasoning": {"summary": "detailed"},
            "include": ["reasoning.encrypted_content"],
        },
    )
    types = _types(events)
    summary_words = len(REASONING_SUMMARY.split(" "))
    assert types[2:] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * summary_words,
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        *TEXT_EVENTS[2:],
    ]
    deltas = [e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert "".join(deltas) == REASONING_SUMMARY
    done = events[types.index("response.output_item.done")]["item"]
    assert done["encrypted_content"] == encrypted_content(done["id"])
    assert "encrypted_content" not in events[2]["item"]
    assert events[-1]["response"]["output"][1]["type"] == "message"  # shifted by one

    with client.responses.stream(
        model="gpt-fake", input="Hi", reasoning={"summary": "auto"}
    ) as stream:
        summary = "".join(
            e.delta for e in stream if e.type == "response.reasoning_summary_text.delta"
        )
        final = stream.get_final_response()
    assert summary == REASONING_SUMMARY == final.output[0].summary[0].text  # type: ignore[union-attr]


def test_reasoning_items_go_back_stateless_with_their_blob(client: OpenAI) -> None:
    first = client.responses.create(
        model="gpt-fake",
        input="Hi",
        store=False,
        reasoning={"summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    reasoning = first.output[0].model_dump(exclude_none=True)
    again = client.responses.create(
        model="gpt-fake",
        store=False,
        input=[
            {"role": "user", "content": "Hi"},
            reasoning,
            {"role": "assistant", "content": first.output_text},
            {"role": "user", "content": "And again?"},
        ],
    )
    assert again.output_text == REPLY_TEXT

    # Without its blob the item is a pointer to state a store:false response never kept.
    pointer = {"type": "reasoning", "id": reasoning["id"], "summary": []}
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="gpt-fake", store=False, input=[pointer])
    assert _message(missing).startswith(f"Item with id '{reasoning['id']}' not found.")
    assert "Items are not persisted when `store` is set to false." in _message(missing)

    # Stored, it resolves; so does an item_reference to it.
    stored = client.responses.create(model="gpt-fake", input="Hi", reasoning={"summary": "auto"})
    stored_id = stored.output[0].id
    by_pointer = client.responses.create(
        model="gpt-fake",
        input=[
            {"type": "reasoning", "id": stored_id, "summary": []},
            {"type": "item_reference", "id": stored.output[1].id},
        ],
    )
    assert by_pointer.output_text == REPLY_TEXT


# ---------------------------------------------------------------------------------- json


def test_json_schema_and_json_object(client: OpenAI) -> None:
    parsed = client.responses.parse(model="gpt-fake", input="Hi", text_format=Answer)
    assert parsed.output_parsed == Answer(answer="fake")
    assert parsed.text is not None and parsed.text.format is not None
    assert parsed.text.format.type == "json_schema"

    with client.responses.stream(model="gpt-fake", input="Hi", text_format=Answer) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_parsed == Answer(answer="fake")

    json_object = client.responses.create(
        model="gpt-fake", input="Answer in JSON.", text={"format": {"type": "json_object"}}
    )
    assert json.loads(json_object.output_text) == json.loads(JSON_REPLY)


# ---------------------------------------------------------------------------------- state


def test_previous_response_id_and_retrieve(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    first = client.responses.create(model="gpt-fake", input="Hi")
    second = client.responses.create(model="gpt-fake", input="More", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(first.id).output_text == REPLY_TEXT

    unstored = client.responses.create(model="gpt-fake", input="Hi", store=False)
    assert unstored.store is False
    with pytest.raises(openai.BadRequestError) as not_found:
        client.responses.create(model="gpt-fake", input="More", previous_response_id=unstored.id)
    assert not_found.value.code == "previous_response_not_found"
    assert not_found.value.param == "previous_response_id"
    assert _message(not_found) == f"Previous response with id '{unstored.id}' not found."
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)

    fake.reset()
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-fake", input="More", previous_response_id=first.id)


def test_open_tool_calls_need_their_outputs(client: OpenAI) -> None:
    first = client.responses.create(model="gpt-fake", input="Weather?", tools=[WEATHER])
    call_id = first.output[0].call_id  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as unanswered:
        client.responses.create(
            model="gpt-fake", input="Never mind", previous_response_id=first.id, tools=[WEATHER]
        )
    assert _message(unanswered) == f"No tool output found for function call {call_id}."
    assert unanswered.value.param == "input"


# ---------------------------------------------------------------------------------- validation


def _tool(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-fake", "input": "Hi", **fields}


def _call(call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


INVALID = [
    pytest.param({"input": "Hi"}, "Missing required parameter: 'model'.", "model", id="no-model"),
    pytest.param(
        {"model": "gpt-fake"}, "Missing required parameter: 'input'.", "input", id="no-input"
    ),
    pytest.param(
        _tool(messages=[{"role": "user", "content": "Hi"}]),
        "Unknown parameter: 'messages'.",
        "messages",
        id="chat-messages",
    ),
    pytest.param(
        _tool(response_format={"type": "json_object"}),
        "Unknown parameter: 'response_format'.",
        "response_format",
        id="chat-response-format",
    ),
    pytest.param(
        _tool(max_tokens=100), "Unknown parameter: 'max_tokens'.", "max_tokens", id="max-tokens"
    ),
    pytest.param(
        _tool(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        "Missing required parameter: 'tools[0].name'.",
        "tools[0].name",
        id="chat-shaped-tool",
    ),
    pytest.param(
        _tool(tools=[{"type": "function", "name": "f", "function": {}}]),
        "Unknown parameter: 'tools[0].function'.",
        "tools[0].function",
        id="tool-extra-key",
    ),
    pytest.param(
        _tool(tools=[WEATHER, {"type": "retrieval"}]),
        "Invalid value: 'retrieval'. Supported values are: "
        + ", ".join(f"'{t}'" for t in TOOL_TYPES[:-1])
        + f", and '{TOOL_TYPES[-1]}'.",
        "tools[1].type",
        id="unknown-tool-type",
    ),
    pytest.param(
        _tool(tools=[{"type": "function", "name": "get weather"}]),
        "Invalid 'tools[0].name': string does not match pattern. Expected a string that matches"
        " the pattern '^[a-zA-Z0-9_-]+$'.",
        "tools[0].name",
        id="tool-name-pattern",
    ),
    pytest.param(
        _tool(tools=[{"type": "namespace", "name": "mcp__x__", "tools": [WEATHER]}]),
        "Missing required parameter: 'tools[0].description'.",
        "tools[0].description",
        id="namespace-no-description",
    ),
    pytest.param(
        _tool(
            tools=[
                {
                    "type": "namespace",
                    "name": "n",
                    "description": "d",
                    "tools": [{"type": "web_search"}],
                }
            ]
        ),
        "Invalid value: 'web_search'. Supported values are: 'function' and 'custom'.",
        "tools[0].tools[0].type",
        id="namespace-member-type",
    ),
    pytest.param(
        _tool(tools=[{"type": "file_search"}]),
        "Missing required parameter: 'tools[0].vector_store_ids'.",
        "tools[0].vector_store_ids",
        id="file-search-no-stores",
    ),
    pytest.param(
        _tool(tools=[{"type": "mcp", "server_url": "https://mcp.example"}]),
        "Missing required parameter: 'tools[0].server_label'.",
        "tools[0].server_label",
        id="mcp-no-label",
    ),
    pytest.param(
        _tool(tools=[{"type": "custom", "name": "c", "format": {"type": "grammar"}}]),
        "Missing required parameter: 'tools[0].format.syntax'.",
        "tools[0].format.syntax",
        id="custom-grammar",
    ),
    pytest.param(
        _tool(tool_choice="sometimes"),
        "Invalid value: 'sometimes'. Supported values are: 'none', 'auto', and 'required'.",
        "tool_choice",
        id="tool-choice-mode",
    ),
    pytest.param(
        _tool(tools=[WEATHER], tool_choice={"type": "function", "name": "get_time"}),
        "Tool choice 'function' with name 'get_time' not found in 'tools' parameter.",
        "tool_choice",
        id="tool-choice-unknown-function",
    ),
    pytest.param(
        _tool(max_output_tokens=10),
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but"
        " got 10 instead.",
        "max_output_tokens",
        id="max-output-tokens",
    ),
    pytest.param(
        _tool(temperature=3),
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3"
        " instead.",
        "temperature",
        id="temperature-high",
    ),
    pytest.param(
        _tool(temperature=-0.5),
        "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got"
        " -0.5 instead.",
        "temperature",
        id="temperature-low",
    ),
    pytest.param(
        _tool(temperature="hot"),
        "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        "temperature",
        id="temperature-type",
    ),
    pytest.param(
        _tool(top_p=1.5),
        "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.5 instead.",
        "top_p",
        id="top-p",
    ),
    pytest.param(
        _tool(stream="yes"),
        "Invalid type for 'stream': expected a boolean, but got a string instead.",
        "stream",
        id="stream-type",
    ),
    pytest.param(
        _tool(include=["reasoning.encrypted_content", "usage"]),
        "Invalid value: 'usage'. Supported values are: "
        + ", ".join(f"'{v}'" for v in INCLUDABLE[:-1])
        + f", and '{INCLUDABLE[-1]}'.",
        "include[1]",
        id="include",
    ),
    pytest.param(
        _tool(text={"format": {"type": "json_schema", "schema": {"type": "object"}}}),
        "Missing required parameter: 'text.format.name'.",
        "text.format.name",
        id="json-schema-no-name",
    ),
    pytest.param(
        _tool(text={"format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}}),
        "Missing required parameter: 'text.format.name'.",
        "text.format.name",
        id="json-schema-chat-shaped",
    ),
    pytest.param(
        _tool(text={"format": {"type": "xml"}}),
        "Invalid value: 'xml'. Supported values are: 'text', 'json_schema', and 'json_object'.",
        "text.format.type",
        id="text-format-type",
    ),
    pytest.param(
        _tool(text={"format": {"type": "json_object"}}),
        "Response input messages must contain the word 'json' in some form to use"
        " 'text.format' of type 'json_object'.",
        "input",
        id="json-object-without-json",
    ),
    pytest.param(
        _tool(reasoning={"effort": "extreme"}),
        "Invalid value: 'extreme'. Supported values are: 'none', 'minimal', 'low', 'medium',"
        " 'high', 'xhigh', and 'max'.",
        "reasoning.effort",
        id="reasoning-effort",
    ),
    pytest.param(
        _tool(reasoning={"effort": "low", "budget_tokens": 100}),
        "Unknown parameter: 'reasoning.budget_tokens'.",
        "reasoning.budget_tokens",
        id="reasoning-extra-key",
    ),
    pytest.param(
        _tool(metadata={f"k{i}": "v" for i in range(17)}),
        "Invalid 'metadata': too many properties. Expected an object with at most 16"
        " properties, but got an object with 17 properties instead.",
        "metadata",
        id="metadata-size",
    ),
    pytest.param(
        _tool(metadata={"n": 1}),
        "Invalid type for 'metadata.n': expected a string, but got an integer instead.",
        "metadata.n",
        id="metadata-value",
    ),
    pytest.param(
        _tool(input=[{"role": "tool", "content": "x"}]),
        "Invalid value: 'tool'. Supported values are: 'assistant', 'system', 'developer', and"
        " 'user'.",
        "input[0].role",
        id="role",
    ),
    pytest.param(
        _tool(input=[{"role": "user", "content": "Hi", "name": "bob"}]),
        "Unknown parameter: 'input[0].name'.",
        "input[0].name",
        id="message-extra-key",
    ),
    pytest.param(
        _tool(
            input=[
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [{"type": "input_text", "text": "Hello"}]},
            ]
        ),
        "Invalid value: 'input_text'. Supported values are: 'output_text' and 'refusal'.",
        "input[1].content[0]",
        id="assistant-input-text",
    ),
    pytest.param(
        _tool(input=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]),
        "Invalid value: 'text'. Supported values are: 'input_text', 'input_image',"
        " 'input_file', and 'input_audio'.",
        "input[0].content[0]",
        id="chat-content-part",
    ),
    pytest.param(
        _tool(input=[{"role": "user", "content": [{"type": "input_image", "detail": "auto"}]}]),
        "Missing required parameter: 'input[0].content[0].image_url'.",
        "input[0].content[0].image_url",
        id="image-without-source",
    ),
    pytest.param(
        _tool(input=[{"type": "function_call_output", "call_id": "call_9", "output": "x"}]),
        "No tool call found for function call output with call_id call_9.",
        "input",
        id="orphan-output",
    ),
    pytest.param(
        _tool(input=[{"role": "user", "content": "Hi"}, _call()]),
        "No tool output found for function call call_1.",
        "input",
        id="call-without-output",
    ),
    pytest.param(
        _tool(input=[{"type": "function_call", "call_id": "c", "name": "f"}]),
        "Missing required parameter: 'input[0].arguments'.",
        "input[0].arguments",
        id="call-without-arguments",
    ),
    pytest.param(
        _tool(
            input=[{"type": "web_search_call", "status": "completed", "action": {"type": "other"}}]
        ),
        "Invalid value: 'other'. Supported values are: 'search', 'open_page', and 'find_in_page'.",
        "input[0].action.type",
        id="web-search-action",
    ),
    pytest.param(
        _tool(input=[{"type": "tool_result", "content": "x"}]),
        None,
        "input[0].type",
        id="unknown-item-type",
    ),
    pytest.param(
        _tool(previous_response_id="resp_nope"),
        "Previous response with id 'resp_nope' not found.",
        "previous_response_id",
        id="unknown-previous-response",
    ),
    pytest.param(
        _tool(previous_response_id="resp 1"),
        "Invalid 'previous_response_id': 'resp 1'. Expected an ID that contains letters,"
        " numbers, underscores, or dashes, but this value contained additional characters.",
        "previous_response_id",
        id="previous-response-id-characters",
    ),
]


@pytest.mark.parametrize(("body", "message", "param"), INVALID)
def test_invalid_requests_get_the_apis_400(
    fake: FakeOpenAIUpstream, body: dict[str, Any], message: str | None, param: str
) -> None:
    fake.reset()
    response = _post(fake, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if message is not None:
        assert error["message"] == message
    assert fake.rejections == [error["message"]]
    assert ("invalid_request", body.get("model", "")) in fake.events
    assert not any(name.startswith("stream_") for name, _ in fake.events)


def test_error_codes_and_the_sdk(client: OpenAI) -> None:
    codes = {
        "max_output_tokens": "integer_below_min_value",
        "messages": "unknown_parameter",
        "tools[0].name": "missing_required_parameter",
        "tool_choice": "invalid_value",
    }
    bodies = {
        "max_output_tokens": {"max_output_tokens": 1},
        "messages": {"messages": []},
        "tools[0].name": {"tools": [{"type": "function", "function": {"name": "f"}}]},
        "tool_choice": {"tool_choice": "maybe"},
    }
    for param, extra in bodies.items():
        with pytest.raises(openai.BadRequestError) as bad:
            client.responses.create(model="gpt-fake", input="Hi", extra_body=extra)
        assert (bad.value.param, bad.value.code) == (param, codes[param])

    headers = {"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"}
    not_json = httpx.post(f"{client.base_url}responses", content=b"{nope", headers=headers)
    assert not_json.status_code == 400
    assert (
        not_json.json()["error"]["message"] == "We could not parse the JSON body of your request."
    )


def test_unknown_conversation_and_prompt_are_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as conversation:
        client.responses.create(model="gpt-fake", input="Hi", conversation="conv_1")
    assert _message(conversation) == "Conversation with id 'conv_1' not found."
    with pytest.raises(openai.NotFoundError) as reference:
        client.responses.create(
            model="gpt-fake", input=[{"type": "item_reference", "id": "msg_gone"}]
        )
    assert _message(reference) == "Item with id 'msg_gone' not found."


def test_authentication(fake: FakeOpenAIUpstream) -> None:
    wrong = OpenAI(base_url=fake.base_url, api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.responses.create(model="gpt-fake", input="Hi")
    assert refused.value.code == "invalid_api_key"
    assert fake.requests[-1].headers["authorization"] == "Bearer nope"  # still recorded


# ---------------------------------------------------------------------------------- failures


def test_error_models(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        client.responses.create(model="fake-error-429", input="Hi")
    assert limited.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="fake-error-500", input="Hi", stream=True)
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="fake-error-400", input="Hi")
    assert bad.value.param == "temperature"
    with pytest.raises(openai.AuthenticationError) as leaky:
        client.responses.create(model="fake-leaky-error", input="Hi")
    assert fake.api_key in leaky.value.message
    malformed = _post(fake, {"model": "fake-malformed", "input": "Hi"})
    assert (malformed.status_code, malformed.text) == (200, "{not json")
    # Validation comes first: an invalid request to an error model is still a 400.
    assert _post(fake, {"model": "fake-error-500", "input": "Hi", "n": 2}).status_code == 400


def test_midstream_error_event(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    events = list(client.responses.create(model="fake-midstream-error", input="Hi", stream=True))
    assert [e.type for e in events] == [*TEXT_EVENTS[:5], "error"]
    error = events[-1]
    assert error.type == "error" and error.code == "server_error"
    assert error.sequence_number == 5
    assert fake.wait_for_event("stream_errored", model="fake-midstream-error")
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="fake-midstream-error", input="Hi")


def test_midstream_response_failed(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    events = list(client.responses.create(model="fake-midstream-failed", input="Hi", stream=True))
    assert [e.type for e in events] == [*TEXT_EVENTS[:5], "response.failed"]
    failed = events[-1]
    assert failed.type == "response.failed"
    assert failed.response.status == "failed" and failed.response.id == events[0].response.id
    assert failed.response.error is not None and failed.response.error.code == "server_error"
    assert fake.wait_for_event("stream_errored", model="fake-midstream-failed")


def test_drop_and_stall_midstream(fake: FakeOpenAIUpstream) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    for stream in (True, False):
        fake.reset()
        body = {"model": "fake-drop-midstream", "input": "Hi", "stream": stream}
        with (
            pytest.raises(httpx.TransportError),
            httpx.stream("POST", f"{fake.base_url}/responses", json=body, headers=headers) as r,
        ):
            assert r.status_code == 200
            for _ in r.iter_bytes():
                pass
        assert fake.wait_for_event("stream_dropped")

    fake.reset()
    body = {"model": "fake-stall-midstream", "input": "Hi", "stream": True}
    with httpx.stream(
        "POST", f"{fake.base_url}/responses", json=body, headers=headers, timeout=10
    ) as r:
        lines = r.iter_lines()
        seen = [line for _, line in zip(range(14), lines, strict=False)]
    assert any("response.output_text.delta" in line for line in seen)
    assert fake.wait_for_event("stream_aborted", model="fake-stall-midstream")


def test_slow_stream_records_client_disconnect(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    stream = client.responses.create(model="fake-slow-stream", input="Hi", stream=True)
    for _, _event in zip(range(6), stream, strict=False):
        pass
    stream.close()
    assert fake.wait_for_event("stream_aborted", model="fake-slow-stream")
    assert ("stream_completed", "fake-slow-stream") not in fake.events


# ---------------------------------------------------------------------------------- faults


def _fault(fake: FakeOpenAIUpstream, name: str, stream: bool) -> httpx.Response:
    return _post(fake, {"model": "gpt-fake", "input": f"orca-fault:{name} hi", "stream": stream})


def test_faults_speak_the_responses_dialect(fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    failed = _fault(fake, "500", stream=False)
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "server_error"
    limited = _fault(fake, "429", stream=True)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert limited.json()["error"]["type"] == "rate_limit_error"

    # A valid fault answer parses with the SDK, stream or not.
    echoed = client.responses.create(model="gpt-fake", input="orca-fault:echo_header hi")
    assert echoed.output_text == faults.FAULT_TEXT
    with client.responses.stream(model="gpt-fake", input="orca-fault:slow_drip hi") as stream:
        for _ in stream:
            pass
        assert stream.get_final_response().output_text == faults.FAULT_TEXT

    # The in-stream error is an ``error`` event right after the first delta.
    events = _events(_fault(fake, "echo_key", stream=True).text)
    assert _types(events) == [*TEXT_EVENTS[:5], "error"]
    assert [e["sequence_number"] for e in events] == list(range(6))
    assert fake.api_key in events[-1]["message"]


def test_malformed_event_fault(fake: FakeOpenAIUpstream) -> None:
    raw = _fault(fake, "malformed_event", stream=True).text
    blocks = raw.strip("\n").split("\n\n")
    broken = [b for b in blocks if not b.rstrip().endswith("}")]
    assert len(broken) == 1 and broken[0].startswith("event: response.output_text.delta\n")
    whole = [json.loads(b.split("data: ", 1)[1]) for b in blocks if b not in broken]
    assert whole[0]["type"] == "response.created" and whole[-1]["type"] == "response.completed"
    assert fake.wait_for_event("fault:malformed_event")


def test_reset_fault_drops_the_stream(fake: FakeOpenAIUpstream) -> None:
    with pytest.raises(httpx.TransportError):
        _fault(fake, "reset", stream=True)
    assert fake.wait_for_event("stream_dropped")
