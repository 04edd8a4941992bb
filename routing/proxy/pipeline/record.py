"""What one relayed call did, filled in as it goes and recorded once at the end."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from billing.limits import Ticket
from billing.pricing import Metered, cost_pico
from billing.services import UsageEvent
from workspaces.selectors import KeyContext

from ...catalog.snapshot import ModelRoute
from ...wire.usage import Usage
from .plan import ROUTER_PREFIX

if TYPE_CHECKING:
    from .call import Call
from .state import state

CLIENT_CLOSED = 499  # nginx's convention for "the client went away"
GUARDRAIL_BLOCKED = "guardrail_blocked"


@dataclass(slots=True)
class CallRecord:
    """What one relayed call did, filled in as it goes and written once at the end."""

    key: KeyContext
    route: ModelRoute
    endpoint: str
    streamed: bool
    started: float = field(default_factory=time.perf_counter)
    status: int = 0
    error_code: str = ""
    usage: Usage | None = None
    first_byte_at: float | None = None
    router: str = ""
    fallback_level: int | None = None
    attempts: list[dict] = field(default_factory=list)
    prompt_estimate: int = 0
    cost_pico: int = 0
    charged: bool = False  # cost_pico is final (a non-stream answer was priced)
    exchange: tuple[str, str, int] | None = None
    ticket: Ticket | None = None  # the admission's reservation, for progress reports
    # The operation's rule: an answer with no output is still charged (embeddings).
    charges_without_output: bool = False

    def _cost(self, usage: Usage) -> int:
        if not usage.reported and not usage.prompt_tokens:
            usage.prompt_tokens = self.prompt_estimate  # recorded as the estimate it is
        used = Metered(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            units=usage.units or {},
        )
        return cost_pico(self.route.prices, used, self.key.markup_percent)

    def charge(self) -> int:
        """What the call costs the workspace: nothing unless it was served, or is a stream
        whose output reached the client before it stopped (the client left, the upstream
        broke off); nothing for an empty completion. A stream cut short is charged for the
        output delivered, counted from its chunks when the upstream never sent usage, with
        the prompt estimated the same way. An operation without output (embeddings) is
        charged for its input once served."""
        usage = self.usage
        if usage is None or self.error_code == GUARDRAIL_BLOCKED:  # a block is never charged
            return 0
        if not usage.completion_tokens and not (self.charges_without_output and self.status == 200):
            return 0
        if self.status not in (200, CLIENT_CLOSED) and not (self.streamed and self.delivered):
            return 0
        return self._cost(usage)

    def progress(self, usage_so_far: Callable[[], Usage]) -> None:
        """Tell the reservation what a running stream has delivered, so that the call is
        billed even if this process dies before it settles. The limiter takes one report a
        second; in between this costs a clock reading."""
        ticket = self.ticket
        if ticket is None or time.monotonic() < ticket.next_progress:
            return
        usage = usage_so_far()
        if usage.completion_tokens:
            cost = self._cost(usage)
            state.limiter.progress(ticket, cost, usage.prompt_tokens, usage.completion_tokens)

    def mark_first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()

    @property
    def delivered(self) -> bool:
        """Upstream output reached the client (set when the first relayed bytes went out)."""
        return self.first_byte_at is not None

    def to_event(self, request_id: str, call: "Call | None" = None) -> UsageEvent:
        usage = self.usage or Usage(reported=False)
        ttft = self.first_byte_at
        return UsageEvent(
            request_id=request_id,
            workspace_id=self.key.workspace_id,
            api_key_id=self.key.key_id,
            endpoint=self.endpoint,
            model=self.route.public_id,
            upstream_model=self.route.upstream_name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            usage_reported=usage.reported,
            status_code=self.status,
            error_code=self.error_code,
            streamed=self.streamed,
            latency_ms=int((time.perf_counter() - self.started) * 1000),
            ttft_ms=None if ttft is None else int((ttft - self.started) * 1000),
            created_at=datetime.now(UTC),
            router=f"{ROUTER_PREFIX}{self.router}" if self.router else "",
            fallback_level=self.fallback_level,
            attempts=orjson.dumps(self.attempts).decode() if self.attempts else "[]",
            cost_pico=self.cost_pico,
            byok=self.route.provider.owner != 0,
            exchange=self.exchange,
            guardrail=call.guardrail if call is not None else "",
            guardrail_action=call.guardrail_action if call is not None else "",
            prompt=call.prompt if call is not None else "",
            prompt_version=call.prompt_version if call is not None else None,
        )
