"""Calls refused before any upstream (a revoked or expired key, an address or model the key
may not use, an empty balance, a rate or spend limit) still belong in the workspace's
request log: one usage row each, with the status and code the client got and no cost.

The row goes through the same usage buffer as every call (batched, off the request path):
a refusal costs the gateway one small object appended to a list, no database write."""

import time
from datetime import UTC, datetime

from billing.services import UsageEvent
from workspaces.selectors import KeyContext

from ..errors import GatewayError
from .state import state

# Statuses that mean "refused by the gateway's rules" (not a malformed request).
RECORDED = frozenset({401, 402, 403, 429, 503})
# A revoked or expired key (401) or one used from a refused address (403) is most often in
# someone else's hands: each gateway logs such a key's refusals at most once a minute (per
# code), so whoever holds a leaked key cannot fill the workspace's request log. The
# owner's own refusals (402, 429, 503, a model the key may not use) are all logged.
THROTTLED_CODE_403 = "ip_not_allowed"
THROTTLE_SECONDS = 60.0
_MAX_THROTTLED = 10_000  # keys remembered at once; forgotten all together past this
_last_logged: dict[tuple[int, str], float] = {}


def _throttled(key_id: int, code: str) -> bool:
    now = time.monotonic()
    slot = (key_id, code)
    last = _last_logged.get(slot)
    if last is not None and now - last < THROTTLE_SECONDS:
        return True
    if len(_last_logged) >= _MAX_THROTTLED:
        _last_logged.clear()
    _last_logged[slot] = now
    return False


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
    guardrail: str = "",
    guardrail_action: str = "",
) -> None:
    if error.status not in RECORDED and error.code != "guardrail_blocked":
        return
    code = error.code or ""
    if (error.status == 401 or code == THROTTLED_CODE_403) and _throttled(key.key_id, code):
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
            guardrail=guardrail,
            guardrail_action=guardrail_action,
        )
    )
