"""Proves the fakes' embeddings endpoints speak the real wire formats.

The official SDKs (openai, google-genai) are pointed straight at the fakes, without Orca; raw
HTTP covers the refusals the SDKs cannot produce. The last tests feed the bodies Orca's wire
translation builds to the fakes' own checks, and the fakes' answers back to the translation.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from openai import OpenAI

from routing.wire import embeddings as emb

from . import gemini_upstream
from .gemini_upstream import FakeGeminiUpstream, embedding_values
from .openai_upstream import FakeOpenAIUpstream, embedding_vector


def float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


# ================================================================================== OpenAI


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeOpenAIUpstream]:
    with FakeOpenAIUpstream() as upstream:
        yield upstream


@pytest.fixture
def client(openai_fake: FakeOpenAIUpstream) -> OpenAI:
    openai_fake.reset()
    # No retries: the 429 case would otherwise honour Retry-After: 7.
    return OpenAI(base_url=openai_fake.base_url, api_key=openai_fake.api_key, max_retries=0)


def _openai_post(fake: FakeOpenAIUpstream, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    return httpx.post(f"{fake.base_url}/embeddings", json=body, headers=headers, timeout=10)


def test_openai_sdk_asks_for_base64_by_default_and_decodes_it(
    openai_fake: FakeOpenAIUpstream, client: OpenAI
) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["hello there", "x"])

    recorded = openai_fake.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/embeddings")
    assert recorded.headers["authorization"] == f"Bearer {openai_fake.api_key}"
    # openai-python 3.x adds encoding_format=base64 when the caller set none.
    assert recorded.json == {
        "model": "text-embedding-3-small",
        "input": ["hello there", "x"],
        "encoding_format": "base64",
    }
    assert result.object == "list" and result.model == "text-embedding-3-small"
    assert [item.index for item in result.data] == [0, 1]
    # The SDK turned the base64 float32 back into floats.
    assert result.data[0].embedding == float32(embedding_vector("hello there", 8))
    assert result.data[1].embedding == float32(embedding_vector("x", 8))
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)


def test_openai_float_answer_with_dimensions(
    openai_fake: FakeOpenAIUpstream, client: OpenAI
) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-large", input="one two", dimensions=5, encoding_format="float"
    )
    assert openai_fake.requests[-1].json["encoding_format"] == "float"
    vector = result.data[0].embedding
    assert vector == embedding_vector("one two", 5)
    assert abs(sum(v * v for v in vector) - 1.0) < 1e-9  # unit length, as OpenAI's are
    assert embedding_vector("one two", 5) != embedding_vector("one three", 5)


def test_openai_explicit_base64_is_left_as_a_string(client: OpenAI) -> None:
    result = client.embeddings.create(model="m", input="hi", encoding_format="base64")
    encoded = result.data[0].embedding
    assert isinstance(encoded, str)  # the SDK decodes only when it chose the format
    assert list(struct.unpack("<8f", base64.b64decode(encoded))) == float32(
        embedding_vector("hi", 8)
    )


def test_openai_token_arrays(client: OpenAI) -> None:
    flat = client.embeddings.create(model="m", input=[1, 2, 3], encoding_format="float")
    assert len(flat.data) == 1 and flat.usage.prompt_tokens == 3
    assert flat.data[0].embedding == embedding_vector([1, 2, 3], 8)
    nested = client.embeddings.create(model="m", input=[[1, 2], [3]], encoding_format="float")
    assert len(nested.data) == 2 and nested.usage.prompt_tokens == 3


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"input": "x"}, "you must provide a model parameter", None),
        ({"model": "m"}, "'input' is a required property", None),
        ({"model": "m", "input": ""}, "'$.input' is invalid", None),
        ({"model": "m", "input": []}, "'$.input' is invalid", None),
        ({"model": "m", "input": ["a", ""]}, "'$.input' is invalid", None),
        ({"model": "m", "input": ["x"] * 2049}, "'$.input' is invalid", None),
        ({"model": "m", "input": [1, -1]}, "'$.input' is invalid", None),
        ({"model": "m", "input": [[1], []]}, "'$.input' is invalid", None),
        ({"model": "m", "input": 5}, "'$.input' is invalid", None),
        (
            {"model": "m", "input": "x", "encoding_format": "int8"},
            "is not one of",
            "encoding_format",
        ),
        ({"model": "m", "input": "x", "dimensions": 0}, "Must be greater than 0", "dimensions"),
        ({"model": "m", "input": "x", "dimensions": -3}, "Must be greater than 0", "dimensions"),
        ({"model": "m", "input": "x", "dimensions": True}, "Must be greater than 0", "dimensions"),
        ({"model": "m", "input": "x", "dimensions": 2.5}, "Must be greater than 0", "dimensions"),
    ],
)
def test_openai_refuses_what_openai_refuses(
    openai_fake: FakeOpenAIUpstream, body: Any, message: str, param: str | None
) -> None:
    response = _openai_post(openai_fake, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]
    assert error["param"] == param


def test_openai_accepts_2048_items(openai_fake: FakeOpenAIUpstream) -> None:
    response = _openai_post(openai_fake, {"model": "m", "input": ["x"] * 2048})
    assert response.status_code == 200 and len(response.json()["data"]) == 2048


def test_openai_refusals_reach_the_sdk(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="m", input="")
    assert bad.value.status_code == 400 and "'$.input' is invalid" in bad.value.message


def test_openai_error_models_and_faults(openai_fake: FakeOpenAIUpstream, client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        client.embeddings.create(model="fake-error-429", input="x")
    assert limited.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="fake-error-500", input="x")
    malformed = _openai_post(openai_fake, {"model": "fake-malformed", "input": "x"})
    assert malformed.status_code == 200 and malformed.content == b"{not json"

    with pytest.raises(openai.InternalServerError) as fault:
        client.embeddings.create(model="m", input="please orca-fault:500")
    assert "Fault injected" in fault.value.message
    assert ("fault:500", "m") in openai_fake.events

    echoed = _openai_post(openai_fake, {"model": "m", "input": "orca-fault:echo_header"})
    assert echoed.status_code == 200 and echoed.headers["x-upstream-echo"] == openai_fake.api_key
    assert len(echoed.json()["data"][0]["embedding"]) == 8  # an embeddings body, not a chat one


def test_openai_wrong_key(openai_fake: FakeOpenAIUpstream) -> None:
    wrong = OpenAI(base_url=openai_fake.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.embeddings.create(model="m", input="x")


# ================================================================================== Gemini


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[FakeGeminiUpstream]:
    with FakeGeminiUpstream() as upstream:
        yield upstream


@pytest.fixture
def gemini(gemini_fake: FakeGeminiUpstream) -> genai.Client:
    gemini_fake.reset()
    return genai.Client(
        api_key=gemini_fake.api_key, http_options=types.HttpOptions(base_url=gemini_fake.base_url)
    )


def _gemini_post(
    fake: FakeGeminiUpstream, target: str, body: Any, **headers: str
) -> httpx.Response:
    sent = {"x-goog-api-key": fake.api_key, **headers}
    url = f"{fake.base_url}/v1beta/models/{target}"
    return httpx.post(url, json=body, headers=sent, timeout=10)


def _entry(text: str = "a", model: str = "models/g", **extra: Any) -> dict[str, Any]:
    return {"model": model, "content": {"parts": [{"text": text}]}, **extra}


def test_gemini_sdk_embed_content_is_a_batch(
    gemini_fake: FakeGeminiUpstream, gemini: genai.Client
) -> None:
    result = gemini.models.embed_content(
        model="gemini-embedding-001",
        contents=["What is your name?", "Favourite colour?"],
        config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT", output_dimensionality=3),
    )
    assert [e.values for e in result.embeddings or []] == [
        embedding_values("What is your name?", 3),
        embedding_values("Favourite colour?", 3),
    ]
    assert result.usage_metadata is None  # Gemini reports no usage for embeddings

    recorded = gemini_fake.requests[-1]
    # google-genai 3.x: the v1 API, and batchEmbedContents even for embed_content.
    assert recorded.path == "/v1/models/gemini-embedding-001:batchEmbedContents"
    assert recorded.headers["x-goog-api-key"] == gemini_fake.api_key
    assert recorded.json == {
        "requests": [
            {
                "content": {"parts": [{"text": text}], "role": "user"},
                "taskType": "RETRIEVAL_DOCUMENT",
                "outputDimensionality": 3,
                "model": "models/gemini-embedding-001",
            }
            for text in ("What is your name?", "Favourite colour?")
        ]
    }
    assert gemini_fake.rejections == []


def test_gemini_default_size_and_truncation_are_prefixes(gemini: genai.Client) -> None:
    full = gemini.models.embed_content(model="text-embedding-004", contents="same text")
    short = gemini.models.embed_content(
        model="text-embedding-004", contents="same text", config={"output_dimensionality": 2}
    )
    full_values = (full.embeddings or [])[0].values or []
    assert len(full_values) == gemini_upstream.EMBEDDING_DIMENSIONS == 8
    assert (short.embeddings or [])[0].values == full_values[:2]


def test_gemini_sdk_merges_a_multimodal_models_list_into_one_content(
    gemini_fake: FakeGeminiUpstream, gemini: genai.Client
) -> None:
    # For gemini-embedding-2 (multimodal) google-genai sends the list as one content.
    result = gemini.models.embed_content(model="gemini-embedding-2", contents=["a", "b"])
    sent = gemini_fake.requests[-1].json["requests"]
    assert [entry["content"]["parts"] for entry in sent] == [[{"text": "a"}, {"text": "b"}]]
    assert [e.values for e in result.embeddings or []] == [embedding_values("a\nb", 8)]


def test_gemini_embed_content_method(gemini_fake: FakeGeminiUpstream) -> None:
    body = {"content": {"parts": [{"text": "hi"}]}, "taskType": "retrieval_query", "title": "T"}
    response = _gemini_post(gemini_fake, "g:embedContent", body)
    assert response.status_code == 200
    assert response.json() == {"embedding": {"values": embedding_values("hi", 8)}}
    named = _gemini_post(gemini_fake, "g:embedContent", {**body, "model": "models/g"})
    assert named.status_code == 200


@pytest.mark.parametrize(
    ("target", "body", "message"),
    [
        ("g:batchEmbedContents", {}, "requests is not specified"),
        ("g:batchEmbedContents", {"requests": []}, "requests is not specified"),
        (
            "g:batchEmbedContents",
            {"requests": [_entry()] * 101},
            "at most 100 requests can be in one batch",
        ),
        ("g:batchEmbedContents", {"requests": [_entry()], "model": "x"}, 'Unknown name "model"'),
        ("g:batchEmbedContents", {"requests": ["a"]}, "expected an object"),
        (
            "g:batchEmbedContents",
            {"requests": [{"content": {"parts": [{"text": "a"}]}}]},
            "requests[0].model: the model None does not match",
        ),
        (
            "g:batchEmbedContents",
            {"requests": [_entry(), _entry(model="models/other")]},
            "requests[1].model: the model 'models/other' does not match the model in the URL",
        ),
        ("g:embedContent", _entry(model="models/h"), "does not match the model in the URL"),
        ("g:batchEmbedContents", {"requests": [{"model": "models/g"}]}, "content is not specified"),
        ("g:embedContent", {}, "EmbedContentRequest.content: content is not specified"),
        ("g:embedContent", {"content": {"parts": []}}, "contents.parts must not be empty"),
        ("g:embedContent", {"content": {}}, "contents.parts must not be empty"),
        ("g:embedContent", {"content": "hi"}, "expected a Content object"),
        (
            "g:embedContent",
            {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}},
            "required oneof field 'data'",
        ),
        ("g:embedContent", {"content": {"parts": [{"text": "a"}], "x": 1}}, 'Unknown name "x"'),
        ("g:embedContent", {**_entry(), "taskType": "SUMMARY"}, 'TaskType), "SUMMARY"'),
        ("g:embedContent", {**_entry(), "outputDimensionality": 0}, "between 1 and 3072"),
        ("g:embedContent", {**_entry(), "outputDimensionality": 4000}, "between 1 and 3072"),
        ("g:embedContent", {**_entry(), "outputDimensionality": "8"}, "(TYPE_INT32)"),
        ("g:embedContent", {**_entry(), "title": 3}, "title' (TYPE_STRING)"),
        ("g:embedContent", {**_entry(), "dimensions": 8}, 'Unknown name "dimensions"'),
        ("g:embedContent", [], "Expected an object"),
    ],
)
def test_gemini_refuses_what_gemini_refuses(
    gemini_fake: FakeGeminiUpstream, target: str, body: Any, message: str
) -> None:
    gemini_fake.reset()
    response = _gemini_post(gemini_fake, target, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert message in error["message"]
    assert gemini_fake.rejections == [error["message"]]
    assert ("invalid_request", "g") in gemini_fake.events


def test_gemini_accepts_100_requests_and_snake_case(gemini_fake: FakeGeminiUpstream) -> None:
    batch = {"requests": [_entry(str(i), output_dimensionality=2) for i in range(100)]}
    response = _gemini_post(gemini_fake, "g:batchEmbedContents", batch)
    assert response.status_code == 200
    values = response.json()["embeddings"]
    assert [v["values"] for v in values] == [embedding_values(str(i), 2) for i in range(100)]


def test_gemini_keys(gemini_fake: FakeGeminiUpstream) -> None:
    body = {"requests": [_entry()]}
    missing = httpx.post(
        f"{gemini_fake.base_url}/v1beta/models/g:batchEmbedContents", json=body, timeout=10
    )
    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
    query_key = httpx.post(
        f"{gemini_fake.base_url}/v1beta/models/g:batchEmbedContents",
        params={"key": gemini_fake.api_key},
        json=body,
        timeout=10,
    )
    assert query_key.status_code == 200

    wrong = genai.Client(
        api_key="wrong", http_options=types.HttpOptions(base_url=gemini_fake.base_url)
    )
    with pytest.raises(genai_errors.ClientError) as bad:
        wrong.models.embed_content(model="g", contents="x")
    assert bad.value.code == 400 and bad.value.message == (
        "API key not valid. Please pass a valid API key."
    )


def test_gemini_error_models_and_faults(
    gemini_fake: FakeGeminiUpstream, gemini: genai.Client
) -> None:
    with pytest.raises(genai_errors.ClientError) as limited:
        gemini.models.embed_content(model="gemini-error-429", contents="x")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(genai_errors.ServerError) as internal:
        gemini.models.embed_content(model="gemini-error-500", contents="x")
    assert internal.value.code == 500

    with pytest.raises(genai_errors.ServerError) as fault:
        gemini.models.embed_content(model="g", contents="orca-fault:500 please")
    assert "Fault injected" in (fault.value.message or "")
    assert ("fault:500", "g") in gemini_fake.events

    echoed = _gemini_post(gemini_fake, "g:embedContent", _entry("orca-fault:echo_header"))
    assert echoed.status_code == 200 and echoed.headers["x-upstream-echo"] == gemini_fake.api_key
    assert list(echoed.json()) == ["embedding"]  # an embedContent body, not a generate one


# ========================================================================== with Orca's wire


def test_the_wire_translation_passes_the_fakes_checks(
    openai_fake: FakeOpenAIUpstream, gemini_fake: FakeGeminiUpstream
) -> None:
    request = emb.validate_embeddings_request(
        {"model": "orca", "input": ["alpha", "beta"], "dimensions": 4, "input_type": "query"}
    )

    openai_reply = _openai_post(openai_fake, emb.to_openai_upstream(request, "text-embedding-3"))
    assert openai_reply.status_code == 200
    answer = emb.openai_upstream_response(openai_reply.json(), "text-embedding-3")
    assert [item["embedding"] for item in answer["data"]] == [
        embedding_vector("alpha", 4),
        embedding_vector("beta", 4),
    ]
    assert answer["usage"] == {"prompt_tokens": 2, "total_tokens": 2}

    gemini_fake.reset()
    batch = emb.to_gemini_batch(request, "gemini-embedding-001")
    gemini_reply = _gemini_post(gemini_fake, "gemini-embedding-001:batchEmbedContents", batch)
    assert gemini_reply.status_code == 200 and gemini_fake.rejections == []
    tokens = emb.estimate_input_tokens(request)
    answer = emb.gemini_batch_response(gemini_reply.json(), "gemini-embedding-001", tokens)
    assert [item["embedding"] for item in answer["data"]] == [
        embedding_values("alpha", 4),
        embedding_values("beta", 4),
    ]


def test_what_google_genai_sends_is_understood_and_forwarded(
    gemini_fake: FakeGeminiUpstream, gemini: genai.Client
) -> None:
    gemini.models.embed_content(
        model="orca-embed",
        contents=["x", "y"],
        config={"task_type": "semantic_similarity", "output_dimensionality": 2},
    )
    sent = gemini_fake.requests[-1].json
    canonical = emb.validate_gemini_embed_request(sent, "batchEmbedContents", "orca-embed")
    assert canonical == {
        "model": "orca-embed",
        "input": ["x", "y"],
        "encoding_format": "float",
        "dimensions": 2,
        "task_type": "SEMANTIC_SIMILARITY",
    }
    # Forwarded natively to another upstream model: the fake takes it as it is.
    forwarded = emb.gemini_native_body(sent, "batchEmbedContents", "gemini-embedding-001")
    reply = _gemini_post(gemini_fake, "gemini-embedding-001:batchEmbedContents", forwarded)
    assert reply.status_code == 200 and gemini_fake.rejections == []
    assert len(reply.json()["embeddings"]) == 2
