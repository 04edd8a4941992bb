"""The playground against the live server (uvicorn, the production ASGI app).

The dashboard once built the relay URL from the request's Host header, so a developer could
point it (and the workspace's API key) at any local port and read the answers back: an SSRF
and a port scanner. These tests send hostile Host headers at a real listening socket and
check that nothing ever connects to it, that the call is still served and metered, that the
session's playground key shows up in no page, log line or stored row (the session holds
only a salt), that the answer streams as SSE, and that a slow playground call neither holds
up the rest of the dashboard nor outlives the browser that asked for it."""

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from billing.models import UsageRecord
from routing.models import Model, Provider
from tests.fakes.openai_upstream import REPLY_TEXT
from tests.live import free_port
from tests.usage import wait_for_usage
from workspaces import services
from workspaces.keys import hash_key
from workspaces.models import ApiKey, Membership, Role

PLAYGROUND = "/w/acme/playground/"
CHAT = "/w/acme/playground/chat/"


@dataclass
class Listener:
    """A listening socket on 127.0.0.1 that records every connection it accepts. It closes
    each one at once, or, with `answer`, replies with that body once `release` is set."""

    answer: bytes | None = None
    content_type: bytes = b"application/json"
    release: threading.Event = field(default_factory=threading.Event)
    received: list[bytes] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    hung_up: threading.Event = field(default_factory=threading.Event)  # closed before release

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                self.received.append(data)
                self.arrived.set()
                if self.answer is not None:
                    if not self._hold(conn):
                        continue
                    head = (
                        b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\n"
                        b"connection: close\r\ncontent-length: %d\r\n\r\n"
                        % (self.content_type, len(self.answer))
                    )
                    conn.sendall(head + self.answer)

    def _hold(self, conn: socket.socket) -> bool:
        """Wait for `release`; False if Orca closed the connection first."""
        conn.settimeout(0.05)
        while not self.release.is_set():
            try:
                if conn.recv(1) == b"":
                    self.hung_up.set()
                    return False
            except TimeoutError:
                continue
            except OSError:
                self.hung_up.set()
                return False
        return True

    def close(self) -> None:
        self._stop.set()
        self.release.set()
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def trap() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


@dataclass
class Dashboard:
    """A developer of "acme" logged in to the live server."""

    base_url: str
    session: str

    def _cookies(self, extra: str = "") -> dict[str, str]:
        return {"Cookie": f"sessionid={self.session}{extra}"}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base_url + path, headers=self._cookies(), timeout=20)

    def csrf_headers(self) -> dict[str, str]:
        page = self.get(PLAYGROUND)
        assert page.status_code == 200, page.text[:500]
        token = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
        headers = self._cookies(f"; csrftoken={page.cookies['csrftoken']}")
        return {**headers, "X-CSRFToken": token, "Content-Type": "application/json"}

    def post_playground(self, data: dict, host: str | None = None) -> httpx.Response:
        """What playground.js sends, read to the end."""
        headers = self.csrf_headers()
        if host is not None:
            headers["Host"] = host
        return httpx.post(
            self.base_url + CHAT, content=chat_body(data), headers=headers, timeout=30
        )

    def session_key(self, django_db_blocker) -> str:
        """The raw playground key of this session, derived as the server derives it."""
        from django.contrib.sessions.backends.db import SessionStore

        from workspaces.session_keys import SESSION_FIELD, _derive

        with django_db_blocker.unblock():
            entries = SessionStore(self.session).load()[SESSION_FIELD]
        [entry] = entries.values()
        return _derive(self.session, entry["salt"])


def chat_body(data: dict) -> bytes:
    return json.dumps(
        {"target": data["target"], "messages": [{"role": "user", "content": data["prompt"]}]}
    ).encode()


def answer_of(response: httpx.Response) -> str:
    """The text of an SSE chat stream."""
    assert response.headers["content-type"].startswith("text/event-stream"), response.text[:500]
    text = ""
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices") or []:
                text += (choice.get("delta") or {}).get("content") or ""
    return text


@pytest.fixture
def dashboard(live, db_access) -> Dashboard:
    user, _ = get_user_model().objects.get_or_create(username="playground-ssrf-dev")
    if not Membership.objects.filter(workspace=live.workspace, user=user).exists():
        services.add_member(live.workspace, user, Role.DEVELOPER)
    client = Client()
    client.force_login(user)
    return Dashboard(live.server.base_url, client.cookies["sessionid"].value)


def auth(live) -> dict[str, str]:
    return {"Authorization": f"Bearer {live.key}"}


def _no_secret_in(text: str, key: str) -> None:
    assert key not in text
    assert key[8:24] not in text  # not even a slice of the random part


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_a_hostile_host_header_never_reaches_its_port(live, upstream, dashboard, trap, hostname):
    response = dashboard.post_playground(
        {"target": "fake/chat", "prompt": "Say hi"},
        host=f"{hostname}:{trap.port}",
    )
    assert trap.received == [], "the playground connected to the port named in Host"
    assert response.status_code == 200
    assert REPLY_TEXT in answer_of(response)  # served in-process by the relay, not the port
    assert len(upstream.requests) == 1


def test_the_answer_does_not_depend_on_the_port_in_host(live, upstream, dashboard, trap):
    """No port scanner: an open port, a closed one and the server's own port answer alike."""
    closed = free_port()
    pages = [
        dashboard.post_playground(
            {"target": "fake/chat", "prompt": "Say hi"},
            host=host,
        )
        for host in (f"127.0.0.1:{trap.port}", f"127.0.0.1:{closed}", None)
    ]
    assert trap.received == []
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all(REPLY_TEXT in answer_of(page) for page in pages)


