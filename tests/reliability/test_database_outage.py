"""PostgreSQL out of reach while a gateway runs: every call that needs a row no cache holds
answers 503 `database_unavailable` (with Retry-After) in its dialect, never a 500; calls
resume once the database is back.

The gateway reaches PostgreSQL through a TCP forwarder this test controls, so the outage is
real (connections refused and the open ones cut) without touching the server everyone uses."""

import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import connection

from tests.live import LiveServer, database_url, free_port


def unknown_key() -> str:
    """A key no gateway has seen (unknown keys are cached too): its lookup needs the database."""
    return "sk-orca-" + secrets.token_urlsafe(32)


class Forwarder:
    """127.0.0.1:port -> the database, until cut(); then every connection is refused or
    reset until resume()."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.open = True
        self._pairs: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        self.open = False
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for sock in pairs:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def resume(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.fixture
def flaky_database(live, tmp_path) -> Iterator[tuple[LiveServer, Forwarder]]:
    if connection.vendor != "postgresql":
        pytest.skip("the outage is staged on PostgreSQL's TCP port")
    url = urlsplit(database_url())
    forwarder = Forwarder((url.hostname or "127.0.0.1", url.port or 5432))
    through = url._replace(netloc=f"{url.username}@127.0.0.1:{forwarder.port}").geturl()
    server = LiveServer(tmp_path / "server.log", DATABASE_URL=through).start()
    try:
        yield server, forwarder
    finally:
        server.stop()
        forwarder.close()


CALLS = [  # (method, path, body, how the dialect names the error code)
    (
        "POST",
        "/v1/chat/completions",
        {"model": "orca/demo", "messages": [{"role": "user", "content": "hi"}]},
        lambda j: j["error"]["code"],
    ),
    (
        "POST",
        "/v1/messages",
        {"model": "orca/demo", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
        lambda j: j["error"]["type"],
    ),
    ("GET", "/v1/generation?id=gen_missing", None, lambda j: j["error"]["code"]),
    ("GET", "/api/v1/key", None, lambda j: j["error"]["metadata"]["orca_code"]),
    ("GET", "/api/v1/credits", None, lambda j: j["error"]["metadata"]["orca_code"]),
]


def headers() -> dict[str, str]:
    key = unknown_key()
    return {"Authorization": f"Bearer {key}", "x-api-key": key}


def test_calls_get_503_while_the_database_is_unreachable_and_work_after(flaky_database):
    server, forwarder = flaky_database
    before = httpx.post(f"{server.base_url}/v1/chat/completions", json=CALLS[0][2],
                        headers=headers(), timeout=10)  # fmt: skip
    assert before.status_code == 401  # up: an unknown key is simply refused

    forwarder.cut()
    for method, path, body, code_of in CALLS:
        response = httpx.request(
            method, f"{server.base_url}{path}", json=body, headers=headers(), timeout=30
        )
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.headers["retry-after"] == "2"
        code = code_of(response.json())
        assert code in ("database_unavailable", "overloaded_error", "api_error"), (path, code)
        assert "127.0.0.1" not in response.text and str(forwarder.port) not in response.text
    api = httpx.get(
        f"{server.base_url}/api/v1/keys",
        headers={"Authorization": f"Bearer sk-orca-mgmt-{secrets.token_urlsafe(32)}"},
    )
    assert api.status_code == 503, api.text
    assert api.json()["error"]["code"] == 503

    forwarder.resume()
    after = httpx.post(f"{server.base_url}/v1/chat/completions", json=CALLS[0][2],
                       headers=headers(), timeout=10)  # fmt: skip
    assert after.status_code == 401, after.text  # back: the lookup runs again
    log = server.log_path.read_text()
    assert "the database is unreachable" in log  # a warning per call, not a bug's traceback
    assert "internal_error" not in log
