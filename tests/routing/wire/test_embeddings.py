"""Embeddings wire translation: OpenAI `/v1/embeddings` and Gemini `batchEmbedContents` /
`embedContent` <-> canonical. Pure functions only (no Django, no database).

Answers are checked with the official SDKs' own parsers: openai's embeddings post-parser (the
code that decodes base64 when the caller left `encoding_format` unset) and google-genai's
response mapping and pydantic types."""

import base64
import struct

import pytest
from google.genai import models as genai_models
from google.genai import types as genai_types
from openai._models import construct_type
from openai._types import omit
from openai.lib._parsing._embeddings import parse_embedding_response
from openai.types import CreateEmbeddingResponse

from routing.wire import embeddings as emb
from routing.wire import tokens
from routing.wire.errors import InvalidRequest

# What google-genai 3.x sends for
# embed_content(model="gemini-embedding-001", contents=["a", "b"],
#               config={"task_type": "retrieval_query", "title": "T", "output_dimensionality": 2})
SDK_BATCH = {
    "requests": [
        {
            "content": {"parts": [{"text": text}], "role": "user"},
            "taskType": "retrieval_query",
            "title": "T",
            "outputDimensionality": 2,
            "model": "models/gemini-embedding-001",
        }
        for text in ("a", "b")
    ]
}


A = {"parts": [{"text": "a"}]}
B = {"parts": [{"text": "b"}]}
BATCH = "batchEmbedContents"
SINGLE = "embedContent"


