"""routing/wire/tools.py: tools that are not plain functions through the canonical form.

Chat's custom tools become functions only on the way to another kind (function_tools, called
by the Anthropic and Gemini translators); left-out hosted tools are read by dropped_tools()."""

import json

import pytest

from routing.wire import anthropic, gemini, openai_chat
from routing.wire.canonical import strip_extensions
from routing.wire.openai_chat import InvalidRequest
from routing.wire.tools import (
    CUSTOM_PARAMETERS,
    DROPPED,
    FORCED,
    InputDecoder,
    custom_arguments,
    custom_calls_for_chat,
    custom_function,
    custom_input,
    dropped_tools,
    function_tools,
    tool_label,
)

# A Chat Completions custom tool (openai-openapi.yaml CustomToolChatCompletions)
PATCH_TOOL = {
    "type": "custom",
    "custom": {
        "name": "apply_patch",
        "description": "Edit files",
        "format": {
            "type": "grammar",
            "grammar": {"syntax": "lark", "definition": 'start: "*** Begin Patch"'},
        },
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# ChatCompletionMessageCustomToolCall
CUSTOM_CALL = {"id": "call_p", "type": "custom", "custom": {"name": "apply_patch", "input": "x"}}


def chat_with_custom(**extra):
    return {
        "model": "m",
        "messages": [
            {"role": "user", "content": "patch it"},
            {"role": "assistant", "content": None, "tool_calls": [CUSTOM_CALL]},
            {"role": "tool", "tool_call_id": "call_p", "content": "Done!"},
        ],
        "tools": [WEATHER, PATCH_TOOL],
        **extra,
    }


# --- dropped / forced ------------------------------------------------------------------------


def test_dropped_tools_reads_what_a_surface_recorded():
    assert dropped_tools({"model": "m", "messages": []}) == ([], None)
    canonical = {DROPPED: ["web_search", "mcp:deepwiki"], FORCED: "web_search", "tools": [WEATHER]}
    assert dropped_tools(canonical) == (["web_search", "mcp:deepwiki"], "web_search")


def test_dropped_tools_counts_canonical_tools_no_translation_handles():
    """A Chat client's body is its canonical request: its tools of other types are left out
    on the way to another kind, and a tool_choice naming one forces a left-out tool."""
    canonical = {
        "tools": [
            WEATHER,
            PATCH_TOOL,
            {"type": "web_search"},
            {"type": "mcp", "server_label": "x"},
        ],
        "tool_choice": {"type": "web_search"},
    }
    assert dropped_tools(canonical) == (["web_search", "mcp:x"], "web_search")
    for choice in (
        "required",
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "custom", "custom": {"name": "apply_patch"}},
        {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
    ):
        assert dropped_tools({"tools": [WEATHER], "tool_choice": choice}) == ([], None)


def test_tool_labels():
    assert tool_label({"type": "web_search_preview"}) == "web_search_preview"
    assert tool_label({"type": "mcp", "server_label": "deepwiki"}) == "mcp:deepwiki"
    assert tool_label({"type": "mcp"}) == "mcp"
    assert tool_label({}) == tool_label("x") == "unknown"


def test_the_extension_never_reaches_an_openai_kind_upstream():
    assert DROPPED not in strip_extensions({"model": "m", "messages": [], DROPPED: ["x"]})


# --- custom tools as functions ---------------------------------------------------------------


def test_custom_function_has_one_string_argument_and_carries_the_grammar():
    plain = custom_function("note", None, {"type": "text"})
    assert plain == {
        "type": "function",
        "function": {
            "name": "note",
            "parameters": {
                **CUSTOM_PARAMETERS,
                "properties": {"input": {"type": "string", "description": "The raw text input."}},
            },
        },
    }
    assert plain["function"]["parameters"]["required"] == ["input"]
    # the grammar, in the Responses shape and the Chat one
    for fmt in (
        {"type": "grammar", "syntax": "regex", "definition": "^[a-z]+$"},
        {"type": "grammar", "grammar": {"syntax": "regex", "definition": "^[a-z]+$"}},
    ):
        described = custom_function("word", "One word", fmt)["function"]
        assert described["description"] == "One word"
        argument = described["parameters"]["properties"]["input"]["description"]
        assert "regex grammar" in argument and "^[a-z]+$" in argument


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        ('{"input":"a\\nb"}', "a\nb"),
        ('{"text":"other key"}', "other key"),  # a model that named the argument itself
        ('"just a string"', "just a string"),
        ("not json at all", "not json at all"),
        ('{"a":1,"b":2}', '{"a":1,"b":2}'),
        ("", ""),
        (None, ""),
    ],
)
def test_custom_input_is_lenient(arguments, text):
    assert custom_input(arguments) == text


