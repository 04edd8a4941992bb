"""POST /v1/embeddings and Gemini embedContent / batchEmbedContents through a live server,
with the official openai and google-genai SDKs as clients, against the fake OpenAI-kind and
Gemini-kind upstreams and the demo kind: vectors, encodings, usage rows, errors, fallbacks."""

import base64
import struct
from decimal import Decimal

import httpx
import pytest
from google import genai
from google.genai import types

from routing.wire import tokens
from tests.conftest import GEMINI_CREDENTIAL, UPSTREAM_CREDENTIAL
from tests.fakes.gemini_upstream import embedding_values
from tests.fakes.openai_upstream import embedding_tokens, embedding_vector
from tests.usage import wait_for_usage

PICO_PER_TOKEN = 100_000  # $0.10 per million input tokens, in picodollars
TEXTS = ["the quick brown fox", "jumps over the lazy dog today"]


def f32(values: list[float]) -> list[float]:
    """What a float survives as through float32 (base64 carries float32)."""
    return [struct.unpack("<f", struct.pack("<f", v))[0] for v in values]


@pytest.fixture
def gemini_sdk(live):
    return genai.Client(
        api_key=live.key,
        http_options=types.HttpOptions(base_url=live.server.base_url, retry_options=None),
    )


def post(live, body: dict, key: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{live.base_url}/embeddings",
        json=body,
        headers={"Authorization": f"Bearer {key or live.key}"},
        timeout=10,
    )


# --- OpenAI clients --------------------------------------------------------------------------


def test_openai_sdk_floats_from_an_openai_kind_upstream(live, sdk, upstream, django_db_blocker):
    raw = sdk.embeddings.with_raw_response.create(
        model="fake/embed", input=TEXTS, encoding_format="float", dimensions=5
    )
    result = raw.parse()

    assert [d.embedding for d in result.data] == [embedding_vector(t, 5) for t in TEXTS]
    assert [d.index for d in result.data] == [0, 1]
    tokens = sum(embedding_tokens(t) for t in TEXTS)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (tokens, tokens)
    (seen,) = upstream.requests
    assert seen.path == "/v1/embeddings"
    assert seen.json["model"] == "text-embedding-fake"
    assert seen.json["input"] == TEXTS and seen.json["dimensions"] == 5
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_CREDENTIAL}"

    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert (record.endpoint, record.model, record.upstream_model) == (
        "embeddings",
        "fake/embed",
        "text-embedding-fake",
    )
    assert (record.prompt_tokens, record.completion_tokens) == (tokens, 0)
    assert record.usage_reported is True and record.status_code == 200
    assert record.cost_pico == tokens * PICO_PER_TOKEN
    assert record.workspace_id == live.workspace.id


def test_openai_sdk_default_base64_is_decoded_to_the_same_vectors(sdk, upstream):
    # openai-python asks for base64 when the caller names no format, and decodes it.
    result = sdk.embeddings.create(model="fake/embed", input="hello embeddings")
    assert upstream.requests[0].json["encoding_format"] == "base64"
    assert result.data[0].embedding == f32(embedding_vector("hello embeddings", 8))


def test_openai_sdk_against_a_gemini_upstream_is_translated(
    live, sdk, upstreams, django_db_blocker
):
    raw = sdk.embeddings.with_raw_response.create(
        model="gemini-fake/embed", input=TEXTS, dimensions=4, extra_body={"input_type": "query"}
    )
    result = raw.parse()  # base64 asked for: Orca encodes Gemini's floats itself

    assert [d.embedding for d in result.data] == [f32(embedding_values(t, 4)) for t in TEXTS]
    assert result.model == "gemini-embedding-fake"
    (seen,) = upstreams["gemini"].requests
    assert seen.path.endswith("/models/gemini-embedding-fake:batchEmbedContents")
    assert seen.headers["x-goog-api-key"] == GEMINI_CREDENTIAL
    assert "sk-orca" not in str(seen.headers)
    entries = seen.json["requests"]
    assert [e["content"]["parts"][0]["text"] for e in entries] == TEXTS
    assert {e["model"] for e in entries} == {"models/gemini-embedding-fake"}
    assert {e["outputDimensionality"] for e in entries} == {4}
    assert {e["taskType"] for e in entries} == {"RETRIEVAL_QUERY"}

    # Gemini reports no usage: Orca bills its own count (the tokenizer's) and says so.
    estimate = sum(tokens.count_text(t) for t in TEXTS)
    assert result.usage.prompt_tokens == estimate
    record = wait_for_usage(django_db_blocker, raw.headers["x-orca-request-id"])
    assert record.usage_reported is False
    assert record.prompt_tokens == estimate
    assert record.cost_pico == estimate * PICO_PER_TOKEN