def float32(values):
    """The values as float32 would hold them (what base64 carries)."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def canonical_answer(*vectors, usage=True):
    answer = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": list(v)} for i, v in enumerate(vectors)
        ],
        "model": "text-embedding-3-small",
    }
    if usage:
        answer["usage"] = {"prompt_tokens": 5, "total_tokens": 5}
    return answer


def invalid(call, *args) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        call(*args)
    return caught.value


# ============================================================================ validation


def test_validate_normalises_a_string_input_and_defaults_the_format():
    request = emb.validate_embeddings_request({"model": " m ", "input": "hello"})
    assert request == {"model": "m", "input": ["hello"], "encoding_format": "float"}


def test_validate_keeps_lists_options_and_unknown_fields_in_order():
    body = {
        "input": ["a", "b"],
        "model": "text-embedding-3-small",
        "encoding_format": "base64",
        "dimensions": 256,
        "user": "u-1",
        "provider": {"order": ["openai"]},
        "extra": None,
    }
    request = emb.validate_embeddings_request(body)
    assert request == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "base64",
        "dimensions": 256,
        "user": "u-1",
        "provider": {"order": ["openai"]},
        "extra": None,
    }
    assert list(request)[:5] == ["model", "input", "encoding_format", "dimensions", "user"]
    assert body["input"] is not request["input"]  # the client's body is left alone


def test_validate_token_arrays():
    flat = emb.validate_embeddings_request({"model": "m", "input": [1, 2, 0]})
    assert flat["input"] == [[1, 2, 0]]
    nested = emb.validate_embeddings_request({"model": "m", "input": [[5], [6, 7]]})
    assert nested["input"] == [[5], [6, 7]]


def test_validate_treats_nulls_as_absent():
    body = {"model": "m", "input": "x", "encoding_format": None, "dimensions": None, "user": None}
    assert emb.validate_embeddings_request(body) == {
        "model": "m",
        "input": ["x"],
        "encoding_format": "float",
    }


def test_validate_accepts_exactly_2048_items():
    assert len(emb.validate_embeddings_request({"model": "m", "input": ["x"] * 2048})["input"]) == (
        2048
    )
    assert emb.validate_embeddings_request({"model": "m", "input": [1] * 2048})["input"] == [
        [1] * 2048
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("RETRIEVAL_QUERY", "RETRIEVAL_QUERY"),
        ("retrieval_document", "RETRIEVAL_DOCUMENT"),
        ("Semantic_Similarity", "SEMANTIC_SIMILARITY"),
        ("classification", "CLASSIFICATION"),
        ("clustering", "CLUSTERING"),
        ("code_retrieval_query", "CODE_RETRIEVAL_QUERY"),
        ("question-answering", "QUESTION_ANSWERING"),
        ("FACT_VERIFICATION", "FACT_VERIFICATION"),
        ("query", "RETRIEVAL_QUERY"),
        ("search_query", "RETRIEVAL_QUERY"),
        ("document", "RETRIEVAL_DOCUMENT"),
        ("passage", "RETRIEVAL_DOCUMENT"),
        ("search_document", "RETRIEVAL_DOCUMENT"),
    ],
)
def test_task_type_spellings(value, expected):
    for name in ("task_type", "input_type"):
        request = emb.validate_embeddings_request({"model": "m", "input": "x", name: value})
        assert request["task_type"] == expected
        assert "input_type" not in request


def test_task_type_wins_over_input_type_and_unspecified_means_none():
    body = {"model": "m", "input": "x", "task_type": "query", "input_type": "document"}
    assert emb.validate_embeddings_request(body)["task_type"] == "RETRIEVAL_QUERY"
    body = {"model": "m", "input": "x", "input_type": "task_type_unspecified"}
    request = emb.validate_embeddings_request(body)
    assert "task_type" not in request and "input_type" not in request


@pytest.mark.parametrize(
    ("body", "param", "code", "message"),
    [
        ([], None, "invalid_type", "request body must be a JSON object"),
        ({"input": "x"}, "model", "missing_required_parameter", "`model` is required"),
        ({"model": "", "input": "x"}, "model", "invalid_type", "`model` must be a non-empty"),
        ({"model": "  ", "input": "x"}, "model", "invalid_type", "`model` must be a non-empty"),
        ({"model": 3, "input": "x"}, "model", "invalid_type", "`model` must be a non-empty"),
        ({"model": "m"}, "input", "missing_required_parameter", "`input` is required"),
        ({"model": "m", "input": ""}, "input", "invalid_value", "must not be an empty string"),
        ({"model": "m", "input": []}, "input", "invalid_value", "must not be an empty array"),
        ({"model": "m", "input": 5}, "input", "invalid_type", "`input` must be a string, an"),
        ({"model": "m", "input": {"a": 1}}, "input", "invalid_type", "`input` must be a string"),
        (
            {"model": "m", "input": ["x"] * 2049},
            "input",
            "invalid_value",
            "at most 2048 items, got 2049",
        ),
        ({"model": "m", "input": [1] * 2049}, "input", "invalid_value", "at most 2048 items"),
        ({"model": "m", "input": ["a", "", "c"]}, "input[1]", "invalid_value", "empty string"),
        ({"model": "m", "input": ["a", 3]}, "input[1]", "invalid_type", "like the other items"),
        ({"model": "m", "input": [1, -2]}, "input[1]", "invalid_type", "non-negative integer"),
        ({"model": "m", "input": [1, True]}, "input[1]", "invalid_type", "token id"),
        ({"model": "m", "input": [1, 2.5]}, "input[1]", "invalid_type", "token id"),
        ({"model": "m", "input": [1, "a"]}, "input[1]", "invalid_type", "token id"),
        ({"model": "m", "input": [[1], []]}, "input[1]", "invalid_value", "empty token array"),
        ({"model": "m", "input": [[1], [2, -1]]}, "input[1][1]", "invalid_type", "token id"),
        ({"model": "m", "input": [[1], [False]]}, "input[1][0]", "invalid_type", "token id"),
        ({"model": "m", "input": [[1], "a"]}, "input[1]", "invalid_type", "token array like"),
        ({"model": "m", "input": [True]}, "input[0]", "invalid_type", "a string, a token id"),
        ({"model": "m", "input": [None]}, "input[0]", "invalid_type", "a string, a token id"),
        (
            {"model": "m", "input": "x", "encoding_format": "int8"},
            "encoding_format",
            "invalid_value",
            "must be 'float' or 'base64', got 'int8'",
        ),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions", "invalid_value", "at least"),
        ({"model": "m", "input": "x", "dimensions": -4}, "dimensions", "invalid_value", "got -4"),
        ({"model": "m", "input": "x", "dimensions": 1.5}, "dimensions", "invalid_type", "integer"),
        ({"model": "m", "input": "x", "dimensions": True}, "dimensions", "invalid_type", "integ"),
        ({"model": "m", "input": "x", "dimensions": "8"}, "dimensions", "invalid_type", "integ"),
        ({"model": "m", "input": "x", "user": 7}, "user", "invalid_type", "`user` must be a str"),
        ({"model": "m", "input": "x", "task_type": "nope"}, "task_type", "invalid_value", "nope"),
        ({"model": "m", "input": "x", "task_type": 3}, "task_type", "invalid_type", "string"),
        ({"model": "m", "input": "x", "input_type": "x"}, "input_type", "invalid_value", "one of"),
    ],
)
def test_validation_errors_name_the_field(body, param, code, message):
    error = invalid(emb.validate_embeddings_request, body)
    assert (error.param, error.code) == (param, code)
    assert message in error.message


# ============================================================================ estimates


def test_estimate_input_tokens():
    # Text by the tokenizer (routing/wire/tokens.py), at least 1 an item; token arrays exactly.
    texts = ["hello world", "the quick brown fox", "a"]
    counted = [max(1, tokens.count_text(t)) for t in texts]
    assert emb.estimate_input_tokens({"input": texts}) == sum(counted) == 2 + 4 + 1
    assert emb.estimate_input_tokens({"input": [[1, 2, 3], [4]]}) == 4
    assert emb.estimate_input_tokens({"input": "x" * 40}) == tokens.count_text("x" * 40)
    assert emb.estimate_input_tokens({}) == 0


# ============================================================================ OpenAI upstream


def test_to_openai_upstream_asks_for_floats_and_drops_task_type():
    request = emb.validate_embeddings_request(
        {
            "model": "orca-embed",
            "input": ["a"],
            "encoding_format": "base64",
            "dimensions": 64,
            "input_type": "query",
            "user": "u",
            "provider": {"x": 1},
        }
    )
    body = emb.to_openai_upstream(request, "text-embedding-3-small")
    assert body == {
        "model": "text-embedding-3-small",
        "input": ["a"],
        "encoding_format": "float",
        "dimensions": 64,
        "user": "u",
        "provider": {"x": 1},
    }
    assert request["model"] == "orca-embed" and request["task_type"] == "RETRIEVAL_QUERY"


def test_openai_upstream_response_normalises_order_and_usage():
    data = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [3, 4.5]},
            {"object": "embedding", "index": 0, "embedding": [0.25, -1]},
        ],
        "model": "text-embedding-3-small-2024",
        "usage": {"prompt_tokens": 7, "total_tokens": 7, "cost": 0.001},
    }
    answer = emb.openai_upstream_response(data, "fallback")
    assert answer == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.25, -1.0]},
            {"object": "embedding", "index": 1, "embedding": [3.0, 4.5]},
        ],
        "model": "text-embedding-3-small-2024",
        "usage": {"prompt_tokens": 7, "total_tokens": 7, "cost": 0.001},
    }
    assert all(isinstance(v, float) for item in answer["data"] for v in item["embedding"])


def test_openai_upstream_response_decodes_base64_and_defaults_index_and_model():
    vector = [0.5, -0.25, 1.0]
    encoded = base64.b64encode(struct.pack("<3f", *vector)).decode()
    answer = emb.openai_upstream_response({"data": [{"embedding": encoded}]}, "up-model")
    assert answer["data"] == [{"object": "embedding", "index": 0, "embedding": vector}]
    assert answer["model"] == "up-model"
    assert "usage" not in answer  # none sent: the caller estimates


@pytest.mark.parametrize(
    "usage",
    [None, "7", {}, {"prompt_tokens": "7"}, {"prompt_tokens": -1}, {"prompt_tokens": True}],
)
def test_openai_upstream_response_leaves_out_unusable_usage(usage):
    data = {"data": [{"index": 0, "embedding": [1.0]}], "model": "m", "usage": usage}
    assert "usage" not in emb.openai_upstream_response(data, "m")


def test_openai_upstream_response_fills_a_missing_total():
    data = {"data": [{"index": 0, "embedding": [1.0]}], "usage": {"prompt_tokens": 4}}
    assert emb.openai_upstream_response(data, "m")["usage"] == {
        "prompt_tokens": 4,
        "total_tokens": 4,
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({}, "no `data` array"),
        ({"data": []}, "no `data` array"),
        ({"data": "x"}, "no `data` array"),
        ({"data": [5]}, "data[0] is not an object"),
        ({"data": [{"index": 0}]}, "data[0].embedding must be a non-empty array"),
        ({"data": [{"index": 0, "embedding": []}]}, "non-empty array"),
        ({"data": [{"index": 0, "embedding": [1, "2"]}]}, "not a finite number"),
        ({"data": [{"index": 0, "embedding": [True]}]}, "not a finite number"),
        ({"data": [{"index": 0, "embedding": [float("inf")]}]}, "not a finite number"),
        ({"data": [{"index": 0, "embedding": "!!!"}]}, "not valid base64"),
        ({"data": [{"index": 0, "embedding": "AAAAAAA="}]}, "not a whole float32 vector"),
        ({"data": [{"index": 0, "embedding": ""}]}, "not a whole float32 vector"),
        ({"data": [{"index": 1, "embedding": [1]}]}, "index is 1"),
        (
            {"data": [{"index": 0, "embedding": [1]}, {"index": 0, "embedding": [2]}]},
            "data[1].index is 0",
        ),
        ({"data": [{"index": "0", "embedding": [1]}]}, "index is '0'"),
    ],
)
def test_openai_upstream_response_rejects_malformed_replies(data, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        emb.openai_upstream_response(data, "m")


# ============================================================================ Gemini upstream


def test_to_gemini_batch_maps_task_type_and_dimensions():
    request = emb.validate_embeddings_request(
        {"model": "orca", "input": ["a", "b"], "dimensions": 16, "input_type": "document"}
    )
    assert emb.to_gemini_batch(request, "gemini-embedding-001") == {
        "requests": [
            {
                "model": "models/gemini-embedding-001",
                "content": {"parts": [{"text": text}]},
                "taskType": "RETRIEVAL_DOCUMENT",
                "outputDimensionality": 16,
            }
            for text in ("a", "b")
        ]
    }


def test_to_gemini_batch_without_options_and_with_a_prefixed_model():
    request = emb.validate_embeddings_request({"model": "orca", "input": "a", "user": "u"})
    assert emb.to_gemini_batch(request, "models/text-embedding-004") == {
        "requests": [{"model": "models/text-embedding-004", "content": A}]
    }


def test_to_gemini_batch_refuses_token_arrays_and_keeps_every_input():
    tokens = emb.validate_embeddings_request({"model": "m", "input": [1, 2]})
    error = invalid(emb.to_gemini_batch, tokens, "g")
    assert error.param == "input" and "accept text only" in error.message
    # More than one upstream batch holds: the provider splits it (providers/gemini).
    many = emb.validate_embeddings_request({"model": "m", "input": [f"x{i}" for i in range(250)]})
    entries = emb.to_gemini_batch(many, "g")["requests"]
    assert [e["content"]["parts"][0]["text"] for e in entries] == many["input"]


def test_gemini_batch_response_in_order_with_the_estimate():
    data = {"embeddings": [{"values": [0.1, 2]}, {"values": [-3, 0.5]}]}
    assert emb.gemini_batch_response(data, "gemini-embedding-001", 9, expected=2) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, 2.0]},
            {"object": "embedding", "index": 1, "embedding": [-3.0, 0.5]},
        ],
        "model": "gemini-embedding-001",
        "usage": {"prompt_tokens": 9, "total_tokens": 9},
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({}, "no `embeddings` array"),
        ({"embeddings": []}, "no `embeddings` array"),
        ({"embedding": {"values": [1]}}, "no `embeddings` array"),
        ({"embeddings": [[1.0]]}, r"embeddings\[0\] is not an object"),
        ({"embeddings": [{"values": []}]}, "non-empty array"),
        ({"embeddings": [{"values": None}]}, "non-empty array"),
        ({"embeddings": [{"values": [1]}, {"values": ["a"]}]}, "not a finite number"),
    ],
)
def test_gemini_batch_response_rejects_malformed_replies(data, message):
    with pytest.raises(ValueError, match=message):
        emb.gemini_batch_response(data, "m", 1)


def test_gemini_batch_response_checks_the_count_when_told():
    data = {"embeddings": [{"values": [1]}]}
    with pytest.raises(ValueError, match="returned 1 embeddings for 2"):
        emb.gemini_batch_response(data, "m", 1, expected=2)
    assert len(emb.gemini_batch_response(data, "m", 1)["data"]) == 1


# ============================================================================ Gemini surface


def test_validate_gemini_batch_as_google_genai_sends_it():
    request = emb.validate_gemini_embed_request(
        SDK_BATCH, "batchEmbedContents", "gemini-embedding-001"
    )
    assert request == {
        "model": "gemini-embedding-001",
        "input": ["a", "b"],
        "encoding_format": "float",
        "dimensions": 2,
        "task_type": "RETRIEVAL_QUERY",
    }


def test_validate_gemini_joins_parts_and_takes_snake_case_and_no_model():
    body = {
        "requests": [
            {
                "content": {"parts": [{"text": "x"}, {"text": ""}, {"text": "y"}]},
                "task_type": "CLUSTERING",
                "output_dimensionality": 4.0,
            }
        ]
    }
    assert emb.validate_gemini_embed_request(body, "batchEmbedContents", "g") == {
        "model": "g",
        "input": ["x\ny"],
        "encoding_format": "float",
        "dimensions": 4,
        "task_type": "CLUSTERING",
    }  # an integral float is accepted, as google-genai may send one


def test_validate_gemini_embed_content():
    body = {
        "model": "models/text-embedding-004",
        "content": {"parts": [{"text": "hello"}]},
        "taskType": "TASK_TYPE_UNSPECIFIED",
    }
    assert emb.validate_gemini_embed_request(body, "embedContent", "text-embedding-004") == {
        "model": "text-embedding-004",
        "input": ["hello"],
        "encoding_format": "float",
    }


@pytest.mark.parametrize(
    ("body", "action", "param", "code", "message"),
    [
        ({}, "predict", None, "invalid_value", "unknown embeddings method 'predict'"),
        ([], SINGLE, None, "invalid_type", "must be a JSON object"),
        ({}, BATCH, "requests", "missing_required_parameter", "is required"),
        ({"requests": {}}, BATCH, "requests", "invalid_type", "an array"),
        ({"requests": []}, BATCH, "requests", "invalid_value", "must not be empty"),
        ({"requests": [{"content": A}] * 2049}, BATCH, "requests", "invalid_value", "at most 2048"),
        ({"requests": ["a"]}, BATCH, "requests[0]", "invalid_type", "an object"),
        (
            {"requests": [{"model": "models/other", "content": A}]},
            BATCH,
            "requests[0].model",
            "invalid_value",
            "'models/other' but the URL asks for models/g",
        ),
        (
            {"requests": [{"content": A}, {"taskType": "CLUSTERING"}]},
            BATCH,
            "requests[1].content",
            "missing_required_parameter",
            "`requests[1].content` is required",
        ),
        ({"content": "hi"}, SINGLE, "content", "invalid_type", "Content object"),
        ({"content": {}}, SINGLE, "content.parts", "invalid_value", "non-empty array"),
        ({"content": {"parts": []}}, SINGLE, "content.parts", "invalid_value", "non-empty"),
        ({"content": {"parts": ["a"]}}, SINGLE, "content.parts[0]", "invalid_type", "Part"),
        (
            {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}},
            SINGLE,
            "content.parts[0]",
            "invalid_value",
            "only text parts can be embedded",
        ),
        (
            {"content": {"parts": [{"text": 5}]}},
            SINGLE,
            "content.parts[0].text",
            "invalid_type",
            "must be a string",
        ),
        (
            {"content": {"parts": [{"text": ""}]}},
            SINGLE,
            "content.parts",
            "invalid_value",
            "hold no text",
        ),
        (
            {"content": A, "taskType": "SUMMARY"},
            SINGLE,
            "taskType",
            "invalid_value",
            "got 'SUMMARY'",
        ),
        ({"content": A, "task_type": 1}, SINGLE, "task_type", "invalid_type", "must be a string"),
        (
            {"content": A, "outputDimensionality": 0},
            SINGLE,
            "outputDimensionality",
            "invalid_value",
            "at least 1",
        ),
        (
            {"content": A, "output_dimensionality": "8"},
            SINGLE,
            "output_dimensionality",
            "invalid_type",
            "an integer",
        ),
        (
            {
                "requests": [
                    {"content": A, "outputDimensionality": 8},
                    {"content": B, "outputDimensionality": 16},
                ]
            },
            BATCH,
            "requests[1].outputDimensionality",
            "invalid_value",
            "is 16 but `requests[0].outputDimensionality` is 8",
        ),
        (
            {
                "requests": [
                    {"content": A, "outputDimensionality": 8},
                    {"content": B},
                ]
            },
            BATCH,
            "requests[1].outputDimensionality",
            "invalid_value",
            "same value",
        ),
        (
            {
                "requests": [
                    {"content": A, "taskType": "RETRIEVAL_QUERY"},
                    {"content": B, "taskType": "RETRIEVAL_DOCUMENT"},
                ]
            },
            BATCH,
            "requests[1].taskType",
            "invalid_value",
            "same value",
        ),
    ],
)
def test_gemini_validation_errors_name_the_field(body, action, param, code, message):
    error = invalid(emb.validate_gemini_embed_request, body, action, "g")
    assert (error.param, error.code) == (param, code)
    assert message in error.message


def test_gemini_native_body_sets_the_upstream_model():
    body = emb.gemini_native_body(SDK_BATCH, "batchEmbedContents", "gemini-embedding-exp")
    assert [entry["model"] for entry in body["requests"]] == ["models/gemini-embedding-exp"] * 2
    assert body["requests"][0]["title"] == "T" and body["requests"][1]["taskType"] == (
        "retrieval_query"
    )
    assert SDK_BATCH["requests"][0]["model"] == "models/gemini-embedding-001"  # not mutated


def test_gemini_native_body_turns_embed_content_into_a_batch():
    body = {
        "model": "models/orca-embed",
        "content": {"parts": [{"text": "hi"}]},
        "taskType": "RETRIEVAL_DOCUMENT",
        "title": "Doc",
        "outputDimensionality": 32,
    }
    assert emb.gemini_native_body(body, "embedContent", "gemini-embedding-001") == {
        "requests": [
            {
                "content": {"parts": [{"text": "hi"}]},
                "taskType": "RETRIEVAL_DOCUMENT",
                "title": "Doc",
                "outputDimensionality": 32,
                "model": "models/gemini-embedding-001",
            }
        ]
    }


def test_gemini_native_body_keeps_a_batch_larger_than_gemini_takes():
    # The provider splits it into batches of 100 (routing/providers/gemini/embeddings.py).
    body = {"requests": [{"content": A}] * 150}
    sent = emb.gemini_native_body(body, "batchEmbedContents", "g")
    assert len(sent["requests"]) == 150 and {e["model"] for e in sent["requests"]} == {"models/g"}


def test_hostile_gemini_bodies_are_400s_naming_the_field():
    entry = {"content": A}
    error = invalid(
        emb.validate_gemini_embed_request,
        {"requests": [{**entry, "model": [1]}]},
        "batchEmbedContents",
        "g",
    )
    assert error.param == "requests[0].model"
    error = invalid(
        emb.validate_gemini_embed_request,
        {**entry, "outputDimensionality": 1e20},
        "embedContent",
        "g",
    )
    assert error.param == "outputDimensionality" and "at most 65536" in error.message


def _sdk_parse(payload: dict) -> genai_types.EmbedContentResponse:
    """What google-genai's embed_content returns for this Gemini API answer."""
    mapped = genai_models._EmbedContentResponse_from_mldev(payload)
    return genai_types.EmbedContentResponse._from_response(response=mapped, kwargs={})


