"""The relay refuses management keys (sk-orca-mgmt-…) with its 401, in each client's
dialect and in every way that dialect sends a key, and the upstream never hears of it."""

import httpx
import pytest

from workspaces import services
from workspaces.models import Role

HELLO = [{"role": "user", "content": "hi"}]
GEMINI = "/v1beta/models/gemini-fake/flash:generateContent"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.fixture(scope="module")
def management_key(live, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        _, raw = services.create_management_key(live.workspace, role=Role.OWNER, name="relay")
    return raw


def _openai(response: httpx.Response) -> bool:
    error = response.json()["error"]
    return error["code"] == "invalid_api_key" and "management keys" in error["message"]


def _anthropic(response: httpx.Response) -> bool:
    body = response.json()
    return body["type"] == "error" and body["error"]["type"] == "authentication_error"


def _gemini(response: httpx.Response) -> bool:
    error = response.json()["error"]
    return error["code"] == 401 and error["status"] == "UNAUTHENTICATED"


def _bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


CASES = [
    ("chat", "POST", "/v1/chat/completions", {"model": "fake/chat", "messages": HELLO},
     _bearer, _openai),
    ("responses", "POST", "/v1/responses", {"model": "fake/chat", "input": "hi"},
     _bearer, _openai),
    ("embeddings", "POST", "/v1/embeddings", {"model": "fake/embed", "input": "hi"},
     _bearer, _openai),
    ("models", "GET", "/v1/models", None, _bearer, _openai),
    ("messages x-api-key", "POST", "/v1/messages",
     {"model": "anthropic-fake/claude", "max_tokens": 9, "messages": HELLO},
     lambda key: {"x-api-key": key}, _anthropic),
    ("messages bearer", "POST", "/v1/messages",
     {"model": "anthropic-fake/claude", "max_tokens": 9, "messages": HELLO},
     _bearer, _anthropic),
    ("gemini x-goog-api-key", "POST", GEMINI, GEMINI_BODY,
     lambda key: {"x-goog-api-key": key}, _gemini),
    ("gemini bearer", "POST", GEMINI, GEMINI_BODY, _bearer, _gemini),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "envelope"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_relay_answers_401_to_a_management_key(
    live, upstreams, management_key, method, path, body, headers, envelope
):
    response = httpx.request(
        method,
        live.server.base_url + path,
        json=body,
        headers=headers(management_key),
        timeout=10,
    )
    assert response.status_code == 401, response.text
    assert envelope(response)
    assert management_key not in response.text
    assert all(not fake.requests for fake in upstreams.values())


def test_a_management_key_in_geminis_query_is_refused_too(live, upstreams, management_key):
    response = httpx.post(
        f"{live.server.base_url}{GEMINI}?key={management_key}", json=GEMINI_BODY, timeout=10
    )
    assert response.status_code == 401 and _gemini(response)
    assert all(not fake.requests for fake in upstreams.values())


def test_the_same_workspaces_api_key_still_works(live, upstreams):
    """Control: the 401s above are the key's kind, not the workspace or the calls."""
    response = httpx.post(
        live.server.base_url + "/v1/chat/completions",
        json={"model": "fake/chat", "messages": HELLO},
        headers=_bearer(live.key),
        timeout=10,
    )
    assert response.status_code == 200
