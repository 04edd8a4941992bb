"""Where other apps plug into every relayed call, without touching the pipeline.

Four moments, each a list that apps fill from their AppConfig.ready():

* `on_arrival` — the parsed body in the client's dialect, before it is validated: a prompt
  registry may put its text and defaults into it (`Arrival`), so what follows, pass-through
  included, sees one ordinary request.
* `before_plan` — a prompt template may change the request and the model (`call.rewrite`).
* `before_upstream` — an input policy may block the call (raise GatewayError, which the
  client gets in its dialect, nothing charged) or rewrite the canonical request.
* `answer_watchers` — an output policy returns a watcher for the calls it cares about;
  the watcher sees the canonical answer (non-stream) or every canonical chunk (stream)
  and may rewrite it, record it, or block it by raising GatewayError.

A hook that rewrites turns pass-through off for its call, and so does a watcher on any
surface but chat: the request is sent from the (changed) canonical form and the answer
rendered from canonical, so no change is lost on a same-format call. Chat's own dialect is
the canonical one, so a chat pass-through keeps passing through and its watchers see the
upstream's own answer and chunks (an event they change is encoded again). A hook may also
change the client's body in place as long as the canonical form says the same (the
guardrails' input mask does both). With no hooks registered the pipeline pays one truth
test per moment.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from workspaces.selectors import KeyContext

from ..errors import GatewayError

if TYPE_CHECKING:
    from .call import Call


class AnswerWatcher(Protocol):
    def completion(self, call: "Call", answer: dict) -> None:
        """A non-stream canonical answer, before it is rendered (may change it in place)."""
        ...

    def chunk(self, call: "Call", chunk: dict) -> dict | None:
        """One canonical stream chunk: the chunk to send (maybe changed), or None to drop
        it. Raise GatewayError to stop the stream with an error."""
        ...

    def finish(self, call: "Call") -> None:
        """Once per call: just before a served answer goes out or a stream's end is sent
        (raising GatewayError still turns it into an error), or, when the call ended without
        one (an upstream error, a block, the client leaving), at its end."""
        ...


log = logging.getLogger(__name__)


@dataclass(slots=True)
class Arrival:
    """A request as it arrived: the key, the client surface and the parsed body (any JSON
    value: not validated yet). What an arrival hook decides for the call's answer and usage
    record goes in the fields below, which the Call takes over."""

    consumer: Any  # RelayConsumer
    surface: Any  # Surface
    key: KeyContext
    payload: Any
    headers: tuple[tuple[bytes, bytes], ...] = ()
    prompt: str = ""  # the registry prompt put into the request, by name
    prompt_version: int | None = None


RequestHook = Callable[["Call"], Awaitable[None]]
ArrivalHook = Callable[[Arrival], Awaitable[None]]
WatcherFactory = Callable[["Call"], AnswerWatcher | None]

on_arrival: list[ArrivalHook] = []
before_plan: list[RequestHook] = []
before_upstream: list[RequestHook] = []
answer_watchers: list[WatcherFactory] = []


async def run(hooks: list[RequestHook], call: "Call") -> None:
    for hook in hooks:
        await hook(call)


def finish_all(call: "Call") -> None:
    """Every watcher's finish() for a served answer; the first GatewayError one raises is
    raised once all have run (so each still records), other errors are logged."""
    blocked: GatewayError | None = None
    for watcher in call.watchers:
        try:
            watcher.finish(call)
        except GatewayError as exc:
            blocked = blocked or exc
        except Exception:
            log.exception("request %s: an answer watcher's finish() failed", call.request_id)
    if blocked is not None:
        raise blocked


def finish_quietly(call: "Call") -> None:
    """The watchers' finish() for a call that ended without a served answer (an error, a
    block, the client leaving): there is nothing left to block, so errors are only logged."""
    for watcher in call.watchers:
        try:
            watcher.finish(call)
        except Exception:
            log.exception("request %s: an answer watcher's finish() failed", call.request_id)


def watch(call: "Call") -> None:
    for factory in answer_watchers:
        watcher = factory(call)
        if watcher is not None:
            call.watchers.append(watcher)