def test_render_gemini_batch_and_single_parse_with_google_genai():
    answer = canonical_answer([0.5, 1.5], [2.0, -1.0])
    batch = emb.render_gemini_embed_response(answer, "batchEmbedContents")
    assert batch == {"embeddings": [{"values": [0.5, 1.5]}, {"values": [2.0, -1.0]}]}
    parsed = _sdk_parse(batch)
    assert [e.values for e in parsed.embeddings or []] == [[0.5, 1.5], [2.0, -1.0]]

    single = emb.render_gemini_embed_response(canonical_answer([0.25]), "embedContent")
    assert single == {"embedding": {"values": [0.25]}}
    with pytest.raises(ValueError, match="one embedding, not 2"):
        emb.render_gemini_embed_response(answer, "embedContent")


# ============================================================================ OpenAI answers


def test_render_openai_float_is_the_canonical_answer():
    answer = canonical_answer([0.1, 0.2])
    assert emb.render_openai_embeddings(answer, "float") == answer


def test_render_openai_base64_decodes_as_the_openai_sdk_does():
    vectors = ([0.1, -0.2, 3.4028234663852886e38, 1e-45], [1.0 / 3.0, 0.0, -0.0, 123.456])
    answer = canonical_answer(*vectors)
    rendered = emb.render_openai_embeddings(answer, "base64")
    assert all(isinstance(item["embedding"], str) for item in rendered["data"])
    assert rendered["usage"] == answer["usage"] and rendered["model"] == answer["model"]
    assert answer["data"][0]["embedding"] == list(vectors[0])  # the canonical one is untouched
    # Little-endian float32, byte for byte.
    assert base64.b64decode(rendered["data"][1]["embedding"]) == struct.pack("<4f", *vectors[1])

    # The SDK's own post-parser, as it runs when the caller left encoding_format unset.
    # The SDK builds its models without validation (construct_type), then decodes.
    response = construct_type(type_=CreateEmbeddingResponse, value=rendered)
    parsed = parse_embedding_response(response, encoding_format=omit)
    assert [item.embedding for item in parsed.data] == [float32(v) for v in vectors]


def test_base64_vector_round_trip():
    values = [0.5, -2.25, 1e-3]
    encoded = emb.encode_base64_vector(values)
    assert emb.decode_base64_vector(encoded) == float32(values)
    assert encoded == base64.b64encode(struct.pack("<3f", *values)).decode()


def test_base64_byte_order_is_swapped_on_big_endian_hosts(monkeypatch):
    # array('f') packs in the host's order: with the big-endian flag set, both directions
    # swap, so the wire stays little-endian (simulated here on a little-endian host).
    if emb.sys.byteorder == "big":
        pytest.skip("the host itself is big-endian")
    monkeypatch.setattr(emb, "_BIG_ENDIAN", True)
    swapped = emb.encode_base64_vector([1.5, -2.0])
    assert base64.b64decode(swapped) == struct.pack(">2f", 1.5, -2.0)
    assert emb.decode_base64_vector(swapped) == [1.5, -2.0]
