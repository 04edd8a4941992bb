"""Outbound I/O, one module per upstream kind. Shapes come from routing.wire; no ORM here."""

from typing import cast

from .anthropic import AnthropicKind
from .base import ProviderKind, Timeouts, UpstreamFailure, UpstreamResponse, UpstreamTimeout
from .demo import DemoKind
from .gemini import GeminiKind
from .openai import OpenAIKind

_KINDS: dict[str, ProviderKind] = {
    "openai": OpenAIKind(),
    "anthropic": AnthropicKind(),
    "gemini": GeminiKind(),
    # DemoResponse.headers is a dict attribute, the protocol's a Mapping one: a settable
    # attribute must match exactly, though nothing assigns a response's headers.
    "demo": cast(ProviderKind, DemoKind()),
}


def kind_of(name: str) -> ProviderKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise UpstreamFailure(f"provider kind {name!r} is not supported") from None


__all__ = [
    "ProviderKind",
    "Timeouts",
    "UpstreamFailure",
    "UpstreamResponse",
    "UpstreamTimeout",
    "kind_of",
]
