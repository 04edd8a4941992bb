"""Anthropic Messages, both as a client surface (POST /v1/messages) and as an upstream kind.

What lives where (the modules import each other, never this package):
  * validation.py: `validate_messages_request` checks a client's body.
  * request.py: `messages_to_chat` turns it into a canonical chat request;
    `chat_to_anthropic_request` builds the Messages body for a canonical request.
  * response.py: `chat_to_messages_response` renders a canonical answer as an Anthropic
    Message, `anthropic_to_chat_response` reads one back, `usage_to_canonical` converts the
    usage object, `error_envelope` shapes errors.
  * stream.py: `MessagesStreamEncoder` renders canonical chunks as named SSE events,
    `AnthropicStreamDecoder` reads an upstream's events back into canonical chunks.
  * shared.py: small helpers more than one of those use.

Policies where the reference leaves a choice (kept the same everywhere in this package):
  * Chat -> Anthropic hoists every system/developer message, wherever it sits, into the
    top-level `system` blocks, in order.
  * Tool-call arguments that are empty, not JSON or not a JSON object become `{}`.
  * Tool ids outside `^[a-zA-Z0-9_-]+$` are rewritten by one deterministic function, applied
    to `tool_use` ids and `tool_result` references alike, so pairs stay matched.
  * Thinking is switched off (rather than failing upstream) when the tool choice forces a
    tool, or when the last assistant tool turn carries no thinking block to replay.
  * Things that cannot be expressed on the other side (server tools, MCP servers, PDF URLs,
    audio, provider file ids, n > 1) raise InvalidRequest instead of being dropped silently;
    sampling knobs Anthropic lacks (penalties, seed, logprobs, ...) are dropped.
"""

from .request import chat_to_anthropic_request, messages_to_chat
from .response import (
    anthropic_to_chat_response,
    chat_to_messages_response,
    error_envelope,
    usage_to_canonical,
)
from .stream import AnthropicStreamDecoder, MessagesStreamEncoder
from .validation import validate_messages_request

__all__ = [
    "AnthropicStreamDecoder",
    "MessagesStreamEncoder",
    "anthropic_to_chat_response",
    "chat_to_anthropic_request",
    "chat_to_messages_response",
    "error_envelope",
    "messages_to_chat",
    "usage_to_canonical",
    "validate_messages_request",
]
