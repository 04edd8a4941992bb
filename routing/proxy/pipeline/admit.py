"""Admission: the reservation held against the balance and the rate limits counted,
before any upstream is called."""

import logging

from billing.limits import Limits, Refused, Ticket
from billing.pricing import estimate_pico
from billing.selectors import balance_pico, seed_state
from workspaces.selectors import KeyContext

from ...telemetry import metrics
from ..errors import GatewayError
from ..operations import Operation
from .plan import Plan
from .state import run_db, state

log = logging.getLogger(__name__)


async def admit(
    key: KeyContext,
    plan: Plan,
    operation: Operation,
    request: dict,
    prompt_estimate: int,
    request_id: str,
    endpoint: str,
) -> Ticket:
    """Reserve the most the call can cost (its prompt estimate and the operation's most
    output, at the dearest planned model) and count it against the rate limits, or refuse
    it before any upstream is called."""
    markup = key.markup_percent
    targets = plan.targets
    prompt_estimate = operation.reserved_prompt(request, prompt_estimate)
    if len(targets) == 1:  # the usual call
        output = operation.max_output(request, targets[0])
        estimate = estimate_pico(targets[0].prices, prompt_estimate, output, markup)
    else:
        outputs = [operation.max_output(request, r) for r in targets]
        estimate = max(
            estimate_pico(r.prices, prompt_estimate, o, markup)
            for r, o in zip(targets, outputs, strict=True)
        )
        output = max(outputs)
    tokens = prompt_estimate + output
    cached = _limits_cache.get(key.key_id)
    if cached is not None and cached[0] is key:
        limits = cached[1]
    else:
        limits = _limits_of(key)
        if len(_limits_cache) > 100_000:
            _limits_cache.clear()
        _limits_cache[key.key_id] = (key, limits)
    try:
        return await state.limiter.admit(
            key.workspace_id,
            key.key_id,
            estimate,
            tokens,
            limits,
            lambda: run_db(balance_pico, key.workspace_id),
            hold_id=request_id,
            load_state=lambda finished: run_db(seed_state, key.workspace_id, finished),
            model=plan.targets[0].public_id,
            endpoint=endpoint,
        )
    except Refused as refused:
        metrics.refused(refused.code)
        headers = (
            [(b"retry-after", str(refused.retry_after).encode())] if refused.retry_after else None
        )
        raise GatewayError(
            refused.status, refused.message, code=refused.code, headers=headers
        ) from None
    except Exception:
        # Without the shared counters no balance or limit can be honoured: refuse, safely.
        log.exception("usage limits unavailable")
        metrics.refused("limits_unavailable")
        raise GatewayError(
            503, "usage limits cannot be checked right now; try again shortly",
            code="limits_unavailable", headers=[(b"retry-after", b"5")],
        ) from None  # fmt: skip


# Per key id: the cached KeyContext the limits were read from, and the limits. A reloaded
# context (another object) is read again.
_limits_cache: dict[int, tuple[KeyContext, Limits]] = {}


def _limits_of(key: KeyContext) -> Limits:
    return Limits(
        workspace_rpm=key.workspace_rpm,
        workspace_tpm=key.workspace_tpm,
        key_rpm=key.key_rpm,
        key_tpm=key.key_tpm,
        key_total_pico=key.key_total_pico,
        key_day_pico=key.key_day_pico,
        key_week_pico=key.key_week_pico,
        key_month_pico=key.key_month_pico,
    )
