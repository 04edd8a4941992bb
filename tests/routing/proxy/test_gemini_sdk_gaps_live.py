"""google-genai's models.list, models.get and models.count_tokens against a live server,
and the same paths over raw httpx: Gemini's shapes, Gemini's error envelope, every kind."""

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from routing.wire import tokens
from tests.conftest import GEMINI_CREDENTIAL

CHAT_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


@pytest.fixture(params=["v1", "v1beta"])
def gemini_client(live, request):
    options = types.HttpOptions(
        base_url=live.server.base_url, api_version=request.param, timeout=20_000
    )
    return genai.Client(api_key=live.key, http_options=options)


def gemini_get(live, path: str, **params) -> httpx.Response:
    return httpx.get(live.server.base_url + path, params={"key": live.key, **params}, timeout=5)


# --- models.list / models.get ---------------------------------------------------------------


def test_models_list_and_get(gemini_client):
    models = {m.name: m for m in gemini_client.models.list()}
    assert {"models/gemini-fake/flash", "models/fake/chat", "models/gemini-fake/embed"} <= set(
        models
    )
    flash = models["models/gemini-fake/flash"]
    assert flash.display_name == "gemini-fake/flash"
    assert flash.supported_actions == CHAT_METHODS
    assert flash.input_token_limit == 200_000 and flash.output_token_limit == 8192
    assert flash.thinking is True
    assert models["models/gemini-fake/embed"].supported_actions == [
        "embedContent",
        "batchEmbedContents",
    ]
    one = gemini_client.models.get(model="fake/chat")
    assert one.name == "models/fake/chat"
    assert one.supported_actions == CHAT_METHODS and one.thinking is False
    assert gemini_client.models.get(model="models/fake/chat").name == "models/fake/chat"


def test_models_list_pages_through_everything(gemini_client, live):
    everything = [m.name for m in gemini_client.models.list()]
    paged = [m.name for m in gemini_client.models.list(config={"page_size": 2})]
    assert paged == everything and len(paged) > 2
    first = gemini_get(live, "/v1beta/models", pageSize=2).json()
    assert len(first["models"]) == 2 and first["nextPageToken"]
    second = gemini_get(live, "/v1beta/models", pageSize=2, pageToken=first["nextPageToken"])
    assert second.json()["models"][0]["name"] == everything[2]
    # Gemini's default page is 50 models (the session's catalog has more): a token then.
    default = gemini_get(live, "/v1beta/models").json()
    assert [m["name"] for m in default["models"]] == everything[:50]
    assert ("nextPageToken" in default) == (len(everything) > 50)
    assert "nextPageToken" not in gemini_get(live, "/v1beta/models", pageSize=1000).json()


def test_a_model_the_key_may_not_use_is_not_found(live, db_access):
    _, raw = live.new_key(name="demo only", allowed_models=["orca/*"])
    client = genai.Client(
        api_key=raw, http_options=types.HttpOptions(base_url=live.server.base_url)
    )
    assert [m.name for m in client.models.list()] == ["models/orca/demo", "models/orca/demo-embed"]
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.get(model="fake/chat")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"


def test_v1_models_shape_follows_the_way_the_key_is_sent(live):
    by_header = httpx.get(
        live.base_url + "/models", headers={"x-goog-api-key": live.key}, timeout=5
    ).json()
    # Gemini's list shape (a next-page token as the catalog is over one default page)
    assert set(by_header) - {"nextPageToken"} == {"models"}
    assert by_header["models"][0]["name"].startswith("models/")
    by_query = gemini_get(live, "/v1/models/gemini-fake/flash").json()
    assert by_query["name"] == "models/gemini-fake/flash"
    by_bearer = httpx.get(
        live.base_url + "/models", headers={"authorization": f"Bearer {live.key}"}, timeout=5
    ).json()
    assert by_bearer["object"] == "list"
    beta_by_bearer = httpx.get(
        live.server.base_url + "/v1beta/models",
        headers={"authorization": f"Bearer {live.key}"},
        timeout=5,
    ).json()
    assert "models" in beta_by_bearer  # /v1beta is always Gemini's


# --- countTokens ----------------------------------------------------------------------------


