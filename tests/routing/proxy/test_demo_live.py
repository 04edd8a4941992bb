"""The demo model `orca/demo` through a live server, with the official SDKs, on every client
surface (OpenAI chat, Responses, Anthropic messages, Gemini generateContent), streamed and
not: the agent loop a coding agent runs must finish with no provider account. A fresh request
calls a tool (arguments valid against its schema), the tool result gets a text answer, the
next user message calls again with a new call id, and structured output is valid JSON."""

import json
from decimal import Decimal

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.routing.providers.test_demo import errors

MODEL = "orca/demo"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit", "days"],
}
SHAPE = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature": {"type": "number", "minimum": -90, "maximum": 60},
        "conditions": {"type": "array", "items": {"enum": ["sun", "rain"]}, "minItems": 2},
        "alert": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["city", "temperature", "conditions", "alert"],
    "additionalProperties": False,
}
RESULT = "Sunny, 21C in Paris"
SUMMARY = f"The tool returned: {RESULT}"
STREAM = [pytest.param(False, id="create"), pytest.param(True, id="stream")]


def valid_arguments(arguments) -> dict:
    value = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
    assert errors(value, WEATHER_SCHEMA) == [], value
    return value


# --- OpenAI chat completions -----------------------------------------------------------------


CHAT_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
    }
]


def chat(sdk, stream: bool, **options):
    """(message, finish_reason, text deltas) of one chat completion."""
    if not stream:
        choice = sdk.chat.completions.create(model=MODEL, **options).choices[0]
        return choice.message, choice.finish_reason, []
    with sdk.chat.completions.stream(model=MODEL, **options) as s:
        deltas = [e.delta for e in s if e.type == "content.delta"]
        choice = s.get_final_completion().choices[0]
    return choice.message, choice.finish_reason, deltas


@pytest.mark.parametrize("stream", STREAM)
def test_chat_agent_loop(sdk, stream):
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    first, finish, _ = chat(sdk, stream, messages=messages, tools=CHAT_TOOLS)
    assert finish == "tool_calls" and first.content in (None, "")
    (call,) = first.tool_calls
    assert call.function.name == "get_weather" and call.id.startswith("call_demo_")
    valid_arguments(call.function.arguments)

    messages += [
        first.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": RESULT},
    ]
    second, finish, deltas = chat(sdk, stream, messages=messages, tools=CHAT_TOOLS)
    assert (second.content, finish, second.tool_calls or None) == (SUMMARY, "stop", None)
    if stream:
        assert len(deltas) > 1 and "".join(deltas) == SUMMARY

    messages += [second.model_dump(exclude_none=True), {"role": "user", "content": "And Rome?"}]
    third, finish, _ = chat(sdk, stream, messages=messages, tools=CHAT_TOOLS)
    assert finish == "tool_calls"
    assert third.tool_calls[0].id not in (call.id, "call_demo_0")


@pytest.mark.parametrize("stream", STREAM)
def test_chat_tool_choice(sdk, stream):
    user = [{"role": "user", "content": "Weather?"}]
    message, finish, _ = chat(sdk, stream, messages=user, tools=CHAT_TOOLS, tool_choice="none")
    assert finish == "stop" and message.content.startswith("Hello from Orca's demo model.")
    named = {"type": "function", "function": {"name": "get_weather"}}
    message, finish, _ = chat(sdk, stream, messages=user, tools=CHAT_TOOLS, tool_choice=named)
    assert finish == "tool_calls" and message.tool_calls[0].function.name == "get_weather"


@pytest.mark.parametrize("stream", STREAM)
def test_chat_structured_output(sdk, stream):
    user = [{"role": "user", "content": "Weather as JSON"}]
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": SHAPE, "strict": True}}
    message, finish, _ = chat(sdk, stream, messages=user, response_format=fmt)
    assert finish == "stop" and errors(json.loads(message.content), SHAPE) == []
    message, _, _ = chat(sdk, stream, messages=user, response_format={"type": "json_object"})
    assert isinstance(json.loads(message.content), dict)


# --- OpenAI Responses ------------------------------------------------------------------------


RESPONSES_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather",
        "parameters": WEATHER_SCHEMA,
    }
]


