"""The playground endpoint with the relay's ASGI app stubbed: what it sends (system
message, history, parameters, streaming, the session's own key, no Host), what it passes
back (the SSE stream, the X-Orca headers, errors with their status), what it refuses before
calling, and the session-scoped key's life (minted once, reused, revoked at logout,
replaced when expired). The real relay behind it: tests/routing/test_playground_ssrf.py."""

import asyncio
import json
import warnings
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from routing import playground
from routing.models import Model, Provider, Router
from workspaces import services
from workspaces.keys import hash_key
from workspaces.models import ApiKey, Role
from workspaces.session_keys import SESSION_FIELD

pytestmark = pytest.mark.django_db

SSE = [
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n',
    b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"cost":"0.01"}}\n\n',
    b"data: [DONE]\n\n",
]


class FakeRelay:
    """Stands in for the relay's ASGI app: records each call and answers as told."""

    def __init__(self, status=200, chunks=SSE, headers=(), fail=None, json_body=None):
        self.status, self.chunks, self.headers, self.fail = status, chunks, headers, fail
        self.json_body = json_body
        self.calls: list[dict] = []

    async def __call__(self, scope, receive, send):
        message = await receive()
        self.calls.append({**scope, "body": json.loads(message["body"])})
        if self.fail is not None:
            raise self.fail
        kind = b"application/json" if self.json_body is not None else b"text/event-stream"
        headers = [(b"content-type", kind)]
        headers += [(name.encode(), value.encode()) for name, value in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        if self.json_body is not None:
            await send({"type": "http.response.body", "body": json.dumps(self.json_body).encode()})
            return
        for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def relay(monkeypatch):
    def install(**options):
        fake = FakeRelay(**options)
        monkeypatch.setattr(playground, "relay_app", lambda: fake)
        return fake

    return install


@pytest.fixture
def world():
    users = {
        role: get_user_model().objects.create_user(f"play-{role}")
        for role in ("developer", "viewer", "outsider")
    }
    mine, _ = services.get_or_create_workspace("play-mine")
    theirs, _ = services.get_or_create_workspace("play-theirs")
    services.add_member(mine, users["developer"], Role.DEVELOPER)
    services.add_member(mine, users["viewer"], Role.VIEWER)
    services.add_member(theirs, users["outsider"], Role.OWNER)
    provider = Provider.objects.create(slug="play-prov", name="Play provider", kind="demo")
    Model.objects.create(public_id="playtest/alpha", provider=provider, upstream_name="a")
    Model.objects.create(
        public_id="playtest/embed",
        provider=provider,
        upstream_name="e",
        endpoint_types=["embeddings"],
    )
    Router.objects.create(workspace=mine, name="mine-router", candidates=["playtest/*"])
    Router.objects.create(workspace=theirs, name="their-router", candidates=["playtest/*"])
    return {"users": users, "mine": mine, "theirs": theirs}


def login(world, role) -> Client:
    client = Client()
    client.force_login(world["users"][role])
    return client


def chat_url(slug="play-mine") -> str:
    return reverse("dashboard:playground_chat", args=[slug])


def post(client, payload, **extra):
    return client.post(chat_url(), json.dumps(payload), content_type="application/json", **extra)


def body_of(response) -> bytes:
    if not response.streaming:
        return response.content
    with warnings.catch_warnings():  # the sync test client drains the async stream itself
        warnings.simplefilter("ignore")
        return b"".join(response)


ASK = {"target": "playtest/alpha", "messages": [{"role": "user", "content": "hi"}]}


def test_the_page_offers_this_workspaces_routers_and_chat_models_and_defaults_to_auto(world):
    page = login(world, "developer").get(reverse("dashboard:playground", args=["play-mine"]))
    html = page.content.decode()
    assert '<option value="orcarouter/auto" selected>' in html
    assert "orcarouter/mine-router" in html and "their-router" not in html
    assert "playtest/alpha" in html and "playtest/embed" not in html  # chat models only
    assert 'type="password"' not in html and "api_key" not in html  # nothing to paste
    assert chat_url() in html and "playground.js" in html


def test_a_target_in_the_query_is_preselected_if_it_exists(world):
    client = login(world, "developer")
    url = reverse("dashboard:playground", args=["play-mine"])
    assert (
        '<option value="playtest/alpha" selected>'
        in client.get(url, {"target": "playtest/alpha"}).content.decode()
    )
    assert (
        '<option value="orcarouter/auto" selected>'
        in client.get(url, {"target": "nope/x"}).content.decode()
    )


def test_a_send_streams_the_relays_answer_with_the_session_key(world, relay):
    fake = relay(
        headers=[
            ("X-Orca-Request-Id", "req_1"),
            ("X-Orca-Resolved-Model", "playtest/alpha"),
            ("X-Other", "hidden"),
        ]
    )
    client = login(world, "developer")
    payload = {
        "target": "orcarouter/mine-router",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "second"},
        ],
        "temperature": 0.3,
        "max_tokens": 64,
    }
    response = post(client, payload, HTTP_HOST="127.0.0.1:5432", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert (
        response["X-Orca-Request-Id"] == "req_1"
        and response["X-Orca-Resolved-Model"] == "playtest/alpha"
    )
    assert not response.has_header("X-Other") and "no-store" in response["Cache-Control"]
    assert body_of(response) == b"".join(SSE)
    [call] = fake.calls
    assert call["path"] == "/v1/chat/completions"
    assert call["body"] == {
        "model": "orcarouter/mine-router",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "second"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.3,
        "max_tokens": 64,
    }
    assert not any(name == b"host" for name, _ in call["headers"])  # no URL from Host
    assert call["client"] == ("203.0.113.9", 0)
    bearer = dict(call["headers"])[b"authorization"].decode().removeprefix("Bearer ")
    key = ApiKey.objects.get(key_hash=hash_key(bearer))
    assert key.workspace == world["mine"] and key.purpose == ApiKey.Purpose.PLAYGROUND
    assert key.created_by == world["users"]["developer"] and key.enabled
    assert key.name == "playground · play-developer"
    assert timedelta(hours=7) < key.expires_at - timezone.now() <= timedelta(hours=8)
    assert bearer not in json.dumps(dict(client.session), default=str)  # derived, not kept


def test_the_session_key_is_reused_then_revoked_at_logout(world, relay):
    fake = relay()
    client = login(world, "developer")
    body_of(post(client, ASK))
    body_of(post(client, ASK))
    bearers = {dict(c["headers"])[b"authorization"] for c in fake.calls}
    assert len(bearers) == 1
    assert ApiKey.objects.filter(purpose="playground", workspace=world["mine"]).count() == 1
    client.post(reverse("logout"))
    key = ApiKey.objects.get(purpose="playground", workspace=world["mine"])
    assert not key.enabled and key.revoked_at is not None


def test_an_expired_session_key_is_replaced_and_revoked(world, relay):
    fake = relay()
    client = login(world, "developer")
    body_of(post(client, ASK))
    ApiKey.objects.filter(purpose="playground").update(expires_at=timezone.now())
    body_of(post(client, ASK))
    old, new = ApiKey.objects.filter(purpose="playground").order_by("pk")
    assert not old.enabled and new.enabled
    assert fake.calls[0]["headers"] != fake.calls[1]["headers"]


def test_another_session_cannot_derive_the_key(world, relay):
    relay()
    first = login(world, "developer")
    body_of(post(first, ASK))
    second = login(world, "developer")  # another browser: another session
    second.cookies["sessionid"] = first.cookies["sessionid"].value + "x"  # a forged cookie
    assert post(second, ASK).status_code == 302  # not logged in at all
    # The first session's entry is useless under another session key: a new key is minted.
    third = login(world, "developer")
    session = third.session
    session[SESSION_FIELD] = dict(first.session[SESSION_FIELD])
    session.save()
    body_of(post(third, ASK))
    keys = ApiKey.objects.filter(purpose="playground").order_by("pk")
    assert [k.enabled for k in keys] == [False, True]  # the one it could not use is revoked


def test_errors_come_back_with_their_status_and_without_the_key(world, relay):
    fake = relay(
        status=402,
        json_body={"error": {"message": "insufficient balance", "code": "insufficient_balance"}},
        headers=[("X-Orca-Request-Id", "req_2")],
    )
    response = post(login(world, "developer"), ASK)
    assert response.status_code == 402 and response["X-Orca-Request-Id"] == "req_2"
    assert json.loads(body_of(response))["error"]["code"] == "insufficient_balance"
    assert len(fake.calls) == 1


def test_a_key_echoed_back_is_masked(world, monkeypatch):
    echoes = []

    class Echo(FakeRelay):
        async def __call__(self, scope, receive, send):
            bearer = dict(scope["headers"])[b"authorization"].removeprefix(b"Bearer ")
            echoes.append(bearer)
            self.chunks = [b'data: {"echo": "' + bearer + b'"}\n\n']
            await super().__call__(scope, receive, send)

    fake = Echo()
    monkeypatch.setattr(playground, "relay_app", lambda: fake)
    text = body_of(post(login(world, "developer"), ASK))
    assert echoes[0] not in text and "sk-orca-…".encode() in text


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({**ASK, "target": "nope/missing"}, "target"),
        ({**ASK, "target": "orcarouter/their-router"}, "target"),
        ({**ASK, "target": "playtest/embed"}, "target"),
        ({**ASK, "messages": []}, "messages"),
        ({**ASK, "messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        ({**ASK, "messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
        ({**ASK, "messages": [{"role": "user", "content": "a\x00b"}]}, "messages[0].content"),
        ({**ASK, "messages": [{"role": "assistant", "content": "x"}]}, "messages"),
        ({**ASK, "messages": ["hi"]}, "messages[0]"),
        ({**ASK, "temperature": 3}, "temperature"),
        ({**ASK, "temperature": "hot"}, "temperature"),
        ({**ASK, "max_tokens": 0}, "max_tokens"),
        ({**ASK, "max_tokens": 1.5}, "max_tokens"),
        ({**ASK, "system": 5}, "system"),
        ([1, 2], "body"),
    ],
)
def test_bad_input_is_400_naming_the_field_before_any_call_or_key(world, relay, payload, param):
    fake = relay()
    response = post(login(world, "developer"), payload)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert fake.calls == [] and not ApiKey.objects.filter(purpose="playground").exists()


def test_a_body_that_is_not_json_is_400(world, relay):
    relay()
    response = login(world, "developer").post(
        chat_url(), b"\xff\xfe", content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "body"


def test_viewers_outsiders_and_get_are_refused(world, relay):
    fake = relay()
    assert post(login(world, "viewer"), ASK).status_code == 403
    assert post(login(world, "outsider"), ASK).status_code == 404
    assert login(world, "developer").get(chat_url()).status_code == 405
    assert fake.calls == []


def test_a_failing_relay_answers_502_and_logs_without_the_key(world, relay, caplog):
    relay(fail=RuntimeError("boom"))
    response = post(login(world, "developer"), ASK)
    assert response.status_code == 502
    assert "playground relay call failed" in caplog.text and "sk-orca-" not in caplog.text


def test_a_relay_that_never_starts_answers_504(world, monkeypatch):
    class Stuck(FakeRelay):
        async def __call__(self, scope, receive, send):
            await asyncio.Event().wait()

    monkeypatch.setattr(playground, "relay_app", lambda: Stuck())
    monkeypatch.setattr(playground, "TIMEOUT_SECONDS", 0.01)
    monkeypatch.setattr("routing.views.TIMEOUT_SECONDS", 0.01)
    response = post(login(world, "developer"), ASK)
    assert response.status_code == 504 and b"0.01 seconds" in response.content


def test_a_stream_cut_short_ends_with_an_error_event():
    class Cut(FakeRelay):
        async def __call__(self, scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": SSE[0], "more_body": True})

    async def read():
        stream = await playground.open_stream(
            "/v1/chat/completions", b"{}", api_key="sk-orca-" + "k" * 43, client_ip=None, app=Cut()
        )
        return [chunk async for chunk in stream.chunks()]

    chunks = asyncio.run(read())
    assert chunks[0] == SSE[0] and b"incomplete_answer" in chunks[-1]


def test_a_reader_that_stops_tells_the_relay_the_client_left():
    seen = []

    class Long(FakeRelay):
        async def __call__(self, scope, receive, send):
            await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": SSE[0], "more_body": True})
            seen.append((await receive())["type"])  # what the relay's disconnect watch gets

    async def read():
        stream = await playground.open_stream(
            "/v1/chat/completions", b"{}", api_key="sk-orca-" + "k" * 43, client_ip=None, app=Long()
        )
        chunks = stream.chunks()
        first = await chunks.__anext__()
        await chunks.aclose()  # the page went away
        await asyncio.sleep(0.01)
        return first

    assert asyncio.run(read()) == SSE[0]
    assert seen == ["http.disconnect"]