def test_custom_arguments_round_trip():
    for text in ("", "plain", 'quotes " and \\ and\nnewlines', "é ✓ 😀"):
        assert custom_input(custom_arguments(text)) == text
        assert json.loads(custom_arguments(text)) == {"input": text}


HARD_TEXT = 'line 1\n\t"quoted" \\ back\u00e9 \U0001f600 </end>'


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_input_decoder_streams_the_text_whatever_the_fragment_boundaries(ensure_ascii):
    arguments = json.dumps({"input": HARD_TEXT}, ensure_ascii=ensure_ascii)
    for size in (1, 2, 3, 5, 7, len(arguments)):
        decoder = InputDecoder()
        streamed = "".join(
            decoder.feed(arguments[i : i + size]) for i in range(0, len(arguments), size)
        )
        rest, whole = decoder.finish(arguments)
        assert whole == HARD_TEXT
        assert streamed + rest == HARD_TEXT
        if size < len(arguments):
            assert streamed == HARD_TEXT  # nothing waited for the end


def test_input_decoder_tolerates_spaces_and_other_shapes():
    decoder = InputDecoder()
    assert decoder.feed(' { "input" ') == ""
    assert decoder.feed(': "ab') == "ab"
    assert decoder.feed('c" }') == "c"
    assert decoder.finish(' { "input" : "abc" }') == ("", "abc")
    other = InputDecoder()
    assert other.feed('{"text": "abc"}') == ""
    assert other.finish('{"text": "abc"}') == ("abc", "abc")


# --- function_tools: a Chat body's tools for the native translators --------------------------


def test_function_tools_converts_custom_tools_calls_and_choices():
    chat = chat_with_custom(
        tool_choice={"type": "custom", "custom": {"name": "apply_patch"}},
    )
    out = function_tools(chat)
    weather, patch = out["tools"]
    assert weather is WEATHER
    assert patch["type"] == "function" and patch["function"]["name"] == "apply_patch"
    assert patch["function"]["parameters"]["required"] == ["input"]
    argument = patch["function"]["parameters"]["properties"]["input"]
    assert argument["description"].endswith('lark grammar:\nstart: "*** Begin Patch"')
    assert out["tool_choice"] == {"type": "function", "function": {"name": "apply_patch"}}
    history_call = out["messages"][1]["tool_calls"][0]
    assert history_call == {
        "id": "call_p",
        "type": "function",
        "function": {"name": "apply_patch", "arguments": '{"input":"x"}'},
    }
    assert chat["tools"][1] is PATCH_TOOL and chat["messages"][1]["tool_calls"] == [CUSTOM_CALL]


def test_function_tools_leaves_other_types_out_and_keeps_a_plain_request_as_is():
    plain = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [WEATHER]}
    assert function_tools(plain) is plain
    mixed = {
        **plain,
        "tools": [WEATHER, {"type": "web_search"}],
        "tool_choice": {"type": "web_search"},
    }
    out = function_tools(mixed)
    assert out["tools"] == [WEATHER] and "tool_choice" not in out
    allowed = {
        **plain,
        "tools": [WEATHER, PATCH_TOOL],
        "tool_choice": {
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "required",
                "tools": [{"type": "custom", "custom": {"name": "apply_patch"}}],
            },
        },
    }
    entries = function_tools(allowed)["tool_choice"]["allowed_tools"]["tools"]
    assert entries == [{"type": "function", "function": {"name": "apply_patch"}}]


def test_anthropic_gets_custom_tools_as_tools_with_one_string_input():
    body = anthropic.chat_to_anthropic_request(
        chat_with_custom(tool_choice={"type": "custom", "custom": {"name": "apply_patch"}}),
        upstream_model="claude-up",
        default_max_tokens=64,
    )
    patch = body["tools"][1]
    assert patch["name"] == "apply_patch" and patch["description"] == "Edit files"
    assert patch["input_schema"]["properties"]["input"]["type"] == "string"
    assert body["tool_choice"] == {"type": "tool", "name": "apply_patch"}
    tool_use = body["messages"][1]["content"][0]
    assert (tool_use["type"], tool_use["name"], tool_use["input"]) == (
        "tool_use",
        "apply_patch",
        {"input": "x"},
    )
    # a tool type nothing translates is left out rather than refused
    body = anthropic.chat_to_anthropic_request(
        {**chat_with_custom(), "tools": [WEATHER, PATCH_TOOL, {"type": "web_search"}]},
        upstream_model="claude-up",
        default_max_tokens=64,
    )
    assert [t["name"] for t in body["tools"]] == ["get_weather", "apply_patch"]


