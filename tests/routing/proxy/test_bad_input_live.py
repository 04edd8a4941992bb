"""Every bad input gets its status and OpenAI envelope before any upstream call."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from workspaces import services

GOOD = {"model": "fake/chat", "messages": [{"role": "user", "content": "hi"}]}


def post(live, body, *, key=None, headers=None, raw: bytes | None = None) -> httpx.Response:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        all_headers["Authorization"] = f"Bearer {key}"
    return httpx.post(
        f"{live.base_url}/chat/completions",
        content=raw if raw is not None else httpx.Request("POST", "/", json=body).content,
        headers=all_headers,
        timeout=10,
    )


def assert_error(response: httpx.Response, status: int, code: str, param=None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["x-orca-request-id"].startswith("req_")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "orcarouter_api_error"
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": GOOD["messages"]}, "missing_required_parameter", "model"),
        ({**GOOD, "model": 42}, "invalid_type", "model"),
        ({**GOOD, "model": "  "}, "invalid_type", "model"),
        ({"model": "fake/chat"}, "missing_required_parameter", "messages"),
        ({**GOOD, "messages": "hi"}, "invalid_type", "messages"),
        ({**GOOD, "messages": []}, "invalid_value", "messages"),
        (
            {**GOOD, "messages": [{"role": "wizard", "content": "x"}]},
            "invalid_value",
            "messages[0].role",
        ),
        (
            {**GOOD, "messages": [{"role": "user", "content": 5}]},
            "invalid_type",
            "messages[0].content",
        ),
        ({**GOOD, "temperature": 2.5}, "invalid_value", "temperature"),
        ({**GOOD, "temperature": "hot"}, "invalid_type", "temperature"),
        ({**GOOD, "top_p": -0.1}, "invalid_value", "top_p"),
        ({**GOOD, "n": 0}, "invalid_value", "n"),
        ({**GOOD, "n": 1.5}, "invalid_type", "n"),
        ({**GOOD, "max_tokens": 0}, "invalid_value", "max_tokens"),
        ({**GOOD, "max_completion_tokens": -3}, "invalid_value", "max_completion_tokens"),
        ({**GOOD, "presence_penalty": 3}, "invalid_value", "presence_penalty"),
        ({**GOOD, "frequency_penalty": -2.5}, "invalid_value", "frequency_penalty"),
        ({**GOOD, "top_logprobs": 21}, "invalid_value", "top_logprobs"),
        ({**GOOD, "stream": "yes"}, "invalid_type", "stream"),
        ({**GOOD, "stream_options": {"include_usage": True}}, "invalid_value", "stream_options"),
        (
            {**GOOD, "tools": [{"type": "function", "function": {}}]},
            "missing_required_parameter",
            "tools[0].function.name",
        ),
        ({**GOOD, "tool_choice": "sometimes"}, "invalid_value", "tool_choice"),
        ({**GOOD, "response_format": {"type": "yaml"}}, "invalid_value", "response_format"),
        ({**GOOD, "stop": [1, 2]}, "invalid_value", "stop"),
        ([GOOD], "invalid_type", None),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(live, upstream, body, code, param):
    assert_error(post(live, body, key=live.key), 400, code, param)
    assert upstream.requests == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"model": "fake/chat",'])
def test_invalid_json_is_400(live, upstream, raw):
    assert_error(post(live, None, key=live.key, raw=raw), 400, "invalid_json")
    assert upstream.requests == []


def test_unknown_model_is_404(live, upstream):
    assert_error(
        post(live, {**GOOD, "model": "fake/nope"}, key=live.key), 404, "model_not_found", "model"
    )
    assert upstream.requests == []


def test_ambiguous_bare_name_is_400_listing_candidates(live, upstream):
    error = assert_error(
        post(live, {**GOOD, "model": "chat"}, key=live.key), 400, "ambiguous_model", "model"
    )
    assert "dup/chat" in error["message"] and "fake/chat" in error["message"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("key", "headers"),
    [
        (None, {}),
        ("sk-orca-" + "x" * 43, {}),
        ("not-a-key", {}),
        (None, {"Authorization": "Basic dXNlcjpwYXNz"}),
    ],
)
def test_missing_or_bad_key_is_401(live, upstream, key, headers):
    response = post(live, GOOD, key=key, headers=headers)
    assert_error(response, 401, response.json()["error"]["code"])
    assert response.json()["error"]["code"] in {"missing_api_key", "invalid_api_key"}
    assert upstream.requests == []


def test_revoked_and_expired_keys_are_401(live, upstream, db_access):
    revoked, revoked_raw = live.new_key(name="to revoke")
    services.revoke_api_key(revoked)
    _, expired_raw = live.new_key(name="expired", expires_at=timezone.now() - timedelta(seconds=1))
    assert (
        "revoked"
        in assert_error(post(live, GOOD, key=revoked_raw), 401, "invalid_api_key")["message"]
    )
    assert (
        "expired"
        in assert_error(post(live, GOOD, key=expired_raw), 401, "invalid_api_key")["message"]
    )
    assert upstream.requests == []


def test_model_outside_the_keys_allow_list_is_403(live, upstream, db_access):
    _, raw = live.new_key(name="only demo", allowed_models=["orca/*"])
    assert_error(post(live, GOOD, key=raw), 403, "model_not_allowed", "model")
    assert upstream.requests == []
    assert post(live, {**GOOD, "model": "orca/demo"}, key=raw).status_code == 200


def test_ip_outside_the_keys_allow_list_is_403(live, upstream, db_access):
    _, elsewhere = live.new_key(name="office only", allowed_ips=["203.0.113.0/24"])
    _, loopback = live.new_key(name="local", allowed_ips=["127.0.0.0/8", "::1"])
    assert_error(post(live, GOOD, key=elsewhere), 403, "ip_not_allowed")
    assert upstream.requests == []
    assert post(live, GOOD, key=loopback).status_code == 200


def test_body_over_the_limit_is_413(live, upstream):
    big = {**GOOD, "messages": [{"role": "user", "content": "x" * (300 * 1024)}]}
    assert_error(post(live, big, key=live.key), 413, "request_too_large")
    assert upstream.requests == []


def test_wrong_method_and_unknown_path(live):
    response = httpx.get(f"{live.base_url}/chat/completions", timeout=5)
    assert_error(response, 405, "method_not_allowed")
    response = httpx.post(f"{live.base_url}/no/such/endpoint", timeout=5)
    error = assert_error(response, 404, "not_found")
    assert error["message"] == "Invalid URL (POST /v1/no/such/endpoint)"
