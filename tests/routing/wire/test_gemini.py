"""Gemini generateContent <-> canonical chat: requests, responses, streams, validation.

Pure functions only (no Django, no database). Shapes are checked against the official SDKs'
own types where they exist: google-genai's pydantic models forbid unknown fields, and the
openai stream accumulator is the one real Chat clients run."""

import orjson
import pytest
from google.genai import types as genai_types
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from routing.wire import gemini
from routing.wire.canonical import InvalidRequest, StreamError
from routing.wire.sse import EventSplitter

# What google-genai 3.4 sends for a chat turn that answers a function call: camelCase at the
# top, snake_case inside inlineData and thinkingConfig, upper-case schema types.
SDK_BODY = {
    "contents": [
        {
            "parts": [
                {"text": "hi"},
                {"inlineData": {"data": "iVBORw==", "mime_type": "image/png"}},
            ],
            "role": "user",
        },
        {
            "parts": [
                {
                    "functionCall": {"args": {"city": "Paris"}, "name": "get_weather"},
                    "thoughtSignature": "c2ln",
                }
            ],
            "role": "model",
        },
        {
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}],
            "role": "user",
        },
    ],
    "systemInstruction": {"parts": [{"text": "be brief"}], "role": "user"},
    "tools": [
        {
            "functionDeclarations": [
                {
                    "description": "w",
                    "name": "get_weather",
                    "parameters": {
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                        "type": "OBJECT",
                    },
                }
            ]
        }
    ],
    "generationConfig": {"thinkingConfig": {"include_thoughts": True, "thinking_budget": 1024}},
}


def valid_gemini_response(body: dict) -> genai_types.GenerateContentResponse:
    return genai_types.GenerateContentResponse.model_validate(body)


def sse_payloads(raw: bytes) -> list[dict]:
    events = EventSplitter().feed(raw)
    assert b"".join(events) == raw, "every event must end with a blank line"
    out = []
    for event in events:
        assert event.startswith(b"data: ")
        assert event.count(b"\n") == 2
        out.append(orjson.loads(event[6:]))
    return out


# --- client surface: request in --------------------------------------------------------------


def test_sdk_request_to_chat_and_back_keeps_everything_that_matters():
    gemini.validate_generate_request(SDK_BODY)
    chat = gemini.generate_to_chat(SDK_BODY, model="openai/gpt-4o", stream=True)

    assert chat["model"] == "openai/gpt-4o"
    assert chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}
    system, user, assistant, tool = chat["messages"]
    assert system == {"role": "system", "content": "be brief"}
    assert user == {
        "role": "user",
        "content": [
            {"type": "text", "text": "hi"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        ],
    }
    (call,) = assistant["tool_calls"]
    assert assistant["content"] is None
    assert call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert call["extra_content"] == {"google": {"thought_signature": "c2ln"}}
    assert tool == {"role": "tool", "tool_call_id": call["id"], "content": '{"temp":20}'}
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "w",
                "parameters": {
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "type": "object",
                },
            },
        }
    ]
    assert chat["reasoning_budget_tokens"] == 1024
    assert chat["reasoning_effort"] == "low"

    back = gemini.chat_to_gemini_request(chat)
    assert back["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert back["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "hi"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2ln",
                }
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 20}}}],
        },
    ]
    assert back["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "w",
                    "parametersJsonSchema": chat["tools"][0]["function"]["parameters"],
                }
            ]
        }
    ]
    assert back["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}
    }
    # The SDK's own types (which forbid unknown fields) accept what we would send.
    for content in back["contents"]:
        genai_types.Content.model_validate(content)
    genai_types.GenerateContentConfig.model_validate(
        {
            **back["generationConfig"],
            "tools": back["tools"],
            "systemInstruction": back["systemInstruction"],
        }
    )


def test_file_data_and_audio_round_trip():
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {
                        "fileData": {
                            "mimeType": "image/png",
                            "fileUri": "https://example.com/cat.png",
                        }
                    },
                    {"inlineData": {"mimeType": "audio/mpeg", "data": "QUJD"}},
                    {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
                ],
            }
        ]
    }
    gemini.validate_generate_request(body)
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    assert chat["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "input_audio", "input_audio": {"data": "QUJD", "format": "mp3"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
            ],
        }
    ]
    assert "stream_options" not in chat
    back = gemini.chat_to_gemini_request(chat)
    assert back["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "QUJD"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
    ]


