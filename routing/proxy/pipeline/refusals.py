"""Calls refused before any upstream (a revoked or expired key, an address or model the key
may not use, an empty balance, a rate or spend limit) still belong in the workspace's
request log: one usage row each, with the status and code the client got and no cost.

The row goes through the same usage buffer as every call (batched, off the request path):
a refusal costs the gateway one small object appended to a list, no database write."""

from datetime import UTC, datetime

from billing.services import UsageEvent
from workspaces.selectors import KeyContext

from ..errors import GatewayError
from .state import state

# Statuses that mean "refused by the gateway's rules" (not a malformed request).
RECORDED = frozenset({401, 402, 403, 429, 503})


class KeyRefused(GatewayError):
    """The API key is known but may not make this call: its workspace is known too."""

    def __init__(self, key: KeyContext, status: int, message: str, *, code: str) -> None:
        super().__init__(status, message, code=code)
        self.key = key


def record_refusal(
    key: KeyContext,
    request_id: str,
    endpoint: str,
    error: GatewayError,
    *,
    model: str = "",
    streamed: bool = False,
    router: str = "",
) -> None:
    if error.status not in RECORDED:
        return
    state.usage.add(
        UsageEvent(
            request_id=request_id,
            workspace_id=key.workspace_id,
            api_key_id=key.key_id,
            endpoint=endpoint,
            model=model,
            upstream_model="",
            prompt_tokens=0,
            completion_tokens=0,
            cached_tokens=0,
            reasoning_tokens=0,
            usage_reported=False,
            status_code=error.status,
            error_code=(error.code or "")[:60],
            streamed=streamed,
            latency_ms=0,
            ttft_ms=None,
            created_at=datetime.now(UTC),
            router=router,
        )
    )
