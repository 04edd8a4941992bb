"""Outbound I/O, one package per upstream kind and one module per endpoint family in it.
Shapes come from routing.wire; no ORM here."""

from .anthropic import AnthropicChat
from .base import (
    ChatAdapter,
    FamilyAdapter,
    Timeouts,
    UpstreamFailure,
    UpstreamResponse,
    UpstreamTimeout,
)
from .demo import DemoChat, DemoEmbeddings
from .gemini import GeminiChat, GeminiEmbeddings
from .openai import OpenAIChat, OpenAIEmbeddings, OpenAIResponses

_CHAT: dict[str, ChatAdapter] = {
    "openai": OpenAIChat(),
    "anthropic": AnthropicChat(),
    "gemini": GeminiChat(),
    "demo": DemoChat(),
}
# Per endpoint family (an operation's name), the kinds that serve it. A kind missing from a
# family cannot serve it: its models must not list that endpoint type.
_FAMILIES: dict[str, dict[str, FamilyAdapter]] = {
    "chat": dict(_CHAT),
    # The chat family's native Responses adapters: for models whose catalog `endpoints` list
    # "responses" (routing.proxy.operations.chat chooses between these and _CHAT).
    "responses": {"openai": OpenAIResponses()},
    "embeddings": {
        "openai": OpenAIEmbeddings(),
        "gemini": GeminiEmbeddings(),
        "demo": DemoEmbeddings(),
    },
}


def family_adapters(family: str) -> dict[str, FamilyAdapter]:
    return _FAMILIES.get(family, {})


__all__ = [
    "AnthropicChat",
    "ChatAdapter",
    "FamilyAdapter",
    "Timeouts",
    "UpstreamFailure",
    "UpstreamResponse",
    "UpstreamTimeout",
    "family_adapters",
]
