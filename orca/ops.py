"""Operator endpoints, answered in orca/asgi.py before Django (no middleware, no session):

* `GET /healthz` — the process is alive and its event loop answers. No I/O: a liveness probe
  that restarts a gateway must not do so because the database is slow.
* `GET /readyz` — the database (`SELECT 1`) and Redis (`PING`, when REDIS_URL is set) answer
  within ORCA_READY_TIMEOUT seconds each; 503 naming what is down otherwise. A readiness
  probe: take the gateway out of rotation, do not restart it.
* `GET /metrics` — Prometheus text format, every worker's values summed
  (routing/telemetry/metrics.py). Only with `Authorization: Bearer $ORCA_METRICS_TOKEN`;
  with no token configured it is refused (403), so metrics never leak to whoever can reach
  the gateway's port.

None of them takes a body or reads the query; a check's answer names what is down and the
kind of failure only, never an address, a URL or a credential.
"""

import asyncio
import hmac
import logging

import orjson
from django.conf import settings

from routing.proxy.pipeline.state import state
from routing.telemetry import metrics

log = logging.getLogger(__name__)

JSON = b"application/json"
NO_STORE = (b"cache-control", b"no-store")
METHODS = ("GET", "HEAD")


async def _answer(send, scope, status: int, body: bytes, content_type: bytes = JSON, headers=()):
    head = [
        (b"content-type", content_type),
        (b"content-length", b"%d" % len(body)),
        NO_STORE,
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _error(message: str, code: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "code": code}})


async def _method_not_allowed(scope, send) -> bool:
    if scope["method"] in METHODS:
        return False
    body = _error(f"method {scope['method']} not allowed; use GET", "method_not_allowed")
    await _answer(send, scope, 405, body, headers=[(b"allow", b"GET, HEAD")])
    return True


HEALTHY = orjson.dumps({"status": "ok"})


async def healthz(scope, receive, send) -> None:
    if not await _method_not_allowed(scope, send):
        await _answer(send, scope, 200, HEALTHY)


# --- readiness -----------------------------------------------------------------------------


def _select_one() -> None:
    from django.db import close_old_connections, connection

    close_old_connections()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


class _Checks:
    """The two checks, each run at most once at a time: probes that come while one is out
    (or stuck on an unanswering database) wait for the same answer instead of piling up
    threads or connections."""

    def __init__(self) -> None:
        self._database: asyncio.Future | None = None
        self._redis_client = None

    async def database(self) -> None:
        running = self._database
        if running is None or running.done():
            running = self._database = asyncio.ensure_future(asyncio.to_thread(_select_one))
            # Retrieved here too: a probe that stopped waiting leaves nobody to read it.
            running.add_done_callback(lambda done: done.cancelled() or done.exception())
        await asyncio.shield(running)

    async def redis(self) -> None:
        client = self._redis_client
        if client is None:
            import redis.asyncio

            timeout = settings.ORCA_READY_TIMEOUT
            client = self._redis_client = redis.asyncio.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
            )
        await client.ping()


_checks = _Checks()


async def _check(name: str, probe) -> tuple[str, str]:
    try:
        async with asyncio.timeout(settings.ORCA_READY_TIMEOUT):
            await probe()
    except TimeoutError:
        return name, "down: no answer in time"
    except Exception as exc:
        # The class only: messages can carry hosts, users or URLs.
        log.warning("readiness: %s is down (%s)", name, type(exc).__name__)
        return name, f"down: {type(exc).__name__}"
    return name, "ok"


async def readyz(scope, receive, send) -> None:
    if await _method_not_allowed(scope, send):
        return
    probes = [_check("database", _checks.database)]
    if settings.REDIS_URL:
        probes.append(_check("redis", _checks.redis))
    checks = dict(await asyncio.gather(*probes))
    if not settings.REDIS_URL:
        checks["redis"] = "not configured (in-process limits)"
    down = [name for name, verdict in checks.items() if verdict.startswith("down")]
    body: dict = {"status": "unavailable" if down else "ready", "checks": checks}
    if down:
        body["down"] = down
    await _answer(send, scope, 503 if down else 200, orjson.dumps(body))


# --- metrics -------------------------------------------------------------------------------


def _bearer(scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else None
    return None


async def metrics_endpoint(scope, receive, send) -> None:
    if await _method_not_allowed(scope, send):
        return
    expected = settings.ORCA_METRICS_TOKEN.encode()
    if not expected:
        message = "metrics are off: set ORCA_METRICS_TOKEN and scrape with that bearer token"
        await _answer(send, scope, 403, _error(message, "metrics_disabled"))
        return
    given = _bearer(scope)
    if given is None or not hmac.compare_digest(given, expected):
        message = "a valid metrics token is needed (Authorization: Bearer ...)"
        challenge = [(b"www-authenticate", b'Bearer realm="metrics"')]
        await _answer(send, scope, 401, _error(message, "invalid_metrics_token"), headers=challenge)
        return
    state.report_metrics()  # this process's own calls, up to now
    body = await asyncio.to_thread(metrics.exposition)
    await _answer(send, scope, 200, body, metrics.CONTENT_TYPE.encode())


ROUTES = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_endpoint}
