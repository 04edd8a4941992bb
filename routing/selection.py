"""Choosing models for a request: what it needs, which candidates fit, in what order.

Pure functions over catalog snapshots; the pipeline feeds them health and routers."""

import fnmatch
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from .catalog.snapshot import ModelRoute


@dataclass(frozen=True, slots=True)
class Needs:
    tools: bool = False
    vision: bool = False
    json_schema: bool = False
    reasoning: bool = False
    prompt_tokens: int = 0
    max_output: int = 0

    def describe(self) -> str:
        wanted = [n for n in ("tools", "vision", "json_schema", "reasoning") if getattr(self, n)]
        context = f"a context of at least {self.prompt_tokens + self.max_output} tokens"
        return ", ".join([*wanted, context])


def estimate_tokens(request: dict) -> int:
    """About four characters a token over messages and tools: enough to pick a context size."""
    characters = len(orjson.dumps(request.get("messages") or []))
    if request.get("tools"):
        characters += len(orjson.dumps(request["tools"]))
    return math.ceil(characters / 4)


def needs_of(request: dict, prompt_tokens: int | None = None) -> Needs:
    """What a canonical chat request requires of the model that serves it (`prompt_tokens`:
    the caller's estimate of its input, else the four-characters rule)."""
    vision = False
    for message in request.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
            isinstance(p, dict) and p.get("type") == "image_url" for p in content
        ):
            vision = True
            break
    response_format = request.get("response_format") or {}
    max_output = request.get("max_completion_tokens") or request.get("max_tokens") or 0
    return Needs(
        tools=bool(request.get("tools")),
        vision=vision,
        json_schema=isinstance(response_format, dict)
        and response_format.get("type") == "json_schema",
        reasoning=bool(request.get("reasoning_effort") or request.get("reasoning_budget_tokens")),
        prompt_tokens=estimate_tokens(request) if prompt_tokens is None else prompt_tokens,
        max_output=max_output if isinstance(max_output, int) else 0,
    )


def fits(route: ModelRoute, needs: Needs) -> bool:
    capabilities = route.capabilities
    for name in ("tools", "vision", "json_schema", "reasoning"):
        if getattr(needs, name) and name not in capabilities:
            return False
    if route.context_length:
        output = needs.max_output or min(route.max_output_tokens or 0, 1024)
        if needs.prompt_tokens + output > route.context_length:
            return False
    return True


def compile_patterns(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """Glob patterns (case-insensitive); None when there are none (everything matches)."""
    patterns = [p.strip().lower() for p in patterns if p and p.strip()]
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def price(route: ModelRoute) -> float:
    return float(route.input_price + route.output_price)


def rank(
    routes: list[ModelRoute], strategy: str, latency: Callable[[ModelRoute], float | None]
) -> list[ModelRoute]:
    """Order candidates best first. Unknown latency sorts after every measured one."""
    if strategy == "cheapest":
        return sorted(routes, key=lambda r: (price(r), r.public_id))

    def latency_or_inf(route: ModelRoute) -> float:
        value = latency(route)
        return math.inf if value is None else value

    if strategy == "fastest":
        return sorted(routes, key=lambda r: (latency_or_inf(r), price(r), r.public_id))
    # balanced: the sum of the price rank and the latency rank; ties go to the cheaper
    by_price = {r.public_id: i for i, r in enumerate(sorted(routes, key=price))}
    by_speed = {r.public_id: i for i, r in enumerate(sorted(routes, key=latency_or_inf))}
    return sorted(
        routes,
        key=lambda r: (by_price[r.public_id] + by_speed[r.public_id], price(r), r.public_id),
    )


# --- several providers for one model ---------------------------------------------------

SORTS = ("price", "latency", "throughput")
VARIANTS = {"floor": "price", "nitro": "throughput"}  # model-name suffixes, OpenRouter style


@dataclass(frozen=True, slots=True)
class ProviderPreferences:
    """The request's `provider` object (OpenRouter's shape)."""

    order: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    allow_fallbacks: bool = True
    sort: str | None = None
    max_prompt_price: float | None = None  # USD per 1M input tokens
    max_completion_price: float | None = None  # USD per 1M output tokens


NO_PREFERENCES = ProviderPreferences()  # what a request without `provider` gets


def order_deployments(
    route: ModelRoute,
    prefs: ProviderPreferences,
    *,
    available: Callable[[ModelRoute], bool],
    latency: Callable[[ModelRoute], float | None],
    throughput: Callable[[ModelRoute], float | None],
    pick: Callable[[list[ModelRoute], list[int]], ModelRoute],
) -> list[ModelRoute]:
    """The providers of one model to try, in order. Without a sort or an explicit order the
    first is drawn at random by weight (load balancing); the rest follow as fallbacks."""
    candidates = [
        d
        for d in route.deployments
        if (not prefs.only or d.provider.slug in prefs.only)
        and d.provider.slug not in prefs.ignore
        and (prefs.max_prompt_price is None or float(d.input_price) <= prefs.max_prompt_price)
        and (
            prefs.max_completion_price is None
            or float(d.output_price) <= prefs.max_completion_price
        )
    ]
    live = [d for d in candidates if available(d)] or candidates
    if prefs.sort == "price":
        ordered = sorted(live, key=lambda d: (price(d), d.provider.slug))
    elif prefs.sort == "latency":
        ordered = sorted(live, key=lambda d: (_or_inf(latency(d)), d.provider.slug))
    elif prefs.sort == "throughput":
        ordered = sorted(live, key=lambda d: (-(throughput(d) or 0.0), d.provider.slug))
    else:
        ordered = sorted(live, key=lambda d: (-d.weight, d.provider.slug))
        weighted = [d for d in ordered if d.weight > 0]
        if len(weighted) > 1:
            first = pick(weighted, [d.weight for d in weighted])
            ordered = [first, *[d for d in ordered if d is not first]]
    if any(d.provider.byok for d in ordered):
        # A workspace's own credentials go first (OpenRouter's BYOK rule); stable sort.
        ordered.sort(key=lambda d: not d.provider.byok)
    if prefs.order:
        position = {slug: i for i, slug in enumerate(prefs.order)}
        listed = sorted(
            (d for d in ordered if d.provider.slug in position),
            key=lambda d: position[d.provider.slug],
        )
        ordered = listed + [d for d in ordered if d.provider.slug not in position]
    return ordered if prefs.allow_fallbacks else ordered[:1]


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value
