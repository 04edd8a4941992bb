"""The one object a relayed call carries through the pipeline's stages and hooks."""

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workspaces.selectors import KeyContext

from ..operations import Operation
from ..request import Request
from ..surfaces import ClientCall, Surface
from .record import CallRecord

if TYPE_CHECKING:
    from ..consumer import RelayConsumer
    from .hooks import AnswerWatcher


@dataclass(slots=True)
class Call:
    """One relayed call, from its parsed body to its recorded usage.

    `client` is what the surface validated; `body` the client's body minus Orca's routing
    fields (what a pass-through call sends); `canonical` the family's canonical request
    (what every other call is translated from). A hook that changes either sets
    `rewritten`, which turns pass-through off so the change is what goes upstream."""

    consumer: "RelayConsumer"
    request: Request
    surface: Surface
    operation: Operation
    endpoint: str
    key: KeyContext
    raw_key: str
    client: ClientCall
    body: dict
    canonical: dict
    rewritten: bool = False
    # Output policies watching this call's answer (non-stream and stream alike).
    watchers: list["AnswerWatcher"] = field(default_factory=list)
    finished: bool = False  # whether the watchers' finish() ran on a served answer
    # Response headers the hooks add (X-Orca-Guardrail), on the answer and on errors alike.
    headers: tuple[tuple[bytes, bytes], ...] = ()
    # The guardrail that screens this call (guardrails.gateway's state for it), and what the
    # usage record says of it: `<name>:v<N>` and the strongest action taken.
    guard: Any = None
    # A check a hook runs beside the upstream call (a moderation judge): it raises to stop
    # the call, and the answer waits for it before its first byte goes out.
    gate: "asyncio.Task[None] | None" = None
    guardrail: str = ""
    guardrail_action: str = ""
    # The registry prompt an arrival hook put into the request (usage is grouped by it).
    prompt: str = ""
    prompt_version: int | None = None
    record: CallRecord = field(init=False)  # from admission on, once the plan is known

    @property
    def request_id(self) -> str:
        return self.consumer.request_id

    def rewrite(self, canonical: dict | None = None, *, model: str | None = None) -> None:
        """Change the request a hook decided on: the canonical form and/or the model."""
        if canonical is not None:
            self.canonical = canonical
        if model is not None:
            self.client.model = model
        self.rewritten = True

    @property
    def passthrough_allowed(self) -> bool:
        """Whether a same-format upstream may get the client's own bytes and answer it as
        it came: not once a hook rewrote the request, nor while a watcher watches an answer
        in a dialect other than chat's (chat's answers are canonical already, so watchers see
        a chat pass-through's own chunks)."""
        # A conversation Orca stored is its own: a native upstream never saw those ids.
        return (
            not self.rewritten
            and (not self.watchers or self.surface.name == "chat")
            and self.client.history is None
        )