def test_count_tokens_asks_a_gemini_upstream(gemini_client, upstreams):
    counted = gemini_client.models.count_tokens(
        model="gemini-fake/flash", contents="one two three four"
    )
    assert counted.total_tokens == 4 + 3  # the fake: words plus 3
    seen = upstreams["gemini"].requests[-1]
    assert seen.path.endswith("/models/gemini-fake:countTokens")
    assert seen.headers["x-goog-api-key"] == GEMINI_CREDENTIAL
    assert seen.json == {"contents": [{"parts": [{"text": "one two three four"}], "role": "user"}]}


@pytest.mark.parametrize("named", [True, False])
def test_count_tokens_with_a_whole_request_swaps_the_model(live, upstreams, named):
    inner = {
        "contents": [{"role": "user", "parts": [{"text": "a b"}]}],
        "systemInstruction": {"parts": [{"text": "c d e"}]},
    }
    if named:  # the API requires it; Orca fills it in for a client that left it out
        inner["model"] = "models/gemini-fake/flash"
    response = httpx.post(
        live.server.base_url + "/v1beta/models/gemini-fake/flash:countTokens",
        json={"generateContentRequest": inner},
        headers={"x-goog-api-key": live.key},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"totalTokens": 2 + 3}
    sent = upstreams["gemini"].requests[-1].json["generateContentRequest"]
    assert sent == {**inner, "model": "models/gemini-fake"}


@pytest.mark.parametrize("model", ["fake/chat", "anthropic-fake/claude", "orca/demo"])
def test_count_tokens_estimates_for_other_kinds(gemini_client, upstreams, model):
    counted = gemini_client.models.count_tokens(model=model, contents="x" * 40)
    # The tokenizer's count of the canonical form: the text plus the chat framing.
    one_message = {"messages": [{"role": "user", "content": "x" * 40}]}
    assert counted.total_tokens == tokens.estimate_chat_prompt(one_message, model) == 12
    assert all(not fake.requests for fake in upstreams.values())


def test_count_tokens_upstream_errors_keep_gemini_s_envelope(gemini_client):
    with pytest.raises(genai_errors.ServerError) as info:
        gemini_client.models.count_tokens(model="gemini-fake/error-500", contents="hi")
    assert info.value.code == 500


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "status_name"),
    [
        ("POST", "/v1beta/models/fake/chat:countTokens", b"{not json", 400, "INVALID_ARGUMENT"),
        ("POST", "/v1beta/models/fake/chat:countTokens", b"{}", 400, "INVALID_ARGUMENT"),
        ("POST", "/v1/models/fake/chat:countTokens", b'{"contents": 5}', 400, "INVALID_ARGUMENT"),
        ("POST", "/v1beta/models/nope/nope:countTokens", b'{"contents": []}', 400, None),
        (
            "POST",
            "/v1beta/models/nope/nope:countTokens",
            b'{"contents": [{"parts": [{"text": "x"}]}]}',
            404,
            "NOT_FOUND",
        ),
        ("GET", "/v1beta/models/fake/chat:countTokens", b"", 405, None),
        ("POST", "/v1beta/models", b"{}", 405, None),
        ("GET", "/v1beta/models/nope/nope", b"", 404, "NOT_FOUND"),
        ("GET", "/v1beta/models?pageToken=%25%25", b"", 400, "INVALID_ARGUMENT"),
        ("GET", "/v1beta/models?pageSize=-3", b"", 400, "INVALID_ARGUMENT"),
        ("GET", "/v1/models/nope/nope", b"", 404, "NOT_FOUND"),
    ],
)
def test_every_error_on_these_paths_speaks_gemini(live, method, path, body, status, status_name):
    response = httpx.request(
        method,
        live.server.base_url + path,
        content=body,
        headers={"x-goog-api-key": live.key, "content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status and isinstance(error["message"], str)
    if status_name:
        assert error["status"] == status_name


@pytest.mark.parametrize(
    "path",
    ["/v1beta/models", "/v1beta/models/fake/chat", "/v1beta/models/fake/chat:countTokens"],
)
def test_a_bad_key_is_refused_in_gemini_s_envelope(live, path):
    method = "POST" if path.endswith(":countTokens") else "GET"
    response = httpx.request(
        method,
        live.server.base_url + path,
        json={"contents": [{"parts": [{"text": "x"}]}]} if method == "POST" else None,
        headers={"x-goog-api-key": "sk-orca-not-a-key"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