def respond(client, stream: bool, **options):
    """(response, text deltas) of one Responses call."""
    if not stream:
        return client.responses.create(model=MODEL, **options), []
    with client.responses.stream(model=MODEL, **options) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        return s.get_final_response(), deltas


def function_calls(response) -> list:
    return [item for item in response.output if item.type == "function_call"]


def items(response) -> list[dict]:
    return [item.model_dump(exclude_none=True) for item in response.output]


@pytest.mark.parametrize("stream", STREAM)
def test_responses_stateless_agent_loop(sdk, stream):
    """As Codex CLI runs it: every turn sends all the items so far back."""
    conversation: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    call_ids = []
    for turn in range(3):
        first, _ = respond(sdk, stream, input=conversation, tools=RESPONSES_TOOLS)
        assert first.status == "completed"
        (call,) = function_calls(first)
        assert call.name == "get_weather"
        valid_arguments(call.arguments)
        call_ids.append(call.call_id)
        conversation += [
            *items(first),
            {"type": "function_call_output", "call_id": call.call_id, "output": RESULT},
        ]

        second, deltas = respond(sdk, stream, input=conversation, tools=RESPONSES_TOOLS)
        assert function_calls(second) == []
        assert second.output_text == SUMMARY
        if stream:
            assert len(deltas) > 1 and "".join(deltas) == SUMMARY
        conversation += [*items(second), {"role": "user", "content": f"And turn {turn + 2}?"}]
    assert len(set(call_ids)) == 3


@pytest.mark.parametrize("stream", STREAM)
def test_responses_agent_loop_with_previous_response_id(live, db_access, stream):
    from billing.services import grant_credits
    from workspaces import services
    from workspaces.models import Workspace

    slug = f"demo-history-{'stream' if stream else 'create'}"
    keeper = Workspace.objects.create(slug=slug, name=slug, keep_response_history=True)
    grant_credits(keeper.id, Decimal(10))
    _, raw = services.create_api_key(keeper)
    client = openai.OpenAI(base_url=live.base_url, api_key=raw, max_retries=0, timeout=20)

    first, _ = respond(client, stream, input="Weather in Paris?", tools=RESPONSES_TOOLS)
    (call,) = function_calls(first)
    output = [{"type": "function_call_output", "call_id": call.call_id, "output": RESULT}]
    second, _ = respond(
        client, stream, input=output, previous_response_id=first.id, tools=RESPONSES_TOOLS
    )
    assert second.output_text == SUMMARY and function_calls(second) == []
    third, _ = respond(
        client, stream, input="And Rome?", previous_response_id=second.id, tools=RESPONSES_TOOLS
    )
    (again,) = function_calls(third)
    assert again.call_id != call.call_id
    output = [{"type": "function_call_output", "call_id": again.call_id, "output": "Rain"}]
    fourth, _ = respond(
        client, stream, input=output, previous_response_id=third.id, tools=RESPONSES_TOOLS
    )
    assert fourth.output_text == "The tool returned: Rain"


@pytest.mark.parametrize("stream", STREAM)
def test_responses_structured_output(sdk, stream):
    text = {"format": {"type": "json_schema", "name": "w", "schema": SHAPE, "strict": True}}
    response, _ = respond(sdk, stream, input="Weather as JSON", text=text)
    assert errors(json.loads(response.output_text), SHAPE) == []


# --- Anthropic messages ----------------------------------------------------------------------


@pytest.fixture
def claude(live):
    return anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)


ANTHROPIC_TOOLS = [
    {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}
]


def message(claude, stream: bool, **options):
    """(message, text deltas) of one Messages call."""
    if not stream:
        return claude.messages.create(model=MODEL, max_tokens=1024, **options), []
    with claude.messages.stream(model=MODEL, max_tokens=1024, **options) as s:
        deltas = list(s.text_stream)
        return s.get_final_message(), deltas


