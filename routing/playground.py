"""The dashboard playground's road into the relay: one in-process ASGI call.

The chat request is handed straight to the relay's ASGI application: no socket, no URL and
no Host header, so nothing a browser sends can choose where the workspace's API key goes.
(The playground used to post to `build_absolute_uri(...)`; a `Host: 127.0.0.1:<port>` made
Orca send the key to that port and show the reply, and told open ports from closed ones.)

The call runs in the caller's event loop, which under uvicorn and daphne is the loop the
relay's process-wide state lives in (key cache, upstream pool, limits, usage buffer), so a
playground call is authenticated, limited and metered exactly like a client's."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
TIMEOUT_SECONDS = 60.0
MASK = "sk-orca-…"

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


def relay_app() -> ASGIApp:
    """The relay's ASGI application (what orca/asgi.py serves under /v1/). Imported on first
    use: it builds the gateway state, which pages that never send a prompt do not need."""
    from .proxy.routes import relay_application

    return relay_application


@dataclass
class Reply:
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    parts: list[bytes] = field(default_factory=list)
    complete: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


class IncompleteReply(Exception):
    """The relay returned without finishing its response."""


async def call_relay(
    path: str, body: bytes, *, api_key: str, client_ip: str | None, app: ASGIApp | None = None
) -> Reply:
    """POST `body` to the relay's `path` in process and collect the whole response."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", b"Bearer " + api_key.encode("latin-1")),
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
        ],
        "server": None,
        # The relay checks a key's IP allow-list against this: the dashboard user's address.
        "client": (client_ip, 0) if client_ip else None,
    }
    reply = Reply()
    finished = asyncio.Event()
    body_sent = False

    async def receive() -> dict:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # the relay's disconnect watcher waits here until the end
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            reply.parts.append(message.get("body", b""))
            if not message.get("more_body"):
                reply.complete = True
                finished.set()

    try:
        await (app or relay_app())(scope, receive, send)
    finally:
        finished.set()
    if reply.status is None or not reply.complete:
        raise IncompleteReply
    return reply


def client_ip(request: HttpRequest) -> str | None:
    """The dashboard user's address, picked the way the relay picks a client's."""
    if settings.ORCA_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
        if forwarded:
            return forwarded.split(",")[-1].strip()  # the entry our own proxy appended
    return request.META.get("REMOTE_ADDR") or None


async def send_prompt(*, api_key: str, target: str, prompt: str, ip: str | None) -> dict:
    """One chat completion through the relay, as the page shows it."""
    body = {"model": target, "messages": [{"role": "user", "content": prompt}]}
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            reply = await call_relay(
                CHAT_PATH, json.dumps(body).encode(), api_key=api_key, client_ip=ip
            )
    except TimeoutError:
        return {
            "ok": False,
            "status": None,
            "failure": f"The relay did not answer within {TIMEOUT_SECONDS:g} seconds.",
        }
    except Exception as exc:
        # A fault of this glue (the relay renders its own errors). The key is only in a
        # header and a local variable; neither appears in the traceback.
        log.exception("playground relay call failed")
        return {"ok": False, "status": None, "failure": f"The relay failed ({type(exc).__name__})."}
    return _without(api_key, describe(reply))


def describe(reply: Reply) -> dict:
    """What the page shows: the answer, tokens and cost, or the error envelope, plus the
    X-Orca-* headers."""
    headers = sorted(
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in reply.headers
        if name.lower().startswith(b"x-orca-")
    )
    text = reply.body.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    result: dict = {"ok": False, "status": reply.status, "headers": headers}
    assert reply.status is not None  # call_relay raises IncompleteReply without one
    if reply.status >= 400 or not isinstance(payload, dict):
        pretty = json.dumps(payload, indent=2, ensure_ascii=False) if payload is not None else ""
        result["error"] = pretty or text[:2000]
        return result

    choices = payload.get("choices") or [{}]
    first = choices[0] if isinstance(choices, list) and isinstance(choices[0], dict) else {}
    # The casts repeat what isinstance has just checked on the same lookup.
    message = cast(dict, first.get("message")) if isinstance(first.get("message"), dict) else {}
    usage = cast(dict, payload.get("usage")) if isinstance(payload.get("usage"), dict) else {}
    header_map = dict(headers)
    cost = usage.get("cost")
    if cost is None:
        cost = header_map.get("x-orca-cost")
    result.update(
        ok=True,
        answer=message.get("content") or "",
        model=payload.get("model") or header_map.get("x-orca-resolved-model", ""),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        total_tokens=usage.get("total_tokens"),
        cost=str(cost) if cost is not None else None,
    )
    return result


def _without(api_key: str, result: dict) -> dict:
    """Belt and braces: whatever the relay or an upstream echoed, the key is masked."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(api_key, MASK)
        if isinstance(value, (list, tuple)):
            return type(value)(clean(item) for item in value)
        return value

    return {name: clean(value) for name, value in result.items()}
