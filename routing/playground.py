"""The dashboard playground's road into the relay: one in-process ASGI call, streamed.

The chat request is handed straight to the relay's ASGI application: no socket, no URL and
no Host header, so nothing a browser sends can choose where the workspace's API key goes.
(The playground used to post to `build_absolute_uri(...)`; a `Host: 127.0.0.1:<port>` made
Orca send the key to that port and show the reply, and told open ports from closed ones.)

The call runs in the caller's event loop, which under uvicorn and daphne is the loop the
relay's process-wide state lives in (key cache, upstream pool, limits, usage buffer), so a
playground call is authenticated, limited and metered exactly like a client's.

The page posts its conversation as JSON (`parse_call` checks it); the relay's SSE answer is
handed to the browser chunk by chunk (`open_stream`), which reads it with fetch and a
ReadableStream. The key is the session's playground key (workspaces/session_keys.py)."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

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


class IncompleteReply(Exception):
    """The relay returned without finishing its response."""


def client_ip(request: HttpRequest) -> str | None:
    """The dashboard user's address, picked the way the relay picks a client's."""
    if settings.ORCA_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
        if forwarded:
            return forwarded.split(",")[-1].strip()  # the entry our own proxy appended
    return request.META.get("REMOTE_ADDR") or None


# --- What the page sends ---------------------------------------------------------------------

MAX_TURNS = 100
MAX_TEXT = 100_000  # characters of one message
MAX_SYSTEM = 20_000
MAX_OUTPUT_TOKENS = 32_768
ROLES = frozenset({"user", "assistant"})


class BadCall(ValueError):
    """The page's request cannot be sent; `param` names the field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class PlaygroundCall:
    """One send of the playground: the conversation so far and its settings."""

    target: str
    system: str
    turns: tuple[Turn, ...]
    temperature: float | None
    max_tokens: int | None

    def body(self) -> bytes:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages += [{"role": turn.role, "content": turn.content} for turn in self.turns]
        body: dict[str, Any] = {
            "model": self.target,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return json.dumps(body).encode()


def _number(payload: dict, name: str, kind: type, low: float, high: float) -> Any:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadCall(name, f"must be a number from {low:g} to {high:g}")
    if kind is int and value != int(value):
        raise BadCall(name, "must be a whole number")
    if not low <= value <= high:
        raise BadCall(name, f"must be from {low:g} to {high:g}")
    return kind(value)


def parse_call(raw: bytes, targets: frozenset[str]) -> PlaygroundCall:
    """The page's JSON, checked field by field before anything is sent."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadCall("body", "must be a JSON object") from None
    if not isinstance(payload, dict):
        raise BadCall("body", "must be a JSON object")
    target = payload.get("target")
    if not isinstance(target, str) or target not in targets:
        raise BadCall("target", "pick one of this workspace's routers or models")
    system = payload.get("system") or ""
    if not isinstance(system, str) or len(system) > MAX_SYSTEM:
        raise BadCall("system", f"must be text of at most {MAX_SYSTEM} characters")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= MAX_TURNS:
        raise BadCall("messages", f"must be a list of 1 to {MAX_TURNS} messages")
    turns = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise BadCall(where, "must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise BadCall(f"{where}.role", "must be user or assistant")
        if not isinstance(content, str) or not content.strip() or len(content) > MAX_TEXT:
            raise BadCall(f"{where}.content", f"must be text of 1 to {MAX_TEXT} characters")
        if "\0" in content or "\0" in system:
            raise BadCall(f"{where}.content", "must not contain NUL characters")
        turns.append(Turn(role, content))
    if turns[-1].role != "user":
        raise BadCall("messages", "the last message must be the user's")
    return PlaygroundCall(
        target=target,
        system=system,
        turns=tuple(turns),
        temperature=_number(payload, "temperature", float, 0, 2),
        max_tokens=_number(payload, "max_tokens", int, 1, MAX_OUTPUT_TOKENS),
    )


# --- The relay's answer, streamed --------------------------------------------------------------

# Relay calls whose page went away before they ended: kept referenced until they finish.
_RUNNING: set[asyncio.Task] = set()


@dataclass
class RelayStream:
    """The relay's response as it arrives: status and headers first, then `chunks()`."""

    status: int
    headers: list[tuple[bytes, bytes]]
    _queue: asyncio.Queue
    _finished: asyncio.Event
    _api_key: str = field(repr=False)

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None

    async def chunks(self):
        """The body as the relay sends it. If the page stops reading (the browser left),
        the relay is told the client disconnected, so it cancels the upstream call."""
        secret = self._api_key.encode()
        try:
            while True:
                item = await self._queue.get()
                if item[0] != "body":
                    if item[0] == "end":  # the relay returned without finishing its answer
                        yield INCOMPLETE_EVENT
                    return
                if item[1]:
                    yield item[1].replace(secret, MASK.encode())  # an echo never shows it
                if not item[2]:
                    return
        finally:
            self._finished.set()


INCOMPLETE_EVENT = (
    b'data: {"error": {"message": "the relay ended the answer early", '
    b'"code": "incomplete_answer"}}\n\n'
)


async def open_stream(
    path: str, body: bytes, *, api_key: str, client_ip: str | None, app: ASGIApp | None = None
) -> RelayStream:
    """POST `body` to the relay in process and return once its response has started."""
    scope = _scope(path, body, api_key, client_ip)
    queue: asyncio.Queue = asyncio.Queue()
    finished = asyncio.Event()
    body_sent = False

    async def receive() -> dict:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # until the page stops listening, or the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            queue.put_nowait(("start", message["status"], list(message.get("headers") or [])))
        elif message["type"] == "http.response.body":
            more = bool(message.get("more_body"))
            queue.put_nowait(("body", message.get("body", b""), more))
            if not more:
                finished.set()

    async def run() -> None:
        try:
            await (app or relay_app())(scope, receive, send)
        except Exception:
            log.exception("playground relay call failed")  # the key is in no message
        finally:
            finished.set()
            queue.put_nowait(("end",))

    task = asyncio.get_running_loop().create_task(run())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            first = await queue.get()
    except BaseException:  # timed out, or the page went away (cancelled): end the call
        finished.set()
        raise
    if first[0] != "start":
        raise IncompleteReply
    return RelayStream(first[1], first[2], queue, finished, api_key)


def _scope(path: str, body: bytes, api_key: str, client_ip: str | None) -> dict[str, Any]:
    return {
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