def test_more_inputs_than_one_gemini_batch_go_up_as_several(sdk, upstreams):
    texts = [f"item number {i}" for i in range(230)]
    result = sdk.embeddings.create(model="gemini-fake/embed", input=texts, encoding_format="float")

    assert [d.embedding for d in result.data] == [embedding_values(t, 8) for t in texts]
    assert [d.index for d in result.data] == list(range(230))
    sizes = sorted(len(r.json["requests"]) for r in upstreams["gemini"].requests)
    assert sizes == [30, 100, 100]


def test_the_demo_kind_answers_locally_in_both_encodings(sdk):
    floats = sdk.embeddings.create(model="orca/demo-embed", input=TEXTS, encoding_format="float")
    packed = sdk.embeddings.create(model="orca/demo-embed", input=TEXTS)  # base64
    assert len(floats.data) == 2 and len(floats.data[0].embedding) == 256
    assert [d.embedding for d in packed.data] == [f32(d.embedding) for d in floats.data]
    again = sdk.embeddings.create(model="orca/demo-embed", input=TEXTS[0], encoding_format="float")
    assert again.data[0].embedding == floats.data[0].embedding  # deterministic
    assert floats.data[0].embedding != floats.data[1].embedding
    norm = sum(v * v for v in floats.data[0].embedding)
    assert abs(norm - 1) < 1e-3


def test_raw_base64_is_little_endian_float32(live, upstream):
    response = post(live, {"model": "fake/embed", "input": "abc", "encoding_format": "base64"})
    assert response.status_code == 200, response.text
    packed = base64.b64decode(response.json()["data"][0]["embedding"])
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == f32(embedding_vector("abc", 8))


def test_a_fallback_chain_moves_from_a_failing_model(live, upstreams, django_db_blocker):
    body = {
        "model": "fake/embed-500",
        "route": "fallback",
        "models": ["fake/embed-500", "gemini-fake/embed"],
        "input": ["a b c"],
        "encoding_format": "float",
    }
    response = post(live, body)
    assert response.status_code == 200, response.text
    assert response.headers["x-orca-fallback-level"] == "1"
    assert response.headers["x-orca-fallback-model"] == "gemini-fake/embed"
    assert response.json()["data"][0]["embedding"] == embedding_values("a b c", 8)
    assert "route" not in upstreams["openai"].requests[0].json
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    assert record.model == "gemini-fake/embed" and record.fallback_level == 1
    assert [a["model"] for a in record.attempts] == ["fake/embed-500"]


def test_an_upstream_failure_is_relayed_and_not_charged(live, upstream, django_db_blocker):
    response = post(live, {"model": "fake/embed-500", "input": "x"})
    assert response.status_code == 500
    assert response.json()["error"]["message"].startswith("The fake upstream had an internal")
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    assert record.status_code == 500 and record.cost_pico == 0


def test_a_credential_the_upstream_echoes_never_reaches_the_client(live, upstream):
    response = post(live, {"model": "fake/embed-leaky", "input": "x"})
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_auth_failed"
    assert "Incorrect API key" in response.text
    assert UPSTREAM_CREDENTIAL not in response.text and live.key not in response.text