@pytest.mark.parametrize("stream", STREAM)
def test_anthropic_agent_loop(claude, stream):
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    first, _ = message(claude, stream, messages=messages, tools=ANTHROPIC_TOOLS)
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather"
    valid_arguments(use.input)

    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": RESULT},
                # Claude Code sends reminders next to tool results: still a follow-up
                {"type": "text", "text": "<system-reminder>Be brief.</system-reminder>"},
            ],
        },
    ]
    second, deltas = message(claude, stream, messages=messages, tools=ANTHROPIC_TOOLS)
    assert second.stop_reason == "end_turn"
    assert [(b.type, b.text) for b in second.content] == [("text", SUMMARY)]
    if stream:
        assert len(deltas) > 1 and "".join(deltas) == SUMMARY

    messages += [
        {"role": "assistant", "content": SUMMARY},
        {"role": "user", "content": "And Rome?"},
    ]
    third, _ = message(claude, stream, messages=messages, tools=ANTHROPIC_TOOLS)
    assert third.stop_reason == "tool_use"
    assert [b.id for b in third.content if b.type == "tool_use"] != [use.id]


@pytest.mark.parametrize("stream", STREAM)
def test_anthropic_tool_choice_and_structured_output(claude, stream):
    user = [{"role": "user", "content": "Weather?"}]
    none, _ = message(
        claude, stream, messages=user, tools=ANTHROPIC_TOOLS, tool_choice={"type": "none"}
    )
    assert none.stop_reason == "end_turn"
    forced, _ = message(
        claude, stream, messages=user, tools=ANTHROPIC_TOOLS, tool_choice={"type": "any"}
    )
    assert forced.stop_reason == "tool_use"
    shaped, _ = message(
        claude,
        stream,
        messages=user,
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": SHAPE}}},
    )
    assert errors(json.loads(shaped.content[0].text), SHAPE) == []


# --- Gemini generateContent / streamGenerateContent ------------------------------------------


@pytest.fixture
def gemini_client(live):
    return genai.Client(
        api_key=live.key,
        http_options=types.HttpOptions(base_url=live.server.base_url, timeout=20_000),
    )


GEMINI_CONFIG = types.GenerateContentConfig(
    tools=[
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(
                    name="get_weather",
                    description="Weather",
                    parameters_json_schema=WEATHER_SCHEMA,
                )
            ]
        )
    ],
    automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
)


def generate(client, stream: bool, contents, config):
    """(function calls, model parts, text, chunk count) of one generateContent call."""
    if not stream:
        response = client.models.generate_content(model=MODEL, contents=contents, config=config)
        parts = response.candidates[0].content.parts or []
        return response.function_calls or [], parts, response.text or "", 1
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents=contents, config=config)
    )
    calls = [c for chunk in chunks for c in chunk.function_calls or []]
    parts = [p for chunk in chunks for p in chunk.candidates[0].content.parts or []]
    return calls, parts, "".join(c.text or "" for c in chunks), len(chunks)


@pytest.mark.parametrize("stream", STREAM)
def test_gemini_agent_loop(gemini_client, stream):
    contents = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])]
    calls, parts, _, _ = generate(gemini_client, stream, contents, GEMINI_CONFIG)
    (call,) = calls
    assert call.name == "get_weather"
    valid_arguments(call.args)

    contents += [
        types.Content(role="model", parts=[p for p in parts if p.function_call]),
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"forecast": RESULT})
            ],
        ),
    ]
    calls, parts, text, chunks = generate(gemini_client, stream, contents, GEMINI_CONFIG)
    assert calls == []
    assert text.startswith("The tool returned: ") and RESULT in text
    if stream:
        assert chunks > 1

    contents += [
        types.Content(role="model", parts=[types.Part(text=text)]),
        types.Content(role="user", parts=[types.Part(text="And Rome?")]),
    ]
    calls, _, _, _ = generate(gemini_client, stream, contents, GEMINI_CONFIG)
    assert [c.name for c in calls] == ["get_weather"]


@pytest.mark.parametrize("stream", STREAM)
def test_gemini_function_calling_modes_and_structured_output(gemini_client, stream):
    contents = "Weather?"
    none = GEMINI_CONFIG.model_copy(
        update={
            "tool_config": types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode="NONE")
            )
        }
    )
    calls, _, text, _ = generate(gemini_client, stream, contents, none)
    assert calls == [] and text.startswith("Hello from Orca's demo model.")
    shaped = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=SHAPE
    )
    _, _, text, _ = generate(gemini_client, stream, contents, shaped)
    assert errors(json.loads(text), SHAPE) == []
