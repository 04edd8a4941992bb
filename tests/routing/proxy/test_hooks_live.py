"""The pipeline's hooks seam (routing.proxy.pipeline.hooks) through a live server whose app
registers test hooks (hooked_asgi.py, driven by HOOK-* markers in the last user message):
what the client got, what the fake upstream received, what was recorded and charged."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from billing.models import LedgerEntry
from tests.live import LiveServer
from tests.usage import wait_for_usage

TEXTS = {
    "fake/chat": "Hello from the fake upstream.",
    "anthropic-fake/claude": "Hello from the fake Anthropic upstream.",
    "gemini-fake/flash": "Hello from the fake Gemini upstream.",
}
KINDS = {"fake/chat": "openai", "anthropic-fake/claude": "anthropic", "gemini-fake/flash": "gemini"}


def redacted(text: str) -> str:
    return text.replace("fake", "[redacted]")


@dataclass
class Hooked:
    server: LiveServer
    finish_log: Path
    key: str

    def finished(self, request_id: str, timeout: float = 5.0) -> dict:
        """The line the watcher's finish() wrote for this call."""
        deadline = time.monotonic() + timeout
        while True:
            if self.finish_log.exists():
                for line in self.finish_log.read_text().splitlines():
                    if json.loads(line)["request_id"] == request_id:
                        return json.loads(line)
            if time.monotonic() > deadline:
                raise AssertionError(f"no watcher finish() for {request_id}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def hooked(live, tmp_path_factory):
    # After `live`: the catalog and keys are seeded, and this server shares its database.
    where = tmp_path_factory.mktemp("hooked")
    server = LiveServer(
        where / "server.log",
        app="tests.routing.proxy.hooked_asgi:application",
        HOOK_LOG=str(where / "finish.jsonl"),
    ).start()
    try:
        yield Hooked(server, where / "finish.jsonl", live.key)
    finally:
        server.stop()


@pytest.fixture
def ask(hooked):
    """ask(surface, model, text, stream) -> (answer text, request id, model the answer names),
    through the official SDK of the surface ("chat": openai, "messages": anthropic)."""
    oai = openai.OpenAI(
        base_url=hooked.server.base_url + "/v1", api_key=hooked.key, max_retries=0, timeout=20
    )
    claude = anthropic.Anthropic(base_url=hooked.server.base_url, api_key=hooked.key, max_retries=0)

    def ask(surface: str, model: str, text: str, stream: bool = False):
        messages = [{"role": "user", "content": text}]
        if surface == "chat" and not stream:
            raw = oai.chat.completions.with_raw_response.create(model=model, messages=messages)
            answer = raw.parse()
            return answer.choices[0].message.content, raw.headers["x-orca-request-id"], answer.model
        if surface == "chat":
            with oai.chat.completions.with_streaming_response.create(
                model=model, messages=messages, stream=True
            ) as raw:
                chunks = list(raw.parse())
                request_id = raw.headers["x-orca-request-id"]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            return text, request_id, chunks[0].model
        if not stream:
            raw = claude.messages.with_raw_response.create(
                model=model, max_tokens=256, messages=messages
            )
            message = raw.parse()
            text = "".join(b.text for b in message.content if b.type == "text")
            return text, raw.headers["x-orca-request-id"], message.model
        with claude.messages.stream(model=model, max_tokens=256, messages=messages) as events:
            text = "".join(events.text_stream)
            final = events.get_final_message()
            request_id = events.response.headers["x-orca-request-id"]
        return text, request_id, final.model

    return ask


def post(hooked, surface: str, model: str, text: str, stream: bool) -> httpx.Response:
    """A raw call in the surface's dialect (the body read, even for a stream)."""
    base, headers = hooked.server.base_url, {"x-api-key": hooked.key}
    messages = [{"role": "user", "content": text}]
    if surface == "chat":
        url, body = f"{base}/v1/chat/completions", {"model": model, "messages": messages}
        headers = {"authorization": f"Bearer {hooked.key}"}
    elif surface == "messages":
        url, body = f"{base}/v1/messages", {"model": model, "max_tokens": 64, "messages": messages}
    else:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{base}/v1beta/models/{model}:{action}"
        body = {"contents": [{"parts": [{"text": text}]}]}
        headers = {"x-goog-api-key": hooked.key}
    if stream and surface != "generate":
        body["stream"] = True
    return httpx.post(url, json=body, headers=headers, timeout=20)


def sse(response: httpx.Response) -> list[tuple[str, str]]:
    """(event name, data) of each event of an SSE body."""
    events = []
    for block in response.text.split("\n\n"):
        name, data = "", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data:
            events.append((name, data))
    return events


def assert_not_charged(django_db_blocker, request_id: str):
    record = wait_for_usage(django_db_blocker, request_id)
    assert (record.status_code, record.error_code) == (403, "hook_blocked")
    assert record.cost_pico == 0
    with django_db_blocker.unblock():
        assert not LedgerEntry.objects.filter(request_id=request_id).exists()


# --- before_plan -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_before_plan_switches_the_model(ask, upstreams, django_db_blocker, surface, stream):
    text, request_id, model = ask(
        surface, "fake/chat", "HOOK-MODEL:anthropic-fake/claude Say hello", stream
    )
    assert text == TEXTS["anthropic-fake/claude"]
    assert upstreams["openai"].requests == []
    assert [r.json["model"] for r in upstreams["anthropic"].requests] == ["claude-fake"]
    # The answer names the model that served it: OpenAI's dialect the upstream's own name,
    # Anthropic's the model the call was switched to.
    assert model == ("claude-fake-20250101" if surface == "chat" else "anthropic-fake/claude")
    record = wait_for_usage(django_db_blocker, request_id)
    assert (record.model, record.status_code) == ("anthropic-fake/claude", 200)
    assert record.cost_pico > 0


def test_before_plan_blocks_before_anything_is_planned(hooked, upstreams):
    response = post(hooked, "chat", "fake/chat", "HOOK-PLANBLOCK hi", False)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "hook_blocked"
    assert all(not fake.requests for fake in upstreams.values())


# --- before_upstream ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "surface, model", [("chat", "fake/chat"), ("messages", "anthropic-fake/claude")]
)
def test_rewrite_reaches_a_same_format_upstream(ask, upstreams, surface, model, stream):
    # Normally pass-through (the client's own body); the rewrite must not be lost.
    text, _, _ = ask(surface, model, "Say hello HOOK-REWRITE", stream)
    assert text == TEXTS[model]
    [seen] = upstreams[KINDS[model]].requests
    sent = json.dumps(seen.json["messages"])
    assert "REWRITTEN-BY-HOOK" in sent and "HOOK-REWRITE" not in sent
    assert seen.json.get("stream", False) is stream


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "surface, model",
    [("chat", "fake/chat"), ("messages", "fake/chat"), ("generate", "gemini-fake/flash")],
)
def test_block_is_an_error_in_the_clients_dialect_and_free(
    hooked, upstreams, django_db_blocker, surface, model, stream
):
    response = post(hooked, surface, model, "HOOK-BLOCK Say hello", stream)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    if surface == "chat":
        assert error["code"] == "hook_blocked"
    elif surface == "messages":
        assert response.json()["type"] == "error"
        assert error["type"] == "permission_error"
    else:
        assert (error["code"], error["status"]) == (403, "PERMISSION_DENIED")
    assert "blocked by the test input policy" in error["message"]
    assert all(not fake.requests for fake in upstreams.values())
    assert_not_charged(django_db_blocker, response.headers["x-orca-request-id"])


