"""Exact prices and costs. No Django, no I/O, no floats.

Prices are USD per 1M tokens with at most six decimals, so one token costs a whole number
of pico-dollars (10^-12 USD) and every cost below is an exact integer of them.
"""

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

PICO_PER_USD = 10**12
_MICRO = Decimal(10**6)


def per_token_pico(price_per_million: Decimal | None) -> int | None:
    """USD per 1M tokens -> pico-dollars per token (exact; prices have six decimals)."""
    if price_per_million is None:
        return None
    value = Decimal(price_per_million) * _MICRO
    if value != value.to_integral_value():
        raise ValueError(f"price {price_per_million} has more than six decimals")
    return int(value)


def usd_to_pico(amount: Decimal | str) -> int:
    value = Decimal(amount) * PICO_PER_USD
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def pico_to_usd(pico: int) -> Decimal:
    """Exact, with trailing zeros removed (`Decimal("0.0000123")`)."""
    value = Decimal(pico) / PICO_PER_USD
    return value.normalize() if value else Decimal(0)


def format_usd(pico: int) -> str:
    return format(pico_to_usd(pico), "f")


@dataclass(frozen=True, slots=True)
class Prices:
    """A model's prices as pico-dollars per token (and per unit for `extra`)."""

    input: int
    output: int
    cached_input: int | None = None  # None: cached tokens cost the input price
    cache_write: int | None = None  # None: cache writes cost the input price
    reasoning: int | None = None  # None: reasoning tokens cost the output price
    extra: dict[str, int] = field(default_factory=dict)  # per call/image/second
    # The share of these prices charged, in percent (a BYOK call: the platform's fee);
    # None charges them in full. Applied to the total, so a fraction of a pico-dollar per
    # token is not lost, and the same way by the reservation and the charge.
    percent: Decimal | None = None

    @classmethod
    def from_catalog(
        cls,
        *,
        input_price: Decimal,
        output_price: Decimal,
        cached_input_price: Decimal | None = None,
        cache_write_price: Decimal | None = None,
        reasoning_price: Decimal | None = None,
        extra_prices: dict | None = None,
    ) -> "Prices":
        return cls(
            input=per_token_pico(input_price) or 0,
            output=per_token_pico(output_price) or 0,
            cached_input=per_token_pico(cached_input_price),
            cache_write=per_token_pico(cache_write_price),
            reasoning=per_token_pico(reasoning_price),
            extra={k: usd_to_pico(v) for k, v in (extra_prices or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Metered:
    """What a call used, in canonical terms (prompt includes cache reads and writes;
    completion includes reasoning)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    units: dict[str, int] = field(default_factory=dict)  # e.g. {"web_search_call": 2}


def cost_pico(prices: Prices, used: Metered, markup_percent: Decimal = Decimal(0)) -> int:
    cached = min(used.cached_tokens, used.prompt_tokens)
    written = min(used.cache_write_tokens, used.prompt_tokens - cached)
    plain_in = used.prompt_tokens - cached - written
    reasoning = (
        min(used.reasoning_tokens, used.completion_tokens) if prices.reasoning is not None else 0
    )
    plain_out = used.completion_tokens - reasoning
    total = (
        plain_in * prices.input
        + cached * (prices.input if prices.cached_input is None else prices.cached_input)
        + written * (prices.input if prices.cache_write is None else prices.cache_write)
        + plain_out * prices.output
        + reasoning * (prices.reasoning or 0)
    )
    if used.units:
        total += sum(count * prices.extra.get(unit, 0) for unit, count in used.units.items())
    if prices.percent is not None:
        total = _share(total, prices.percent)
    if markup_percent:
        scaled = Decimal(total) * (Decimal(100) + Decimal(markup_percent)) / Decimal(100)
        total = int(scaled.to_integral_value(rounding=ROUND_HALF_UP))
    return max(total, 0)


def estimate_pico(
    prices: Prices, prompt_tokens: int, max_output: int, markup_percent: Decimal = Decimal(0)
) -> int:
    """The most a call can cost: its prompt at the input price, and all the output it may
    produce at the dearer of the output and reasoning prices."""
    output = max(prices.output, prices.reasoning or 0)
    total = prompt_tokens * max(prices.input, prices.cache_write or 0) + max_output * output
    if prices.percent is not None:
        total = _share(total, prices.percent)
    if markup_percent:
        scaled = Decimal(total) * (Decimal(100) + Decimal(markup_percent)) / Decimal(100)
        total = int(scaled.to_integral_value(rounding=ROUND_HALF_UP))
    return max(total, 0)


def _share(total: int, percent: Decimal) -> int:
    """`percent` of `total`, rounded up: a fee's hold and charge never fall below it."""
    scaled = Decimal(total) * Decimal(percent) / Decimal(100)
    return int(scaled.to_integral_value(rounding=ROUND_CEILING))
