"""Moderation rules: a catalog model judges the input, beside the upstream call.

The judge is called on the provider's OpenAI-style `POST {base}/moderations` (OpenAI's
omni-moderation models, and any compatible server) with the same pooled client as the
relay. It starts once the call is admitted and runs concurrently with the upstream call:
a pass costs no latency (the answer only waits for it if it arrives first), a block
cancels the upstream call and answers `guardrail_blocked`. A judge that cannot be reached
or answers badly does not stop the call (fail open): it is logged and recorded as a flag.
"""

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from routing.providers import UpstreamFailure
from routing.providers import http as upstream_http
from routing.proxy.errors import GatewayError
from routing.proxy.pipeline.auth import resolve_model
from routing.proxy.pipeline.state import state

from .engine import Match

if TYPE_CHECKING:
    from routing.proxy.pipeline.call import Call

    from .engine import ModerationRule
    from .gateway import CallGuard

log = logging.getLogger(__name__)
_PIECE = 32_000  # characters per judged input
_MAX_INPUT = 32 * _PIECE  # beyond this the call is refused (see run_rules)


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool
    categories: tuple[str, ...]  # the categories that crossed the rule's threshold


def verdict(answer: dict, rule: "ModerationRule") -> Verdict:
    """Read an OpenAI moderation answer under the rule's categories and threshold."""
    hits: list[str] = []
    flagged = False
    results = answer.get("results") if isinstance(answer, dict) else None
    for result in results if isinstance(results, list) else ():
        if not isinstance(result, dict):
            continue
        scores = result.get("category_scores")
        marked = result.get("categories")
        scores = scores if isinstance(scores, dict) else {}
        marked = marked if isinstance(marked, dict) else {}
        for category in rule.categories or tuple(marked) or tuple(scores):
            score = scores.get(category)
            if rule.threshold is not None and isinstance(score, int | float):
                crossed = score >= rule.threshold
            else:
                crossed = bool(marked.get(category))
            if crossed and category not in hits:
                hits.append(category)
        if not rule.categories and rule.threshold is None and result.get("flagged"):
            flagged = True
    return Verdict(flagged or bool(hits), tuple(hits))


async def judge(call: "Call", rule: "ModerationRule", text: str) -> Verdict:
    route = await resolve_model(rule.model, call.key)
    provider = route.provider
    # Long text goes as several inputs (the endpoint takes a list), each judged.
    pieces = [text[i : i + _PIECE] for i in range(0, min(len(text), _MAX_INPUT), _PIECE)]
    body = {"model": route.upstream_name, "input": pieces if len(pieces) > 1 else text}
    response = await upstream_http.post_json(
        f"{provider.base_url}/moderations",
        body,
        upstream_http.bearer_headers(provider.credential, False),
        state.timeouts_for(provider),
    )
    try:
        raw = await response.read()
        if response.status >= 400:
            raise UpstreamFailure(f"moderation answered {response.status}")
        return verdict(orjson.loads(raw), rule)
    finally:
        response.close()


async def run_rules(call: "Call", guard: "CallGuard", text: str) -> None:
    """Every moderation rule of the call's input stage; raises GatewayError on a block."""
    from .gateway import refusal

    policy = guard.active.policy
    assert policy is not None
    if len(text) > _MAX_INPUT:
        raise GatewayError(
            400,
            f'guardrail "{guard.active.name}" has its input judged by a model, which takes at '
            f"most {_MAX_INPUT:,} characters; this request has {len(text):,}",
            code="context_length_exceeded",
        )
    for rule in policy.moderation:
        if not rule.applies("input"):
            continue
        index = rule.rule_index
        try:
            found = await judge(call, rule, text)
        except Exception as exc:  # a judge that is down or answers oddly: fail open
            log.warning(
                "request %s: moderation judge %s failed: %s", call.request_id, rule.model, exc
            )
            guard.note([_match(index, "flag", "judge unavailable")])
            continue
        if not found.flagged:
            continue
        detail = "flagged: " + (", ".join(found.categories) or "content")
        match = _match(index, rule.action, detail)
        if rule.action == "block":
            guard.note([match], "block")
            raise refusal(guard.active, match)
        guard.note([match])


def _match(index: int, action: str, detail: str) -> Match:
    return Match(
        rule_index=index,
        rule_type="moderation",
        action=action,
        stage="input",
        entity="",
        detail=detail[:200],
        raw="",
        text_index=0,
        start=0,
        end=0,
    )