# --- bad input: a 400 naming the problem, before any upstream call -----------------------------


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"model": "fake/embed"}, "input", "input"),
        ({"model": "fake/embed", "input": ""}, "input", "empty string"),
        ({"model": "fake/embed", "input": []}, "input", "empty array"),
        ({"model": "fake/embed", "input": ["a", 3]}, "input[1]", "string like the other"),
        ({"model": "fake/embed", "input": [[1, -2]]}, "input[0][1]", "non-negative"),
        ({"model": "fake/embed", "input": {"a": 1}}, "input", "must be a string"),
        ({"model": "fake/embed", "input": "a", "encoding_format": "hex"}, "encoding_format", "hex"),
        ({"model": "fake/embed", "input": "a", "dimensions": 0}, "dimensions", "dimensions"),
        ({"model": "fake/embed", "input": "a", "dimensions": True}, "dimensions", "dimensions"),
        ({"input": "a"}, "model", "model"),
        ({"model": "gemini-fake/embed", "input": [[1, 2]]}, "input", "text only"),
        ({"model": "fake/chat", "input": "a"}, "model", "does not serve embeddings"),
        ({"model": "nope/none", "input": "a"}, "model", "nope/none"),
    ],
)
def test_bad_requests_are_refused_before_any_upstream_call(live, upstreams, body, param, fragment):
    response = post(live, body)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["param"] == param and fragment in error["message"], error
    assert all(not fake.requests for fake in upstreams.values())


