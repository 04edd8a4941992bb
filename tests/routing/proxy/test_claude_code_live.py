"""The Anthropic Messages surface as Claude Code speaks it, through a live server: the
official anthropic SDK and raw httpx as clients, every provider kind behind. What each fake
upstream received is checked, and every fake must have found it valid (the `upstreams`
fixture asserts no rejections)."""

import json

import anthropic
import httpx
import pytest

from tests.routing.wire.test_claude_code_requests import claude_code_body

MODELS = {
    "anthropic": "anthropic-fake/claude",
    "openai": "fake/chat",
    "gemini": "gemini-fake/flash",
}
KINDS = list(MODELS)
BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"
MID_CONVERSATION = [
    {"role": "user", "content": "Hi"},
    {"role": "system", "content": "From now on, answer in French."},
    {"role": "assistant", "content": "Bonjour"},
    {"role": "user", "content": "How are you?"},
    {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
]


@pytest.fixture
def claude(live):
    return anthropic.Anthropic(base_url=live.server.base_url, api_key=live.key, max_retries=0)


def claude_code_headers(live, **extra) -> dict[str, str]:
    """The headers Claude Code 2.1 sends with its key in ANTHROPIC_API_KEY."""
    return {
        "x-api-key": live.key,
        "anthropic-version": "2023-06-01",
        "anthropic-beta": BETAS,
        "user-agent": "claude-cli/2.1.332 (external, sdk-cli)",
        "content-type": "application/json",
        **extra,
    }


def post_messages(live, body, path="/v1/messages?beta=true", **headers) -> httpx.Response:
    return httpx.post(
        live.server.base_url + path,
        content=json.dumps(body),
        headers=claude_code_headers(live, **headers),
        timeout=20,
    )


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# --- mid-conversation system turns ---------------------------------------------------------


def test_a_mid_conversation_system_turn_goes_to_anthropic_as_sent(claude, upstreams):
    message = claude.messages.create(
        model=MODELS["anthropic"],
        max_tokens=256,
        system="You are terse.",
        messages=MID_CONVERSATION,
        extra_headers={"anthropic-beta": BETAS},
    )
    assert message.content[0].text == "Hello from the fake Anthropic upstream."
    seen = upstreams["anthropic"].requests[-1]
    assert seen.json["messages"] == MID_CONVERSATION
    assert seen.json["system"] == "You are terse."
    assert seen.headers["anthropic-beta"] == BETAS
    assert seen.headers["anthropic-version"] == "2023-06-01"  # the kind's own, not replaced


def test_the_sdk_betas_reach_anthropic_as_one_header(claude, upstreams):
    message = claude.beta.messages.create(
        model=MODELS["anthropic"],
        max_tokens=2048,
        messages=MID_CONVERSATION[:2],
        betas=["context-management-2025-06-27", "effort-2025-11-24"],
        thinking={"type": "adaptive"},
        output_config={"effort": "medium"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    )
    assert message.content[-1].text == "Hello from the fake Anthropic upstream."
    seen = upstreams["anthropic"].requests[-1]
    assert seen.headers["anthropic-beta"] == "context-management-2025-06-27,effort-2025-11-24"
    assert seen.json["thinking"] == {"type": "adaptive"}
    assert seen.json["context_management"]["edits"][0]["type"] == "clear_thinking_20251015"


@pytest.mark.parametrize("kind", ["openai", "gemini"])
def test_a_mid_conversation_system_turn_is_translated_for_other_kinds(claude, upstreams, kind):
    message = claude.messages.create(
        model=MODELS[kind],
        max_tokens=256,
        messages=MID_CONVERSATION,
        extra_headers={"anthropic-beta": BETAS},
    )
    assert message.content[0].type == "text"
    seen = upstreams[kind].requests[-1]
    assert "anthropic-beta" not in seen.headers
    if kind == "openai":
        assert [(m["role"], m["content"]) for m in seen.json["messages"]] == [
            ("user", "Hi"),
            ("system", "From now on, answer in French."),
            ("assistant", "Bonjour"),
            ("user", "How are you?"),
            ("system", "Be brief."),
        ]
    else:
        assert seen.json["systemInstruction"] == {
            "parts": [{"text": "From now on, answer in French."}, {"text": "Be brief."}]
        }
        assert [c["role"] for c in seen.json["contents"]] == ["user", "model", "user"]


# --- what Claude Code sends, as Claude Code sends it ---------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_claude_code_request_streams_from_every_kind(live, upstreams, kind):
    body = claude_code_body(model=MODELS[kind], cache_control={"type": "ephemeral"})
    response = post_messages(live, body)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    names = [name for name, _ in events if name != "ping"]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert "content_block_delta" in names  # the fake calls the tools it is offered
    seen = upstreams[kind].requests[-1]
    if kind == "anthropic":  # pass-through: everything but the model, as sent
        assert seen.json == {**body, "model": "claude-fake"}
        assert seen.headers["anthropic-beta"] == BETAS
    else:
        assert "anthropic-beta" not in seen.headers
        assert "context_management" not in json.dumps(seen.json)


def test_a_server_tool_passes_through_but_is_refused_in_translation(live, upstreams):
    # Web search has a canonical form (tests/routing/proxy/test_search_anthropic_live.py);
    # code execution has none.
    server_tool = {"type": "code_execution_20250522", "name": "code_execution"}
    body = claude_code_body(tools=[server_tool], stream=False)
    response = post_messages(live, body)
    assert response.status_code == 200, response.text
    assert upstreams["anthropic"].requests[-1].json["tools"] == [server_tool]
    for kind in ("openai", "gemini"):
        response = post_messages(live, {**body, "model": MODELS[kind]})
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["type"] == "error"
        assert error["error"]["type"] == "invalid_request_error"
        assert "code_execution_20250522" in error["error"]["message"]
    assert len(upstreams["openai"].requests) == len(upstreams["gemini"].requests) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "system"}]}, "content"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"thinking": {"type": "enabled", "budget_tokens": 10}}, "budget_tokens"),
        ({"metadata": "me"}, "metadata"),
    ],
)
def test_bad_input_is_a_400_in_anthropic_s_envelope(live, upstreams, change, field):
    response = post_messages(live, {**claude_code_body(), **change})
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert field in error["error"]["message"]
    assert upstreams["anthropic"].requests == []