def test_block_raises_the_sdks_own_errors(ask, upstreams):
    with pytest.raises(openai.PermissionDeniedError) as oai_error:
        ask("chat", "fake/chat", "HOOK-BLOCK hi")
    assert oai_error.value.code == "hook_blocked"
    with pytest.raises(anthropic.PermissionDeniedError) as claude_error:
        ask("messages", "anthropic-fake/claude", "HOOK-BLOCK hi", True)
    assert claude_error.value.body["error"]["type"] == "permission_error"
    assert all(not fake.requests for fake in upstreams.values())


# --- answer watchers ---------------------------------------------------------------------

WATCHED = [
    ("chat", "fake/chat"),  # same format: pass-through but for the watcher
    ("messages", "anthropic-fake/claude"),  # same format
    ("messages", "fake/chat"),  # translated
    ("chat", "gemini-fake/flash"),  # translated
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("surface, model", WATCHED)
def test_watcher_rewrites_the_answer(
    ask, hooked, upstreams, django_db_blocker, surface, model, stream
):
    text, request_id, _ = ask(surface, model, "Say hello HOOK-REDACT", stream)
    assert text == redacted(TEXTS[model])
    [seen] = upstreams[KINDS[model]].requests  # the request itself went as the client sent it
    assert "HOOK-REDACT" in json.dumps(seen.json)
    done = hooked.finished(request_id)
    assert (done["status"], done["stream"], done["model"]) == (200, stream, model)
    assert done["text"] == redacted(TEXTS[model])
    assert (done["completions"], done["chunks"] > 0) == ((0, True) if stream else (1, False))
    record = wait_for_usage(django_db_blocker, request_id)
    assert record.status_code == 200 and record.cost_pico > 0


@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_watcher_drops_stream_chunks(ask, upstreams, surface):
    text, _, _ = ask(surface, "fake/chat", "Say hello HOOK-DROP", True)
    assert text == "Hello from the upstream."  # the " fake" chunk never went out


def test_passive_watcher_sees_the_answer_unchanged(ask, hooked, upstreams):
    text, request_id, _ = ask("chat", "fake/chat", "Say hello HOOK-WATCH")
    assert text == TEXTS["fake/chat"]
    done = hooked.finished(request_id)
    assert (done["completions"], done["text"], done["status"]) == (1, TEXTS["fake/chat"], 200)


@pytest.mark.parametrize("surface", ["chat", "messages"])
def test_watcher_blocks_mid_stream(hooked, upstreams, django_db_blocker, surface):
    response = post(hooked, surface, "fake/chat", "Say hello HOOK-STOP", True)
    assert response.status_code == 200  # the stream had begun
    events = sse(response)
    if surface == "chat":
        assert events[-1] == ("", "[DONE]")
        payloads = [json.loads(data) for _, data in events[:-1]]
        error = payloads[-1]["error"]
        assert error["code"] == "hook_blocked"
        pieces = [c["choices"][0]["delta"].get("content") or "" for c in payloads[:-1]]
    else:
        name, data = events[-1]
        assert name == "error"
        error = json.loads(data)["error"]
        assert error["type"] == "permission_error"
        assert "message_stop" not in [n for n, _ in events]
        payloads = [json.loads(data) for _, data in events]
        deltas = [p["delta"] for p in payloads if p["type"] == "content_block_delta"]
        pieces = [d["text"] for d in deltas if d["type"] == "text_delta"]
    assert error["message"] == "answer blocked by the test output policy"
    # Every chunk the watcher passed reached the client, then the error, nothing after.
    assert "".join(pieces) == "Hello from the"
    request_id = response.headers["x-orca-request-id"]
    done = hooked.finished(request_id)  # finish() runs however the stream ends
    assert (done["status"], done["text"]) == (403, "Hello from the")
    record = wait_for_usage(django_db_blocker, request_id)
    assert (record.status_code, record.error_code) == (403, "hook_blocked")
    # Charged for the output delivered (a stream cut short), counted from its chunks.
    assert record.completion_tokens == len([p for p in pieces if p])


@pytest.mark.parametrize(
    "surface, model",
    [("chat", "fake/chat"), ("messages", "fake/chat"), ("chat", "gemini-fake/flash")],
)
def test_watcher_blocks_a_non_stream_answer(hooked, upstreams, django_db_blocker, surface, model):
    response = post(hooked, surface, model, "Say hello HOOK-STOP", False)
    assert response.status_code == 403
    body = response.json()
    if surface == "chat":
        assert body["error"]["code"] == "hook_blocked"
    else:
        assert body["error"]["type"] == "permission_error"
    assert len(upstreams[KINDS[model]].requests) == 1
    # Nothing reached the client: nothing charged, as for any answer not served.
    request_id = response.headers["x-orca-request-id"]
    assert_not_charged(django_db_blocker, request_id)
    assert hooked.finished(request_id)["status"] == 403  # finish() runs once per call


def test_finish_runs_once_when_every_attempt_fails(hooked, upstreams):
    response = post(hooked, "chat", "fake/error-500", "Say hello HOOK-WATCH", False)
    assert response.status_code == 500
    request_id = response.headers["x-orca-request-id"]
    assert hooked.finished(request_id)["status"] == 500
    lines = [line for line in hooked.finish_log.read_text().splitlines() if request_id in line]
    assert len(lines) == 1


def test_finish_runs_when_the_upstream_breaks_off(hooked, upstreams, django_db_blocker):
    response = post(hooked, "chat", "fake/drop", "Say hello HOOK-WATCH", True)
    events = sse(response)
    assert events[-1] == ("", "[DONE]")
    assert json.loads(events[-2][1])["error"]["code"] == "upstream_error"
    done = hooked.finished(response.headers["x-orca-request-id"])
    assert done["status"] == 502 and done["chunks"] > 0