def test_snake_case_request_is_read_like_camel_case():
    body = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "pondering", "thought": True},
                    {"text": "Let me check."},
                    {
                        "function_call": {"name": "lookup", "args": {"q": "a"}, "id": "fc-1"},
                        "thought_signature": "sig",
                    },
                    {"function_call": {"name": "lookup", "args": {"q": "b"}}},
                ],
            },
            {
                "role": "function",
                "parts": [
                    {"function_response": {"name": "lookup", "response": {"r": 2}}},
                    {"function_response": {"name": "lookup", "id": "fc-1", "response": {"r": 1}}},
                ],
            },
        ],
        "tools": [
            {
                "function_declarations": [
                    {"name": "lookup", "parameters_json_schema": {"type": "object"}},
                    {"name": "other"},
                ]
            },
            {"google_search": {}},
        ],
        "tool_config": {
            "function_calling_config": {"mode": "ANY", "allowed_function_names": ["lookup"]}
        },
        "generation_config": {
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40.0,
            "max_output_tokens": 256,
            "stop_sequences": ["END"],
            "candidate_count": 2,
            "response_mime_type": "application/json",
            "response_schema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
            "thinking_config": {"thinking_level": "HIGH"},
        },
    }
    gemini.validate_generate_request(body)
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    system, user, assistant, first, second = chat["messages"]
    assert system == {"role": "system", "content": "sys"}
    assert user == {"role": "user", "content": "weather?"}
    assert assistant["content"] == "Let me check."
    assert assistant["reasoning_content"] == "pondering"
    call_a, call_b = assistant["tool_calls"]
    assert call_a["id"] == "fc-1"
    assert call_a["extra_content"] == {"google": {"thought_signature": "sig"}}
    assert call_b["id"].startswith("call_") and "extra_content" not in call_b
    # Without an id, a response pairs with the first open call of that name; with one, by id.
    assert first == {"role": "tool", "tool_call_id": call_b["id"], "content": '{"r":2}'}
    assert second == {"role": "tool", "tool_call_id": "fc-1", "content": '{"r":1}'}
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "other"}},
    ]
    assert chat["web_search_options"] == {}  # googleSearch asks for a search
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert chat["temperature"] == 0.5
    assert chat["top_p"] == 0.9
    assert chat["top_k"] == 40
    assert chat["max_tokens"] == 256
    assert chat["stop"] == ["END"]
    assert chat["n"] == 2
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }
    assert chat["reasoning_effort"] == "high"
    assert "reasoning_budget_tokens" not in chat


def test_empty_generation_config_adds_nothing():
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {}}
    gemini.validate_generate_request(body)
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    assert chat == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "stream": False,
    }
    assert gemini.chat_to_gemini_request(chat) == {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}]
    }


def test_upper_case_openapi_schema_becomes_json_schema():
    parameters = {
        "type": "OBJECT",
        "properties": {
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["A", "B"]}},
            "note": {"type": "STRING", "nullable": True},
            "type": {"type": "NUMBER", "format": "float"},
            "either": {"any_of": [{"type": "INTEGER"}, {"type": "BOOLEAN"}]},
        },
        "property_ordering": ["tags", "note"],
        "required": ["tags"],
    }
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": parameters}]}],
    }
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    assert chat["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string", "enum": ["A", "B"]}},
            "note": {"type": ["string", "null"]},
            "type": {"type": "number", "format": "float"},
            "either": {"anyOf": [{"type": "integer"}, {"type": "boolean"}]},
        },
        "required": ["tags"],
    }


@pytest.mark.parametrize(
    ("config", "expected_choice", "expected_names"),
    [
        ({"mode": "AUTO"}, "auto", ["a", "b"]),
        ({"mode": "VALIDATED"}, "auto", ["a", "b"]),
        ({"mode": "NONE"}, "none", ["a", "b"]),
        ({"mode": "ANY"}, "required", ["a", "b"]),
        (
            {"mode": "ANY", "allowedFunctionNames": ["b"]},
            {"type": "function", "function": {"name": "b"}},
            ["a", "b"],
        ),
        ({"mode": "ANY", "allowedFunctionNames": ["a", "c"]}, "required", ["a"]),
    ],
)
def test_function_calling_config_to_tool_choice(config, expected_choice, expected_names):
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}],
        "toolConfig": {"functionCallingConfig": config},
    }
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    assert chat["tool_choice"] == expected_choice
    assert [t["function"]["name"] for t in chat["tools"]] == expected_names


