"""Outbound I/O, one module per upstream kind. Shapes come from routing.wire; no ORM here."""

from .anthropic import AnthropicKind
from .base import ProviderKind, Timeouts, UpstreamFailure, UpstreamResponse, UpstreamTimeout
from .demo import DemoKind
from .gemini import GeminiKind
from .openai import OpenAIKind

_KINDS: dict[str, ProviderKind] = {
    "openai": OpenAIKind(),
    "anthropic": AnthropicKind(),
    "gemini": GeminiKind(),
    "demo": DemoKind(),
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
