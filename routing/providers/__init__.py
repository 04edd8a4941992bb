"""Outbound I/O, one module per upstream kind. Shapes come from routing.wire; no ORM here."""

from ..catalog.snapshot import ModelRoute
from .base import Timeouts, UpstreamFailure, UpstreamResponse, UpstreamTimeout
from .demo import send_demo_chat
from .openai import send_openai_chat

_CHAT_SENDERS = {"openai": send_openai_chat, "demo": send_demo_chat}


async def send_chat(route: ModelRoute, body: dict, timeouts: Timeouts) -> UpstreamResponse:
    """Send an OpenAI-shaped chat body (already carrying the upstream model name)."""
    sender = _CHAT_SENDERS.get(route.provider.kind)
    if sender is None:
        raise UpstreamFailure(f"provider kind {route.provider.kind!r} cannot serve chat")
    return await sender(route, body, timeouts)


__all__ = ["Timeouts", "UpstreamFailure", "UpstreamResponse", "UpstreamTimeout", "send_chat"]