@pytest.mark.parametrize(
    ("thinking", "budget", "effort"),
    [
        ({"thinkingBudget": -1}, None, "medium"),
        ({"thinkingBudget": 0}, 0, "minimal"),
        ({"thinkingBudget": 800}, 800, "low"),
        ({"thinkingBudget": 4096}, 4096, "medium"),
        ({"thinkingBudget": 20000}, 20000, "high"),
        ({"thinkingLevel": "LOW"}, None, "low"),
    ],
)
def test_thinking_config_to_reasoning(thinking, budget, effort):
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"thinkingConfig": thinking},
    }
    chat = gemini.generate_to_chat(body, model="m", stream=False)
    assert chat.get("reasoning_budget_tokens") == budget
    assert chat["reasoning_effort"] == effort


def test_wants_thoughts_reads_include_thoughts_in_either_spelling():
    assert gemini.wants_thoughts(
        {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    )
    assert gemini.wants_thoughts(
        {"generation_config": {"thinking_config": {"include_thoughts": True}}}
    )
    assert not gemini.wants_thoughts({"generationConfig": {}})
    assert not gemini.wants_thoughts({})


def test_json_mime_without_schema_is_json_object():
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "generationConfig": {"responseMimeType": "application/json"},
    }
    assert gemini.generate_to_chat(body, model="m", stream=False)["response_format"] == {
        "type": "json_object"
    }
    body["generationConfig"]["responseJsonSchema"] = {
        "type": "object",
        "additionalProperties": False,
    }
    assert gemini.generate_to_chat(body, model="m", stream=False)["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {"type": "object", "additionalProperties": False},
        },
    }


# --- client surface: validation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({}, "contents"),
        ({"contents": {}}, "contents"),
        ({"contents": []}, "contents"),
        ({"contents": ["x"]}, "contents[0]"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"role": "user"}]}, "contents[0].parts"),
        ({"contents": [{"role": "user", "parts": []}]}, "contents[0].parts"),
        ({"contents": [{"parts": [{"text": "a"}, 3]}]}, "contents[0].parts[1]"),
        ({"contents": [{"parts": [{"text": 5}]}]}, "contents[0].parts[0].text"),
        (
            {"contents": [{"parts": [{"inline_data": {"data": "x"}}]}]},
            "contents[0].parts[0].inline_data.mimeType",
        ),
        (
            {"contents": [{"parts": [{"functionCall": {"name": "f", "args": []}}]}]},
            "contents[0].parts[0].functionCall.args",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": 3}, "systemInstruction"),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "system_instruction": {}},
            "system_instruction.parts",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": []}, "generationConfig"),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": 2.5}},
            "generationConfig.temperature",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topP": "high"}},
            "generationConfig.topP",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topK": 0}},
            "generationConfig.topK",
        ),
        (
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "generation_config": {"max_output_tokens": 0},
            },
            "generation_config.max_output_tokens",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 1.5}},
            "generationConfig.candidateCount",
        ),
        (
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "generationConfig": {"stopSequences": "END"},
            },
            "generationConfig.stopSequences",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"stopSequences": [1]}},
            "generationConfig.stopSequences",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "tools": {}}, "tools"),
        ({"contents": [{"parts": [{"text": "x"}]}], "tools": ["x"]}, "tools[0]"),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [{}]}]},
            "tools[0].functionDeclarations[0].name",
        ),
        ({"contents": [{"parts": [{"text": "x"}]}], "toolConfig": "auto"}, "toolConfig"),
    ],
)
def test_validation_names_the_first_bad_field(body, param):
    with pytest.raises(InvalidRequest) as caught:
        gemini.validate_generate_request(body)
    assert caught.value.param == param
    assert caught.value.message


def test_validation_accepts_a_minimal_and_a_full_request():
    gemini.validate_generate_request({"contents": [{"parts": [{"text": "x"}]}]})
    gemini.validate_generate_request(
        {
            **SDK_BODY,
            "generationConfig": {
                "temperature": 2,
                "topP": 1,
                "topK": 40.0,
                "maxOutputTokens": 1,
                "candidateCount": 1,
                "stopSequences": ["a"],
            },
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
            "systemInstruction": "plain string",
        }
    )


# --- upstream kind: request out --------------------------------------------------------------