def test_a_playground_call_is_metered_and_the_key_stays_secret(
    live, upstream, dashboard, django_db_blocker
):
    response = dashboard.post_playground({"target": "fake/chat", "prompt": "Say hi"})
    assert response.status_code == 200 and REPLY_TEXT in answer_of(response)
    request_id = response.headers["x-orca-request-id"]
    record = wait_for_usage(django_db_blocker, request_id)
    secret = dashboard.session_key(django_db_blocker)
    with django_db_blocker.unblock():
        key = ApiKey.objects.get(key_hash=hash_key(secret))
        row = UsageRecord.objects.filter(pk=record.pk).values().get()
    assert key.purpose == ApiKey.Purpose.PLAYGROUND and key.workspace_id == live.workspace.id
    assert record.workspace_id == live.workspace.id and record.api_key_id == key.id
    assert record.model == "fake/chat" and record.status_code == 200
    assert record.prompt_tokens > 0 and record.cost_pico > 0
    assert record.streamed
    _no_secret_in(json.dumps(row, default=str), secret)
    _no_secret_in(response.text + json.dumps(dict(response.headers)), secret)
    _no_secret_in(live.log_path.read_text(errors="replace"), secret)
    # What reached the upstream carried Orca's provider credential, never the session's key.
    _no_secret_in(json.dumps([r.headers for r in upstream.requests], default=str), secret)
    with django_db_blocker.unblock():
        sessions = json.dumps(list(Session.objects.values_list("session_data", flat=True)))
    _no_secret_in(sessions, secret)  # derived when needed, never stored


def test_the_error_of_a_refused_call_is_shown_without_the_key(
    live, upstream, dashboard, django_db_blocker
):
    response = dashboard.post_playground({"target": "fake/error-429", "prompt": "Say hi"})
    assert response.status_code == 429
    assert response.json()["error"]["message"] and response.headers["x-orca-request-id"]
    _no_secret_in(response.text, dashboard.session_key(django_db_blocker))


@pytest.fixture
def held_model(live, db_access) -> Iterator[Listener]:
    """A model whose upstream holds its answer until the test releases it."""
    chunks = [
        {"id": "chatcmpl-held", "object": "chat.completion.chunk", "created": 1,
         "model": "held-chat", "choices": [{"index": 0, "delta": {"role": "assistant",
         "content": "released"}, "finish_reason": None}]},
        {"id": "chatcmpl-held", "object": "chat.completion.chunk", "created": 1,
         "model": "held-chat", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
    ]  # fmt: skip
    stream = b"".join(b"data: %s\n\n" % json.dumps(c).encode() for c in chunks)
    listener = Listener(answer=stream + b"data: [DONE]\n\n", content_type=b"text/event-stream")
    provider = Provider(
        slug="playground-held",
        name="Held upstream",
        kind="openai",
        base_url=f"http://127.0.0.1:{listener.port}",
        first_byte_timeout=30,
    )
    provider.set_credential("held-credential")
    provider.save()
    Model.objects.create(
        public_id="held/chat", provider=provider, upstream_name="held-chat", input_price="1"
    )
    deadline = time.monotonic() + 10
    while "held/chat" not in httpx.get(f"{live.base_url}/models", headers=auth(live)).text:
        assert time.monotonic() < deadline, "the server never saw the new model"
        time.sleep(0.1)
    yield listener
    listener.close()
    Model.objects.filter(provider=provider).delete()  # each delete bumps the catalog version
    provider.delete()
    # The next test's model has the same name: wait until the server has dropped this one, or
    # that test's wait for "held/chat" passes on the stale entry pointing at a closed port.
    deadline = time.monotonic() + 10
    while "held/chat" in httpx.get(f"{live.base_url}/models", headers=auth(live)).text:
        assert time.monotonic() < deadline, "the server never dropped the held model"
        time.sleep(0.1)


def test_a_pending_playground_call_does_not_hold_up_the_dashboard(live, dashboard, held_model):
    outcome: dict = {}

    def play() -> None:
        outcome["page"] = dashboard.post_playground({"target": "held/chat", "prompt": "Wait"})

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    try:
        assert held_model.arrived.wait(20), "the playground call never reached the upstream"
        # The upstream has not answered: the call is pending while another page is served.
        other = dashboard.get("/w/acme/models/")
        assert other.status_code == 200 and "held/chat" in other.text
        assert thread.is_alive() and "page" not in outcome
    finally:
        held_model.release.set()
        thread.join(30)
    assert outcome["page"].status_code == 200 and answer_of(outcome["page"]) == "released"


def test_leaving_the_page_cancels_the_pending_call(live, dashboard, held_model, django_db_blocker):
    """The browser goes away mid-call: the relay call is cancelled with it (metered as 499,
    client closed) and its upstream connection closed, instead of a thread waiting out the
    upstream until the relay's own deadline ends the call as a timeout."""
    headers = dashboard.csrf_headers()
    form = chat_body({"target": "held/chat", "prompt": "Wait"})
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    port = int(live.server.base_url.rsplit(":", 1)[1])
    with django_db_blocker.unblock():
        before = UsageRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as browser:
        browser.sendall(
            f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
            f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n".encode()
            + form
        )
        assert held_model.arrived.wait(20), "the playground call never reached the upstream"
    assert held_model.hung_up.wait(40), "the upstream connection was never closed"
    deadline = time.monotonic() + 10
    while True:
        with django_db_blocker.unblock():
            record = UsageRecord.objects.filter(
                pk__gt=before, workspace=live.workspace, model="held/chat"
            ).first()
        if record is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert record is not None, "the cancelled call left no usage record"
    assert (record.status_code, record.error_code) == (499, "client_closed")
