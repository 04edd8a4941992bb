"""The OpenAI model-list shape, with OrcaRouter's extra fields."""

from decimal import Decimal
from typing import Any

# Orca's endpoint names to the vocabulary OrcaRouter's /v1/models uses.
_ENDPOINT_NAMES = {"chat": "openai"}
_PER_MILLION = Decimal(1_000_000)


def per_token(price_per_million: Decimal | None) -> str | None:
    if price_per_million is None:
        return None
    value = (price_per_million / _PER_MILLION).normalize()
    return format(value, "f")


def model_item(
    *,
    public_id: str,
    created: int,
    owned_by: str,
    endpoint_types: tuple[str, ...],
    context_length: int,
    max_output_tokens: int,
    capabilities: tuple[str, ...],
    input_price: Decimal,
    output_price: Decimal,
    cached_input_price: Decimal | None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": public_id,
        "object": "model",
        "created": created,
        "owned_by": owned_by,
        "supported_endpoint_types": [_ENDPOINT_NAMES.get(e, e) for e in endpoint_types],
        "capabilities": list(capabilities),
        "pricing": {"prompt": per_token(input_price), "completion": per_token(output_price)},
    }
    if cached_input_price is not None:
        item["pricing"]["input_cache_read"] = per_token(cached_input_price)
    if context_length:
        item["context_length"] = context_length
    if max_output_tokens:
        item["max_completion_tokens"] = max_output_tokens
    return item


def model_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items}