def test_chat_request_to_gemini():
    chat = {
        "model": "google/gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "one"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}]},
            {"role": "user", "content": "look"},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x.test/p?id=1"}}],
            },
            {
                "role": "assistant",
                "content": "calling",
                "reasoning_content": "private thoughts",
                "tool_calls": [
                    {
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "a", "arguments": '{"x": 1}'},
                    },
                    {"id": "t2", "type": "function", "function": {"name": "b", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": "t2", "content": "plain text"},
            {"role": "tool", "tool_call_id": "t1", "content": '{"ok": true}'},
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}
                ],
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "a",
                    "description": "A",
                    "parameters": {"type": "object"},
                    "strict": True,
                },
            },
            {"type": "function", "function": {"name": "b"}},
            {"type": "function", "function": {"name": "googleSearch"}},
            {"type": "function", "function": {"name": "urlContext"}},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "temperature": 0.2,
        "top_p": 0.8,
        "top_k": 20,
        "max_completion_tokens": 100,
        "stop": "STOP",
        "n": 2,
        "seed": 7,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}},
        },
        "reasoning_effort": "high",
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-1",
        "metadata": {"k": "v"},
    }
    body = gemini.chat_to_gemini_request(chat)
    assert set(body) == {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}
    assert body["systemInstruction"] == {"parts": [{"text": "one"}, {"text": "two"}]}
    user, model, results = body["contents"]
    assert user == {
        "role": "user",
        "parts": [
            {"text": "look"},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/p?id=1"}},
        ],
    }
    # Reasoning is not replayed; the first call of a turn without signatures gets the sentinel.
    assert model == {
        "role": "model",
        "parts": [
            {"text": "calling"},
            {
                "functionCall": {"name": "a", "args": {"x": 1}},
                "thoughtSignature": gemini.SKIP_SIGNATURE,
            },
            {"functionCall": {"name": "b", "args": {}}},
        ],
    }
    # All results (and the next user content) go in one user turn, names looked up by id.
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "b", "response": {"result": "plain text"}}},
            {"functionResponse": {"name": "a", "response": {"ok": True}}},
            {"inlineData": {"mimeType": "audio/wav", "data": "AAA"}},
        ],
    }
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "a", "description": "A", "parametersJsonSchema": {"type": "object"}},
                {"name": "b"},
            ]
        },
        {"googleSearch": {}},
        {"urlContext": {}},
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.8,
        "topK": 20,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.2,
        "maxOutputTokens": 100,
        "stopSequences": ["STOP"],
        "candidateCount": 2,
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
        "thinkingConfig": {
            "thinkingBudget": gemini.THINKING_BUDGETS["high"],
            "includeThoughts": True,
        },
    }
    genai_types.GenerateContentConfig.model_validate(
        {**body["generationConfig"], "toolConfig": body["toolConfig"], "tools": body["tools"]}
    )
    for content in body["contents"]:
        genai_types.Content.model_validate(content)


@pytest.mark.parametrize(
    ("extra", "thinking"),
    [
        ({"reasoning_effort": "low"}, {"thinkingBudget": 1024, "includeThoughts": True}),
        ({"reasoning_effort": "none"}, {"thinkingBudget": 0}),
        (
            {"reasoning_budget_tokens": 3000, "reasoning_effort": "high"},
            {"thinkingBudget": 3000, "includeThoughts": True},
        ),
        ({}, None),
    ],
)
def test_reasoning_to_thinking_config(extra, thinking):
    body = gemini.chat_to_gemini_request({"messages": [{"role": "user", "content": "x"}], **extra})
    assert body.get("generationConfig", {}).get("thinkingConfig") == thinking


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "a"}},
            {"mode": "ANY", "allowedFunctionNames": ["a"]},
        ),
    ],
)
def test_tool_choice_to_function_calling_config(choice, config):
    chat = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "a"}}],
        "tool_choice": choice,
    }
    assert gemini.chat_to_gemini_request(chat)["toolConfig"] == {"functionCallingConfig": config}


def test_json_object_and_kept_signature():
    chat = {
        "messages": [
            {"role": "user", "content": "x"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c",
                        "type": "function",
                        "function": {"name": "f", "arguments": "{}"},
                        "extra_content": {"google": {"thought_signature": "real"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "[1, 2]"}]},
        ],
        "response_format": {"type": "json_object"},
    }
    body = gemini.chat_to_gemini_request(chat)
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "real"}
    ]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"result": "[1, 2]"}}}
    ]
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_tool_result_for_an_unknown_call_is_refused():
    chat = {
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "nope", "content": "r"},
        ]
    }
    with pytest.raises(InvalidRequest) as caught:
        gemini.chat_to_gemini_request(chat)
    assert caught.value.param == "messages[1].tool_call_id"