@pytest.mark.parametrize("raw", [b"", b"[1]", b"{not json", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_an_object_is_a_400(live, upstreams, raw):
    response = httpx.post(
        f"{live.base_url}/embeddings",
        content=raw,
        headers={"Authorization": f"Bearer {live.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]
    assert all(not fake.requests for fake in upstreams.values())


def test_an_embeddings_model_does_not_serve_chat(sdk, upstreams):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fake/embed", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "unsupported_endpoint"
    assert "does not serve chat" in caught.value.message
    assert all(not fake.requests for fake in upstreams.values())


def test_a_key_without_the_model_and_no_key_are_refused(live, upstreams, db_access):
    _, narrow = live.new_key(name="narrow", allowed_models=["fake/chat"])
    refused = post(live, {"model": "fake/embed", "input": "a"}, key=narrow)
    assert refused.status_code in (403, 404), refused.text
    anonymous = httpx.post(f"{live.base_url}/embeddings", json={"model": "fake/embed"})
    assert anonymous.status_code == 401
    assert all(not fake.requests for fake in upstreams.values())


def test_each_workspace_is_billed_for_its_own_calls(live, upstream, django_db_blocker):
    response = post(live, {"model": "fake/embed", "input": "one two"}, key=live.other_key)
    assert response.status_code == 200, response.text
    record = wait_for_usage(django_db_blocker, response.headers["x-orca-request-id"])
    assert record.workspace_id == live.other_workspace.id


# --- Gemini clients --------------------------------------------------------------------------


def test_google_genai_embed_content_against_a_gemini_upstream(gemini_sdk, upstreams):
    result = gemini_sdk.models.embed_content(
        model="gemini-fake/embed",
        contents=TEXTS,
        config=types.EmbedContentConfig(output_dimensionality=3, task_type="RETRIEVAL_DOCUMENT"),
    )
    assert [e.values for e in result.embeddings] == [embedding_values(t, 3) for t in TEXTS]
    (seen,) = upstreams["gemini"].requests
    assert seen.path.endswith("/models/gemini-embedding-fake:batchEmbedContents")
    assert [e["model"] for e in seen.json["requests"]] == ["models/gemini-embedding-fake"] * 2


def test_google_genai_embed_content_against_an_openai_kind_upstream(gemini_sdk, upstreams):
    result = gemini_sdk.models.embed_content(
        model="fake/embed", contents="hello there", config={"output_dimensionality": 6}
    )
    assert [e.values for e in result.embeddings] == [embedding_vector("hello there", 6)]
    (seen,) = upstreams["openai"].requests
    assert seen.path == "/v1/embeddings"
    assert seen.json["input"] == ["hello there"] and seen.json["dimensions"] == 6
    assert seen.json["encoding_format"] == "float"


def test_google_genai_against_the_demo_kind(gemini_sdk):
    result = gemini_sdk.models.embed_content(model="orca/demo-embed", contents=["a", "b"])
    assert [len(e.values) for e in result.embeddings] == [256, 256]


def test_embed_content_single_form_and_bad_bodies(live, upstreams):
    url = f"{live.server.base_url}/v1beta/models/gemini-fake/embed:embedContent"
    headers = {"x-goog-api-key": live.key}
    one = httpx.post(url, json={"content": {"parts": [{"text": "solo"}]}}, headers=headers)
    assert one.status_code == 200, one.text
    assert one.json() == {"embedding": {"values": embedding_values("solo", 8)}}
    assert one.headers["x-orca-cost"]

    for bad in ({}, {"content": {"parts": []}}, {"content": "text"}, [1]):
        response = httpx.post(url, json=bad, headers=headers)
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(upstreams["gemini"].requests) == 1


# --- the catalog ----------------------------------------------------------------------------


def test_models_lists_embedding_models_with_their_endpoint_type(sdk):
    listed = {m.id: m for m in sdk.models.list()}
    assert listed["fake/embed"].supported_endpoint_types == ["embeddings"]
    assert listed["gemini-fake/embed"].supported_endpoint_types == ["embeddings"]
    assert listed["orca/demo-embed"].supported_endpoint_types == ["embeddings"]
    assert listed["fake/chat"].supported_endpoint_types == ["openai"]
    assert listed["fake/embed"].pricing["completion"] == "0"


# --- found by review: splits, reservations, routers, pass-through fields ----------------------


def test_a_gemini_client_batch_over_100_is_split_on_pass_through(live, upstreams):
    url = f"{live.server.base_url}/v1beta/models/gemini-fake/embed:batchEmbedContents"
    entries = [{"content": {"parts": [{"text": f"t{i}"}]}} for i in range(150)]
    response = httpx.post(url, json={"requests": entries}, headers={"x-goog-api-key": live.key})
    assert response.status_code == 200, response.text
    assert [e["values"] for e in response.json()["embeddings"]] == [
        embedding_values(f"t{i}", 8) for i in range(150)
    ]
    assert sorted(len(r.json["requests"]) for r in upstreams["gemini"].requests) == [50, 100]


def test_a_split_whose_part_fails_answers_that_failure(live, upstreams):
    texts = [f"x{i}" for i in range(120)]
    texts[110] = "orca-fault:status_500"  # the second batch fails upstream
    response = post(live, {"model": "gemini-fake/embed", "input": texts})
    assert response.status_code in (500, 502), response.text
    # The other part's connection went back to the pool: the next call is served.
    again = post(live, {"model": "gemini-fake/embed", "input": ["fine"] * 120})
    assert again.status_code == 200, again.text


def test_openai_pass_through_leaves_out_orcas_own_fields(live, upstream):
    body = {"model": "fake/embed", "input": "a", "input_type": "query", "task_type": "query"}
    assert post(live, body).status_code == 200
    sent = upstream.requests[0].json
    assert "input_type" not in sent and "task_type" not in sent


def test_the_reservation_holds_the_most_the_input_can_cost(live, upstream, db_access):
    from billing.selectors import balance_pico
    from billing.services import grant_credits
    from workspaces import services
    from workspaces.models import Workspace

    # $0.00006 buys 600 tokens at $0.10/M; "a " * 999 + "a" is 1,000 tokens to the fake
    # (a word a token) but 500 to the four-characters rule.
    poor = Workspace.objects.create(slug="embed-poor", name="Embed poor")
    grant_credits(poor.id, Decimal("0.00006"))
    _, key = services.create_api_key(poor)
    response = post(live, {"model": "fake/embed", "input": "a " * 999 + "a"}, key=key)
    assert response.status_code == 402, response.text  # refused: it might cost more than held
    assert not upstream.requests
    assert balance_pico(poor.id) >= 0


def test_a_router_takes_a_batch_whose_inputs_each_fit(live, upstream, db_access):
    from routing.models import Router

    Router.objects.update_or_create(
        workspace=live.workspace,
        name="embedder",
        defaults={"candidates": ["fake/embed"], "strategy": "cheapest", "enabled": True},
    )
    text = "word " * 600  # ~600 tokens each; 20 of them exceed the 8,192 context together
    response = post(live, {"model": "orcarouter/embedder", "input": [text] * 20})
    assert response.status_code == 200, response.text
    assert response.headers["x-orca-resolved-model"] == "fake/embed"
