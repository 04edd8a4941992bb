"""What every upstream kind returns: a response whose body is read under deadlines."""

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    first_byte: float  # from sending the request to the response headers
    idle: float  # longest silence between two body chunks
    total: float  # the whole exchange


class UpstreamFailure(Exception):
    """The upstream could not be reached or broke the protocol. Messages carry no secrets."""


class UpstreamTimeout(UpstreamFailure):
    def __init__(self, phase: str) -> None:
        super().__init__(f"upstream timed out ({phase})")
        self.phase = phase


class UpstreamResponse(Protocol):
    # Read-only: nothing assigns them, and a plain attribute here would make every class
    # with a property (or a dict attribute) fail to match.
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """Body chunks as they arrive; raises UpstreamTimeout / UpstreamFailure."""
        ...

    async def read(self) -> bytes: ...

    def close(self) -> None:
        """Drop the connection (used when the client goes away mid-body)."""
        ...

    def release(self) -> None:
        """The caller has what it needs (a stream's end marker): the rest of the body may
        arrive unread and the connection be reused. `close()` afterwards keeps that."""
        ...


class LocalResponse:
    """An answer already in this process (a local kind's, or upstream replies merged): read
    like an upstream's, with no connection to close or release."""

    status = 200
    headers: Mapping[str, str] = {"content-type": "application/json"}

    def __init__(self, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        self._body = body
        if headers is not None:
            self.headers = headers

    async def chunks(self) -> AsyncIterator[bytes]:
        yield await self.read()

    async def read(self) -> bytes:
        return self._body

    def close(self) -> None:
        pass

    def release(self) -> None:
        pass


class Deadline:
    """The total deadline of one exchange, and the per-phase waits bounded by it."""

    __slots__ = ("_end", "_loop")

    def __init__(self, total: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._end = self._loop.time() + total

    def budget(self, phase_timeout: float) -> tuple[float, str | None]:
        """Seconds to wait for the next step, and the phase to blame if it runs out."""
        remaining = self._end - self._loop.time()
        if remaining <= phase_timeout:
            return max(remaining, 0.0), "total"
        return phase_timeout, None


class StreamDecoder(Protocol):
    """An upstream's stream events in, canonical chat chunks out (routing.wire.*)."""

    done: bool

    def feed(self, event: bytes) -> list[dict]: ...

    def finish(self) -> list[dict]: ...


class FamilyAdapter(Protocol):
    """How one provider kind serves one endpoint family (routing.proxy.operations): what
    the pipeline needs to build the upstream call and read its answer. `native_surface`
    names the client surface whose requests this kind takes unchanged (pass-through)."""

    native_surface: str

    def native_body(self, body: dict, route, *, stream: bool) -> dict:
        """A client body in this kind's own format, made ready to send (model swapped)."""
        ...

    def from_canonical(self, request: dict, route) -> dict:
        """The family's canonical request in this kind's format (raises InvalidRequest)."""
        ...

    async def send(
        self,
        route,
        body: dict,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        """POST the body; `extra_headers` are the client's own that a same-format upstream
        gets (e.g. anthropic-beta), never replacing the kind's own headers."""
        ...

    def canonical_response(self, raw: bytes, route) -> dict:
        """A non-stream response body in the family's canonical form."""
        ...


class ChatAdapter(FamilyAdapter, Protocol):
    """The chat family streams: its adapters also decode the upstream's events."""

    def stream_decoder(self, route) -> StreamDecoder: ...