def test_file_ids_cannot_reach_gemini():
    chat = {
        "messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-1"}}]}]
    }
    with pytest.raises(InvalidRequest) as caught:
        gemini.chat_to_gemini_request(chat)
    assert caught.value.param == "messages[0].content[0]"
    assert caught.value.code == "unsupported_parameter"


# --- responses, both ways --------------------------------------------------------------------


CHAT_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "openai/gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "need weather",
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        "extra_content": {"google": {"thought_signature": "sig"}},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "total_tokens": 160,
        "prompt_tokens_details": {"cached_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 9},
    },
}


def test_chat_completion_to_generate_response():
    body = gemini.chat_to_generate_response(CHAT_COMPLETION, model="openai/gpt-4o")
    assert body == {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "need weather", "thought": True},
                        {"text": "Checking."},
                        {
                            "functionCall": {
                                "name": "get_weather",
                                "args": {"city": "Paris"},
                                "id": "call_a",
                            },
                            "thoughtSignature": "sig",
                        },
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 120,
            "candidatesTokenCount": 31,
            "totalTokenCount": 160,
            "thoughtsTokenCount": 9,
            "cachedContentTokenCount": 20,
        },
        "modelVersion": "openai/gpt-4o",
        "responseId": "chatcmpl-1",
    }
    usage = body["usageMetadata"]
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    parsed = valid_gemini_response(body)
    assert parsed.text == "Checking."
    assert parsed.function_calls[0].args == {"city": "Paris"}

    hidden = gemini.chat_to_generate_response(CHAT_COMPLETION, model="m", include_thoughts=False)
    assert all(not part.get("thought") for part in hidden["candidates"][0]["content"]["parts"])


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "STOP"),
        ("length", "MAX_TOKENS"),
        ("tool_calls", "STOP"),
        ("content_filter", "SAFETY"),
    ],
)
def test_finish_reasons_to_gemini(finish, expected):
    chat = {
        "id": "x",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": finish}
        ],
    }
    body = gemini.chat_to_generate_response(chat, model="m")
    assert body["candidates"][0]["finishReason"] == expected
    assert body["candidates"][0]["content"]["parts"] == [{"text": ""}]
    assert body["usageMetadata"] == {
        "promptTokenCount": 0,
        "candidatesTokenCount": 0,
        "totalTokenCount": 0,
    }
    valid_gemini_response(body)


GEMINI_RESPONSE = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "thinking about it", "thought": True},
                    {"text": "Checking "},
                    {"text": "the weather."},
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "sig1",
                    },
                    {"functionCall": {"name": "get_time", "args": {}, "id": "fc-2"}},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 100,
        "candidatesTokenCount": 30,
        "thoughtsTokenCount": 12,
        "cachedContentTokenCount": 40,
        "toolUsePromptTokenCount": 5,
        "totalTokenCount": 147,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-1",
}


def test_gemini_response_to_chat_completion():
    chat = gemini.gemini_to_chat_response(GEMINI_RESPONSE, model="google/gemini-2.5-flash")
    ChatCompletion.model_validate(chat)
    assert chat["id"] == "chatcmpl-resp-1"
    assert chat["object"] == "chat.completion"
    assert chat["model"] == "google/gemini-2.5-flash"
    (choice,) = chat["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Checking the weather."
    assert message["reasoning_content"] == "thinking about it"
    first, second = message["tool_calls"]
    assert first["id"].startswith("orcats_4_sig1_call_")  # the signature rides in the id
    assert first["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert first["extra_content"] == {"google": {"thought_signature": "sig1"}}
    assert second["id"] == "fc-2" and "extra_content" not in second
    assert chat["usage"] == {
        "prompt_tokens": 105,
        "completion_tokens": 42,
        "total_tokens": 147,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    usage = chat["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_vertex_candidates_that_already_include_thoughts_are_not_counted_twice():
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 8,
            "thoughtsTokenCount": 5,
            "totalTokenCount": 18,
        },
    }
    usage = gemini.gemini_to_chat_response(body, model="m")["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        10,
        8,
        18,
    )


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons_from_gemini(reason, expected):
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "x"}]},
                "finishReason": reason,
                "index": 0,
            }
        ]
    }
    assert (
        gemini.gemini_to_chat_response(body, model="m")["choices"][0]["finish_reason"] == expected
    )


def test_blocked_prompt_is_an_empty_content_filter_choice():
    body = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
    }
    chat = gemini.gemini_to_chat_response(body, model="m")
    ChatCompletion.model_validate(chat)
    assert chat["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ""},
            "finish_reason": "content_filter",
        }
    ]
    assert chat["usage"]["prompt_tokens"] == 7 and chat["usage"]["total_tokens"] == 7


