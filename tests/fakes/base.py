"""What every fake upstream shares: an aiohttp server on a free local port, run by its own event
loop in a daemon thread, that records each request and the events of its streams.

A subclass adds its routes (``_add_routes``), checks credentials (``_authenticate``) and writes
streams with ``_write_events`` / ``_complete_stream``; tests use ``start``/``stop`` (or ``with``),
``base_url``, ``requests``, ``events``, ``wait_for_event`` and ``reset``. A request whose body
carries ``orca-fault:<name>`` gets ``request[FAULT] = name``; each fake hands it to
``faults.serve`` with its dialect once the request has passed its checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from . import faults

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The fault the request's body asks for (see faults.py), or None.
FAULT: web.RequestKey[str | None] = web.RequestKey("orca_fault", str | None)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any | None  # parsed body, or None when it is empty or not JSON


def words(text: str) -> list[str]:
    """Split into one piece per word, keeping the separating spaces so pieces join back exactly."""
    first, *rest = text.split(" ")
    return [first, *(" " + word for word in rest)]


def fragments(text: str, count: int = 3) -> list[str]:
    step = max(1, -(-len(text) // count))  # ceiling division
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


SAY = "orca-say:"  # a prompt containing this gets the rest of the prompt as its reply


def scripted(prompt: str) -> str | None:
    """The reply a test scripted in its prompt (``... orca-say:<reply>``), or None. Streams
    split it word by word like every reply, so a test can place chunk boundaries."""
    at = prompt.find(SAY)
    return prompt[at + len(SAY) :] if at >= 0 else None


client_gone = faults.client_gone  # re-exported: the fakes import it from here


class FakeUpstream:
    label = "fake"  # names the thread ("fake-<label>-upstream") and start-up errors
    base_path = ""  # appended to http://127.0.0.1:<port> to make base_url
    default_api_key = "fake-upstream-credential"  # the credential it accepts unless told

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = self.default_api_key if api_key is None else api_key
        self.chunk_delay: float = 0.0  # seconds between the pieces of ordinary streams
        self.requests: list[Recorded] = []
        self.events: list[tuple[str, str]] = []
        self.base_url = ""
        self.port = 0
        self._cond = threading.Condition()  # guards requests/events; reentrant (an RLock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._startup_error: BaseException | None = None

    # ------------------------------------------------------------------ for subclasses

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def _authenticate(self, request: web.Request) -> web.StreamResponse | None:
        """The response refusing a request with bad credentials, or None to serve it."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve,
            args=(ready,),
            name=f"fake-{self.label.lower()}-upstream",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake {self.label} upstream did not start within 10 s")
        error = self._startup_error
        if error is not None:
            raise RuntimeError(f"fake {self.label} upstream failed to start") from error
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._setup())
        except BaseException as exc:  # reported to start() in the calling thread
            self._startup_error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            # Cancel what is left (e.g. a sleeping handler) so the loop closes cleanly.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _setup(self) -> None:
        app = web.Application(middlewares=[self._record_and_authenticate])
        self._add_routes(app.router)
        # A short shutdown timeout: stop() must not wait for handlers that sleep on purpose.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{self.port}{self.base_path}"

    # ------------------------------------------------------------------ recording

    def reset(self) -> None:
        with self._cond:
            self.requests.clear()
            self.events.clear()

    def _event(self, name: str, model: str) -> None:
        with self._cond:
            self.events.append((name, model))
            self._cond.notify_all()

    def wait_for_event(self, name: str, timeout: float = 5.0, model: str | None = None) -> bool:
        """Block until an event called ``name`` (for ``model``, if given) has been recorded."""

        def seen() -> bool:
            return any(n == name and model in (None, m) for n, m in self.events)

        with self._cond:
            return self._cond.wait_for(seen, timeout=timeout)

    @web.middleware
    async def _record_and_authenticate(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        body = await request.read()  # aiohttp caches it, so handlers can read it again
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            json=parsed,
        )
        with self._cond:
            self.requests.append(recorded)
            self._cond.notify_all()
        refusal = self._authenticate(request)
        if refusal is not None:
            return refusal
        # Looked for in the raw bytes, so the marker works whatever shape the body has.
        request[FAULT] = faults.requested(body)
        return await handler(request)

    # ------------------------------------------------------------------ streaming

    async def _write_events(
        self,
        request: web.Request,
        resp: web.StreamResponse,
        model: str,
        pieces: list[bytes],
        *,
        delay: float,
    ) -> bool:
        """Write each piece separately, ``delay`` seconds apart. False (after recording
        ``("stream_aborted", model)``) when the client went away."""
        try:
            for i, piece in enumerate(pieces):
                if i and delay:
                    await asyncio.sleep(delay)
                # aiohttp does not cancel handlers on disconnect, so look before every write.
                if client_gone(request):
                    raise ConnectionResetError("client went away")
                await resp.write(piece)  # write() drains when the buffer is full
        except (ConnectionResetError, asyncio.CancelledError) as exc:
            self._event("stream_aborted", model)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False
        return True

    async def _complete_stream(
        self, resp: web.StreamResponse, model: str, final_event: str = "stream_completed"
    ) -> None:
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        self._event(final_event, model)


class ValidatingFakeUpstream(FakeUpstream):
    """A fake that refuses invalid requests the way its real API does, and keeps their messages
    in ``rejections`` (so a test can assert ``fake.rejections == []``)."""

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__(api_key)
        self.rejections: list[str] = []  # messages of the 400s sent for invalid requests

    def reset(self) -> None:
        with self._cond:
            super().reset()
            self.rejections.clear()

    def _reject(self, message: str, model: str) -> None:
        """Record a refused request: its message, and the event ``("invalid_request", model)``."""
        with self._cond:
            self.rejections.append(message)
        self._event("invalid_request", model)