def test_count_tokens_as_claude_code_calls_it(live, upstreams):
    body = claude_code_body(thinking={"type": "enabled", "budget_tokens": 2048})
    for name in ("max_tokens", "stream", "metadata", "output_config"):
        body.pop(name)
    response = post_messages(live, body, path="/v1/messages/count_tokens?beta=true")
    assert response.status_code == 200, response.text
    assert response.json()["input_tokens"] > 3
    seen = upstreams["anthropic"].requests[-1]
    assert seen.path == "/v1/messages/count_tokens"
    assert seen.headers["anthropic-beta"] == BETAS
    assert seen.json["messages"] == body["messages"]

    other = {**body, "model": MODELS["openai"]}
    estimated = post_messages(live, other, path="/v1/messages/count_tokens")
    assert estimated.status_code == 200 and estimated.json()["input_tokens"] >= 1
    assert upstreams["openai"].requests == []


# --- HEAD / --------------------------------------------------------------------------------


def test_head_on_the_root_answers_200_without_a_body(live):
    response = httpx.head(live.server.base_url + "/", timeout=5)
    assert response.status_code == 200
    assert response.content == b""
    browser = httpx.get(live.server.base_url + "/", timeout=5)
    assert browser.status_code in (200, 302)  # still Django's dashboard (or its login)
    assert browser.status_code == 302 or b"<html" in browser.content.lower()


