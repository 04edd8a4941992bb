"""The shared fault layer, straight against each fake (no Orca): a marker in the request picks
the fault, and each fault is played in the fake's own wire format."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from . import faults
from .anthropic_upstream import FakeAnthropicUpstream
from .base import FakeUpstream
from .gemini_upstream import FakeGeminiUpstream
from .openai_upstream import FakeOpenAIUpstream

Post = Callable[[str, bool], httpx.Response]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    with FakeOpenAIUpstream() as o, FakeAnthropicUpstream() as a, FakeGeminiUpstream() as g:
        yield {"openai": o, "anthropic": a, "gemini": g}


def _request(fake: FakeUpstream, kind: str, text: str, stream: bool) -> httpx.Request:
    if kind == "openai":
        body: dict[str, Any] = {
            "model": "fake-chat",
            "messages": [{"role": "user", "content": text}],
            "stream": stream,
        }
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        url = fake.base_url + "/chat/completions"
    elif kind == "anthropic":
        body = {
            "model": "claude-fake",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": text}],
            "stream": stream,
        }
        headers = {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"}
        url = fake.base_url + "/v1/messages"
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        headers = {"x-goog-api-key": fake.api_key}
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{fake.base_url}/v1beta/models/gemini-fake:{action}"
    return httpx.Request("POST", url, json=body, headers=headers)


def _send(fake: FakeUpstream, kind: str, fault: str, stream: bool, timeout: float = 10):
    request = _request(fake, kind, f"orca-fault:{fault} please", stream)
    with httpx.Client(timeout=timeout) as client:
        return client.send(request)


def _data(raw: str) -> list[str]:
    return [line[6:] for line in raw.splitlines() if line.startswith("data: ")]


KINDS = ("openai", "anthropic", "gemini")


@pytest.mark.parametrize("kind", KINDS)
def test_error_faults_use_the_dialects_envelope(fakes, kind):
    fake = fakes[kind]
    failed = _send(fake, kind, "500", stream=False)
    assert failed.status_code == 500
    assert "Fault injected" in json.dumps(failed.json())
    limited = _send(fake, kind, "429", stream=True)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    if kind == "anthropic":
        assert limited.json()["error"]["type"] == "rate_limit_error"
    elif kind == "gemini":
        assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    else:
        assert limited.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_event_sits_between_valid_events_and_the_end_marker(fakes, kind):
    response = _send(fakes[kind], kind, "malformed_event", stream=True)
    assert response.status_code == 200
    decoded, broken = [], []
    for data in _data(response.text):
        if data == "[DONE]":
            continue
        try:
            decoded.append(json.loads(data))
        except ValueError:
            broken.append(data)
    assert len(broken) == 1 and broken[0].startswith("{")
    assert len(decoded) >= 4  # before and after the broken one
    last = response.text.rstrip().splitlines()[-1]
    ends = {
        "openai": "data: [DONE]",
        "anthropic": 'data: {"type":"message_stop"}',
        "gemini": last,
    }
    assert last == ends[kind]
    if kind == "gemini":
        assert decoded[-1]["candidates"][0]["finishReason"] == "STOP"
    assert fakes[kind].wait_for_event("fault:malformed_event")


@pytest.mark.parametrize("kind", KINDS)
def test_echo_key_echoes_the_received_credential_and_a_planted_client_key(fakes, kind):
    fake = fakes[kind]
    planted = "sk-orca-planted0123456789abcdefghijklmnop"
    for stream in (False, True):
        request = _request(fake, kind, f"orca-fault:echo_key {planted}", stream)
        response = httpx.Client(timeout=10).send(request)
        assert fake.api_key in response.headers[faults.ECHO_HEADER]
        assert planted in response.headers[faults.ECHO_HEADER]
        assert fake.api_key in response.text and planted in response.text
        if stream:
            assert response.status_code == 200
            assert len(_data(response.text)) >= 2  # a valid first event, then the error
        else:
            assert response.status_code == 500


@pytest.mark.parametrize("kind", KINDS)
def test_echo_header_is_a_valid_answer_with_the_credential_in_a_header(fakes, kind):
    fake = fakes[kind]
    for stream in (False, True):
        response = httpx.Client(timeout=10).send(
            _request(fake, kind, "orca-fault:echo_header", stream)
        )
        assert response.status_code == 200
        assert response.headers[faults.ECHO_HEADER] == fake.api_key
        assert fake.api_key not in response.text


@pytest.mark.parametrize("kind", KINDS)
def test_idle_and_reset_send_the_first_event_then_stop(fakes, kind):
    fake = fakes[kind]
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=0.8)) as client,
        client.stream("POST", **_as_kwargs(_request(fake, kind, "orca-fault:idle", True))) as resp,
    ):
        received = b""
        with pytest.raises(httpx.ReadTimeout):
            for chunk in resp.iter_raw():
                received += chunk
        assert received.count(b"data: ") >= 1
    assert fake.wait_for_event("stream_aborted", timeout=3)
    with pytest.raises(httpx.RemoteProtocolError):
        _send(fake, kind, "reset", stream=True)
    assert fake.wait_for_event("stream_dropped")


def _as_kwargs(request: httpx.Request) -> dict[str, Any]:
    return {
        "url": str(request.url),
        "content": request.content,
        "headers": {k: v for k, v in request.headers.items() if k.lower() != "content-length"},
    }


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_json_is_not_json(fakes, kind):
    response = _send(fakes[kind], kind, "malformed_json", stream=False)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_slow_drip_and_huge_are_valid_answers_for_the_official_sdks(fakes):
    text = faults.FAULT_TEXT
    huge = faults.huge_text()
    chat = openai.OpenAI(base_url=fakes["openai"].base_url, api_key=fakes["openai"].api_key)
    stream = chat.chat.completions.create(
        model="fake-chat",
        messages=[{"role": "user", "content": "orca-fault:slow_drip"}],
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text
    big = chat.chat.completions.create(
        model="fake-chat", messages=[{"role": "user", "content": "orca-fault:huge"}]
    )
    assert big.choices[0].message.content == huge

    fake = fakes["anthropic"]
    claude = anthropic.Anthropic(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)
    with claude.messages.stream(
        model="claude-fake",
        max_tokens=50,
        messages=[{"role": "user", "content": "orca-fault:huge"}],
    ) as s:
        assert s.get_final_text() == huge

    fake = fakes["gemini"]
    client = genai.Client(
        api_key=fake.api_key, http_options=types.HttpOptions(base_url=fake.base_url)
    )
    chunks = client.models.generate_content_stream(
        model="gemini-fake", contents="orca-fault:slow_drip"
    )
    assert "".join(c.text or "" for c in chunks) == text


def test_faults_are_refused_on_gemini_array_streams(fakes):
    fake = fakes["gemini"]
    response = httpx.post(
        f"{fake.base_url}/v1beta/models/gemini-fake:streamGenerateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "orca-fault:500"}]}]},
        headers={"x-goog-api-key": fake.api_key},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"