def test_gemini_gets_custom_tools_as_function_declarations():
    body = gemini.chat_to_gemini_request(chat_with_custom(tool_choice="required"))
    (declarations,) = body["tools"]
    names = [d["name"] for d in declarations["functionDeclarations"]]
    assert names == ["get_weather", "apply_patch"]
    assert declarations["functionDeclarations"][1]["parametersJsonSchema"]["required"] == ["input"]
    call = body["contents"][1]["parts"][0]["functionCall"]
    assert call == {"name": "apply_patch", "args": {"input": "x"}}
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == "apply_patch"


# --- the Chat surface: validation, and the answer side ----------------------------------------


def test_chat_validation_accepts_custom_and_other_tool_types():
    body = chat_with_custom(tool_choice={"type": "custom", "custom": {"name": "apply_patch"}})
    assert openai_chat.validate_chat_request(body).has_tools
    future = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert openai_chat.validate_chat_request({**future, "tools": [{"type": "some_future_tool"}]})
    with pytest.raises(InvalidRequest) as caught:
        openai_chat.validate_chat_request({**future, "tools": [{"type": "custom", "custom": {}}]})
    assert caught.value.param == "tools[0].custom.name"
    with pytest.raises(InvalidRequest) as caught:
        openai_chat.validate_chat_request({**future, "tools": [{"type": "custom"}]})
    assert caught.value.param == "tools[0].custom.name"


def test_custom_calls_for_chat_renders_calls_as_custom_tool_calls():
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "apply_patch", "arguments": '{"input":"x"}'},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        },
                    ],
                },
            }
        ],
    }
    out = custom_calls_for_chat(completion, [WEATHER, PATCH_TOOL])
    first, second = out["choices"][0]["message"]["tool_calls"]
    assert first == {"id": "c1", "type": "custom", "custom": {"name": "apply_patch", "input": "x"}}
    assert second["type"] == "function"
    assert custom_calls_for_chat(completion, [WEATHER]) is completion
    # the shape the SDK knows (ChatCompletionMessageCustomToolCall)
    from openai.types.chat import ChatCompletion

    parsed = ChatCompletion.model_validate({**out, "created": 1, "model": "m"})
    assert parsed.choices[0].message.tool_calls[0].custom.input == "x"


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


WEATHER_CALL = {"name": "weather", "arguments": '{"city":"Paris"}'}


def test_streamed_calls_of_custom_tools_become_custom_tool_call_deltas():
    from routing.wire.tools import CustomCallChunks, custom_tool_names

    names = custom_tool_names([PATCH_TOOL, WEATHER])
    assert names == {"apply_patch"}
    stream = CustomCallChunks(names)
    patch_args = json.dumps({"input": '*** Begin Patch\n\u00e9 "x"\n'})
    first = {"index": 0, "id": "call_1", "type": "function"}
    chunks = [
        _chunk({"role": "assistant", "content": None}),
        _chunk({"tool_calls": [{**first, "function": {"name": "apply_patch", "arguments": ""}}]}),
        *(
            _chunk({"tool_calls": [{"index": 0, "function": {"arguments": patch_args[i : i + 5]}}]})
            for i in range(0, len(patch_args), 5)
        ),
        _chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_2", "type": "function", "function": WEATHER_CALL}
                ]
            }
        ),
        _chunk({}, "tool_calls"),
    ]
    out = [stream.chunk(c) for c in chunks]
    deltas = [d for c in out for d in c["choices"][0]["delta"].get("tool_calls", ())]
    custom = [d for d in deltas if d["index"] == 0]
    assert custom[0] == {
        "index": 0,
        "id": "call_1",
        "type": "custom",
        "custom": {"name": "apply_patch", "input": ""},
    }
    assert all(set(d) == {"index", "custom"} for d in custom[1:])
    assert "".join(d["custom"]["input"] for d in custom) == '*** Begin Patch\n\u00e9 "x"\n'
    assert len(custom) > 3  # the text streamed as it arrived, not in one piece at the end
    (weather,) = [d for d in deltas if d["index"] == 1]
    assert weather["type"] == "function" and weather["function"]["name"] == "weather"
    assert out[0] == chunks[0] and out[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_custom_call_whose_arguments_are_not_the_input_object_settles_at_the_finish():
    from routing.wire.tools import CustomCallChunks

    stream = CustomCallChunks(frozenset({"apply_patch"}))
    start = {"index": 0, "id": "call_1", "type": "function"}
    stream.chunk(_chunk({"tool_calls": [{**start, "function": {"name": "apply_patch"}}]}))
    held = stream.chunk(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "raw"}}]}))
    assert "tool_calls" not in held["choices"][0]["delta"]  # nothing decodable yet
    last = stream.chunk(_chunk({}, "tool_calls"))
    assert last["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "custom": {"input": "raw"}}]