def test_response_round_trip_keeps_text_calls_and_usage():
    chat = gemini.gemini_to_chat_response(GEMINI_RESPONSE, model="m")
    back = gemini.chat_to_generate_response(chat, model="m")
    parts = back["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "thinking about it", "thought": True}
    assert parts[1] == {"text": "Checking the weather."}
    assert parts[2]["functionCall"]["args"] == {"city": "Paris"}
    assert parts[2]["thoughtSignature"] == "sig1"
    assert parts[3]["functionCall"] == {"name": "get_time", "args": {}, "id": "fc-2"}
    assert back["usageMetadata"]["promptTokenCount"] == 105
    assert back["usageMetadata"]["candidatesTokenCount"] == 30
    assert back["usageMetadata"]["thoughtsTokenCount"] == 12
    assert back["usageMetadata"]["totalTokenCount"] == 147


# --- streams ---------------------------------------------------------------------------------


def chunk(delta=None, finish=None, usage=None, choices=True):
    body = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    body["choices"] = (
        [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []
    )
    if usage is not None:
        body["usage"] = usage
    return body


def tool(index, *, id_=None, name=None, args=""):
    call = {"index": index, "function": {"arguments": args}}
    if id_:
        call["id"] = id_
        call["type"] = "function"
        call["function"]["name"] = name
    return {"tool_calls": [call]}


CHAT_STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "Let me "}),
    chunk({"reasoning_content": "think."}),
    chunk({"content": "Checking "}),
    chunk({"content": "both."}),
    chunk(tool(0, id_="call_1", name="get_weather")),
    chunk(tool(0, args='{"ci')),
    chunk(tool(0, args='ty": "Paris"}')),
    chunk(tool(1, id_="call_2", name="get_time", args="")),
    chunk(tool(1, args='{"tz": ')),
    chunk(tool(1, args='"CET"}')),
    chunk(finish="tool_calls"),
    chunk(
        usage={
            "prompt_tokens": 50,
            "completion_tokens": 30,
            "total_tokens": 80,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 10},
        },
        choices=False,
    ),
]


def test_stream_encoder_emits_gemini_events():
    encoder = gemini.GenerateStreamEncoder(model="openai/gpt-4o")
    raw = encoder.start() + b"".join(encoder.feed(c) for c in CHAT_STREAM) + encoder.finish()
    assert encoder.finish() == b""
    events = sse_payloads(raw)
    for event in events:
        assert event["modelVersion"] == "openai/gpt-4o"
        assert event["responseId"] == "chatcmpl-s"
        parsed = valid_gemini_response(event)
        # What google-genai's chat session requires of every chunk to keep the history.
        assert parsed.candidates and parsed.candidates[0].content.parts
    parts = [part for event in events for part in event["candidates"][0]["content"]["parts"]]
    assert [p["text"] for p in parts if p.get("thought")] == ["Let me ", "think."]
    assert [p["text"] for p in parts if "text" in p and not p.get("thought")] == [
        "Checking ",
        "both.",
        "",
    ]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"},
        {"name": "get_time", "args": {"tz": "CET"}, "id": "call_2"},
    ]
    # Each call went out as soon as its arguments were whole, before the finish.
    assert (
        "finishReason" not in events[-2]
        and "functionCall" in events[-2]["candidates"][0]["content"]["parts"][0]
    )
    for event in events[:-1]:
        assert "finishReason" not in event["candidates"][0]
        assert "usageMetadata" not in event
    last = events[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"] == {
        "promptTokenCount": 50,
        "candidatesTokenCount": 20,
        "totalTokenCount": 80,
        "thoughtsTokenCount": 10,
    }


def test_stream_encoder_flushes_unfinished_calls_at_the_end_and_can_hide_thoughts():
    encoder = gemini.GenerateStreamEncoder(model="m", include_thoughts=False)
    raw = encoder.feed(chunk({"reasoning_content": "secret"}))
    raw += encoder.feed(chunk(tool(0, id_="c", name="f", args='{"a": ')))
    raw += encoder.feed(chunk(finish="tool_calls"))
    raw += encoder.finish()
    events = sse_payloads(raw)
    assert len(events) == 2
    assert events[0]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "f", "args": {"arguments": '{"a": '}, "id": "c"}}
    ]
    assert events[1]["candidates"][0]["finishReason"] == "STOP"
    assert events[1]["usageMetadata"]["totalTokenCount"] == 0