# --- GET /v1/models in Anthropic's shape ---------------------------------------------------


def test_the_anthropic_sdk_lists_and_retrieves_models(claude, live):
    listed = list(claude.models.list(limit=3))  # pages of 3, followed to the end
    ids = [m.id for m in listed]
    assert {"fake/chat", "anthropic-fake/claude", "orca/demo"} <= set(ids)
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    first = claude.models.list(limit=2)
    assert first.has_more is True and first.last_id == first.data[-1].id
    model = claude.models.retrieve("anthropic-fake/claude")
    assert model.type == "model" and model.id == "anthropic-fake/claude"
    assert model.display_name == "anthropic-fake/claude"
    assert model.max_input_tokens == 200_000 and model.max_tokens == 8192
    assert model.created_at.year >= 2020
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.models.retrieve("fake/does-not-exist")
    assert missing.value.body["error"]["type"] == "not_found_error"


def test_the_model_list_shape_follows_the_way_the_key_is_sent(live):
    url = live.base_url + "/models"
    by_x_api_key = httpx.get(
        url, headers={"x-api-key": live.key, "anthropic-version": "2023-06-01"}, timeout=5
    ).json()
    assert set(by_x_api_key) == {"data", "has_more", "first_id", "last_id"}
    assert by_x_api_key["data"][0]["type"] == "model"
    assert set(by_x_api_key["data"][0]) >= {"id", "display_name", "created_at"}
    by_bearer = httpx.get(url, headers={"authorization": f"Bearer {live.key}"}, timeout=5).json()
    assert by_bearer["object"] == "list" and by_bearer["data"][0]["object"] == "model"
    one = httpx.get(url + "/fake/chat", headers={"x-api-key": live.key}, timeout=5).json()
    assert one["type"] == "model" and one["id"] == "fake/chat"


@pytest.mark.parametrize(
    ("path", "headers", "status", "error_type"),
    [
        ("/models?limit=0", {"x-api-key": "KEY"}, 400, "invalid_request_error"),
        ("/models?after_id=a&before_id=b", {"x-api-key": "KEY"}, 400, "invalid_request_error"),
        ("/models", {"x-api-key": "sk-orca-wrong"}, 401, "authentication_error"),
        ("/models/nope/nope", {"x-api-key": "KEY"}, 404, "not_found_error"),
    ],
)
def test_model_list_errors_speak_anthropic(live, path, headers, status, error_type):
    headers = {k: live.key if v == "KEY" else v for k, v in headers.items()}
    response = httpx.get(live.base_url + path, headers=headers, timeout=5)
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == error_type


CLAUDE_CODE_USER_ID = (  # the shape Claude Code 2.1 sends: 150 characters
    "user_" + "a1b2c3d4" * 8 + "_account_0f3c9a1e-7d2b-4c55-9e1f-2a6b8c0d4e7f"
    "_session_5b7e1c2a-9d3f-4e8b-a6c1-3f2d7e9b1a0c"
)


def test_claude_codes_long_user_id_reaches_an_openai_kind_within_its_limit(claude, upstreams):
    """metadata.user_id (about 150 characters) becomes a `user` OpenAI accepts (at most 64):
    a stable hash of it, the same on every call; a short one goes as it is."""
    assert len(CLAUDE_CODE_USER_ID) > 64
    sent = []
    for user_id in (CLAUDE_CODE_USER_ID, CLAUDE_CODE_USER_ID, "user-42"):
        message = claude.messages.create(
            model="fake/chat",
            max_tokens=64,
            metadata={"user_id": user_id},
            messages=[{"role": "user", "content": "Hi"}],
        )
        assert message.content[0].type == "text"
        sent.append(upstreams["openai"].requests[-1].json["user"])
    assert upstreams["openai"].rejections == []
    assert sent[0] == sent[1] and sent[0].startswith("orca-") and len(sent[0]) <= 64
    assert sent[2] == "user-42"
