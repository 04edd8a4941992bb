"""ASGI entry point: relay paths go straight to Channels consumers, the rest to Django.

The relay (/v1/*, /v1beta/*) skips Django's request handler entirely (DESIGN.md, hot path).
`HEAD /` is a reachability probe (Anthropic clients send one to their base URL) and answers
200 with no body here; every other method on `/` (a browser's GET: the dashboard) is
Django's. `/healthz`, `/readyz` and `/metrics` (orca/ops.py) are answered here too, before
Django's middleware. Lifespan shutdown flushes buffered usage records and the metrics,
exports the last traces and closes the upstream connection pool.
"""

import asyncio
import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orca.settings")

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

django_application = get_asgi_application()
# The dashboard's CSS and JS, served by the app itself so any ASGI server works (a proxy in
# front may serve STATIC_ROOT instead after `collectstatic`).
static_application = ASGIStaticFilesHandler(django_application)
STATIC_PREFIX = "/" + settings.STATIC_URL.lstrip("/")

from orca import logs  # noqa: E402
from orca.ops import ROUTES as OPS_ROUTES  # noqa: E402
from routing.proxy.pipeline.state import state  # noqa: E402
from routing.proxy.routes import relay_application  # noqa: E402
from routing.telemetry import metrics  # noqa: E402
from routing.wire import tokens  # noqa: E402

# The tokenizers' vocabularies load as the worker starts, not inside the first request that
# counts tokens: by default only o200k (0.6 s, +63 MB), which counts every current model;
# cl100k (gpt-4, gpt-3.5, ada embeddings: +47 MB) loads on its first use (0.25 s, once)
# unless ORCA_PRELOAD_TOKENIZERS names it too (worker RSS: docs/performance.md).
tokens.preload(*settings.ORCA_PRELOAD_TOKENIZERS)
logs.adopt_uvicorn_logs()

RELAY_PREFIXES = ("/v1/", "/v1beta/")
# OpenRouter's base URL: its account endpoints (relay keys) are the relay's too, looked up
# only after the relay's own prefixes; provisioning (/api/v1/keys, management keys) is a
# Django REST view.
OPENROUTER_PREFIX = "/api/v1/"
OPENROUTER_DJANGO = "/api/v1/keys"
PROBE_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"0")]


async def probe(send) -> None:
    """`HEAD /`: the gateway is up. No body, no authentication, nothing touched."""
    await send({"type": "http.response.start", "status": 200, "headers": PROBE_HEADERS})
    await send({"type": "http.response.body", "body": b""})


async def lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Everything loaded so far (Django, the apps, their modules) lives as long as
            # the process: keep it out of the cyclic collector's way, so the collections
            # that per-request garbage triggers stay short.
            gc.collect()
            gc.freeze()
            # A request leaves a few hundred container objects behind until it ends: at the
            # default threshold (700) the young collection runs every couple of requests
            # and walks whatever the in-flight calls hold. Ten times rarer measured ~4 %
            # less CPU per call at c=64; a cycle waits a little longer to be reclaimed.
            gc.set_threshold(7_000, 10, 10)
            metrics.forget_dead_workers()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state.close()
            if settings.ORCA_TRACING:
                from routing.telemetry import tracing

                await asyncio.to_thread(tracing.shutdown)
            await send({"type": "lifespan.shutdown.complete"})
            return


def _openrouter_relay(path: str) -> bool:
    if not path.startswith(OPENROUTER_PREFIX):
        return False
    return not (path == OPENROUTER_DJANGO or path.startswith(OPENROUTER_DJANGO + "/"))


async def application(scope, receive, send) -> None:
    kind = scope["type"]
    if kind == "http" and scope["path"].startswith(RELAY_PREFIXES):
        return await relay_application(scope, receive, send)
    if kind == "lifespan":
        return await lifespan(receive, send)
    if kind == "http":
        ops = OPS_ROUTES.get(scope["path"])
        if ops is not None:
            return await ops(scope, receive, send)
    if kind == "http" and scope["method"] == "HEAD" and scope["path"] == "/":
        return await probe(send)
    if kind == "http" and _openrouter_relay(scope["path"]):
        return await relay_application(scope, receive, send)
    if kind == "http" and scope["path"].startswith(STATIC_PREFIX):
        return await static_application(scope, receive, send)
    return await django_application(scope, receive, send)