def test_stream_encoder_error_event():
    encoder = gemini.GenerateStreamEncoder(model="m")
    encoder.feed(chunk({"content": "partial"}))
    raw = encoder.error(503, "upstream overloaded")
    assert raw.startswith(b'data: {"error":')
    assert orjson.loads(raw[6:]) == {
        "error": {"code": 503, "message": "upstream overloaded", "status": "UNAVAILABLE"}
    }
    assert raw.endswith(b"\n\n")
    assert encoder.finish() == b""


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (413, "INVALID_ARGUMENT"),
        (429, "RESOURCE_EXHAUSTED"),
        (499, "CANCELLED"),
        (500, "INTERNAL"),
        (502, "UNAVAILABLE"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_error_envelope(status, name):
    assert gemini.error_envelope(status, "m") == {
        "error": {"code": status, "message": "m", "status": name}
    }


# The exact stream of wire-formats.md §4.3.
SPEC_STREAM = (
    'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Checking the weather."}]},'
    '"index":0}],"usageMetadata":{"promptTokenCount":120,"totalTokenCount":120},'
    '"modelVersion":"m","responseId":"r1"}\n\n'
    'data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":'
    '{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"…"}]},'
    '"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,'
    '"candidatesTokenCount":31,"thoughtsTokenCount":0,"totalTokenCount":151},'
    '"modelVersion":"m","responseId":"r1"}\n\n'
).encode()


def test_stream_decoder_on_the_reference_stream():
    decoder = gemini.GeminiStreamDecoder(model="google/gemini-2.5-flash")
    chunks = []
    for event in EventSplitter().feed(SPEC_STREAM):
        chunks.extend(decoder.feed(event))
    assert decoder.done
    chunks.extend(decoder.finish())
    assert decoder.finish() == []

    for c in chunks:
        ChatCompletionChunk.model_validate(c)
        assert c["id"] == "chatcmpl-r1"
        assert c["object"] == "chat.completion.chunk"
        assert c["model"] == "google/gemini-2.5-flash"
    text, call, finish, usage = chunks
    assert text["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "Checking the weather."},
            "finish_reason": None,
        }
    ]
    (tool_call,) = call["choices"][0]["delta"]["tool_calls"]
    assert "role" not in call["choices"][0]["delta"]
    assert tool_call["index"] == 0
    assert tool_call["id"].startswith("call_")
    assert tool_call["type"] == "function"
    assert tool_call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert tool_call["extra_content"] == {"google": {"thought_signature": "…"}}
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": 120,
        "completion_tokens": 31,
        "total_tokens": 151,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }

    state = ChatCompletionStreamState()
    for c in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(c))
    final = state.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Checking the weather."
    assert message.tool_calls[0].function.name == "get_weather"
    assert message.tool_calls[0].function.arguments == '{"city":"Paris"}'
    assert final.choices[0].finish_reason == "tool_calls"


def event(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def test_stream_decoder_counts_parallel_calls_across_chunks_and_overwrites_usage():
    decoder = gemini.GeminiStreamDecoder(model="m")
    chunks = []
    part_a = {"functionCall": {"name": "a", "args": {"x": 1}}}
    part_b = {"functionCall": {"name": "b", "args": {}}}
    thought = {"text": "hmm", "thought": True}
    chunks += decoder.feed(
        event(
            {
                "candidates": [{"content": {"role": "model", "parts": [thought]}}],
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            }
        )
    )
    chunks += decoder.feed(b": keep-alive\n\n")
    chunks += decoder.feed(
        event({"candidates": [{"content": {"role": "model", "parts": [part_a]}, "index": 0}]})
    )
    chunks += decoder.feed(
        event(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [part_b]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 9,
                    "candidatesTokenCount": 4,
                    "thoughtsTokenCount": 3,
                    "totalTokenCount": 16,
                },
            }
        )
    )
    chunks += decoder.finish()
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "reasoning_content": "hmm"}
    indexes = [c["choices"][0]["delta"]["tool_calls"][0]["index"] for c in chunks[1:3]]
    assert indexes == [0, 1]
    assert chunks[3]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[4]["usage"]["prompt_tokens"] == 9
    assert chunks[4]["usage"]["completion_tokens"] == 7
    assert chunks[4]["usage"]["total_tokens"] == 16
    assert chunks[4]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}

    state = ChatCompletionStreamState()
    for c in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(c))
    calls = state.get_final_completion().choices[0].message.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("a", '{"x":1}'),
        ("b", "{}"),
    ]


