"""OpenRouter's shapes for its account endpoints (/api/v1/key, /keys, /credits, /models,
/generation) and its error envelope, so that its SDKs and scripts read Orca's answers.

Pure: values in, JSON-ready dicts out. Money is exact (pico-dollars, Decimal) until the last
step, where OpenRouter wants numbers (USD) for spend and credit, and decimal strings of USD
per token (or per unit) for prices."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

PICO_PER_USD = 10**12
# OpenRouter's `error.metadata.error_type` vocabulary, by HTTP status.
_ERROR_TYPES = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    405: "invalid_request",
    408: "timeout",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limit_exceeded",
    502: "provider_unavailable",
    503: "provider_unavailable",
    504: "timeout",
}


def usd(pico: int) -> float:
    """Pico-dollars as the USD number OpenRouter's fields hold."""
    return float(Decimal(pico) / PICO_PER_USD)


def error(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    """`{"error": {"code": <HTTP status>, "message", "metadata"}}`; Orca's own error code and
    the offending parameter ride in the metadata."""
    metadata: dict[str, Any] = {"error_type": _ERROR_TYPES.get(status, "server")}
    if code:
        metadata["orca_code"] = code
    if param:
        metadata["param"] = param
    return {"error": {"code": status, "message": message, "metadata": metadata}}


# --- keys ---------------------------------------------------------------------------------

RESETS = ("daily", "weekly", "monthly")  # OpenRouter's limit_reset values; None: lifetime


@dataclass(frozen=True, slots=True)
class Cap:
    """One spend cap of a key: its window (None: lifetime) and the spend in that window."""

    reset: str | None
    limit_pico: int
    spent_pico: int

    @property
    def remaining_pico(self) -> int:
        return max(self.limit_pico - self.spent_pico, 0)


@dataclass(frozen=True, slots=True)
class KeyFigures:
    """A key as OpenRouter describes one: identity, state, caps and spend (pico)."""

    hash: str
    name: str
    label: str  # the display prefix: enough to recognise the key, not to use it
    disabled: bool
    created_at: str  # ISO 8601
    updated_at: str | None
    last_used_at: str | None
    expires_at: str | None
    workspace: str
    creator_user_id: str | None
    caps: tuple[Cap, ...]  # the set ones only
    usage: tuple[int, int, int, int]  # lifetime, day, week, month
    byok_usage: tuple[int, int, int, int] = (0, 0, 0, 0)  # of it, with the own credential
    key_rpm: int = 0
    key_tpm: int = 0
    workspace_rpm: int = 0
    workspace_tpm: int = 0

    @property
    def binding(self) -> Cap | None:
        """The cap with the least left: the one that refuses the key's calls first."""
        return min(self.caps, key=lambda cap: cap.remaining_pico, default=None)


def _usage_fields(figures: KeyFigures) -> dict[str, Any]:
    total, day, week, month = figures.usage
    byok_total, byok_day, byok_week, byok_month = figures.byok_usage
    cap = figures.binding
    return {
        "limit": None if cap is None else usd(cap.limit_pico),
        "limit_remaining": None if cap is None else usd(cap.remaining_pico),
        "limit_reset": None if cap is None else cap.reset,
        "include_byok_in_limit": True,
        "usage": usd(total),
        "usage_daily": usd(day),
        "usage_weekly": usd(week),
        "usage_monthly": usd(month),
        # What the calls served with the workspace's own credentials cost (the BYOK fee);
        # it is in `usage` too, as every spend counts toward the key's limit.
        "byok_usage": usd(byok_total),
        "byok_usage_daily": usd(byok_day),
        "byok_usage_weekly": usd(byok_week),
        "byok_usage_monthly": usd(byok_month),
    }


def key_object(figures: KeyFigures) -> dict[str, Any]:
    """One item of /api/v1/keys (also what POST, GET, PATCH of /keys/{hash} answer)."""
    return {
        "hash": figures.hash,
        "name": figures.name,
        "label": figures.label,
        "disabled": figures.disabled,
        **_usage_fields(figures),
        "created_at": figures.created_at,
        "updated_at": figures.updated_at,
        "last_used_at": figures.last_used_at,
        "expires_at": figures.expires_at,
        "workspace_id": figures.workspace,
        "creator_user_id": figures.creator_user_id,
        "external_user": None,
    }


def _budget(cap: Cap) -> dict[str, Any]:
    return {
        "scope": "key_limit",
        "budget_id": None,
        "guardrail_id": None,
        "include_byok": True,
        "limit_usd": usd(cap.limit_pico),
        "spend_usd": usd(cap.spent_pico),
        "remaining_usd": usd(cap.remaining_pico),
        "reset_interval": cap.reset,
        "resets_at": None,
    }


def current_key(figures: KeyFigures, *, is_free_tier: bool) -> dict[str, Any]:
    """GET /api/v1/key's `data`: the calling key, its caps as budgets and its rate limits.

    `rate_limit` (deprecated at OpenRouter, still required by its SDK) carries the key's
    request limit per minute, -1 when it has none; `x_orca_rate_limits` has them all."""
    cap = figures.binding
    requests = _tighter(figures.key_rpm, figures.workspace_rpm)
    return {
        "label": figures.label,
        "name": figures.name,
        **_usage_fields(figures),
        "is_free_tier": is_free_tier,
        "is_management_key": False,
        "is_provisioning_key": False,
        "creator_user_id": figures.creator_user_id,
        "expires_at": figures.expires_at,
        "workspace_id": figures.workspace,
        "organization_id": None,
        "allowed_data_regions": ["global"],
        "budgets": [_budget(c) for c in figures.caps],
        "effective_budget": None if cap is None else _budget(cap),
        # Orca has no separate quota for free models: -1 means none.
        "free_model_daily_requests": {"limit": -1, "remaining": -1, "used": 0},
        "rate_limit": {
            "requests": requests or -1,
            "interval": "1m",
            "note": "requests per minute allowed to this key (-1: no limit); "
            "see x_orca_rate_limits for token limits",
        },
        "x_orca_rate_limits": {
            "key_requests_per_minute": figures.key_rpm or None,
            "key_tokens_per_minute": figures.key_tpm or None,
            "workspace_requests_per_minute": figures.workspace_rpm or None,
            "workspace_tokens_per_minute": figures.workspace_tpm or None,
        },
    }


def _tighter(a: int, b: int) -> int:
    """The lower of two limits where 0 means none."""
    return min(a, b) if a and b else a or b


def credits(total_credits_pico: int, total_usage_pico: int) -> dict[str, Any]:
    return {"total_credits": usd(total_credits_pico), "total_usage": usd(total_usage_pico)}


# --- models -------------------------------------------------------------------------------

_PER_MILLION = Decimal(1_000_000)
_HUNDRED = Decimal(100)
# The sampling parameters Orca sends on, or translates, for each provider kind.
_PARAMETERS = {
    "openai": (
        "max_tokens", "temperature", "top_p", "stop", "frequency_penalty", "presence_penalty",
        "seed", "logit_bias", "logprobs", "top_logprobs",
    ),
    "anthropic": ("max_tokens", "temperature", "top_p", "top_k", "stop"),
    "gemini": (
        "max_tokens", "temperature", "top_p", "top_k", "stop", "frequency_penalty",
        "presence_penalty", "seed", "logprobs", "top_logprobs",
    ),
}  # fmt: skip
_BY_CAPABILITY = {
    "tools": ("tools", "tool_choice", "parallel_tool_calls"),
    "json_schema": ("response_format", "structured_outputs"),
    "reasoning": ("reasoning", "include_reasoning"),
}
# Tokenizer family by vendor, in OpenRouter's vocabulary.
_TOKENIZERS = {
    "openai": "GPT",
    "anthropic": "Claude",
    "google": "Gemini",
    "grok": "Grok",
    "xai": "Grok",
    "deepseek": "DeepSeek",
    "qwen": "Qwen",
    "kimi": "Other",
}


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the catalog says of one model, as /api/v1/models needs it. Prices in USD per 1M
    tokens (per unit for `extra`), before the workspace's markup."""

    public_id: str
    kind: str
    created: int
    context_length: int
    max_output_tokens: int
    capabilities: tuple[str, ...]
    endpoint_types: tuple[str, ...]
    input_price: Decimal
    output_price: Decimal
    cached_input_price: Decimal | None = None
    cache_write_price: Decimal | None = None
    reasoning_price: Decimal | None = None
    extra_prices: tuple[tuple[str, Decimal], ...] = ()
    share: Decimal | None = None  # the percent of these prices charged (BYOK: the fee)


def _price(
    per_million: Decimal | None, facts: ModelFacts, markup: Decimal, *, per_unit: bool = False
) -> str | None:
    """A catalog price as OpenRouter writes it: a decimal string of USD per token (per unit
    for per-call prices) as the workspace pays it, BYOK share and markup included."""
    if per_million is None:
        return None
    value = per_million if per_unit else per_million / _PER_MILLION
    if facts.share is not None:
        value = value * facts.share / _HUNDRED
    if markup:
        value = value * (_HUNDRED + markup) / _HUNDRED
    return format(value.normalize(), "f") if value else "0"


def is_text_model(facts: ModelFacts) -> bool:
    return any(e in ("chat", "responses") for e in facts.endpoint_types)


def model_object(facts: ModelFacts, markup: Decimal = Decimal(0)) -> dict[str, Any]:
    vendor, _, name = facts.public_id.partition("/")
    text = is_text_model(facts)
    inputs = ["text", "image"] if "vision" in facts.capabilities else ["text"]
    outputs = ["text"] if text else ["embeddings"]
    extra = dict(facts.extra_prices)
    pricing: dict[str, Any] = {
        "prompt": _price(facts.input_price, facts, markup),
        "completion": _price(facts.output_price, facts, markup),
    }
    for field, value in (
        ("input_cache_read", _price(facts.cached_input_price, facts, markup)),
        ("input_cache_write", _price(facts.cache_write_price, facts, markup)),
        ("internal_reasoning", _price(facts.reasoning_price, facts, markup)),
        ("web_search", _price(extra.get("web_search"), facts, markup, per_unit=True)),
        ("request", _price(extra.get("request"), facts, markup, per_unit=True)),
        ("image", _price(extra.get("image"), facts, markup, per_unit=True)),
    ):
        if value is not None:
            pricing[field] = value
    return {
        "id": facts.public_id,
        "canonical_slug": facts.public_id,
        "name": f"{vendor}: {name}" if name else vendor,
        "created": facts.created,
        "description": _description(facts, vendor),
        "context_length": facts.context_length or None,
        "architecture": {
            "modality": f"{'+'.join(inputs)}->{'+'.join(outputs)}",
            "input_modalities": inputs,
            "output_modalities": outputs,
            "tokenizer": _TOKENIZERS.get(vendor, "Other"),
            "instruct_type": None,
        },
        "pricing": pricing,
        "top_provider": {
            "context_length": facts.context_length or None,
            "max_completion_tokens": facts.max_output_tokens or None,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": supported_parameters(facts) if text else [],
        "default_parameters": None,
        "supported_voices": None,
        "links": {"details": f"/v1/models/{facts.public_id}"},
    }


def supported_parameters(facts: ModelFacts) -> list[str]:
    names = list(_PARAMETERS.get(facts.kind, ("max_tokens", "temperature", "top_p", "stop")))
    for capability in facts.capabilities:
        names.extend(_BY_CAPABILITY.get(capability, ()))
    if "web_search" in dict(facts.extra_prices):
        names.append("web_search_options")
    return list(dict.fromkeys(names))


def _description(facts: ModelFacts, vendor: str) -> str:
    what = "Chat model" if is_text_model(facts) else "Embedding model"
    parts = [f"{what} by {vendor}, served through Orca"]
    if facts.capabilities:
        parts.append("supports " + ", ".join(facts.capabilities))
    if facts.context_length:
        parts.append(f"{facts.context_length:,}-token context")
    return "; ".join(parts) + "."


OUTPUT_MODALITIES = ("text", "embeddings", "all")


def model_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"data": list(items), "links": {"next": None}, "total_count": len(items)}


# --- generation ---------------------------------------------------------------------------

_API_TYPES = {
    "chat.completions": "completions",
    "responses": "completions",
    "messages": "completions",
    "generateContent": "completions",
    "embeddings": "embeddings",
    "embedContent": "embeddings",
}
CLIENT_CLOSED = 499


def generation(view: dict[str, Any]) -> dict[str, Any]:
    """/v1/generation's view of a call, with OpenRouter's generation fields added (its
    `total_cost` a number of USD; Orca's exact decimal string stays in `x_orca_total_cost`).
    What Orca does not track (finish reasons, media counts, app attribution) is null."""
    cost = Decimal(view["total_cost"])
    attempts: Iterable[dict] = view.get("attempts") or []
    prompt, completion = view["tokens_prompt"], view["tokens_completion"]
    return {
        **view,
        "request_id": view["id"],
        "upstream_id": None,
        "session_id": None,
        "api_type": _API_TYPES.get(view["endpoint"], "completions"),
        "cancelled": view["status"] == CLIENT_CLOSED,
        "finish_reason": None,
        "native_finish_reason": None,
        "native_tokens_prompt": prompt,
        "native_tokens_completion": completion,
        "native_tokens_reasoning": view["tokens_reasoning"],
        "native_tokens_cached": view["tokens_cached"],
        "native_tokens_completion_images": None,
        "num_media_prompt": None,
        "num_media_completion": None,
        "num_input_audio_prompt": None,
        "num_search_results": None,
        "num_fetches": None,
        "web_search_engine": None,
        "total_cost": float(cost),
        "x_orca_total_cost": view["total_cost"],
        "usage": float(cost),
        "upstream_inference_cost": None,
        "cache_discount": None,
        "is_byok": bool(view.get("byok")),
        "latency": view["latency_ms"],
        "generation_time": view["latency_ms"],
        "moderation_latency": None,
        "provider_name": None,
        "provider_responses": [
            {"status": a.get("status"), "model_permaslug": a.get("model")} for a in attempts
        ],
        "app_id": None,
        "http_referer": None,
        "origin": "",
        "user_agent": None,
        "external_user": None,
        "preset_id": None,
        "workspace_id": None,
        "data_region": "global",
        "service_tier": None,
        "response_cache_source_id": None,
    }
