"""/healthz and /readyz on live gateways: the session's (everything up), one whose Redis port
is closed and one whose database port is closed. The Redis-less one also writes JSON logs
(ORCA_LOG_FORMAT=json): each line parses, and a relayed call's lines carry its request id."""

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.live import LiveServer, database_url, free_port


@pytest.fixture(scope="module")
def no_redis(live, tmp_path_factory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("no-redis") / "server.log",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/4",  # nothing listens there
        ORCA_READY_TIMEOUT="1",
        ORCA_LOG_FORMAT="json",
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def no_database(live, tmp_path_factory) -> Iterator[LiveServer]:
    closed = database_url().rsplit("@", 1)[0] + f"@127.0.0.1:{free_port()}/orca"
    server = LiveServer(
        tmp_path_factory.mktemp("no-db") / "server.log",
        DATABASE_URL=closed if closed.startswith("postgres") else "sqlite:////nonexistent/x.db",
        ORCA_READY_TIMEOUT="1",
    ).start()
    yield server
    server.stop()


def test_healthz_answers_without_auth_or_io(live, no_redis):
    for server in (live.server, no_redis):
        response = httpx.get(f"{server.base_url}/healthz", timeout=5)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert response.headers["cache-control"] == "no-store"
    head = httpx.head(f"{live.server.base_url}/healthz", timeout=5)
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_endpoints_take_only_get_and_head(live, path):
    response = httpx.post(f"{live.server.base_url}{path}", content=b"{}", timeout=5)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_readyz_when_everything_is_up(live):
    response = httpx.get(f"{live.server.base_url}/readyz", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert "down" not in body


def test_readyz_names_redis_when_it_is_unreachable(no_redis):
    response = httpx.get(f"{no_redis.base_url}/readyz", timeout=5)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down")
    assert "127.0.0.1" not in response.text  # no address in an unauthenticated answer


def test_readyz_names_the_database_when_it_is_unreachable(no_database):
    response = httpx.get(f"{no_database.base_url}/readyz", timeout=5)
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database"]
    assert body["checks"]["redis"] == "ok"
    assert "127.0.0.1" not in response.text
    assert httpx.get(f"{no_database.base_url}/healthz", timeout=5).status_code == 200


def test_json_logs_parse_and_carry_the_request_id(live, no_redis):
    """With Redis gone a call is refused (503 limits_unavailable) and logs why, with a
    traceback: that line names the call's request id."""
    response = httpx.post(
        f"{no_redis.base_url}/v1/chat/completions",
        json={"model": "fake/chat", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {live.key}"},
        timeout=20,
    )
    assert response.status_code == 503, response.text
    request_id = response.headers["x-orca-request-id"]
    no_redis.stop()  # every line is written and flushed
    lines = no_redis.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # each line is one JSON object
    assert entries
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys(), entry
        assert entry["time"].endswith("+00:00")
    assert any(e["message"] == "Application startup complete." for e in entries)
    tagged = [e for e in entries if e.get("request_id") == request_id]
    assert any(e["message"] == "usage limits unavailable" for e in tagged), tagged
    assert not any(e["logger"] == "uvicorn.access" for e in entries)  # --no-access-log holds
    assert "Traceback" in next(e["exception"] for e in tagged if "exception" in e)
    assert live.key not in "\n".join(lines)
    no_redis.start()  # the module's other tests may still use it