def test_stream_decoder_finish_without_finish_reason_and_blocked_prompt():
    decoder = gemini.GeminiStreamDecoder(model="m")
    chunks = decoder.feed(event({"candidates": [{"content": {"parts": [{"text": "cut"}]}}]}))
    assert not decoder.done
    chunks += decoder.finish()
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, "stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 0

    blocked = gemini.GeminiStreamDecoder(model="m")
    out = blocked.feed(
        event(
            {
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4},
            }
        )
    )
    assert blocked.done
    assert out[0]["choices"][0]["finish_reason"] == "content_filter"
    assert out[0]["choices"][0]["delta"]["role"] == "assistant"
    final = blocked.finish()
    assert len(final) == 1 and final[0]["usage"]["prompt_tokens"] == 4


def test_stream_decoder_raises_on_error_events():
    decoder = gemini.GeminiStreamDecoder(model="m")
    with pytest.raises(StreamError) as caught:
        decoder.feed(
            event(
                {
                    "error": {
                        "code": 429,
                        "message": "Resource exhausted",
                        "status": "RESOURCE_EXHAUSTED",
                    }
                }
            )
        )
    assert caught.value.message == "Resource exhausted"
    assert caught.value.type == "rate_limit_error"
    with pytest.raises(StreamError):
        decoder.feed(b"data: {not json\n\n")


def test_encoder_output_decodes_back_to_the_same_conversation():
    encoder = gemini.GenerateStreamEncoder(model="m")
    raw = b"".join(encoder.feed(c) for c in CHAT_STREAM) + encoder.finish()
    decoder = gemini.GeminiStreamDecoder(model="m")
    chunks = []
    for item in EventSplitter().feed(raw):
        chunks.extend(decoder.feed(item))
    chunks.extend(decoder.finish())
    state = ChatCompletionStreamState()
    for c in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(c))
    final = state.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Checking both."
    assert [
        (c.id, c.function.name, orjson.loads(c.function.arguments)) for c in message.tool_calls
    ] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {"tz": "CET"}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage.prompt_tokens == 50
    assert final.usage.completion_tokens == 30
    assert final.usage.total_tokens == 80


def test_a_signature_rides_in_the_call_id_and_comes_back_exactly():
    import base64

    from routing.wire.gemini.signed_ids import MAX_SIGNATURE, id_signature, signed_call_id

    signature = base64.b64encode(bytes(range(256)) * 3).decode()  # has + / and padding
    signed = signed_call_id("call_abc_1", signature)
    assert signed.startswith("orcats_") and signed.endswith("_call_abc_1")
    assert all(c.isalnum() or c in "_-" for c in signed)  # Anthropic's tool id pattern
    assert id_signature(signed) == signature
    assert id_signature("call_abc_1") is None and id_signature("orcats_9_short") is None
    assert signed_call_id("call_1", "not base64!") == "call_1"
    too_long = base64.b64encode(b"x" * MAX_SIGNATURE).decode()
    assert signed_call_id("call_1", too_long) == "call_1"  # bounded: extra_content only


def test_gemini_answers_sign_their_call_ids_and_requests_read_them_back():
    from tests.fakes import gemini_upstream as fake

    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"},
                        {"functionCall": {"name": "f", "args": {"x": 1}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    message = gemini.gemini_to_chat_response(answer, model="gemini-3-pro")["choices"][0]["message"]
    first, second = message["tool_calls"]
    assert first["id"].startswith("orcats_") and not second["id"].startswith("orcats_")
    kept = [{k: v for k, v in c.items() if k != "extra_content"} for c in (first, second)]
    chat = {
        "model": "m",
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": kept},
            *[{"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in kept],
        ],
    }
    body = gemini.chat_to_gemini_request(chat)
    parts = body["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == ["c2ln", None]
    fake.validate_request(body, "gemini-3-pro")  # what Gemini 3 takes
    bare = {"role": "model", "parts": [{"functionCall": p["functionCall"]} for p in parts]}
    unsigned = {**body, "contents": [body["contents"][0], bare, body["contents"][2]]}
    with pytest.raises(fake.RequestInvalid, match="missing a `thought_signature`"):
        fake.validate_request(unsigned, "gemini-3-pro")
    fake.validate_request(unsigned, "gemini-2.5-flash")  # only Gemini 3 insists
    next_ask = {"role": "user", "parts": [{"text": "next"}]}
    older = {**unsigned, "contents": [*unsigned["contents"], next_ask]}
    fake.validate_request(older, "gemini-3-pro")  # an earlier turn is not checked
